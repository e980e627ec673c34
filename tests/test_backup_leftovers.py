"""No leftovers: killed backups' temp sets and killed restores' temp copies go away by proof, not by age;
PostgreSQL safety dumps are compressed and counted by retention; safety copies are listed, never deleted.

The backup issue's finding: 20 killed backups left 14 ``.tmp-*`` folders, removed only by ``aide prune`` once
an hour old; killed restores left full-size temp copies next to the live database, removed by nothing; the
PostgreSQL safety dumps piled up uncompressed in the backup folder.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import zstandard
from aide_testing import run_aide
from test_backup_restore import make_db, manager_for

from conftest import HANG_S
from pytest_aide.backup import BackupManager, parse_backup_config
from pytest_aide.backup.locking import writer_lock
from pytest_aide.backup.postgres_source import list_archive
from pytest_aide.redact import Redactor

HOLD_WRITE_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA journal_mode=DELETE")
conn.execute("BEGIN EXCLUSIVE")
print("held", flush=True)
time.sleep(120)
"""


def wait_for(predicate: object, what: str) -> None:
    deadline = time.monotonic() + HANG_S
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def temp_sets(backups: Path) -> list[str]:
    return sorted(p.name for p in backups.glob(".tmp-*") if p.is_dir())


def test_a_killed_backup_is_cleaned_by_the_next_one_at_once(tmp_path: Path) -> None:
    """A real ``aide backup`` killed mid-set (it waits on a database another process holds exclusively)."""
    make_db(tmp_path / "app.db", "x", wal=False)
    (tmp_path / "aide.toml").write_text(
        '[backup]\ndir = "backups"\n[[backup.components]]\nname = "db"\nkind = "sqlite"\nsource = "app.db"\n'
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITE_LOCK, str(tmp_path / "app.db")], stdout=subprocess.PIPE, text=True
    )
    backup = None
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        backup = subprocess.Popen(
            [sys.executable, "-m", "pytest_aide.cli", "backup"],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: temp_sets(tmp_path / "backups"), "the backup's temp set")
        os.kill(backup.pid, signal.SIGKILL)
        backup.wait(timeout=HANG_S)
    finally:
        holder.kill()
        holder.wait(timeout=HANG_S)
        if holder.stdout:
            holder.stdout.close()
        if backup is not None and backup.poll() is None:
            backup.kill()
    leftover = temp_sets(tmp_path / "backups")
    assert len(leftover) == 1, "the kill left a half-written set"

    done = run_aide(tmp_path, "backup")

    assert done.returncode == 0, done.stderr
    assert temp_sets(tmp_path / "backups") == [], "removed at once: its writer is provably dead, whatever its age"
    assert not list((tmp_path / "backups").glob(".writer.tmp-*")), "and its writer's mark with it"


def test_a_running_backups_temp_set_is_left_alone(tmp_path: Path) -> None:
    make_db(tmp_path / "app.db", "x")
    manager = manager_for(tmp_path, [{"name": "db", "kind": "sqlite", "source": "app.db"}])
    manager.create()
    running = tmp_path / "backups" / ".tmp-20260101T000000.000000Z-beef"
    with writer_lock(running):  # another backup, alive, writing this set
        running.mkdir()
        manager.create()
        assert manager.prune().temp_removed == ()
        assert running.is_dir()


def test_a_killed_restores_temp_copy_is_removed_by_the_next_restore(tmp_path: Path) -> None:
    make_db(tmp_path / "app.db", "old")
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "a.ini").write_text("a")
    manager = manager_for(
        tmp_path,
        [{"name": "db", "kind": "sqlite", "source": "app.db"}, {"name": "conf", "kind": "folder", "source": "conf"}],
    )
    created = manager.create()
    dead_copy = tmp_path / ".app.db.aide-restore-0badf00d"  # what a restore killed mid-copy leaves
    dead_copy.write_bytes(b"\0" * 65536)
    dead_folder = tmp_path / ".conf.aide-restore-0badf00d"
    (dead_folder / "half").mkdir(parents=True)

    manager.restore(created.set_id)

    assert not dead_copy.exists()
    assert not dead_folder.exists()
    assert not list(tmp_path.glob(".*aide-restore*"))


def pg_manager(tmp_path: Path, keep: int) -> BackupManager:
    config = parse_backup_config(
        {
            "retention": {"keep_safety_copies": keep},
            "components": [{"name": "appdb", "kind": "postgresql", "url_env": "AIDE_TEST_BACKUP_URL"}],
        },
        source="aide.toml",
        base_dir=tmp_path,
    )
    return BackupManager(config, redactor=Redactor())


def test_postgres_safety_dumps_are_compressed_pruned_and_listed(
    tmp_path: Path, pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIDE_TEST_BACKUP_URL", pg_database)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("INSERT INTO t SELECT generate_series(1, 1000)")
    manager = pg_manager(tmp_path, keep=1)
    created = manager.create()
    first = Path(manager.restore(created.set_id).restored[0].safety_copy or "")
    time.sleep(1.1)  # the stamp has whole seconds
    second = Path(manager.restore(created.set_id).restored[0].safety_copy or "")

    assert second.name.endswith(".pgdump.zst")
    raw = tmp_path / "check.pgdump"
    raw.write_bytes(zstandard.ZstdDecompressor().decompressobj().decompress(second.read_bytes()))
    assert list_archive(raw) > 0, "a real pg_dump archive inside"
    assert [p for p, _ in manager.safety_copies()] == sorted([first, second])

    pruned = manager.prune()

    assert first.name in pruned.temp_removed
    assert not first.exists()
    assert second.exists()


def test_aide_backups_lists_safety_copies_with_sizes(tmp_path: Path) -> None:
    make_db(tmp_path / "app.db", "old")
    (tmp_path / "aide.toml").write_text(
        '[backup]\ndir = "backups"\n[[backup.components]]\nname = "db"\nkind = "sqlite"\nsource = "app.db"\n'
    )
    assert run_aide(tmp_path, "backup").returncode == 0
    (set_id,) = [d.name for d in (tmp_path / "backups").iterdir() if (d / "manifest.json").is_file()]
    conn = sqlite3.connect(tmp_path / "app.db")
    conn.execute("INSERT INTO marker VALUES ('new')")
    conn.commit()
    conn.close()
    assert run_aide(tmp_path, "restore", set_id, "--yes").returncode == 0

    listed = run_aide(tmp_path, "backups")

    (copy,) = tmp_path.glob("app_before_restore_*.db")
    assert "safety copies kept by restores (never deleted automatically" in listed.stdout
    assert f"  {copy}  " in listed.stdout
