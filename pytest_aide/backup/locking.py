"""Keep backup operations from pulling sets out from under each other.

``prune`` deletes sets, so it takes the backup folder's lock exclusively; ``backup``, ``verify``, ``restore``
and the restore drill read or add sets and share it. Two restores never run at once (their own lock). The
locks are ``flock`` locks: the kernel drops them when a process dies, so a killed run never leaves one held.

A backup folder on read-only media, or another user's, must still verify and restore: a shared lock is then
taken on a read-only descriptor (``flock`` needs no write access), or not at all when the lock file cannot
exist there (nothing can prune a read-only folder either); an exclusive lock moves to the temp folder.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pytest_aide.errors import BackupError, UnwritablePlaceError

FOLDER_LOCK = ".aide-backups.lock"
RESTORE_LOCK = ".aide-restore.lock"
_POLL_S = 0.05


_UNWRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


@contextmanager
def locked(path: Path, *, shared: bool, timeout: float, operation: str, movable: bool = False) -> Iterator[None]:
    """Hold ``path``'s lock (shared or exclusive) for the block; BackupError after ``timeout`` seconds.

    ``movable``: where ``path``'s folder cannot be written, the lock lives in the temp folder instead.
    """
    fd = _open(path, shared=shared, operation=operation, movable=movable)
    if fd is None:
        yield
        return
    try:
        _acquire(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX, time.monotonic() + timeout, path, operation)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _open(path: Path, *, shared: bool, operation: str, movable: bool) -> int | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        if exc.errno not in _UNWRITABLE:
            raise
        problem = exc
    if shared:
        try:
            return os.open(path, os.O_RDONLY)
        except OSError:
            return None
    if movable:
        return _open(moved_lock(path), shared=False, operation=operation, movable=False)
    raise UnwritablePlaceError(unwritable_message(path.parent, problem, operation))


def moved_lock(path: Path) -> Path:
    """Where ``path``'s lock lives while its folder cannot be written: one name per folder, in the temp folder."""
    digest = hashlib.sha256(str(path.parent.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"aide-{digest}{path.name}"


def unwritable_message(folder: Path, exc: OSError, operation: str) -> str:
    """One line: which folder, why, and what to do about it."""
    why = "it is on a read-only file system" if exc.errno == errno.EROFS else (exc.strerror or str(exc)).lower()
    return (
        f"{operation}: cannot write to the backup folder {folder}: {why}; make it writable by this user, "
        "or set [backup] dir to a folder it can write"
    )


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


def require_writable(folder: Path, operation: str) -> None:
    """UnwritablePlaceError (one line, with the remedy) unless ``folder`` exists or can be made, and is writable."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if exc.errno not in _UNWRITABLE:
            raise
        raise UnwritablePlaceError(unwritable_message(folder, exc, operation)) from None
    if not os.access(folder, os.W_OK):
        code = errno.EROFS if _read_only_mount(folder) else errno.EACCES
        raise UnwritablePlaceError(unwritable_message(folder, OSError(code, os.strerror(code)), operation))


def scratch_parent(folder: Path) -> Path | None:
    """``folder`` when scratch files may go there (same file system as the sets), else None: the temp folder."""
    return folder if os.access(folder, os.W_OK) else None


def _read_only_mount(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


WRITER_PREFIX = ".writer"  # ".writer.tmp-<set id>": outside every ".tmp-*" glob


@contextmanager
def writer_lock(path: Path) -> Iterator[None]:
    """Mark ``path`` (a temp folder) as being written by this process, until the block ends.

    The mark is an ``flock`` on ``.writer<name>`` beside it, taken before ``path`` exists: the kernel drops it
    when the writer dies, so :func:`writer_gone` tells a killed backup's leftovers from a running one's
    without guessing from ages.
    """
    mark = writer_mark(path)
    fd = os.open(mark, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        mark.unlink(missing_ok=True)
        os.close(fd)


def writer_mark(path: Path) -> Path:
    return path.with_name(WRITER_PREFIX + path.name)


def writer_gone(path: Path) -> bool | None:
    """True when ``path``'s writer is provably dead, False while it runs, None when it left no mark."""
    mark = writer_mark(path)
    try:
        fd = os.open(mark, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True
