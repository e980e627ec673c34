"""``reports/index.html`` opens on charts: the score over time and one chart per key metric, self-contained.

The run records (``index_rows``) carry each run's key measurements (the worst value of its checks, with the
thresholds and status it had), so the page is drawn from the records alone; a cache written before they carried
them is read again. End to end, real runs through pytest write an index whose charts show their values.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from aide_testing import aide_run, run_dirs

from pytest_aide import archive_index
from pytest_aide.archive_index import CACHE_NAME, KEY_METRICS, index_rows, render_index

SVG = "{http://www.w3.org/2000/svg}"


def measurement(value: float, status: str = "OK", warning: str | None = "70", critical: str | None = "85") -> dict:
    return {"value": value, "unit": "%", "status": status, "warning": warning, "critical": critical}


def write_run(archive: Path, folder: str, started: str, checks: list[dict[str, Any]], **extra: Any) -> None:
    (archive / folder).mkdir(parents=True)
    data = {
        "run_id": folder,
        "started": started,
        "selection": "daily",
        "status": "HEALTHY",
        "score": 100.0,
        "counts": {"OK": len(checks)},
        "coverage": {"measured": len(checks), "selected": len(checks)},
        "partial": False,
        "checks": checks,
        **extra,
    }
    (archive / folder / "health.json").write_text(json.dumps(data))


def charts_of(html: str) -> dict[str, ElementTree.Element]:
    """The page's SVG charts by their title."""
    found = {}
    for svg in re.findall(r"<svg .*?</svg>", html, flags=re.S):
        root = ElementTree.fromstring(svg)
        title = root.find(f"{SVG}title")
        assert title is not None
        assert title.text
        found[title.text] = root
    return found


def hover_titles(chart: ElementTree.Element) -> list[str]:
    return [
        (el.find(f"{SVG}title").text or "")  # type: ignore[union-attr]
        for el in chart
        if el.tag in (f"{SVG}circle", f"{SVG}path")
    ]


def test_a_run_record_carries_the_worst_key_measurement_of_its_checks(tmp_path: Path) -> None:
    checks = [
        {"measurements": {"response_time_s": {"value": 0.2, "unit": "s", "status": "OK", "warning": "1"}}},
        {"measurements": {"response_time_s": {"value": 1.5, "unit": "s", "status": "WARNING", "warning": "1"}}},
        {"measurements": {"cpu_percent": measurement(30.0), "other": {"value": 1e9}}},
        {"measurements": {"cpu_percent": {"value": math.nan, "status": "CRITICAL"}}},
        {"measurements": {"cpu_percent": measurement(99.0, "CRITICAL")}},  # NaN stays the worst
        {"measurements": {"disk_percent": {"value": True}, "memory_percent": {"value": "80"}}},  # not numbers
        {"measurements": "broken"},
        "not a check",
    ]
    write_run(tmp_path, "20261130-100000-000000", "2026-11-30T10:00:00+00:00", checks)
    [row] = index_rows(tmp_path)
    assert row["key"]["response_time_s"] == {"value": 1.5, "unit": "s", "status": "WARNING", "warning": "1"}
    assert math.isnan(row["key"]["cpu_percent"]["value"])
    assert set(row["key"]) == {"response_time_s", "cpu_percent"}
    assert row["coverage"] == {"measured": 8, "selected": 8}
    assert row["schedule"] == "daily"
    assert "checks" not in row
    cached = json.loads((tmp_path / CACHE_NAME).read_text())  # NaN survives the cache (Python's JSON)
    assert math.isnan(cached["20261130-100000-000000"]["row"]["key"]["cpu_percent"]["value"])
    assert math.isnan(index_rows(tmp_path)[0]["key"]["cpu_percent"]["value"])


def test_a_cached_row_without_key_measurements_is_read_again(tmp_path: Path) -> None:
    """A cache written by the version before the charts has the same stamps but rows without ``key``."""
    write_run(tmp_path, "run", "2026-11-30T10:00:00+00:00", [{"measurements": {"cpu_percent": measurement(42.0)}}])
    stat = (tmp_path / "run" / "health.json").stat()
    old_row = {"run_id": "run", "status": "HEALTHY"}
    (tmp_path / CACHE_NAME).write_text(json.dumps({"run": {"stamp": [stat.st_mtime_ns, stat.st_size], "row": old_row}}))
    [row] = index_rows(tmp_path)
    assert row["key"]["cpu_percent"]["value"] == 42.0


