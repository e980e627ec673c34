"""Fault drills: does the target degrade gracefully when a dependency fails, and recover when it returns?

Opt-in only: marked ``drill`` and no schedule, so ``pytest -m daily/weekly/monthly/gate`` never selects them and
a run without ``-m drill`` leaves them out. They act only on a target this run started (``[app] command``),
unless ``[drills] allow_unstarted_target = true`` (README: Drills). Each one is a chaos experiment (steady state
→ inject → expected degradation within a bound → roll back → recovery within a bound; the record with every
phase's timing is the check's ``aide_experiment`` result). They run in file order; the kill drill comes last.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from pytest_aide.status import Status

if TYPE_CHECKING:  # annotations only: nothing more is imported when the suite is collected
    from pytest_aide.config import AideConfig
    from pytest_aide.drills import DrillTarget
    from pytest_aide.faults import Experiments, FaultProxy, FileFaults, ProcessFaults
    from pytest_aide.health import HealthRecorder

DRILL_TIMEOUT_S = 180  # settle (30 s) + degrade (5 s) + recover (10 s) + a target restart (15 s), with room to spare

pytestmark = [pytest.mark.drill, pytest.mark.aide(component="drills", timeout=DRILL_TIMEOUT_S)]


def _run(
    experiments: Experiments,
    target: DrillTarget,
    config: AideConfig,
    name: str,
    expectation: str | Callable[[], str],
    **options: Any,
) -> dict[str, Any]:
    """Run one drill's experiment once the target is healthy: its health word observed (``options`` may say
    otherwise), steady when ``healthy``, within ``[drills]``' bounds; a phase that did not hold fails the drill
    with what was expected of it."""
    from pytest_aide.faults import ExperimentFailed

    drills = config.settings.drills
    target.settle(drills.settle_within)
    defaults = {
        "probe": target.observe,
        "steady": lambda word: word == "healthy",
        "what": "the health status",
        "degrade_within": drills.degrade_within,
        "recover_within": drills.recover_within,
    }
    try:
        return experiments(name, **{**defaults, **options})
    except ExperimentFailed as exc:
        expected = expectation if isinstance(expectation, str) else expectation()
        pytest.fail(f"{exc} ({expected})", pytrace=False)


def check_drill_upstream_cut(
    aide_drill_target: DrillTarget,
    aide_drill_upstream: FaultProxy,
    aide_experiment: Experiments,
    aide_config: AideConfig,
) -> None:
    """The upstream blackholed at the proxy: the app says ``degraded`` (serving cached data), then ``healthy``."""
    _run(
        aide_experiment,
        aide_drill_target,
        aide_config,
        "upstream cut",
        "expected 'degraded': the app should serve its cached upstream data while the upstream is cut",
        inject=aide_drill_upstream.blackhole,
        degraded=lambda word: word == "degraded",
        rollback=aide_drill_upstream.pass_through,
    )


def check_drill_database_unavailable(
    aide_drill_target: DrillTarget,
    aide_file_faults: FileFaults,
    aide_experiment: Experiments,
    aide_config: AideConfig,
) -> None:
    """The database file renamed away: the app says ``degraded`` (cached counts), then ``healthy`` once it is back."""
    from pytest_aide.drills import sqlite_file

    name = aide_config.settings.drills.database_file or sqlite_file(aide_config.settings.db.url)
    if not name:
        pytest.skip("not configured: [drills] database_file (or an sqlite:/// [db] url)")
    database = aide_config.path(name)
    _run(
        aide_experiment,
        aide_drill_target,
        aide_config,
        "database unavailable",
        "expected 'degraded': the app should serve its cached database answers while the file is missing",
        inject=lambda: aide_file_faults.make_unavailable(database),
        degraded=lambda word: word == "degraded",
        rollback=lambda: aide_file_faults.restore(database),
    )


def check_drill_upstream_latency(
    aide_drill_target: DrillTarget,
    aide_drill_upstream: FaultProxy,
    aide_experiment: Experiments,
    aide_config: AideConfig,
    aide_health: HealthRecorder,
) -> None:
    """Every upstream connection delayed (``[drills] latency_s``, 2 s): the health path still answers, three
    times running, within its response-time threshold; the slowest answer seen is recorded as ``response_time_s``."""
    limit = aide_health.thresholds.get("response_time_s")
    slowest, in_time = [0.0], [0]

    def timed() -> str:
        word, seconds = aide_drill_target.answer()
        slowest[0] = max(slowest[0], seconds)
        return word

    def answered_in_time(word: str) -> bool:
        in_time[0] += word in ("healthy", "degraded") and limit.evaluate(slowest[0]) is Status.OK
        return in_time[0] >= _ANSWERS

    latency = aide_config.settings.drills.latency_s
    try:
        _run(
            aide_experiment,
            aide_drill_target,
            aide_config,
            "upstream latency",
            lambda: (
                f"expected {_ANSWERS} answers within the response-time threshold while the upstream is"
                f" {latency:g} s slow; the slowest took {slowest[0]:.2f} s"
            ),
            probe=timed,
            inject=lambda: aide_drill_upstream.latency(latency),
            degraded=answered_in_time,
            rollback=aide_drill_upstream.pass_through,
            what="the health path",
        )
    finally:
        aide_health.record("response_time_s", slowest[0])


_ANSWERS = 3  # answers in a row within the threshold while the upstream is slow


def check_drill_target_killed(
    aide_drill_target: DrillTarget,
    aide_process_faults: ProcessFaults,
    aide_experiment: Experiments,
    aide_config: AideConfig,
) -> None:
    """The target's process killed (SIGKILL): the app is reported CRITICAL with its exit status and last output
    lines; restarted and healthy again only with ``[drills] restart_target = true``, else the drill ends
    CRITICAL (the target stays down for the rest of the run)."""
    from pytest_aide import process
    from pytest_aide.drills import DOWN

    pid = aide_drill_target.started_pid()
    if pid is None:
        pytest.skip("the run did not start the target: there is no process of ours to kill")
    restart = aide_config.settings.drills.restart_target
    handle = process.launched(pid)
    victim = aide_process_faults.declare(handle if handle is not None else pid)
    rollback = (lambda: aide_process_faults.restart(victim, start=aide_drill_target.restart)) if restart else _stay_down
    _run(
        aide_experiment,
        aide_drill_target,
        aide_config,
        "target killed",
        "expected the app reported CRITICAL with the exit status of its process"
        + (", then healthy after the restart" if restart else ""),
        inject=lambda: aide_process_faults.kill(victim),
        degraded=lambda seen: seen.startswith(DOWN) and "exited with status" in seen,
        rollback=rollback,
        recovered=(lambda word: word == "healthy") if restart else (lambda seen: True),
        what="the app",
    )
    if not restart:  # the record's observations are cut short: the whole report, read again
        raise AssertionError(
            f"killed by the drill, not restarted ([drills] restart_target = false): {aide_drill_target.observe()}"
        )


def _stay_down() -> None:
    """Rollback without ``restart_target``: the killed target stays down, as the configuration asks."""
