"""pytest-html integration: a health summary on top and status/value/threshold columns per check.

Registered only when pytest-html is active on the controller; it reads the same ``user_properties`` and the
same :class:`RunSummary` as the terminal and ``health.json``, so the three always agree.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

import pytest

from pytest_aide.checkitem import report_status
from pytest_aide.results import MEASUREMENT_PREFIX
from pytest_aide.state import AideState

_STATUS_COLOURS = {
    "OK": "#1a7f37",
    "WARNING": "#9a6700",
    "CRITICAL": "#d1242f",
    "UNKNOWN": "#6e7781",
    "SKIPPED": "#8c959f",
}


class AideHtml:
    def __init__(self, state: AideState) -> None:
        self.state = state

    def pytest_html_report_title(self, report: Any) -> None:
        report.title = f"pytest-aide health report {self.state.run_id}"

    def pytest_html_results_summary(
        self, prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session
    ) -> None:
        run = self.state.summary
        if run is None:
            return
        colour = {"HEALTHY": "#1a7f37", "DEGRADED": "#9a6700"}.get(run.verdict.value, "#d1242f")
        rows = "".join(
            f"<tr><td>{_badge(c.status.value if c.status else 'SKIPPED')}</td><td>{escape(c.nodeid)}</td>"
            f"<td>{escape(c.message)}</td></tr>"
            for c in run.worst(limit=20)
        )
        prefix.append(
            f'<h2 id="aide-verdict" style="color:{colour}">{escape(run.verdict.value)} '
            f'&mdash; score <span id="aide-score">{"n/a" if run.score is None else f"{run.score:g}"}</span>/100'
            f"</h2><p>{escape(run.verdict.advice)}; checks: {escape(run.counts_line())}</p>"
            + (
                f"<table id='aide-worst'><tr><th>Status</th><th>Check</th><th>Message</th></tr>{rows}</table>"
                if rows
                else ""
            )
        )

    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells.insert(1, '<th class="sortable" data-column-type="aidestatus">Status</th>')
        cells.insert(3, "<th>Values</th>")
        cells.insert(4, "<th>Thresholds</th>")

    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        props = dict(getattr(report, "user_properties", ()))  # collect reports have none
        status = report_status(report) or ""
        measurements = {
            k[len(MEASUREMENT_PREFIX) :]: json.loads(v) for k, v in props.items() if k.startswith(MEASUREMENT_PREFIX)
        }
        values = "<br>".join(f"{escape(n)} = {m['value']:.4g} {escape(m['unit'])}" for n, m in measurements.items())
        limits = "<br>".join(
            f"{escape(n)}: "
            + ", ".join(f"{level} {escape(str(m[level]))}" for level in ("warning", "critical") if m[level] is not None)
            for n, m in measurements.items()
            if m["warning"] is not None or m["critical"] is not None
        )
        cells.insert(1, f'<td class="col-aidestatus">{_badge(status) if status else ""}</td>')
        cells.insert(3, f'<td class="col-aidevalues">{values}</td>')
        cells.insert(4, f'<td class="col-aidethresholds">{limits}</td>')


def _badge(status: str) -> str:
    colour = _STATUS_COLOURS.get(status, "#6e7781")
    return f'<span style="color:#fff;background:{colour};padding:0 .4em;border-radius:.3em">{escape(status)}</span>'
