"""The run history database: what a run records, what a series is, the one-time import of older archives, and
writers in several processes at once (overlapping cron jobs) that never corrupt it or lose a run."""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aide_testing import aide_run, run_dirs
from history_seed import T0, run_data, run_id_at, seed

from pytest_aide import history


def test_the_history_lives_in_the_archive(tmp_path: Path) -> None:
    assert history.history_path(tmp_path / "reports") == tmp_path / "reports" / "history.sqlite3"


def test_a_connection_uses_wal_and_waits_for_a_busy_writer(tmp_path: Path) -> None:
    con = history.connect(tmp_path / "h.sqlite3")
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert con.execute("PRAGMA busy_timeout").fetchone()[0] >= 10_000
    finally:
        con.close()


def test_series_are_complete_runs_newest_last_worst_value_per_run(tmp_path: Path) -> None:
    with history.opened(tmp_path) as con:
        for day, (a, b) in enumerate([(10.0, 5.0), (20.0, 40.0), (30.0, 1.0), (90.0, 2.0)]):
            when = T0 + timedelta(days=day)
            data = run_data(run_id_at(when), when, {"x::a": {"cpu_percent": a}, "x::b": {"cpu_percent": b}})
            history.record_run(con, data)
        when = T0 + timedelta(days=10)
        history.record_run(con, run_data(run_id_at(when), when, {"x::a": {"cpu_percent": 99.0}}, partial=True))
        when = T0 + timedelta(days=11)
        history.record_run(con, run_data(run_id_at(when), when, {"x::a": {"cpu_percent": 98.0}}, exit_status=2))
        assert [s.value for s in history.series(con, "cpu_percent", last=3)] == [40.0, 30.0, 90.0]
        assert [s.value for s in history.series(con, "cpu_percent", last=10, nodeid="x::b")] == [5.0, 40.0, 1.0, 2.0]
        assert history.series(con, "cpu_percent", last=1)[0].time == T0 + timedelta(days=3)
        assert history.measured_by(con, "cpu_percent") == ["x::a", "x::b"]


def test_every_run_check_and_measurement_is_recorded(tmp_path: Path) -> None:
    when = T0
    data = run_data("r1", when, {"x::a": {"memory_percent": 42.0, "disk_percent": math.nan}}, selection="weekly")
    data["checks"].append({"nodeid": "x::skipped", "status": "SKIPPED", "skip_reason": "not configured"})
    with history.opened(tmp_path) as con:
        history.record_run(con, data)
        run = con.execute("SELECT run_id, schedule, partial, complete, verdict, score, measured FROM runs").fetchall()
        assert run == [("r1", "weekly", 0, 1, "HEALTHY", 100.0, 1)]
        checks = con.execute("SELECT nodeid, status, message FROM checks ORDER BY nodeid").fetchall()
        assert checks == [("x::a", "OK", ""), ("x::skipped", "SKIPPED", "not configured")]
        rows = con.execute("SELECT name, value FROM measurements ORDER BY name").fetchall()
        assert rows == [("disk_percent", None), ("memory_percent", 42.0)]  # not a number: no sample
        assert [(r.schedule, r.run_id) for r in history.last_complete(con)] == [("weekly", "r1")]


def test_a_run_under_no_single_schedule_records_none(tmp_path: Path) -> None:
    assert history.schedule_of("daily") == "daily"
    assert history.schedule_of("daily or gate") is None
    assert history.schedule_of("") is None


def _archive_run(archive: Path, folder: str, memory: float, *, partial: bool = False) -> None:
    (archive / folder).mkdir(parents=True)
    started = datetime.strptime(folder, "%Y%m%d-%H%M%S-%f").replace(tzinfo=UTC)
    data = run_data(folder, started, {"x::m": {"memory_percent": memory}}, partial=partial)
    (archive / folder / "health.json").write_text(json.dumps(data))


def test_older_archived_runs_are_imported_once(tmp_path: Path) -> None:
    _archive_run(tmp_path, "20261101-000000-000000", 10.0)
    _archive_run(tmp_path, "20261102-000000-000000", 99.0, partial=True)
    _archive_run(tmp_path, "20261103-000000-000000", 30.0)
    (tmp_path / "20261104-000000-000000").mkdir()
    (tmp_path / "20261104-000000-000000" / "health.json").write_text("{broken")
    with history.opened(tmp_path) as con:
        assert [s.value for s in history.series(con, "memory_percent")] == [10.0, 30.0]
        assert con.execute("SELECT count(*) FROM runs WHERE source = 'import'").fetchone()[0] == 3
    _archive_run(tmp_path, "20261105-000000-000000", 50.0)  # archived by an older version: not imported again
    with history.opened(tmp_path) as con:
        assert history.import_archive(con, tmp_path) == 0
        assert [s.value for s in history.series(con, "memory_percent")] == [10.0, 30.0]


