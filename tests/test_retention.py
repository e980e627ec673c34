"""Archive retention by count and by age: only our own run folders go, the history keeps its rows longer, and
nothing outside the archive is ever removed (not beside it, not behind a symlink inside it)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aide_testing import aide_run, run_dirs

from pytest_aide import history
from pytest_aide.runs import prune_runs

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _run(archive: Path, days_ago: float) -> Path:
    folder = archive / (NOW - timedelta(days=days_ago)).strftime("%Y%m%d-%H%M%S-%f")
    folder.mkdir(parents=True)
    (folder / "health.json").write_text(json.dumps({"run_id": folder.name}))
    return folder


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the archive with a file an operator cares about."""
    keep = tmp_path / "precious"
    keep.mkdir()
    (keep / "data.txt").write_text("keep me")
    return keep


def test_keep_runs_keeps_the_newest(tmp_path: Path) -> None:
    archive = tmp_path / "reports"
    runs = [_run(archive, days) for days in (5, 4, 3, 2, 1)]
    removed = prune_runs(archive, keep_runs=2)
    assert removed == [r.name for r in runs[:3]]
    assert sorted(p.name for p in archive.iterdir()) == [r.name for r in runs[3:]]


def test_the_run_in_progress_counts_among_the_kept_and_is_never_removed(tmp_path: Path) -> None:
    archive = tmp_path / "reports"
    runs = [_run(archive, days) for days in (30, 3, 2, 1)]
    removed = prune_runs(archive, 1, keep_runs=2, now=NOW, protect=runs[0].name)
    assert runs[0].exists()  # older than keep_days, but it is this run's own folder
    assert removed == [runs[1].name, runs[2].name]


def test_count_and_days_together_remove_what_either_says(tmp_path: Path) -> None:
    archive = tmp_path / "reports"
    runs = [_run(archive, days) for days in (10, 9, 2, 1)]
    assert prune_runs(archive, 5, keep_runs=3, now=NOW) == [runs[0].name, runs[1].name]


def test_nothing_outside_the_archive_is_removed(tmp_path: Path, outside: Path) -> None:
    """An old run folder holding a symlink to a folder outside, a run-named symlink to outside at the top of
    the archive, an operator's own folder inside, and a file beside the archive: only the run folder goes."""
    archive = tmp_path / "reports"
    old = _run(archive, 100)
    (old / "link-out").symlink_to(outside, target_is_directory=True)
    (old / "file-link").symlink_to(outside / "data.txt")
    fake = archive / (NOW - timedelta(days=200)).strftime("%Y%m%d-%H%M%S-%f")
    fake.symlink_to(outside, target_is_directory=True)
    (outside / "health.json").write_text("{}")  # a run's marker behind the symlink: still not ours to remove
    own = archive / "20200101-000000-000000-notes"
    own.mkdir()
    (own / "readme.txt").write_text("an operator's folder with a run-like name but no health.json")
    beside = tmp_path / "beside.txt"
    beside.write_text("beside the archive")
    removed = prune_runs(archive, 1, keep_runs=1, now=NOW)
    assert removed == [old.name]
    assert not old.exists()
    assert (outside / "data.txt").read_text() == "keep me"
    assert fake.is_symlink()
    assert (outside / "health.json").exists()
    assert (own / "readme.txt").exists()
    assert beside.read_text() == "beside the archive"


def test_a_run_prunes_by_count_while_the_history_keeps_every_run(pytester: pytest.Pytester, outside: Path) -> None:
    pytester.makepyfile(check_one="def check_one(aide_health):\n    aide_health.record('disk_percent', 10.0)\n")
    (pytester.path / "aide.toml").write_text("[reports]\nkeep_runs = 2\n")
    (pytester.path / "reports").mkdir()
    (pytester.path / "reports" / "out").symlink_to(outside, target_is_directory=True)
    for _ in range(4):
        aide_run(pytester)
    folders = [d for d in run_dirs(pytester.path) if (d / "health.json").is_file()]
    assert len(folders) == 2
    con = sqlite3.connect(history.history_path(pytester.path / "reports"))
    try:
        assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 4
    finally:
        con.close()
    assert (outside / "data.txt").read_text() == "keep me"
    index = (pytester.path / "reports" / "index.html").read_text()
    assert "2 archived run(s)" in index


def test_history_rows_go_after_their_own_keep_days(pytester: pytest.Pytester) -> None:
    """[history] keep_days: the rows of runs older than it are deleted at the end of a run."""
    from history_seed import seed

    archive = pytester.path / "reports"
    seed(archive, "disk_percent", [1.0], start=datetime.now(UTC) - timedelta(days=20))
    seed(archive, "disk_percent", [2.0], start=datetime.now(UTC) - timedelta(days=5))
    pytester.makepyfile(check_one="def check_one(aide_health):\n    aide_health.record('disk_percent', 3.0)\n")
    (pytester.path / "aide.toml").write_text("[history]\nkeep_days = 10\n")
    aide_run(pytester)
    with history.opened(archive) as con:
        assert [s.value for s in history.series(con, "disk_percent")] == [2.0, 3.0]
