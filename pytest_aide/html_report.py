"""pytest-html integration: a health summary on top and one status column (values, thresholds) per check.

Registered only in aide runs and only when pytest-html is active on the controller, and only through
pytest-html's public hooks (title, summary, table header, rows and row logs): pytest-html's layout and outcome
words stay its own, so ``report.html`` is the detailed test report and ``health.html`` (see
:mod:`pytest_aide.health_html`) the operator's. Both read the same ``user_properties`` and :class:`RunSummary` as
the terminal and ``health.json``, so they always agree.
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from pytest_aide.checkitem import report_status
from pytest_aide.health_html import optional_fields
from pytest_aide.resilience_summary import resilience_lines
from pytest_aide.results import MEASUREMENT_PREFIX
from pytest_aide.state import AideState

_STATUS_COLOURS = {
    "OK": "#1a7f37",
    "WARNING": "#9a6700",
    "CRITICAL": "#d1242f",
    "UNKNOWN": "#6e7781",
    "SKIPPED": "#8c959f",
}
OPERATOR_REPORT = "health.html"
_EMPTY_STATUS_CELL = '<td class="col-aidestatus"></td>'
# The badges' looks, once per page: pytest-html keeps every row's cells as text in the page, so a style written
# into each of 1,000 rows would cost its bytes and its JSON escaping 1,000 times.
_BADGE_COLOURS = "".join(f".aide-{status}{{background:{colour}}}" for status, colour in _STATUS_COLOURS.items())
_STYLE = f"<style>.aide-st{{color:#fff;padding:0 .4em;border-radius:.3em;background:#6e7781}}{_BADGE_COLOURS}</style>"


class AideHtml:
    def __init__(self, state: AideState) -> None:
        self.state = state

    def pytest_html_report_title(self, report: Any) -> None:
        report.title = f"pytest-aide health report {self.state.run_id}"

    def pytest_html_results_summary(
        self, prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session
    ) -> None:
        prefix.append(_STYLE)
        run = self.state.summary
        if run is None:
            return
        redact = self.state.redactor
        colour = {"HEALTHY": "#1a7f37", "DEGRADED": "#9a6700"}.get(run.verdict.value, "#d1242f")
        rows = "".join(
            f"<tr><td>{_badge(c.status.value if c.status else 'SKIPPED')}</td><td>{escape(c.nodeid)}</td>"
            f"<td>{escape(redact(c.message))}</td></tr>"
            for c in run.worst(limit=20)
        )
        extra = {k: redact(str(v)) for k, v in optional_fields(run).items()}
        lines = [f"{escape(run.verdict.advice)}; checks: {escape(run.counts_line())}"]
        lines += [f'<span class="aide-root-cause">{escape(redact(line))}</span>' for line in run.root_cause_lines()]
        if "exit_rule" in extra:
            lines.append(f'<span id="aide-exit-rule">{escape(extra["exit_rule"])}</span>')
        if "partial" in extra:
            reason = extra.get("partial_reason", "")
            lines.append(f'<span id="aide-partial">partial run{": " + escape(reason) if reason else ""}</span>')
        link = self._operator_report_link(session.config)
        if link:
            lines.append(f'operator report: <a id="aide-health-link" href="{escape(link)}">{OPERATOR_REPORT}</a>')
        prefix.append(
            f'<h2 id="aide-verdict" style="color:{colour}">{escape(run.verdict.value)} '
            f'&mdash; score <span id="aide-score">{"n/a" if run.score is None else f"{run.score:g}"}</span>/100'
            f"</h2><p>{'<br>'.join(lines)}</p>"
            + (
                f"<table id='aide-worst'><tr><th>Status</th><th>Check</th><th>Message</th></tr>{rows}</table>"
                if rows
                else ""
            )
            + _resilience_html([redact(line) for line in resilience_lines(run.resilience())])
        )

    def _operator_report_link(self, config: pytest.Config) -> str:
        """Relative URL from report.html to this run's health.html, or '' when there is none."""
        target = self.state.work_dir / OPERATOR_REPORT
        html_path = config.getoption("htmlpath", None)
        if not html_path or not target.is_file():
            return ""
        # pytest-html resolves its path against the working directory, after expanding variables and ~.
        report = Path.cwd() / Path(os.path.expandvars(html_path)).expanduser()
        return quote(Path(os.path.relpath(target, report.parent)).as_posix())

    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        # One column (status, then each value with its thresholds): every cell costs pytest-html work per
        # report. Not "sortable": pytest-html sorts only on its own row data, so a click would do nothing.
        cells.insert(1, "<th>Status</th>")

    @pytest.hookimpl(wrapper=True)
    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> Generator[None, Any, None]:
        if report.outcome == "passed" and report.when != "call":
            yield  # the other hooks see the cells as pytest-html made them (one may pop a column)
            # A passed setup or teardown: pytest-html drops its row, after formatting its cells and its log.
            # Without cells it stops at once (its documented way to leave a result out); a teardown that
            # captured output keeps its cells, since pytest-html adds that output to the call's row.
            if report.when == "setup" or not any("teardown" in header for header, _ in report.sections):
                cells.clear()
            return
        self._insert_status(report, cells)
        yield

    def _insert_status(self, report: pytest.TestReport, cells: list[str]) -> None:
        status = report_status(report)
        if not status:  # not a check
            cells.insert(1, _EMPTY_STATUS_CELL)
            return
        lines = [_badge(status)]
        for name, value in report.user_properties:
            if name.startswith(MEASUREMENT_PREFIX):
                lines.append(_measurement_html(name[len(MEASUREMENT_PREFIX) :], json.loads(str(value))))
        cells.insert(1, f'<td class="col-aidestatus">{"<br>".join(lines)}</td>')

    def pytest_html_results_table_html(self, report: pytest.TestReport, data: list[str]) -> None:
        """A skipped check's log is its one-line reason, not the repr of pytest's (path, line, reason) tuple."""
        if report.outcome == "skipped" and isinstance(report.longrepr, tuple) and data:
            data[0] = escape(str(report.longrepr[2])) + "\n"


def _resilience_html(lines: list[str]) -> str:
    """Circuits, fallbacks, retries and experiments of the run, one line each (health.html has the tables)."""
    if not lines:
        return ""
    items = "".join(f"<li>{escape(line)}</li>" for line in lines)
    return f'<div id="aide-resilience"><h3>Resilience</h3><ul>{items}</ul></div>'


def _measurement_html(name: str, data: dict[str, Any]) -> str:
    """``disk_percent = 95.5 % (warning 80, critical 90)``: a value and the ranges it was judged by."""
    ranges = ", ".join(
        f"{level} {escape(str(data[level]))}" for level in ("warning", "critical") if data[level] is not None
    )
    return f"{escape(name)} = {data['value']:.4g} {escape(data['unit'])}" + (f" ({ranges})" if ranges else "")


def _badge(status: str) -> str:
    known = status if status in _STATUS_COLOURS else ""
    return f'<span class="aide-st aide-{known}">{escape(status)}</span>'
