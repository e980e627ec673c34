"""The resilience helpers as fixtures (registered by :func:`pytest_aide.wiring.activate`, so only in an aide run).

Thin: read ``[resilience]``, build the domain object, hand it over. The run's breaker and fallback registries
live in ``config.stash`` so hooks can reach the same circuits as the checks (one registry per process: under
xdist, one per worker; each worker's statistics reach the controller through ``workeroutput``). A check's
``aide_retry`` calls travel with the check itself, in its call report's ``aide.retry_calls`` property.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from pytest_aide.config import AideConfig
from pytest_aide.results import RETRY_CALLS
from pytest_aide.state import get_state, keep_for_report

if TYPE_CHECKING:  # the helpers (and tenacity) load when a fixture is first used
    from pytest_aide.dependencies import Dependency
    from pytest_aide.resilience import BreakerRegistry, Fallback, FallbackRegistry, Retrier

BREAKERS_KEY = pytest.StashKey["BreakerRegistry"]()
FALLBACKS_KEY = pytest.StashKey["FallbackRegistry"]()
# On the controller, what each worker's registries saw: workeroutput key -> one statistics dict per worker.
WORKER_STATISTICS_KEY = pytest.StashKey[dict[str, list[dict[str, dict[str, Any]]]]]()
_CIRCUITS, _FALLBACKS = "aide_circuits", "aide_fallbacks"  # their workeroutput keys
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


def run_fallbacks(config: pytest.Config) -> FallbackRegistry:
    """The run's fallbacks by name (this process's), made on first use."""
    from pytest_aide.resilience import FallbackRegistry

    with _MAKING:
        registry = config.stash.get(FALLBACKS_KEY, None)
        if registry is None:
            state = get_state(config)
            registry = config.stash[FALLBACKS_KEY] = FallbackRegistry(redact=state.redactor if state else None)
        return registry


def send_worker_statistics(config: pytest.Config) -> None:
    """On an xdist worker at session end: its circuits' and fallbacks' statistics go to the controller
    (``workeroutput``: builtin types only)."""
    output = getattr(config, "workeroutput", None)
    if output is None:
        return
    for key, registry in (
        (_CIRCUITS, config.stash.get(BREAKERS_KEY, None)),
        (_FALLBACKS, config.stash.get(FALLBACKS_KEY, None)),
    ):
        if registry is not None:
            output[key] = registry.statistics()


def take_worker_statistics(config: pytest.Config, workeroutput: dict[str, Any]) -> None:
    """On the controller when a worker ends: keep its circuits' and fallbacks' statistics for the report."""
    for key in (_CIRCUITS, _FALLBACKS):
        found = workeroutput.get(key)
        if found:
            config.stash.setdefault(WORKER_STATISTICS_KEY, {}).setdefault(key, []).append(found)


def take_circuit_statistics(config: pytest.Config, circuits: dict[str, dict[str, Any]]) -> None:
    """On the controller: keep the circuits of another process (its endpoint probes) for the report."""
    take_worker_statistics(config, {_CIRCUITS: circuits})


def run_circuits(config: pytest.Config) -> dict[str, dict[str, Any]]:
    """Every circuit of the run by name: this process's and each worker's, merged (counts added up)."""
    parts = _statistics(config, _CIRCUITS, config.stash.get(BREAKERS_KEY, None))
    if not parts:
        return {}
    from pytest_aide.resilience.statistics import merge_statistics

    return merge_statistics(*parts)


def run_fallback_statistics(config: pytest.Config) -> dict[str, dict[str, Any]]:
    """Every fallback of the run by name: this process's and each worker's, merged (counts added up)."""
    parts = _statistics(config, _FALLBACKS, config.stash.get(FALLBACKS_KEY, None))
    if not parts:
        return {}
    from pytest_aide.resilience.fallback import merge_fallback_statistics

    return merge_fallback_statistics(*parts)


def _statistics(config: pytest.Config, key: str, registry: Any) -> list[dict[str, dict[str, Any]]]:
    """This process's registry's statistics (when it made one), then each worker's."""
    workers = config.stash.get(WORKER_STATISTICS_KEY, {}).get(key, [])
    return [*([registry.statistics()] if registry is not None else []), *workers]


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
def aide_fallback(pytestconfig: pytest.Config) -> Callable[..., Fallback[Any]]:
    """A named fallback (a primary, then alternatives) counted in the run's report: ``health.json``
    ``resilience.fallbacks`` and ``health.html`` give each name's calls and each option's attempts, successes
    and success rate, every process (xdist worker) added up. Calls with one name add to one record, however
    many checks make it.

    Example::

        def check_settings(aide_fallback, aide_app, aide_health):
            settings = aide_fallback("settings", {"live": fetch_live, "cached": read_cached})
            served = settings.call()                # FallbackFailed when every option failed
            aide_health.record("settings_age_s", served.value.age)
            # served.option ("cached" when the live service failed), served.fell_back, served.errors
    """
    return run_fallbacks(pytestconfig).make


@pytest.fixture
def aide_retry(request: pytest.FixtureRequest, aide_config: AideConfig) -> Retrier:
    """Call a function until it works, with the ``[resilience.retry]`` defaults; every attempt is recorded, in
    the outcome and in the check's report (``health.json``: the check's ``retry_calls`` and
    ``resilience.retries``).

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
    from pytest_aide.resilience import Retrier, RetryLog, RetryPolicy

    state = get_state(request.config)
    policy = RetryPolicy(**dataclasses.asdict(aide_config.settings.resilience.retry))
    log = RetryLog()
    keep_for_report(request.node, RETRY_CALLS, lambda: json.dumps(log.to_dict()) if log.calls else None)
    return Retrier(policy, redact=state.redactor if state else None, log=log)


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
    from pytest_aide.dependencies import http_lookup

    return http_lookup(app_url, lambda kind, circuit: _dependency(config, kind, circuit))


def _dependency(config: pytest.Config, kind: str, circuit: str) -> Dependency | None:
    state = get_state(config)
    settings = state.config.settings.resilience.dependencies if state else None
    if settings is None or not settings.enabled:
        return None
    from pytest_aide.dependencies import Dependency

    return Dependency(kind, run_breakers(config).get(circuit, failure_threshold=settings.failure_threshold))
