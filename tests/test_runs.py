"""Run ids and folders sort by time and never collide; the archive index lists readable runs, newest first."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_aide.archive_index import archived_runs, render_index, write_index
from pytest_aide.runs import RUN_ID_FORMAT, create_run_dir, new_run_id, run_started, write_text_atomic

T0 = datetime(2026, 11, 21, 19, 40, 0, 123456, tzinfo=UTC)


def test_run_id_format() -> None:
    assert new_run_id(T0) == "20261121-194000-123456"


@given(
    times=st.lists(
        st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(9999, 1, 1), timezones=st.just(UTC)),
        min_size=2,
        max_size=10,
    )
)
def test_run_ids_sort_like_their_times(times: list[datetime]) -> None:
    assert sorted(times, key=new_run_id) == sorted(times)


def test_runs_in_the_same_microsecond_get_distinct_folders_in_order(tmp_path: Path) -> None:
    archive = tmp_path / "reports"
    created = [create_run_dir(archive, T0) for _ in range(3)]
    ids = [run_id for run_id, _ in created]
    assert ids == ["20261121-194000-123456", "20261121-194000-123456-001", "20261121-194000-123456-002"]
    assert all(path.is_dir() and path.parent == archive for _, path in created)
    later, _ = create_run_dir(archive, T0 + timedelta(microseconds=1))
    assert sorted([*ids, later]) == [*ids, later]  # creation order is string order


def test_create_run_dir_never_reuses_an_existing_folder(tmp_path: Path) -> None:
    (tmp_path / new_run_id(T0)).mkdir()
    (tmp_path / new_run_id(T0) / "health.json").write_text("{}")
    run_id, path = create_run_dir(tmp_path, T0)
    assert run_id.endswith("-001")
    assert list(path.iterdir()) == []


def test_write_text_atomic_replaces_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "health.json"
    write_text_atomic(target, "old")
    write_text_atomic(target, "new ✓")
    assert target.read_text(encoding="utf-8") == "new ✓"
    assert [p.name for p in tmp_path.iterdir()] == ["health.json"]


def _health(run_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "started": "2026-11-21T19:40:00",
        "selection": "",
        "status": "HEALTHY",
        "score": 100.0,
        "counts": {"OK": 3, "WARNING": 0, "CRITICAL": 0, "UNKNOWN": 0, "SKIPPED": 1},
        **extra,
    }


def _archive_run(archive: Path, now: datetime, **extra: Any) -> str:
    run_id, path = create_run_dir(archive, now)
    (path / "health.json").write_text(json.dumps(_health(run_id, **extra)), encoding="utf-8")
    return run_id


def test_index_lists_runs_newest_first_and_skips_unreadable_ones(tmp_path: Path) -> None:
    first = _archive_run(tmp_path, T0)
    second = _archive_run(tmp_path, T0)  # same microsecond: the "-001" folder is the newer run
    third = _archive_run(tmp_path, T0 + timedelta(seconds=1))
    (tmp_path / "no-health").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "health.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "not-a-run").mkdir()
    (tmp_path / "not-a-run" / "health.json").write_text('["a list"]', encoding="utf-8")
    (tmp_path / "no-id").mkdir()
    (tmp_path / "no-id" / "health.json").write_text('{"status": "HEALTHY"}', encoding="utf-8")

    runs = archived_runs(tmp_path)
    assert [r["run_id"] for r in runs] == [third, second, first]

    index = write_index(tmp_path)
    assert index == tmp_path / "index.html"
    html = index.read_text(encoding="utf-8")
    assert "3 archived run(s)" in html
    positions = [html.index(f'href="{run_id}/report.html"') for run_id in (third, second, first)]
    assert positions == sorted(positions)
    assert f'<a href="{third}/report.html">{third}</a>' in html
    assert f'<a href="{first}/junit.xml">junit.xml</a>' in html
    assert "broken" not in html
    assert "no-id" not in html


def test_empty_archive_renders_an_empty_table(tmp_path: Path) -> None:
    assert archived_runs(tmp_path) == []
    assert "0 archived run(s)" in render_index([])


def test_index_escapes_html_in_values() -> None:
    run = _health("<script>alert(1)</script>", selection='-k "a & b"', status="<b>", started="<i>x</i>")
    run["_folder"] = 'x"><img src=y>'
    html = render_index([run])
    assert "<script>" not in html
    assert "<img" not in html
    assert "<b>" not in html
    assert "<i>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "-k &quot;a &amp; b&quot;" in html
    assert 'href="x&quot;&gt;&lt;img src=y&gt;/report.html"' in html


def test_index_shows_scores_statuses_and_counts() -> None:
    html = render_index(
        [
            {**_health("r1", status="DEGRADED", score=83.3), "_folder": "r1"},
            {**_health("r2", score=None), "_folder": "r2"},
        ]
    )
    assert "#9a6700" in html
    assert ">DEGRADED</span>" in html
    assert "<td>83.3</td>" in html
    assert "<td>n/a</td>" in html
    assert "<td>3</td><td>0</td><td>0</td><td>0</td><td>1</td>" in html


def test_trend_means_use_the_newest_runs_and_the_worst_value_per_run(tmp_path: Path) -> None:
    """Runs archived before the history existed are imported; a trend is the mean of the last N runs' worst."""
    from pytest_aide.history import History
    from pytest_aide.trends import trend

    for index, cpu in enumerate([10.0, 20.0, 30.0, 90.0]):
        run = tmp_path / f"2026010{index + 1}-000000-000000"
        run.mkdir()
        checks = [
            {"nodeid": "a", "measurements": {"cpu_percent": {"value": cpu}}},
            {"nodeid": "b", "measurements": {"cpu_percent": {"value": cpu / 2}, "db_query_s": {"value": 0.5}}},
        ]
        (run / "health.json").write_text(json.dumps({"checks": checks}))
    (tmp_path / "20260109-000000-000000").mkdir()
    (tmp_path / "20260109-000000-000000" / "health.json").write_text("{broken")
    runs = History(tmp_path)
    try:
        assert runs.values("cpu_percent", 2) == [30.0, 90.0]
        assert trend(runs, "cpu_percent", last=3).mean == pytest.approx(140 / 3)
        assert trend(runs, "db_query_s", last=4).mean == 0.5
        short = trend(runs, "response_time_s", last=3)
        assert (short.mean, short.found, short.wanted) == (None, 0, 3)
    finally:
        runs.close()


