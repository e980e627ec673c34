"""Fault-injection fixtures for drills: thin wrappers of :mod:`pytest_aide.faults` that undo every fault at
teardown, also when the check failed or was interrupted.

Registered by :func:`pytest_aide.wiring.activate` only, so they exist in aide runs and nowhere else.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_aide.results import EXPERIMENTS
from pytest_aide.state import keep_for_report

if TYPE_CHECKING:  # the fault helpers load when a fixture is first used
    from pytest_aide.drills import DrillTarget
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

    def make(upstream_host: str, upstream_port: int, **options: Any) -> FaultProxy:
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


@pytest.fixture(scope="session")
def aide_drill_target(pytestconfig: pytest.Config, aide_drill_proxy: FaultProxy | None) -> DrillTarget:
    """The app the drills act on, once they may: a target this run started, or any with ``[drills]
    allow_unstarted_target = true``; otherwise the drill cannot run (UNKNOWN, saying why).

    ``observe()`` gives the health word (or ``CRITICAL: ... does not answer`` with the exit status and last
    output lines of the process the run started), ``answer()`` the word and the response time, ``settle(s)``
    waits for the steady state. Its requests bypass the run's circuits, so a recovery shows at once. The
    upstream proxy of ``[drills]`` is up before it is handed over.

    Example::

        @pytest.mark.drill
        def check_cache_outage(aide_drill_target, aide_experiment):
            aide_drill_target.settle(30)
            aide_experiment("cache outage", probe=aide_drill_target.observe, ...)
    """
    from pytest_aide import drills, process, target
    from pytest_aide.errors import ProbeError
    from pytest_aide.state import get_state

    state = get_state(pytestconfig)
    assert state is not None  # registered only in an aide run
    settings = state.config.settings
    started = bool(target.started_pids(state))
    allowed = settings.drills.allow_unstarted_target
    workers = int(getattr(pytestconfig, "workerinput", {}).get("workercount", 1))
    reason = drills.refusal(started_by_run=started, allowed=allowed, url=settings.app.url, workers=workers)
    if reason is not None:
        raise ProbeError(reason)
    assert settings.app.url is not None  # refusal() checked it

    def restart() -> Any:
        """Start [app] command again, recorded in the run's pidfile, so the run still stops it at its end."""
        pidfile, output = state.work_dir / target.PIDFILE, state.work_dir / target.OUTPUT
        started = target.start_configured(state.config, pidfile=pidfile, output_path=output)
        if started.pid is None:
            raise ProbeError(f"{started.health_url} answered before the restart: another process serves it")
        return process.launched(started.pid) or started.pid

    return drills.DrillTarget(
        health_url=settings.app.url.rstrip("/") + settings.app.health_path,
        timeout=settings.app.timeout,
        pidfile=state.work_dir / target.PIDFILE,
        output=state.work_dir / target.OUTPUT,
        started_pid=lambda: next(iter(target.started_pids(state)), None),
        exit_report=functools.partial(target.exit_report, state),
        restart=restart,
        verify=settings.app.verify_tls,
    )


@pytest.fixture(scope="session")
def aide_drill_upstream(aide_drill_proxy: FaultProxy | None) -> FaultProxy:
    """The fault proxy between the app and its upstream for the whole run: ``[drills] upstream`` (host:port of
    the dependency) fronted on ``127.0.0.1:[drills] upstream_proxy_port``, where the app is configured to call
    it. Passes traffic through except while a drill switches it (``blackhole()``, ``latency(2)``...); closed at
    the end of the run. Skips the drill when those two settings are not given.

    Example::

        @pytest.mark.drill
        def check_slow_upstream(aide_drill_upstream, aide_drill_target):
            aide_drill_upstream.latency(2)
            word, seconds = aide_drill_target.answer()
            assert seconds < 1, f"the app waited for its slow upstream: {seconds:.1f} s"
    """
    if aide_drill_proxy is None:
        pytest.skip("not configured: [drills] upstream and upstream_proxy_port")
    return aide_drill_proxy


@pytest.fixture(scope="session")
def aide_drill_proxy(pytestconfig: pytest.Config) -> Iterator[FaultProxy | None]:
    """The run's upstream proxy (``aide_drill_upstream``), or None when ``[drills]`` names none: up before any
    drill looks at the app, which calls its upstream through it.

    Example::

        def check_upstream_passes(aide_drill_proxy):
            assert aide_drill_proxy is None or aide_drill_proxy.mode == "pass"
    """
    from pytest_aide.faults import FaultProxy
    from pytest_aide.settings import parse_host_port
    from pytest_aide.state import get_state

    state = get_state(pytestconfig)
    drills = state.config.settings.drills if state is not None else None
    several = int(getattr(pytestconfig, "workerinput", {}).get("workercount", 1)) > 1  # aide_drill_target refuses
    if drills is None or not drills.upstream or not drills.upstream_proxy_port or several:
        yield None
        return
    upstream = parse_host_port(drills.upstream)
    proxy = FaultProxy(upstream.host, upstream.port, port=drills.upstream_proxy_port)
    yield proxy
    proxy.close()


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
