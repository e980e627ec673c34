"""``reports/index.html``: every archived run, newest first, linking to its reports.

Rebuilt from the runs' ``health.json`` files after each run, so deleting a run folder simply drops it. A run
links to the operator report ``health.html`` (its main link), pytest-html's ``report.html``, ``junit.xml`` and
``health.json``. The index is written before pytest-html and junitxml write their files, so only
``health.html`` (written just before it) is looked for: runs archived before it existed link ``report.html``.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from pytest_aide.runs import write_text_atomic

OPERATOR_REPORT = "health.html"
DETAIL_FILES = ("report.html", "junit.xml", "health.json")
_COLOURS = {"HEALTHY": "#1a7f37", "DEGRADED": "#9a6700", "UNHEALTHY": "#d1242f", "CRITICAL": "#82071e"}


def archived_runs(archive: Path) -> list[dict[str, Any]]:
    """Summaries of the runs under ``archive``, newest first (runs without a readable health.json skipped)."""
    runs = []
    for health in archive.glob("*/health.json"):
        try:
            data = json.loads(health.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and "run_id" in data:
            data["_folder"] = health.parent.name
            has_operator_report = (health.parent / OPERATOR_REPORT).is_file()
            data["_files"] = [OPERATOR_REPORT, *DETAIL_FILES] if has_operator_report else list(DETAIL_FILES)
            runs.append(data)
    return sorted(runs, key=lambda run: str(run["_folder"]), reverse=True)


def render_index(runs: list[dict[str, Any]]) -> str:
    rows = "\n".join(_row(run) for run in runs)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>pytest-aide runs</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left;
white-space:nowrap}}.st{{font-weight:bold;color:#fff;
padding:.1em .5em;border-radius:.3em}}.partial{{background:#fff8c5;padding:0 .4em;
border-radius:.3em}}td:last-child{{white-space:normal}}</style></head>
<body><h1>pytest-aide health runs</h1><p>{len(runs)} archived run(s), newest first.</p>
<table><thead><tr><th>Run</th><th>Started</th><th>Selection</th><th>Status</th><th>Score</th>
<th>OK</th><th>Warning</th><th>Critical</th><th>Unknown</th><th>Skipped</th><th>Reports</th></tr></thead>
<tbody>
{rows}
</tbody></table></body></html>
"""


def _row(run: dict[str, Any]) -> str:
    folder = escape(str(run["_folder"]))
    status = escape(str(run.get("status", "?")))
    counts = run.get("counts", {})
    files = run.get("_files", DETAIL_FILES)
    run_id = escape(str(run["run_id"]))
    selection = escape(str(run.get("selection", "")))
    if run.get("partial"):
        reason = escape(str(run.get("partial_reason") or "narrowed run"))
        selection += f' <span class="partial" title="{reason}">partial: {reason}</span>'
    cells = [
        f'<a href="{folder}/{files[0]}">{run_id}</a>',
        escape(str(run.get("started", "")).replace("T", " ").replace("+00:00", " UTC")),
        selection,
        f'<span class="st" style="background:{_COLOURS.get(status, "#555")}">{status}</span>',
        escape("n/a" if run.get("score") is None else f"{run['score']:g}"),
        *(escape(str(counts.get(key, 0))) for key in ("OK", "WARNING", "CRITICAL", "UNKNOWN", "SKIPPED")),
        " ".join(f'<a href="{folder}/{name}">{name}</a>' for name in files),
    ]
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def write_index(archive: Path) -> Path:
    """Regenerate ``archive/index.html``."""
    path = archive / "index.html"
    write_text_atomic(path, render_index(archived_runs(archive)))
    return path
