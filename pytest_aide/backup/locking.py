"""Keep backup operations from pulling sets out from under each other.

``prune`` deletes sets, so it takes the backup folder's lock exclusively; ``backup``, ``verify``, ``restore``
and the restore drill read or add sets and share it. Two restores never run at once (their own lock). The
locks are ``flock`` locks: the kernel drops them when a process dies, so a killed run never leaves one held.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pytest_aide.errors import BackupError

FOLDER_LOCK = ".aide-backups.lock"
RESTORE_LOCK = ".aide-restore.lock"
_POLL_S = 0.05


@contextmanager
def locked(path: Path, *, shared: bool, timeout: float, operation: str) -> Iterator[None]:
    """Hold ``path``'s lock (shared or exclusive) for the block; BackupError after ``timeout`` seconds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _acquire(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX, time.monotonic() + timeout, path, operation)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _acquire(fd: int, mode: int, deadline: float, path: Path, operation: str) -> None:
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise BackupError(
                    f"{operation}: another aide operation (backup, restore, verify or prune) holds "
                    f"{path}; try again when it has finished"
                ) from None
            time.sleep(_POLL_S)
