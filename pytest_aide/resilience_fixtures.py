"""The resilience helpers as fixtures (registered by :func:`pytest_aide.wiring.activate`, so only in an aide run).

Thin: read ``[resilience]``, build the domain object, hand it over. The run's breaker registry lives in
``config.stash`` so hooks can reach the same circuits as the checks (one registry per process: under xdist,
one per worker).
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from pytest_aide.config import AideConfig
from pytest_aide.state import get_state

if TYPE_CHECKING:  # the helpers (and tenacity) load when a fixture is first used
    from pytest_aide.dependencies import Dependency
    from pytest_aide.resilience import BreakerRegistry, Retrier

BREAKERS_KEY = pytest.StashKey["BreakerRegistry"]()
WORKER_CIRCUITS_KEY = pytest.StashKey[list[dict[str, dict[str, Any]]]]()  # on the controller, one per worker
_WORKEROUTPUT = "aide_circuits"
_MAKING = threading.Lock()  # probes may ask for the registry from several threads at once


def run_breakers(config: pytest.Config) -> BreakerRegistry:
    """The run's circuit breakers, made on first use with the ``[resilience.breakers]`` defaults."""
    from pytest_aide.resilience import BreakerPolicy, BreakerRegistry

    with _MAKING:
        registry = config.stash.get(BREAKERS_KEY, None)
        if registry is None:
            state = get_state(config)
            settings = state.config.settings.resilience.breakers if state else None
            defaults = BreakerPolicy(**dataclasses.asdict(settings)) if settings else None
            registry = BreakerRegistry(defaults, redact=state.redactor if state else None)
            config.stash[BREAKERS_KEY] = registry
        return registry


def send_worker_circuits(config: pytest.Config) -> None:
    """On an xdist worker at session end: its circuits' statistics go to the controller (``workeroutput``)."""
    registry = config.stash.get(BREAKERS_KEY, None)
    output = getattr(config, "workeroutput", None)
    if registry is not None and output is not None:
        output[_WORKEROUTPUT] = registry.statistics()


def take_worker_circuits(config: pytest.Config, workeroutput: dict[str, Any]) -> None:
    """On the controller when a worker ends: keep its circuits' statistics for the run's report."""
    found = workeroutput.get(_WORKEROUTPUT)
    if found:
        config.stash.setdefault(WORKER_CIRCUITS_KEY, []).append(found)


def run_circuits(config: pytest.Config) -> dict[str, dict[str, Any]]:
    """Every circuit of the run by name: this process's and each worker's, merged (counts added up)."""
    registry = config.stash.get(BREAKERS_KEY, None)
    workers: list[dict[str, dict[str, Any]]] = config.stash.get(WORKER_CIRCUITS_KEY, [])
    parts = [registry.statistics()] if registry is not None else []
    parts.extend(workers)
    if not parts:
        return {}
    from pytest_aide.resilience.registry import merge_statistics

    return merge_statistics(*parts)


@pytest.fixture(scope="session")
def aide_breakers(pytestconfig: pytest.Config) -> BreakerRegistry:
    """The run's circuit breakers by name (defaults from ``[resilience.breakers]``), shared by every check
    of this process (under xdist, of this worker).

    Example::

        def check_orders(aide_breakers, aide_db, aide_health):
            rows = aide_breakers.get("db").call(aide_db.scalar, "SELECT count(*) FROM orders")
            aide_health.record("open_orders", rows, "rows")

        def check_circuits(aide_breakers, aide_health):
            aide_health.record("open_circuits", len(aide_breakers.health_summary()["unhealthy"]))
    """
    return run_breakers(pytestconfig)


@pytest.fixture(scope="session")
def aide_dependency(pytestconfig: pytest.Config) -> Callable[[str, str], Dependency | None]:
    """The circuit of a dependency of your own checks, by kind and URL (``search:host:port``), from the run's
    registry: calls that get no answer count against it and, past ``[resilience.dependencies]
    failure_threshold``, the next calls fail at once (None when the circuits are switched off).

    Example::

        @pytest.mark.aide(reachability="search")
        def check_search(aide_dependency, aide_health):
            search = aide_dependency("search", "http://search.internal:9200")
            count = search.call(count_documents) if search else count_documents()
            aide_health.record("search_documents", count)
    """
    return functools.partial(dependency, pytestconfig)


@pytest.fixture(scope="session")
def aide_retry(pytestconfig: pytest.Config, aide_config: AideConfig) -> Retrier:
    """Call a function until it works, with the ``[resilience.retry]`` defaults; every attempt is recorded.

    Example::

        def check_queue(aide_retry, aide_app, aide_health):
            def stats():
                probe = aide_app.probe("/api/tasks/stats")
                assert probe.ok, probe.error  # an error is what gets retried
                return probe.json

            outcome = aide_retry(stats, attempts=5)
            aide_health.record("queue_size", outcome.value["queue_size"])
            # outcome.flaky, outcome.summary ("passed on attempt 2 of 5"), outcome.attempts

    All attempts failing raises ``RetryFailed`` (its ``attempts`` hold the record).
    """
    from pytest_aide.resilience import Retrier, RetryPolicy

    state = get_state(pytestconfig)
    policy = RetryPolicy(**dataclasses.asdict(aide_config.settings.resilience.retry))
    return Retrier(policy, redact=state.redactor if state else None)


def dependency(config: pytest.Config, kind: str, url: str) -> Dependency | None:
    """The circuit of the dependency ``kind`` (db, cache, app) at ``url``'s host:port, from the run's registry
    (``[resilience.dependencies]``); None when those circuits are switched off."""
    from pytest_aide.dependencies import circuit_name

    return _dependency(config, kind, circuit_name(kind, url))


def http_dependencies(config: pytest.Config, app_url: str) -> Callable[[str], Dependency | None] | None:
    """The circuit of each URL's host for an HTTP client: the app (``app:host:port``) for its own host; any
    other host an endpoint names is a dependency of its own (``http:host:port``). None when switched off."""
    if dependency(config, "app", app_url) is None:
        return None
    from urllib.parse import urlsplit

    from pytest_aide.dependencies import APP, circuit_name

    app_host = urlsplit(app_url).netloc
    known: dict[tuple[str, str], Dependency | None] = {}  # by scheme and host: one look-up per host, not per probe

    def dependency_for(url: str) -> Dependency | None:
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        if key not in known:  # a race only looks the same circuit up twice
            if parts.netloc == app_host:
                known[key] = _dependency(config, APP, circuit_name(APP, url))
            else:
                other = circuit_name("http", url)
                known[key] = _dependency(config, other, other)
        return known[key]

    return dependency_for


def _dependency(config: pytest.Config, kind: str, circuit: str) -> Dependency | None:
    state = get_state(config)
    settings = state.config.settings.resilience.dependencies if state else None
    if settings is None or not settings.enabled:
        return None
    from pytest_aide.dependencies import Dependency

    return Dependency(kind, run_breakers(config).get(circuit, failure_threshold=settings.failure_threshold))
