"""The controller's side of a run: fold check reports into a verdict, write reports, set the exit status.

Registered only on the controller (never on an xdist worker), so the score is computed and the archive is
written exactly once per run whatever ``-n`` is.
"""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pytest_aide import archive_index, benchmark_hooks, gate, history, resilience_fixtures, schedules
from pytest_aide.results import ReportFacts, RunCollector
from pytest_aide.runs import host_name, prune_runs, write_text_atomic
from pytest_aide.state import AideState
from pytest_aide.status import Verdict
from pytest_aide.summary import RunSummary

_VERDICT_MARKUP = {
    Verdict.HEALTHY: {"green": True},
    Verdict.DEGRADED: {"yellow": True},
    Verdict.UNHEALTHY: {"red": True},
    Verdict.CRITICAL: {"red": True},
}


def report_facts(report: pytest.TestReport, named: dict[str, Any] | None = None) -> ReportFacts:
    props = list(report.user_properties)
    named = dict(props) if named is None else named
    reason = str(named.get("aide.message", ""))
    if not reason and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2]).removeprefix("Skipped: ")
    elif not reason and report.longrepr is not None:
        lines = [line for line in str(report.longrepr).splitlines() if line.strip()]
        reason = lines[-1].strip() if lines else ""
    return ReportFacts(report.nodeid, report.when, report.outcome, props, report.duration, reason)


def _junit_key() -> Any:
    """pytest's stash key of its LogXML writer (suite properties are added through it)."""
    try:
        from _pytest.junitxml import xml_key
    except ImportError:  # pragma: no cover - a pytest without it: no suite properties
        return None
    return xml_key


def _is_html_writer(plugin: object) -> bool:
    """Whether ``plugin`` is pytest-html's report writer (the object its configure registers; one per run)."""
    return type(plugin).__module__.startswith("pytest_html.") and hasattr(plugin, "pytest_sessionfinish")


def partial_reason(config: pytest.Config, session: pytest.Session) -> str:
    """Why this run covered only part of its selection, or "" for a full run.

    ``-m daily`` chooses a schedule and ``[suite] exclude`` is configuration: both still make full runs.
    """
    reasons = narrowed_by(config)
    if session.shouldstop or session.shouldfail:
        reasons.append(f"stopped early: {session.shouldstop or session.shouldfail}")
    return ", ".join(reasons)


def narrowed_by(config: pytest.Config) -> list[str]:
    """The command-line options that leave part of the selection out (known from configure on)."""
    reasons = []
    if config.getoption("keyword", ""):
        reasons.append(f"-k {config.getoption('keyword')!r}")
    if config.getoption("lf", False):
        reasons.append("--lf")
    if config.getoption("deselect", None):
        reasons.append("--deselect")
    if any("::" in str(arg) for arg in config.args):
        reasons.append("node ids")
    if config.getoption("stepwise", False):
        reasons.append("--sw")
    return reasons