def test_history_rows_are_pruned_but_a_schedules_last_run_stays(tmp_path: Path) -> None:
    seed(tmp_path, "disk_percent", [1.0, 2.0, 3.0], step=timedelta(days=100))
    with history.opened(tmp_path) as con:
        removed = history.prune(con, 150, now=T0 + timedelta(days=200))
        assert removed == 1
        assert [s.value for s in history.series(con, "disk_percent")] == [2.0, 3.0]
        assert con.execute("SELECT count(*) FROM measurements").fetchone()[0] == 2
        assert history.prune(con, 1, now=T0 + timedelta(days=400)) == 2
        assert [r.schedule for r in history.last_complete(con)] == ["daily"]


def test_history_keeps_rows_at_least_as_long_as_run_folders() -> None:
    assert history.history_keep_days(400, None) == 400
    assert history.history_keep_days(400, 900) == 900
    assert history.history_keep_days(None, 30) is None


def _writer(archive: str, worker: int, runs: int, start: float) -> None:
    """One process recording ``runs`` runs, every process starting at the same moment."""
    time.sleep(max(start - time.time(), 0))
    for index in range(runs):
        when = T0 + timedelta(seconds=worker * 1000 + index)
        measurements = {f"x::c{n}": {"memory_percent": float(n)} for n in range(50)}
        with history.opened(Path(archive)) as con:
            history.record_run(con, run_data(f"w{worker}-{index:03d}", when, measurements))