def test_the_index_opens_on_a_score_chart_and_one_chart_per_key_metric(tmp_path: Path) -> None:
    write_run(
        tmp_path,
        "20261130-080000-000000",
        "2026-11-30T08:00:00+00:00",
        [{"measurements": {"cpu_percent": measurement(40.0, warning="60")}}],  # the thresholds of back then
    )
    write_run(
        tmp_path,
        "20261130-090000-000000",
        "2026-11-30T09:00:00+00:00",
        [{"measurements": {"memory_percent": measurement(50.0)}}],
        partial=True,
        partial_reason="-k memory",
        selection="",
        score=50.0,
        status="UNHEALTHY",
    )
    write_run(
        tmp_path,
        "20261130-100000-000000",
        "2026-11-30T10:00:00+00:00",
        [{"measurements": {"cpu_percent": measurement(80.0, "WARNING"), "memory_percent": measurement(55.0)}}],
        status="DEGRADED",
        score=88.0,
    )
    html = render_index(index_rows(tmp_path))
    found = charts_of(html)
    assert list(found) == ["Score over time"] + [f"{title} over time" for _name, title in KEY_METRICS]
    for chart in found.values():
        assert chart.get("role") == "img"
        assert (chart.find(f"{SVG}desc").text or "").strip()  # type: ignore[union-attr]

    score = found["Score over time"]
    assert len(score.findall(f"{SVG}circle")) == 3
    assert [c.get("fill") for c in score.findall(f"{SVG}circle")].count("#fff") == 1  # the partial run: hollow
    assert any("partial: -k memory" in title for title in hover_titles(score))
    assert len(score.findall(f"{SVG}polyline")) == 1
    polyline = score.find(f"{SVG}polyline")
    assert polyline is not None
    assert len((polyline.get("points") or "").split()) == 2

    cpu = found["CPU over time"]
    assert [t.text for t in cpu.findall(f"{SVG}text") if t.get("class") == "th-l"] == ["warning > 70", "critical > 85"]
    assert len(cpu.findall(f"{SVG}circle")) == 2  # the partial run measured no CPU: no marker, no gap
    assert any(title.startswith("cpu_percent 80 % (warning) · 2026-11-30 10:00:00 UTC") for title in hover_titles(cpu))
    assert "latest 80 % (warning); 2 run(s), lowest 40, highest 80" in html

    assert "not measured in any archived run" in ElementTree.tostring(found["Disk used over time"], encoding="unicode")
    assert "Latest run:" in html
    assert ">DEGRADED</span> score 88/100" in html


def test_the_index_needs_nothing_from_outside_the_page(tmp_path: Path) -> None:
    write_run(tmp_path, "r1", "2026-11-30T10:00:00+00:00", [{"measurements": {"cpu_percent": measurement(1.0)}}])
    html = render_index(index_rows(tmp_path))
    assert "<script" not in html
    assert "<link" not in html
    assert " src=" not in html
    assert "url(" not in html
    assert re.findall(r"https?://[^\"' ]+", html) == ["http://www.w3.org/2000/svg"] * (1 + len(KEY_METRICS))


def test_full_health_documents_draw_the_same_charts(tmp_path: Path) -> None:
    """``render_index`` over :func:`archived_runs` (whole health.json files, no ``key``) reads their checks."""
    write_run(tmp_path, "r1", "2026-11-30T10:00:00+00:00", [{"measurements": {"disk_percent": measurement(64.0)}}])
    from_rows = render_index(index_rows(tmp_path))
    from_documents = render_index(archive_index.archived_runs(tmp_path))
    assert charts_of(from_rows).keys() == charts_of(from_documents).keys()
    assert "latest 64 % (ok)" in from_documents


def test_runs_without_a_readable_start_time_leave_the_table_only() -> None:
    html = render_index([{"run_id": "r", "started": "yesterday", "status": "HEALTHY", "_folder": "r"}])
    assert "<svg" not in html
    assert "1 archived run(s)" in html


CHARTED_CHECKS = """
import os

def check_app(aide_health):
    aide_health.record("response_time_s", float(os.environ["AIDE_TEST_RT"]))

def check_host(aide_health):
    aide_health.record("cpu_percent", float(os.environ["AIDE_TEST_CPU"]))
    aide_health.record("memory_percent", 50.0)
"""


def test_real_runs_write_an_index_charting_their_measurements(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makefile(".toml", aide="")
    pytester.makepyfile(check_charted=CHARTED_CHECKS)
    for rt, cpu, args in (("0.25", "30", ()), ("2.5", "75", ()), ("0.5", "90", ("-k", "host"))):
        monkeypatch.setenv("AIDE_TEST_RT", rt)
        monkeypatch.setenv("AIDE_TEST_CPU", cpu)
        aide_run(pytester, "check_charted.py", *args)
    assert len(run_dirs(pytester.path)) == 3
    html = (pytester.path / "reports" / "index.html").read_text(encoding="utf-8")
    found = charts_of(html)
    response = hover_titles(found["Response time over time"])
    assert [title.split(" · ")[0] for title in response] == [
        "response_time_s 0.25 s (ok)",
        "response_time_s 2.5 s (warning)",
    ]
    cpu = hover_titles(found["CPU over time"])
    assert cpu[-1].startswith("cpu_percent 90 % (critical)")
    assert "partial: " in cpu[-1]
    assert [c.get("fill") for c in found["CPU over time"].findall(f"{SVG}circle")] == ["#1a7f37", "#9a6700", "#fff"]


def test_the_index_benchmark_runs(tmp_path: Path) -> None:
    """``bench/bench_index.py`` keeps working (a small archive; no speed bound here: those belong to bench/)."""
    import subprocess
    import sys

    bench = Path(__file__).resolve().parents[1] / "bench" / "bench_index.py"
    args = ["--runs", "30", "--checks", "5", "--rounds", "1", "--bound-s", "600", "--bound-cold-s", "600"]
    done = subprocess.run(
        [sys.executable, str(bench), *args], capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS size" in done.stdout
    assert "30 archived runs of 5 checks each" in done.stdout