class AideReporter:
    """Hook implementations of the controller."""

    def __init__(self, config: pytest.Config, state: AideState) -> None:
        self.config = config
        self.state = state
        self.collector = RunCollector()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if (
            report.when == "teardown"
            and report.outcome == "passed"
            and self.collector.add_passed_teardown(report.nodeid, report.duration)
        ):
            return
        named = dict(report.user_properties)  # one pass (C code) for the two questions asked of every report
        if "aide.component" in named:
            self.collector.add(report_facts(report, named))

    @pytest.hookimpl(tryfirst=True)  # before xdist starts its workers (trylast): they find it imported
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Import the archive's older runs into a new history once, here, rather than in whichever check or
        xdist worker opens it first (a large archive takes seconds, and the others would wait for it)."""
        archive = self.state.archive
        if archive is None or self.config.getoption("collectonly"):
            return
        if not history.history_path(archive).exists() and next(archive.glob("*/health.json"), None) is None:
            return  # a new archive: nothing to import, and a run without checks leaves no history file
        con = self._open_history(archive)
        if con is not None:
            con.close()

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        benchmark_hooks.apply_regressions(self.config, self.collector, self.state)  # pytest-benchmark compared
        checks = self.collector.results()
        if not checks:
            self._unroute_reports()
            return
        summary = self._summary(checks)
        summary.partial_reason = partial_reason(self.config, session)
        summary.exit_status, summary.exit_rule = gate.decide(summary, self._gate(), int(session.exitstatus))
        self.state.summary = summary
        self._alerts(summary)
        self.config.hook.pytest_aide_verdict(summary=summary, config=self.config)
        self._junit_properties(summary)
        if self.state.archive is not None:
            self._write_archive(summary)
        session.exitstatus = summary.exit_status

    def _alerts(self, summary: RunSummary) -> None:
        """Judge the alert rules on the decided run (only when some are configured: the import is lazy)."""
        if not self.state.config.settings.alerts.rules:
            return
        from pytest_aide import alerting

        report = alerting.judge(self.config, self.state, summary)
        if report is not None:
            summary.alerts, summary.alert_lines = report.to_dict(), report.lines()

    def _unroute_reports(self) -> None:
        """No check ran (e.g. the plugin's own unit tests): write no HTML/JUnit into a run folder."""
        if not self.state.routed_reports:
            return
        work_dir = self.state.work_dir.resolve()
        htmlpath = self.config.getoption("htmlpath", None)
        if htmlpath and Path(htmlpath).resolve().parent == work_dir:  # aide routed it: its writer is aide's to stop
            for plugin in list(self.config.pluginmanager.get_plugins()):
                if _is_html_writer(plugin):
                    self.config.pluginmanager.unregister(plugin)
        xml_key = _junit_key()
        xml = self.config.stash.get(xml_key, None) if xml_key is not None else None
        if xml is not None and Path(xml.logfile).resolve().parent == work_dir:
            self.config.pluginmanager.unregister(xml)
            del self.config.stash[xml_key]  # junitxml's own unconfigure would unregister it again

    def _summary(self, checks: list[Any]) -> RunSummary:
        settings = self.state.config.settings
        target = {
            "app": settings.app.url or "",
            "db": settings.db.url or "",
            "cache": settings.cache.url or "",
            "config": self.state.config.source_name,
        }
        return RunSummary.build(
            checks=checks,
            run_id=self.state.run_id,
            started=self.state.started.isoformat(timespec="seconds"),
            finished=datetime.now(UTC).isoformat(timespec="seconds"),
            host=host_name(),
            target={k: self.state.redactor(v) for k, v in target.items() if v},
            selection=self.config.getoption("markexpr") or "",
            circuits=resilience_fixtures.run_circuits(self.config),
            fallbacks=resilience_fixtures.run_fallback_statistics(self.config),
        )

    def _junit_properties(self, summary: RunSummary) -> None:
        xml_key = _junit_key()
        xml = self.config.stash.get(xml_key, None) if xml_key is not None else None
        if xml is None:
            return
        xml.add_global_property("aide.run_id", summary.run_id)
        xml.add_global_property("aide.status", summary.verdict.value)
        xml.add_global_property("aide.score", "n/a" if summary.score is None else f"{summary.score:g}")
        for key, count in summary.counts.items():
            xml.add_global_property(f"aide.count.{key.lower()}", str(count))

    def _write_archive(self, summary: RunSummary) -> None:
        assert self.state.archive is not None
        archive, settings = self.state.archive, self.state.config.settings
        con = self._open_history(archive)
        if con is not None:
            try:
                self._note_schedule_gap(con, summary)
            finally:
                con.close()
        data, text = self.state.redactor.redacted_json(summary.to_dict())
        # The history is written beside the pages: SQLite's work runs without the GIL while they render.
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aide-history")
        recorder = pool.submit(self._record_history, archive, data) if con is not None else None
        try:
            write_text_atomic(self.state.work_dir / "health.json", text + "\n")  # UTF-8, as JSON is
            from pytest_aide import health_html  # jinja2 only when a run is archived

            page = health_html.render_summary(summary, self.state.redactor, data)
            write_text_atomic(self.state.work_dir / "health.html", page)
            reports = settings.reports
            if reports.keep_days is not None or reports.keep_runs is not None:
                prune_runs(archive, reports.keep_days, keep_runs=reports.keep_runs, protect=self.state.work_dir.name)
            archive_index.write_index(archive, known={self.state.work_dir.name: data})
        finally:
            pool.shutdown(wait=True)
        if recorder is not None:
            recorder.result()  # what the recorder raised, if anything (its sqlite3 errors are already notes)

    def _open_history(self, archive: Path) -> sqlite3.Connection | None:
        """The archive's history; a run that cannot reach it is still archived, and says why."""
        try:
            con = history.connect(history.history_path(archive))
        except sqlite3.Error as exc:
            self.state.history_note = f"history: not recorded: {exc}"
            return None
        try:
            history.import_archive(con, archive)
        except sqlite3.Error as exc:
            self.state.history_note = f"history: older runs not imported: {exc}"
        return con

    def _note_schedule_gap(self, con: sqlite3.Connection, summary: RunSummary) -> None:
        """The dead-man's switch, from inside: the runs this schedule missed before this one."""
        settings = self.state.config.settings.history
        try:
            gap = schedules.gap_before(con, summary.selection, self.state.started, settings.intervals, settings.grace)
        except sqlite3.Error as exc:
            self.state.history_note = f"history: schedule gap not read: {exc}"
            return
        if gap is not None:
            summary.schedule_gap = {**gap.to_dict(), "message": gap.gap_line()}

    def _record_history(self, archive: Path, data: dict[str, Any]) -> None:
        """Add the run to the history (a connection of its own: this runs on the recorder's thread)."""
        settings = self.state.config.settings
        keep = history.history_keep_days(settings.history.keep_days, settings.reports.keep_days)
        try:
            con = history.connect(history.history_path(archive))
        except sqlite3.Error as exc:
            self.state.history_note = f"history: not recorded: {exc}"
            return
        try:
            history.record_run(con, data)
            if keep is not None:
                history.prune(con, keep)
        except sqlite3.Error as exc:
            self.state.history_note = f"history: not recorded: {exc}"
        finally:
            con.close()

    def _gate(self) -> gate.Gate:
        """The gate settings, each named by where it came from (the command line wins over the file)."""
        settings = self.state.config.settings.gate
        where = self.state.config.source.name if self.state.config.source else "configuration"
        return gate.Gate(
            fail_on=settings.fail_on,
            fail_on_source="--aide-fail-on" if self.config.getoption("aide_fail_on") else f"{where} [gate] fail_on",
            fail_under=settings.fail_under,
            fail_under_source=(
                "--aide-fail-under"
                if self.config.getoption("aide_fail_under") is not None
                else f"{where} [gate] fail_under"
            ),
        )

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        summary = self.state.summary
        if summary is None:
            return
        markup = _VERDICT_MARKUP[summary.verdict]
        terminalreporter.write_sep("=", "pytest-aide verdict", bold=True, **markup)
        terminalreporter.write_line(summary.headline(), bold=True, **markup)
        terminalreporter.write_line(f"checks: {summary.counts_line()}")
        terminalreporter.write_line(summary.coverage_line())
        if summary.verdict_rule():
            terminalreporter.write_line(self.state.redactor(summary.verdict_rule()), bold=True, **markup)
        for line in summary.root_cause_lines():
            terminalreporter.write_line(self.state.redactor(line), bold=line.startswith("root cause"))
        if summary.circuit_line():
            terminalreporter.write_line(self.state.redactor(summary.circuit_line()))
        if summary.schedule_gap:
            terminalreporter.write_line(str(summary.schedule_gap["message"]), bold=True, yellow=True)
        if self.state.history_note:
            terminalreporter.write_line(self.state.history_note, yellow=True)
        for check in summary.worst(limit=8):
            assert check.status is not None
            line = f"  {check.status.value:<8} {check.nodeid}: {check.message or '(no message)'}"
            terminalreporter.write_line(self.state.redactor(line))
        for line in summary.alert_lines:
            terminalreporter.write_line(self.state.redactor(line), bold=line.startswith("alerts: notifier"))
        if summary.partial:
            terminalreporter.write_line(f"partial run ({summary.partial_reason}): archived, but not a trend sample")
        terminalreporter.write_line(summary.exit_rule, bold=summary.exit_status != 0)
        if self.state.archive is not None:
            index = self.state.archive / "index.html"
            terminalreporter.write_line(f"reports: {self.state.work_dir} (all runs: {index})")