def test_prune_runs_removes_only_our_old_runs(tmp_path: Path) -> None:
    from pytest_aide.runs import prune_runs

    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    old, recent = new_run_id(now - timedelta(days=40)), new_run_id(now - timedelta(days=2))
    for name in (old, recent):
        (tmp_path / name).mkdir()
        (tmp_path / name / "health.json").write_text("{}")
    lookalike = new_run_id(now - timedelta(days=90))
    (tmp_path / lookalike).mkdir()  # a run id but no health.json: not ours to judge
    (tmp_path / "notes").mkdir()
    (tmp_path / "index.html").write_text("x")
    assert prune_runs(tmp_path, 30, now=now) == [old]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([recent, lookalike, "notes", "index.html"])


def test_the_index_cache_follows_changed_added_and_deleted_runs(tmp_path: Path) -> None:
    """index.html keeps each run's row in a cache; a changed health.json, a new run or a deleted one must show."""
    import shutil

    from pytest_aide.archive_index import CACHE_NAME, index_rows

    def write(folder: str, status: str) -> None:
        (tmp_path / folder).mkdir(exist_ok=True)
        (tmp_path / folder / "health.json").write_text(json.dumps({"run_id": folder, "status": status, "checks": []}))

    write("20261130-010000-000001", "HEALTHY")
    write("20261130-020000-000001", "DEGRADED")
    assert [r["status"] for r in index_rows(tmp_path)] == ["DEGRADED", "HEALTHY"]
    assert (tmp_path / CACHE_NAME).is_file()
    write("20261130-020000-000001", "CRITICAL (changed)")
    write("20261130-030000-000001", "UNHEALTHY")
    shutil.rmtree(tmp_path / "20261130-010000-000001")
    assert [r["status"] for r in index_rows(tmp_path)] == ["UNHEALTHY", "CRITICAL (changed)"]
    (tmp_path / CACHE_NAME).write_text("{not json")
    assert [r["run_id"] for r in index_rows(tmp_path)] == ["20261130-030000-000001", "20261130-020000-000001"]


@given(st.datetimes(min_value=datetime(1000, 1, 1), timezones=st.just(UTC)), st.sampled_from(["", "-001", "-x"]))
def test_a_run_id_gives_back_its_time(when: datetime, suffix: str) -> None:
    assert run_started(new_run_id(when) + suffix) == when


@given(st.text(alphabet="0123456789-x", min_size=20, max_size=26))
def test_a_time_read_from_a_name_is_the_one_strptime_reads(name: str) -> None:
    # never a time the format does not give: whatever run_started reads, strptime reads the same
    found = run_started(name)
    if found is not None:
        assert found == datetime.strptime(name[:22], RUN_ID_FORMAT).replace(tzinfo=UTC)
