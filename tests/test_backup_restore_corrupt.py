"""Restore over a damaged SQLite target: exactly when a restore is needed, it must not need a readable database.

The backup issue's finding: restore opened the old file first and refused (`file is not a database`), with or
without --force. Now the damaged file (and its -wal/-shm) is kept byte for byte as the safety copy and the set is
restored over it; a damaged file another process still holds is refused as before.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_backup_restore import make_db, manager_for, read_marker

from conftest import HANG_S
from pytest_aide.backup.sqlite_source import lock_holders
from pytest_aide.errors import BackupError

HOLD_LOCK = """
import fcntl, sys, time
with open(sys.argv[1], "rb+") as fh:
    fcntl.lockf(fh, fcntl.LOCK_EX, 1, 100)
    print("locked", flush=True)
    time.sleep(60)
"""


def damage(path: Path, where: str) -> bytes:
    data = bytearray(path.read_bytes())
    if where == "header":
        data[:100] = b"\x00garbage" * 12 + b"\x00" * 4
    else:  # the schema page's cells
        data[100:4096] = b"\xff" * (4096 - 100)
    path.write_bytes(bytes(data))
    return bytes(data)


@pytest.mark.parametrize("where", ["header", "schema"])
def test_restore_replaces_a_damaged_database_and_keeps_it(tmp_path: Path, where: str) -> None:
    make_db(tmp_path / "app.db", "good")
    manager = manager_for(tmp_path, [{"name": "db", "kind": "sqlite", "source": "app.db"}])
    created = manager.create()
    damaged = damage(tmp_path / "app.db", where)
    (tmp_path / "app.db-wal").write_bytes(b"stale wal bytes")

    result = manager.restore(created.set_id)

    assert read_marker(tmp_path / "app.db") == "good"
    safety = Path(result.restored[0].safety_copy or "")
    assert safety.read_bytes() == damaged, "the damaged file is kept byte for byte"
    assert Path(f"{safety}-wal").read_bytes() == b"stale wal bytes"
    assert not (tmp_path / "app.db-wal").exists()


def test_a_damaged_database_held_by_another_process_is_refused(tmp_path: Path) -> None:
    make_db(tmp_path / "app.db", "good")
    manager = manager_for(tmp_path, [{"name": "db", "kind": "sqlite", "source": "app.db"}])
    created = manager.create()
    damaged = damage(tmp_path / "app.db", "header")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path / "app.db")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        deadline = time.monotonic() + HANG_S
        while holder.pid not in lock_holders(tmp_path / "app.db") and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(BackupError, match=r"in use by another process.*stop the application"):
            manager.restore(created.set_id)
    finally:
        holder.kill()
        holder.wait(timeout=HANG_S)
        holder.stdout.close() if holder.stdout else None
    assert (tmp_path / "app.db").read_bytes() == damaged, "the target is left as it was"
    assert not list(tmp_path.glob("app_before_restore_*")), "no safety copy of a refused restore"
