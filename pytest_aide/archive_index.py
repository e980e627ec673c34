"""``reports/index.html``: every archived run, newest first, linking to its reports.

Rebuilt from the runs' ``health.json`` files after each run, so deleting a run folder simply drops it. A run
links to the operator report ``health.html`` (its main link), pytest-html's ``report.html``, ``junit.xml`` and
``health.json``. The index is written before pytest-html and junitxml write their files, so only
``health.html`` (written just before it) is looked for: runs archived before it existed link ``report.html``.
"""

from __future__ import annotations

import contextlib
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


CACHE_NAME = ".index-cache.json"
# What a row of the index shows: the rest of health.json (the checks) is never needed for it.
ROW_KEYS = ("run_id", "started", "selection", "status", "score", "counts", "partial", "partial_reason")


def index_rows(archive: Path, known: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """What the index shows of each run, newest first, like :func:`archived_runs` without the checks.

    A run's row is read from its health.json once and kept in ``archive/.index-cache.json`` with that file's
    size and modification time, so each run parses only the runs added (or changed) since the last one rather
    than every archived health.json (about 2 ms per 1,000 checks each, every run, for the whole history).
    ``known`` maps run folders to the data of their health.json when the caller has it (the run that just
    wrote its own): read from there instead of parsing the file again.
    """
    cache = _read_cache(archive / CACHE_NAME)
    known = known or {}
    fresh: dict[str, Any] = {}
    rows = []
    for health in archive.glob("*/health.json"):
        folder = health.parent.name
        try:
            stat = health.stat()
        except OSError:
            continue
        stamp = [stat.st_mtime_ns, stat.st_size]
        entry = cache.get(folder)
        if isinstance(entry, dict) and entry.get("stamp") == stamp and isinstance(entry.get("row"), dict):
            row = entry["row"]
        else:
            try:
                data = known[folder] if folder in known else json.loads(health.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if not (isinstance(data, dict) and "run_id" in data):
                continue
            row = {key: data[key] for key in ROW_KEYS if key in data}
        fresh[folder] = {"stamp": stamp, "row": row}
        has_operator_report = (health.parent / OPERATOR_REPORT).is_file()
        files = [OPERATOR_REPORT, *DETAIL_FILES] if has_operator_report else list(DETAIL_FILES)
        rows.append({**row, "_folder": folder, "_files": files})
    if fresh != cache:
        with contextlib.suppress(OSError):  # only a cache: the next run parses again
            write_text_atomic(archive / CACHE_NAME, json.dumps(fresh))
    return sorted(rows, key=lambda run: str(run["_folder"]), reverse=True)


def _read_cache(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


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


def write_index(archive: Path, known: dict[str, dict[str, Any]] | None = None) -> Path:
    """Regenerate ``archive/index.html`` (``known``: see :func:`index_rows`)."""
    path = archive / "index.html"
    write_text_atomic(path, render_index(index_rows(archive, known)))
    return path