def test_writers_in_several_processes_lose_no_run(tmp_path: Path) -> None:
    """Four processes, each opening a new history (all importing the archive at once) and recording 20 runs
    of 50 checks each, in one burst: every run is there, the file is sound and the archive imported once."""
    _archive_run(tmp_path, "20261001-000000-000000", 1.0)
    context = multiprocessing.get_context("spawn")
    start = time.time() + 2.0
    workers = [context.Process(target=_writer, args=(str(tmp_path), n, 20, start)) for n in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
        assert process.exitcode == 0
    con = sqlite3.connect(history.history_path(tmp_path))
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 4 * 20 + 1
        assert con.execute("SELECT count(*) FROM measurements").fetchone()[0] == 4 * 20 * 50 + 1
        assert con.execute("SELECT count(*) FROM meta WHERE key = 'archive_imported'").fetchone()[0] == 1
    finally:
        con.close()


BARRIER_CONFTEST = """
import os, time
from pathlib import Path
import pytest

@pytest.hookimpl(wrapper=True)
def pytest_sessionfinish(session):
    # both runs reach their end before either writes: they finish at once, like two overlapping cron jobs
    here = Path(os.environ["BARRIER"])
    (here / str(os.getpid())).touch()
    deadline = time.monotonic() + 60
    while len(list(here.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    return (yield)
"""


def test_two_runs_finishing_at_once_are_both_recorded(pytester: pytest.Pytester) -> None:
    """Two real pytest processes on one archive, held until both reach their end, then released together."""
    pytester.makeconftest(BARRIER_CONFTEST)
    pytester.makepyfile(
        check_many="""
import pytest

@pytest.mark.daily
@pytest.mark.parametrize("n", range(200))
def check_value(n, aide_health):
    aide_health.record("memory_percent", float(n % 50))
"""
    )
    (pytester.path / "aide.toml").write_text("[suite]\nenabled = false\n")
    barrier = pytester.path / "barrier"
    barrier.mkdir()
    env = {**os.environ, "BARRIER": str(barrier)}
    env.pop("PYTEST_ADDOPTS", None)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-m", "daily"]
    processes = [
        subprocess.Popen(command, cwd=pytester.path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=180)[0].decode() for process in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    assert len(list(barrier.iterdir())) == 2
    folders = [folder.name for folder in run_dirs(pytester.path)]
    assert len(folders) == 2
    con = sqlite3.connect(history.history_path(pytester.path / "reports"))
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert sorted(r for (r,) in con.execute("SELECT run_id FROM runs")) == folders
        assert con.execute("SELECT count(*) FROM measurements").fetchone()[0] == 2 * 200
    finally:
        con.close()
    for output in outputs:
        assert "history: not recorded" not in output


def test_a_run_records_itself_and_its_checks(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        check_pair="""
def check_fine(aide_health):
    aide_health.record("memory_percent", 10.0)

def check_busy(aide_health):
    aide_health.record("memory_percent", 85.0)
"""
    )
    aide_run(pytester)
    aide_run(pytester, "-k", "fine")
    with history.opened(pytester.path / "reports") as con:
        runs = con.execute("SELECT partial, complete, verdict, measured, selected FROM runs ORDER BY run_id").fetchall()
        assert runs == [(0, 1, "DEGRADED", 2, 2), (1, 0, "HEALTHY", 1, 1)]
        assert [s.value for s in history.series(con, "memory_percent")] == [85.0]  # the partial run is no sample


def test_the_history_fixture_gives_series(pytester: pytest.Pytester) -> None:
    seed(pytester.path / "reports", "memory_percent", [50.0, 60.0, 70.0])
    pytester.makepyfile(
        check_series="""
def check_series(aide_history, aide_health):
    assert aide_history.values("memory_percent", last=2) == [60.0, 70.0]
    assert [s.run_id for s in aide_history.series("memory_percent")] == sorted(
        s.run_id for s in aide_history.series("memory_percent")
    )
    assert aide_history.values("never_measured") == []
"""
    )
    result = aide_run(pytester)
    result.assert_outcomes(passed=1)


def test_without_an_archive_the_history_is_empty(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        check_series="""
def check_series(aide_history):
    assert not aide_history.available
    assert aide_history.values("memory_percent") == []
"""
    )
    aide_run(pytester, "--aide-no-archive").assert_outcomes(passed=1)
    assert not (pytester.path / "reports").exists()


def test_an_unwritable_history_still_archives_the_run(pytester: pytest.Pytester) -> None:
    """A history the run cannot open (here: a folder where the file should be) never fails the run."""
    pytester.makepyfile(check_one="def check_one(aide_health):\n    aide_health.record('memory_percent', 1.0)\n")
    (pytester.path / "reports" / "history.sqlite3").mkdir(parents=True)
    result = aide_run(pytester)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["history: not recorded: *"])
    assert len([folder for folder in run_dirs(pytester.path) if (folder / "health.json").is_file()]) == 1


def test_run_data_helper_matches_health_json(pytester: pytest.Pytester) -> None:
    """The seeding helper writes what a real run writes (keys the history reads)."""
    pytester.makepyfile(check_one="def check_one(aide_health):\n    aide_health.record('memory_percent', 1.0)\n")
    aide_run(pytester)
    real = json.loads((run_dirs(pytester.path)[-1] / "health.json").read_text())
    seeded = run_data("r", T0, {"x": {"memory_percent": 1.0}})
    assert set(seeded) <= set(real)
    assert set(seeded["checks"][0]) <= set(real["checks"][0])


def test_the_module_does_not_import_pytest() -> None:
    code = "import sys, pytest_aide.history; print('pytest' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"


def test_the_controller_imports_at_session_start_and_a_new_archive_gets_no_file_without_checks(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(check_one="import pytest\n@pytest.mark.daily\ndef check_one():\n    pass\n")
    aide_run(pytester, "-m", "weekly")  # selects nothing
    assert not history.history_path(pytester.path / "reports").exists()
    _archive_run(pytester.path / "reports", "20261101-000000-000000", 10.0)
    aide_run(pytester, "-m", "weekly")
    con = sqlite3.connect(history.history_path(pytester.path / "reports"))
    try:
        assert con.execute("SELECT run_id FROM runs").fetchall() == [("20261101-000000-000000",)]
    finally:
        con.close()


def test_an_unreadable_history_makes_its_checks_unknown(pytester: pytest.Pytester) -> None:
    """Not a database (a damaged file): the check reading it could not read its target, it is not CRITICAL."""
    (pytester.path / "reports").mkdir()
    history.history_path(pytester.path / "reports").write_bytes(b"this is not a database" * 100)
    pytester.makepyfile(check_read="def check_read(aide_history):\n    aide_history.values('memory_percent')\n")
    result = aide_run(pytester)
    health = json.loads((sorted((pytester.path / "reports").glob("2*/health.json"))[-1]).read_text())
    [check] = health["checks"]
    assert check["status"] == "UNKNOWN"
    assert "run history " in check["message"]
    assert "file is not a database" in check["message"]
    result.stdout.fnmatch_lines(["history: not recorded: file is not a database"])


def test_a_history_that_refuses_the_run_is_noted_and_the_run_still_archived(pytester: pytest.Pytester) -> None:
    """The history is written on a thread of its own, beside the pages: its failure still reaches the verdict."""
    pytester.makepyfile(check_one="def check_one(aide_health):\n    aide_health.record('memory_percent', 1.0)\n")
    aide_run(pytester).assert_outcomes(passed=1)
    con = sqlite3.connect(history.history_path(pytester.path / "reports"))
    try:
        con.execute("CREATE TRIGGER refuse BEFORE INSERT ON runs BEGIN SELECT RAISE(ABORT, 'refused here'); END")
        con.commit()
    finally:
        con.close()
    result = aide_run(pytester)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["history: not recorded: refused here"])
    assert len([folder for folder in run_dirs(pytester.path) if (folder / "health.html").is_file()]) == 2
