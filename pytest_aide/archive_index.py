"""``reports/index.html``: the score and the key metrics over time, then every archived run, newest first.

The page opens on charts (:mod:`pytest_aide.charts`, inline SVG, no script, no network): the score of each run
and the key measurements (:data:`KEY_METRICS`), then a table of the runs linking to their reports.

Rebuilt from the runs' ``health.json`` files after each run, so deleting a run folder simply drops it. A run
links to the operator report ``health.html`` (its main link), pytest-html's ``report.html``, ``junit.xml`` and
``health.json``. The index is written before pytest-html and junitxml write their files, so only
``health.html`` (written just before it) is looked for: runs archived before it existed link ``report.html``.
"""

from __future__ import annotations

import contextlib
import json
import math
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any, TypeGuard

from pytest_aide import charts
from pytest_aide.runs import run_started, write_text_atomic
from pytest_aide.scoring import BANDS

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
ROW_KEYS = ("run_id", "started", "selection", "status", "score", "counts", "coverage", "partial", "partial_reason")
ROW_VERSION = 2  # a cached row of another version is read again (version 1 had no key measurements)
# The charts under the score: (measurement recorded by the shipped suite, title). A run's value is the worst
# (highest) of its checks' values, as for the trends; the thresholds drawn are those of the newest run.
KEY_METRICS: tuple[tuple[str, str], ...] = (
    ("response_time_s", "Response time"),
    ("cpu_percent", "CPU"),
    ("memory_percent", "Memory"),
    ("disk_percent", "Disk used"),
    ("new_log_errors", "New log errors per run"),
)


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
        if (
            isinstance(entry, dict)
            and entry.get("stamp") == stamp
            and entry.get("v") == ROW_VERSION
            and isinstance(entry.get("row"), dict)
        ):
            row = entry["row"]
        else:
            try:
                data = known[folder] if folder in known else json.loads(health.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if not (isinstance(data, dict) and "run_id" in data):
                continue
            row = run_row(data)
        fresh[folder] = {"stamp": stamp, "v": ROW_VERSION, "row": row}
        has_operator_report = (health.parent / OPERATOR_REPORT).is_file()
        files = [OPERATOR_REPORT, *DETAIL_FILES] if has_operator_report else list(DETAIL_FILES)
        rows.append({**row, "_folder": folder, "_files": files})
    if fresh != cache:
        with contextlib.suppress(OSError):  # only a cache: the next run parses again
            write_text_atomic(archive / CACHE_NAME, json.dumps(fresh))
    return sorted(rows, key=lambda run: str(run["_folder"]), reverse=True)


def run_row(data: dict[str, Any]) -> dict[str, Any]:
    """A run record of the index from a run's health.json: its :data:`ROW_KEYS`, its schedule and its key
    measurements (``key``: measurement -> value, status, unit, warning, critical of the worst check)."""
    row = {key: data[key] for key in ROW_KEYS if key in data}
    selection = str(data.get("selection") or "")
    row["schedule"] = selection if selection.isidentifier() else ""
    row["key"] = key_measurements(data.get("checks"))
    return row


def key_measurements(checks: Any) -> dict[str, dict[str, Any]]:
    """The worst (highest; NaN first) value of each of :data:`KEY_METRICS` over ``checks``, with its thresholds."""
    found: dict[str, dict[str, Any]] = {}
    for check in checks if isinstance(checks, list) else []:
        measurements = check.get("measurements") if isinstance(check, dict) else None
        if not isinstance(measurements, dict):
            continue
        for name, _title in KEY_METRICS:
            measured = measurements.get(name)
            if not isinstance(measured, dict) or not _is_number(measured.get("value")):
                continue
            value = float(measured["value"])
            held = found.get(name)
            if held is None or _worse(value, held["value"]):
                keep = ("status", "unit", "warning", "critical")
                found[name] = {"value": value, **{k: measured[k] for k in keep if k in measured}}
    return found


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _worse(value: float, than: float) -> bool:
    return not math.isnan(than) and (math.isnan(value) or value > than)


def _read_cache(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#1f2328}table{border-collapse:collapse}
td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left;white-space:nowrap}
.st{font-weight:bold;color:#fff;padding:.1em .5em;border-radius:.3em}
.partial{background:#fff8c5;padding:0 .4em;border-radius:.3em}td:last-child{white-space:normal}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(440px,1fr));gap:1em 2em;margin:1em 0 2em}
figure{margin:0}figcaption{font-size:.9em;color:#57606a}figcaption b{color:#1f2328;font-size:1.1em}
svg.chart{width:100%;height:auto;display:block}.plot{fill:#f6f8fa;stroke:#d0d7de}.grid{stroke:#eaeef2}
.yl{font-size:10px;text-anchor:end;fill:#57606a}.xl{font-size:10px;fill:#57606a}.unit{font-size:10px;fill:#57606a}
.th{stroke-dasharray:6 3;stroke-width:1.3}.th-l{font-size:9px;text-anchor:start}
.line{fill:none;stroke:#57606a;stroke-width:1.3}.nan{stroke-width:2.5;fill:none}
.empty{text-anchor:middle;fill:#57606a;font-size:12px}.legend span{margin-right:1.2em;white-space:nowrap}
.dot{display:inline-block;width:.7em;height:.7em;border-radius:50%;margin-right:.3em;vertical-align:baseline}"""


def render_index(runs: list[dict[str, Any]]) -> str:
    """The page: the latest verdict, the charts of :func:`chart_figures`, then one table row per run.

    ``runs`` are run records newest first, as :func:`index_rows` gives them (or any source of the same keys:
    ``run_id``, ``started`` (ISO 8601), ``status``, ``score``, ``coverage``, ``partial``, ``partial_reason``,
    ``selection``, ``schedule``, ``counts``, ``key`` (see :func:`key_measurements`), ``_folder``, ``_files``).
    """
    rows = "\n".join(_row(run) for run in runs)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>pytest-aide runs</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{_STYLE}</style></head>
<body><h1>pytest-aide health runs</h1>{_latest(runs)}
{chart_section(runs)}
<h2>Runs</h2><p>{len(runs)} archived run(s), newest first.</p>
<table><thead><tr><th>Run</th><th>Started</th><th>Selection</th><th>Status</th><th>Score</th>
<th>OK</th><th>Warning</th><th>Critical</th><th>Unknown</th><th>Skipped</th><th>Reports</th></tr></thead>
<tbody>
{rows}
</tbody></table></body></html>
"""


def _latest(runs: list[dict[str, Any]]) -> str:
    if not runs:
        return ""
    run = runs[0]
    status = str(run.get("status", "?"))
    score = "no score" if run.get("score") is None else f"score {run['score']:g}/100"
    partial = " (partial run)" if run.get("partial") else ""
    return (
        f'<p>Latest run: <span class="st" style="background:{_COLOURS.get(status, "#555")}">{escape(status)}</span> '
        f"{escape(score)} at {escape(_started(run))}{escape(partial)}.</p>"
    )


def chart_section(runs: list[dict[str, Any]]) -> str:
    """The charts with their legend, or nothing when no run has a time to place it on."""
    figures = chart_figures(runs)
    if not figures:
        return ""
    swatches = "".join(
        f'<span><i class="dot" style="background:{charts.colour(name)}"></i>{name.lower()}</span>'
        for name in ("HEALTHY", "DEGRADED", "UNHEALTHY", "CRITICAL")
    )
    legend = (
        f'<p class="legend">{swatches}<span>○ hollow: partial run (not on the line)</span>'
        "<span>&times; on the axis: not a number</span><span>dashed: thresholds now in effect</span>"
        "<span>hover a point for its run; times in UTC</span></p>"
    )
    return f'<h2>Over time</h2>{legend}<div class="charts">{"".join(figures)}</div>'


def chart_figures(runs: list[dict[str, Any]]) -> list[str]:
    """One ``<figure>`` for the score and one per key metric, from run records (any order)."""
    # Oldest first; runs started in the same second (health.json keeps seconds) in the order of their run ids.
    timed = sorted(
        ((time, run) for run in runs if (time := _time(run)) is not None),
        key=lambda pair: (pair[0], str(pair[1].get("run_id", ""))),
    )
    if not timed:
        return []
    score = [
        charts.Point(time, _score(run), str(run.get("status", "?")), "", bool(run.get("partial")), ref=run)
        for time, run in timed
    ]
    bands = [charts.Threshold(lower, "band", f"{verdict.value} from {lower:g}") for lower, verdict in BANDS if lower]
    figures = [_figure("score", "Score", "", score, bands, domain=(0.0, 100.0))]
    for name, title in KEY_METRICS:
        measured = [(time, run, _key(run).get(name)) for time, run in timed]
        found = [m for _time, _run, m in measured if isinstance(m, dict)]
        latest = found[-1] if found else {}
        lines = charts.thresholds_of("warning", latest.get("warning")) + charts.thresholds_of(
            "critical", latest.get("critical")
        )
        points = [_metric_point(time, run, name, m) for time, run, m in measured]
        figures.append(_figure(name, title, str(latest.get("unit") or ""), points, lines))
    return figures


def _figure(
    ident: str,
    title: str,
    unit: str,
    points: list[charts.Point],
    lines: list[charts.Threshold],
    domain: tuple[float, float] | None = None,
) -> str:
    plot = charts.layout(points, lines, domain=domain, describe=_hover)
    caption = _caption(title, unit, points, plot)
    svg = charts.render(f"chart-{ident}", f"{title} over time", caption, plot, unit)
    return f"<figure><figcaption><b>{escape(title)}</b> {escape(caption)}</figcaption>{svg}</figure>"


def _caption(title: str, unit: str, points: list[charts.Point], plot: charts.Layout) -> str:
    """What the chart shows in words (also its ``<desc>``): latest value, range, thresholds, partial runs."""
    measured = sorted((p for p in points if p.value is not None), key=lambda p: p.time)
    if not measured:
        return "not measured in any archived run."
    numbers = [p.value for p in measured if p.value is not None and math.isfinite(p.value)]
    suffix = f" {unit}" if unit else ""
    last = measured[-1]
    text = f"latest {_value(last.value)}{suffix} ({last.status.lower()}); {len(measured)} run(s)"
    if numbers:
        text += f", lowest {_value(min(numbers))}, highest {_value(max(numbers))}"
    not_numbers = len(measured) - len(numbers)
    if not_numbers:
        text += f", {not_numbers} not a number"
    partial = sum(p.partial for p in measured)
    if partial:
        text += f", {partial} partial"
    grouped = max((marker.runs for marker in plot.markers), default=1)
    if grouped > 1:
        text += f"; in groups of {grouped} runs: the line is a group's mean, its dot its worst run"
    if plot.lines or plot.off_scale:
        drawn = [line.text for _y, line in plot.lines]
        text += "; " + ", ".join(drawn + [f"{line.text} (off the chart)" for line in plot.off_scale])
    return text + "."


def _metric_point(time: float, run: dict[str, Any], name: str, measured: Any) -> charts.Point:
    if not isinstance(measured, dict) or not _is_number(measured.get("value")):
        return charts.Point(time, None, "SKIPPED", "", bool(run.get("partial")), ref=run)
    status = str(measured.get("status") or "UNKNOWN")
    return charts.Point(time, float(measured["value"]), status, "", bool(run.get("partial")), ref=(name, measured, run))


def _hover(point: charts.Point) -> str:
    """A marker's title: the measurement (for a metric's chart) and the run."""
    if not isinstance(point.ref, tuple):
        return _run_label(point.ref)
    name, measured, run = point.ref
    unit = f" {measured['unit']}" if measured.get("unit") else ""
    return f"{name} {_value(point.value)}{unit} ({point.status.lower()}) · {_run_label(run)}"


def _run_label(run: dict[str, Any]) -> str:
    score = "no score" if run.get("score") is None else f"score {run['score']:g}"
    parts = [_started(run), str(run.get("status", "?")), score]
    coverage = run.get("coverage")
    if isinstance(coverage, dict) and "measured" in coverage:
        parts.append(f"{coverage['measured']}/{coverage.get('selected', '?')} measured")
    if run.get("schedule") or run.get("selection"):
        parts.append(str(run.get("schedule") or run.get("selection")))
    if run.get("partial"):
        parts.append(f"partial: {run.get('partial_reason') or 'narrowed run'}")
    return " · ".join(parts)


def _key(run: dict[str, Any]) -> dict[str, Any]:
    """The run's key measurements (computed from its checks for a full health.json)."""
    key = run.get("key")
    return key if isinstance(key, dict) else key_measurements(run.get("checks"))


def _score(run: dict[str, Any]) -> float | None:
    score = run.get("score")
    return float(score) if _is_number(score) else None


def _time(run: dict[str, Any]) -> float | None:
    """When the run started: ``started`` keeps seconds, its run id (the same moment) microseconds."""
    try:
        started = datetime.fromisoformat(str(run.get("started")))
    except ValueError:
        return None
    seconds = (started if started.tzinfo else started.replace(tzinfo=UTC)).timestamp()
    precise = run_started(str(run.get("run_id", "")))
    return precise.timestamp() if precise and 0 <= precise.timestamp() - seconds < 1 else seconds


def _started(run: dict[str, Any]) -> str:
    return str(run.get("started", "")).replace("T", " ").replace("+00:00", " UTC")


def _value(value: float | None) -> str:
    return "n/a" if value is None else "not a number" if math.isnan(value) else f"{value:.4g}"


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
        escape(_started(run)),
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
