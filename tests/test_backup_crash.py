"""kill -9 during a backup or a restore, and a full disk: never a set that lies, never a half-restored target.

The ENOSPC test mounts a real 2 MB tmpfs (needs root and mount rights; it skips with the reason otherwise).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import HANG_S, unavailable
from pytest_aide.backup import BackupManager, parse_backup_config
from pytest_aide.backup.restore import RESTORE_TEMP_MARK
from pytest_aide.errors import BackupError
from pytest_aide.redact import Redactor

BIG_ROWS = 12000  # ~50 MB of incompressible rows: a backup or restore takes a moment


def aide(config: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest_aide.cli", "--config", str(config), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def make_db(path: Path, marker: str, rows: int = 0) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute("CREATE TABLE marker (v TEXT)")
    conn.execute("INSERT INTO marker VALUES (?)", (marker,))
    conn.execute("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)")
    conn.execute(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) "
        "INSERT INTO blobs SELECT x, randomblob(4000) FROM c",
        (rows,),
    )
    conn.commit()
    conn.close()


def make_folder(path: Path, marker: str, count: int) -> None:
    path.mkdir()
    for i in range(count):
        (path / f"f{i:04d}.txt").write_text(marker)


def write_config(root: Path) -> Path:
    config = root / "aide.toml"
    config.write_text(
        '[backup]\ndir = "backups"\n'
        '[[backup.components]]\nname = "db"\nkind = "sqlite"\nsource = "app.db"\n'
        '[[backup.components]]\nname = "conf"\nkind = "folder"\nsource = "conf"\n'
    )
    return config


def manager_for(root: Path) -> BackupManager:
    components = [
        {"name": "db", "kind": "sqlite", "source": "app.db"},
        {"name": "conf", "kind": "folder", "source": "conf"},
    ]
    config = parse_backup_config({"components": components}, source="aide.toml", base_dir=root)
    return BackupManager(config, redactor=Redactor())


def wait_for(condition, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the subprocess"
        time.sleep(0.002)


def kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


def test_kill_9_during_backup_never_leaves_a_set_claiming_to_be_complete(tmp_path: Path) -> None:
    make_db(tmp_path / "app.db", "live", BIG_ROWS)
    make_folder(tmp_path / "conf", "live", 50)
    config = write_config(tmp_path)
    manager = manager_for(tmp_path)
    backups = tmp_path / "backups"
    interrupted = 0
    for delay in (0.0, 0.05, 0.15, 0.3):
        proc = aide(config, "backup")
        wait_for(lambda p=proc: p.poll() is not None or (backups.is_dir() and any(backups.glob(".tmp-*"))))
        time.sleep(delay)
        kill(proc)
        interrupted += proc.returncode == -9 and any(backups.glob(".tmp-*"))
        for backup_set in manager.list_sets():
            assert backup_set.complete
            assert manager.verify(backup_set.set_id).ok, f"{backup_set.set_id} claims complete but is not"
        for leftover in backups.glob(".tmp-*"):
            shutil.rmtree(leftover)  # as prune would, an hour later
    assert interrupted >= 2, "the kills must hit backups in progress for this test to mean anything"


def test_kill_9_during_restore_leaves_old_or_new_content(tmp_path: Path) -> None:
    make_db(tmp_path / "app.db", "new", BIG_ROWS)
    make_folder(tmp_path / "conf", "new", 300)
    config = write_config(tmp_path)
    manager = manager_for(tmp_path)
    backup_set = manager.create()
    assert manager.verify(backup_set.set_id).ok
    outcomes = set()
    for delay in (0.0, 0.01, 0.05, 0.3):  # after the restore's temp copy appears: kills land however fast it is
        (tmp_path / "app.db").unlink()
        for extra in (*tmp_path.glob("app.db-*"), *tmp_path.glob("*_before_restore_*")):
            shutil.rmtree(extra) if extra.is_dir() else extra.unlink()
        shutil.rmtree(tmp_path / "conf")
        make_db(tmp_path / "app.db", "old")
        make_folder(tmp_path / "conf", "old", 100)
        proc = aide(config, "restore", backup_set.set_id, "--yes")
        deadline = time.monotonic() + HANG_S
        while proc.poll() is None and not any(tmp_path.glob(f".*{RESTORE_TEMP_MARK}*")):
            assert time.monotonic() < deadline, "the restore never started writing"
            time.sleep(0.001)
        time.sleep(delay)
        kill(proc)
        conn = sqlite3.connect(tmp_path / "app.db")
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            db_state = conn.execute("SELECT v FROM marker").fetchone()[0]
        finally:
            conn.close()
        contents = [p.read_text() for p in (tmp_path / "conf").iterdir()]
        folder_state = {("old", 100): "old", ("new", 300): "new"}.get((contents[0], len(contents)), "mixed")
        assert set(contents) == {contents[0]}, "a folder mixing old and new files"
        assert db_state in ("old", "new")
        assert folder_state in ("old", "new")
        outcomes.add((db_state, folder_state))
    assert ("old", "old") in outcomes or ("new", "old") in outcomes, "no kill landed before the end"


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MB tmpfs: writes beyond it fail with ENOSPC."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        unavailable("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if done.returncode != 0:
        unavailable(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True, timeout=30, check=False)


def test_enospc_marks_the_set_partial_and_leaves_earlier_sets_intact(tmp_path: Path, tiny_disk: Path) -> None:
    make_db(tmp_path / "app.db", "live", 10)
    make_folder(tmp_path / "conf", "live", 5)
    config = parse_backup_config(
        {
            "dir": str(tiny_disk / "backups"),
            "components": [
                {"name": "conf", "kind": "folder", "source": "conf"},
                {"name": "db", "kind": "sqlite", "source": "app.db"},
            ],
        },
        source="aide.toml",
        base_dir=tmp_path,
    )
    manager = BackupManager(config, redactor=Redactor())
    first = manager.create()
    assert first.complete
    assert manager.verify(first.set_id).ok
    (tmp_path / "conf" / "big.bin").write_bytes(os.urandom(3 << 20))  # does not fit on the 2 MB disk

    second = manager.create()

    assert second.status == "partial"
    conf = second.component("conf")
    assert not conf.ok
    assert conf.error is not None
    assert conf.error.startswith("No space left on device")
    assert second.component("db").ok
    assert manager.verify(first.set_id).ok, "the earlier set is untouched"
    assert not list((tiny_disk / "backups").glob(".tmp-*"))

    with open(tiny_disk / "filler", "wb") as fh:  # fill the disk completely: not even a manifest fits
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    with pytest.raises(BackupError, match=r"could not be written to .*No space left on device.*earlier sets are"):
        manager.create()
    (tiny_disk / "filler").unlink()
    assert [s.set_id for s in manager.list_sets()] == [second.set_id, first.set_id]
    assert manager.verify(first.set_id).ok
    assert not list((tiny_disk / "backups").glob(".tmp-*"))
