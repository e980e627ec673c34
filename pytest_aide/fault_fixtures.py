"""Fault-injection fixtures for drills: thin wrappers of :mod:`pytest_aide.faults` that undo every fault at
teardown, also when the check failed or was interrupted.

Registered by :func:`pytest_aide.wiring.activate` only, so they exist in aide runs and nowhere else.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from pytest_aide.results import EXPERIMENTS
from pytest_aide.state import keep_for_report

if TYPE_CHECKING:  # the fault helpers load when a fixture is first used
    from pytest_aide.faults import Experiments, FaultProxy, FileFaults, ProcessFaults


@pytest.fixture
def aide_proxy() -> Iterator[Callable[..., FaultProxy]]:
    """Factory of loopback TCP proxies in front of a dependency; every proxy is closed at teardown.

    ``aide_proxy(host, port, connect_timeout=5, io_timeout=10)`` returns a :class:`~pytest_aide.faults.FaultProxy`
    listening on ``127.0.0.1:<proxy.port>``; switch it with ``pass_through()``, ``latency(s, per=...)``,
    ``drop()``, ``reset()``, ``blackhole()`` and ``refuse()``.

    Example::

        def check_cache_outage(aide_proxy):
            proxy = aide_proxy("127.0.0.1", 6379)
            cache = redis.Redis(port=proxy.port, socket_timeout=2)
            proxy.blackhole()
            with pytest.raises(redis.TimeoutError):
                cache.ping()
    """
    from pytest_aide.faults import FaultProxy

    proxies: list[FaultProxy] = []

    def make(upstream_host: str, upstream_port: int, **options: float) -> FaultProxy:
        proxy = FaultProxy(upstream_host, upstream_port, **options)
        proxies.append(proxy)
        return proxy

    yield make
    _undo_all([proxy.close for proxy in proxies])


@pytest.fixture
def aide_process_faults() -> Iterator[ProcessFaults]:
    """Pause/resume and kill/restart processes this suite started (declared first); undone at teardown.

    Example::

        def check_worker_pause(aide_process_faults, worker_popen, aide_app):
            worker = aide_process_faults.declare(worker_popen, start=start_worker)
            aide_process_faults.pause(worker)        # SIGSTOP; resumed at teardown if the check fails
            assert aide_app.probe("/api/health").json["status"] == "degraded"
            aide_process_faults.resume(worker)
    """
    from pytest_aide.faults import FaultError, ProcessFaults

    faults = ProcessFaults()
    yield faults
    problems = faults.undo()
    if problems:
        raise FaultError("could not undo process faults: " + "; ".join(problems))


@pytest.fixture
def aide_file_faults() -> Iterator[FileFaults]:
    """Make files or folders unavailable (renamed aside, or ``how="chmod"``); every one restored at teardown.

    Renaming is the reliable way: permission bits (``chmod``) do not stop a target that runs as root.

    Example::

        def check_db_file_outage(aide_file_faults, aide_app):
            aide_file_faults.make_unavailable("/srv/app/data/app.db")
            assert aide_app.probe("/api/health").json["status"] == "degraded"
    """
    from pytest_aide.faults import FileFaults

    faults = FileFaults()
    yield faults
    faults.restore_all()


@pytest.fixture
def aide_experiment(request: pytest.FixtureRequest) -> Experiments:
    """Run chaos experiments: steady state → inject → degraded within a bound → roll back → recovered.

    Rollback always runs once the injection started; a phase that does not hold fails the check with one line
    (``upstream cut: did not degrade within 5 s: /api/health stayed 'healthy'``). Every record (phases, their
    timing and observations, plain data) is kept in ``aide_experiment.results`` and goes into the check's
    report: its ``aide.experiments`` property (JUnit), ``health.json`` (the check's ``experiments`` and
    ``resilience.experiments``) and ``health.html``.

    Example::

        def check_upstream_cut(aide_experiment, aide_proxy, aide_app):
            proxy = aide_proxy("127.0.0.1", 7001)
            aide_experiment(
                "upstream cut",
                probe=lambda: (aide_app.probe("/api/health").json or {}).get("status"),
                steady=lambda status: status == "healthy",
                inject=proxy.blackhole,
                degraded=lambda status: status == "degraded",
                rollback=proxy.pass_through,
                degrade_within=5, recover_within=10, what="/api/health",
            )
    """
    from pytest_aide.faults import Experiments

    experiments = Experiments()
    keep_for_report(request.node, EXPERIMENTS, lambda: json.dumps(experiments.results) if experiments.results else None)
    return experiments


def _undo_all(steps: list[Callable[[], None]]) -> None:
    """Run every undo step even when one fails; raise the first failure afterwards."""
    errors: list[Exception] = []
    for step in steps:
        try:
            step()
        except Exception as exc:
            errors.append(exc)
    if errors:
        raise errors[0]
