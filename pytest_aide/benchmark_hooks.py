"""pytest-benchmark wiring: where its runs are saved, thresholds on a check's statistics, regressions at the end.

Only pytest-benchmark's public options and hooks are used:

- Storage. aide's ``pytest_configure`` runs before pytest-benchmark's (``trylast``), which reads its options:
  in an archived run whose ``--benchmark-storage`` is pytest-benchmark's default, the storage becomes the
  archive's ``benchmarks/`` folder and each run is saved there (``--benchmark-save=aide-<run id>``, unless
  ``--benchmark-save``/``--benchmark-autosave`` chose otherwise), so ``--benchmark-compare`` finds last week's
  run. ``--benchmark-compare-fail`` alone implies ``--benchmark-compare`` (the latest saved run); aide takes
  its expressions over (pytest-benchmark's option is emptied), so the verdict and aide's gate decide the exit
  status instead of pytest-benchmark's exception after the verdict.
- Thresholds. A check whose ``benchmark`` fixture timed rounds records ``benchmark_mean_s``,
  ``benchmark_p95_s`` and ``benchmark_ops`` after its body (:mod:`pytest_aide.benchmarks`). Only checks that
  use the fixture pay anything: one dictionary look-up at setup finds them.
- Regressions. ``pytest_benchmark_group_stats`` (a wrapper that leaves the grouping alone) receives the
  compared rows when pytest-benchmark finishes its session, before aide's ``pytest_sessionfinish`` decides the
  verdict; the regressions found there become the checks' status through the results' rule table.

Under xdist pytest-benchmark disables itself: the fixture calls the function once and times nothing. The check
then says so in its message (and the shipped throughput check times its calls itself); it is never UNKNOWN
for that alone.
"""

from __future__ import annotations

import warnings
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_aide.health import HealthRecorder
from pytest_aide.results import RunCollector
from pytest_aide.state import RECORDER_KEY, AideState, stashed
from pytest_aide.status import Status

if TYPE_CHECKING:  # the model's half loads when a benchmark is judged or compared: a daily run never needs it
    from pytest_aide import benchmarks

STORAGE_FOLDER = "benchmarks"  # in the report archive, beside the run folders (never taken for a run)
PLUGIN = "benchmark"  # pytest-benchmark's entry-point name
PYTEST_BENCHMARK_DEFAULT_STORAGE = "file://./.benchmarks"  # its documented default: anything else is a choice
NOT_TIMED = "not timed by pytest-benchmark (it is off under xdist or --benchmark-disable)"
_NOTHING_SAVED = "Not saving anything, no benchmarks have been run"  # pytest-benchmark's warning
_WATCH_KEY = pytest.StashKey["RegressionWatch"]()


def configure(config: pytest.Config, state: AideState) -> None:
    """Point pytest-benchmark at the archive and watch for regressions (aide's configure, before its own)."""
    if not config.pluginmanager.hasplugin(PLUGIN) or state.is_worker:
        return
    option = config.option
    note = ""
    quiet = False
    archived = state.archive is not None and option.benchmark_storage == PYTEST_BENCHMARK_DEFAULT_STORAGE
    if archived and state.archive is not None:
        option.benchmark_storage = f"file://{state.archive / STORAGE_FOLDER}"
        from pytest_aide.reporter import narrowed_by

        # A partial run (-k, --lf, node ids...) is no baseline: saved, it would be the latest run the next
        # --benchmark-compare takes, and the benchmarks it left out would have nothing to be compared with.
        if not (option.benchmark_save or option.benchmark_autosave or narrowed_by(config)):
            option.benchmark_save = f"aide-{state.run_id}"
            quiet = True
    checks = list(option.benchmark_compare_fail or [])
    if checks and not option.benchmark_compare:
        if archived and state.archive is not None and not any((state.archive / STORAGE_FOLDER).glob("*/*.json")):
            # the archive's first benchmark run: nothing to compare with yet (not a usage error every first week)
            note = f"benchmarks: no saved run in {state.archive / STORAGE_FOLDER} to compare with yet"
        else:
            option.benchmark_compare = True  # the latest saved run (pytest-benchmark's bare --benchmark-compare)
    # aide judges the expressions (pytest-benchmark's own objects) and its gate decides the exit status: left to
    # pytest-benchmark, a regression would end the run with its exception after the verdict, whatever it said
    option.benchmark_compare_fail = None
    watch = config.stash[_WATCH_KEY] = RegressionWatch(checks, note, quiet=quiet)
    config.pluginmanager.register(watch, "aide-benchmark-regressions")


class RegressionWatch:
    """Keeps the regressions pytest-benchmark's comparison finds (controller only)."""

    def __init__(self, checks: list[benchmarks.CompareCheck], note: str = "", *, quiet: bool = False) -> None:
        self.checks = checks
        self.note = note
        self.quiet = quiet  # aide asked for the save: a run without benchmarks (the daily one) has nothing to save
        self.found: list[benchmarks.Regression] = []

    @pytest.hookimpl(wrapper=True, tryfirst=True)  # around pytest-benchmark's wrapper, which saves
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None, None, None]:
        if not self.quiet:
            return (yield)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_NOTHING_SAVED, category=pytest.PytestWarning)
            return (yield)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.note:
            terminalreporter.write_line(self.note)

    @pytest.hookimpl(wrapper=True, optionalhook=True)
    def pytest_benchmark_group_stats(
        self, config: pytest.Config, benchmarks: list[dict[str, Any]], group_by: str
    ) -> Generator[None, Any, Any]:
        if self.checks:
            from pytest_aide.benchmarks import find_regressions

            self.found.extend(find_regressions(benchmarks, self.checks))
            if not self.note and not any(row.get("path") for row in benchmarks):
                self.note = "benchmarks: no saved run to compare with: --benchmark-compare-fail judged nothing"
        return (yield)


def apply_regressions(config: pytest.Config, collector: RunCollector, state: AideState) -> None:
    """Give each regressed benchmark's check the status of a regression (``[benchmark] regression``)."""
    watch = config.stash.get(_WATCH_KEY, None)
    if watch is None or not watch.found:
        return
    severity = Status(state.config.settings.benchmark.regression.upper())
    for regression in watch.found:
        collector.add_regression(regression.nodeid, state.redactor(regression.message), severity)


def watch_check(item: pytest.Item, state: AideState) -> Any:
    """At a check's setup: a user of ``benchmark`` gets its statistics judged after its body (the fixture is
    returned for the check's record, :class:`pytest_aide.checkrun.CheckRun`; None for any other check)."""
    fixture = item.funcargs.get("benchmark") if isinstance(item, pytest.Function) else None
    if fixture is None:
        return None
    if RECORDER_KEY not in item.stash:  # a check without aide_health: its statistics still count
        item.stash[RECORDER_KEY] = HealthRecorder(state.config.thresholds)
    return fixture


def judge(item: pytest.Item, fixture: Any) -> None:
    """After the body of a check that used ``benchmark``: record its statistics (or say that nothing was timed)."""
    recorder = stashed(item.stash, RECORDER_KEY)
    if recorder is None:
        return
    metadata = getattr(fixture, "stats", None)
    rounds = list(getattr(getattr(metadata, "stats", None), "data", None) or [])
    if rounds:
        from pytest_aide.benchmarks import record_statistics

        record_statistics(recorder, rounds)
    elif getattr(fixture, "disabled", False) and not recorder.measurements:  # else it timed itself (and says so)
        recorder.note(NOT_TIMED)
