"""Backup operations do not pull sets out from under each other: prune waits for readers, restores queue."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_aide.backup import BackupManager, parse_backup_config
from pytest_aide.backup.locking import FOLDER_LOCK, RESTORE_LOCK, locked
from pytest_aide.errors import BackupError

HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_SH if sys.argv[2] == "shared" else fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(30)
"""


@pytest.fixture
def manager(tmp_path: Path) -> BackupManager:
    (tmp_path / "notes.txt").write_text("hello")
    config = parse_backup_config(
        {"components": [{"name": "notes", "kind": "file", "source": "notes.txt"}]},
        source="aide.toml",
        base_dir=tmp_path,
    )
    backups = BackupManager(config, lock_timeout=0.3)
    backups.create()
    return backups


def hold(path: Path, mode: str) -> subprocess.Popen[str]:
    """Another process (as a second `aide` would be) holding the lock."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), mode], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def release(holder: subprocess.Popen[str]) -> None:
    holder.kill()
    holder.wait(5)
    if holder.stdout is not None:
        holder.stdout.close()


def test_prune_waits_for_a_running_verify_and_gives_up_with_a_clear_error(manager: BackupManager) -> None:
    holder = hold(manager.config.dir / FOLDER_LOCK, "shared")
    try:
        began = time.monotonic()
        with pytest.raises(BackupError, match=r"^prune: another aide operation .* holds .*\.aide-backups\.lock"):
            manager.prune()
        assert time.monotonic() - began < 20  # its 0.3 s lock_timeout applied, not the 30 s default
        assert manager.verify(manager.list_sets()[0].set_id).ok  # readers share the lock
        assert manager.prune(dry_run=True).dry_run  # a dry run deletes nothing and needs no exclusivity
    finally:
        release(holder)
    assert not manager.prune().removed  # free again once the other process is gone


def test_a_backup_waits_while_a_prune_deletes(manager: BackupManager) -> None:
    holder = hold(manager.config.dir / FOLDER_LOCK, "exclusive")
    try:
        with pytest.raises(BackupError, match=r"^backup: another aide operation"):
            manager.create()
    finally:
        release(holder)
    assert manager.create().complete


def test_two_restores_never_run_at_once(manager: BackupManager) -> None:
    set_id = manager.list_sets()[0].set_id
    holder = hold(manager.config.dir / RESTORE_LOCK, "exclusive")
    try:
        with pytest.raises(BackupError, match=r"^restore: another aide operation"):
            manager.restore(set_id)
    finally:
        release(holder)
    assert [c.name for c in manager.restore(set_id).restored] == ["notes"]


def test_a_killed_holder_releases_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    holder = hold(path, "exclusive")
    release(holder)
    with locked(path, shared=False, timeout=1.0, operation="prune"):
        pass
