"""Put a component back, keeping a safety copy, so that a kill at any moment leaves old or new, never a mix.

Files and SQLite databases are written next to the target, fsynced, and moved over it with ``os.replace``
(atomic on POSIX). Folders are extracted into a sibling folder and swapped in with one
``renameat2(RENAME_EXCHANGE)``; where the kernel lacks it, two renames are used and a kill between them
leaves the target missing but both versions on disk (old as the safety copy, new as the temp folder).
PostgreSQL is restored by ``pg_restore --single-transaction --clean --if-exists`` after a safety
``pg_dump``: the server rolls the whole restore back on any failure or kill; objects not in the dump
(roles, other databases) are left as they are, and sessions of the application may block it (stop it first).
MySQL/MariaDB DDL commits, so the dump is loaded into a side database, its row counts checked against the
manifest, and the tables swapped in with one multi-table ``RENAME TABLE``; the old tables stay in
``<db>_before_restore_<stamp>`` on the server (views, routines and events of the target are left as they are).
Restoring over a live SQLite database is refused when another process holds its WAL: stop the application.
"""

from __future__ import annotations

import ctypes
import errno
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from pytest_aide.backup import folder_source, mysql_source, postgres_source, sqlite_source
from pytest_aide.backup.compress import SUFFIX, Progress, compress_file, decompress_to, open_reader
from pytest_aide.backup.config import DEFAULT_EXCLUDES, ComponentConfig
from pytest_aide.backup.locking import scratch_parent
from pytest_aide.backup.manifest import BackupSet, ComponentEntry, fsync_dir
from pytest_aide.backup.sets import component_url
from pytest_aide.errors import BackupError, UnwritablePlaceError
from pytest_aide.redact import redact_url

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


@dataclass(frozen=True)
class RestoredComponent:
    """What was put back where, and where the replaced content was kept (None when there was none)."""

    name: str
    target: str
    safety_copy: str | None


@dataclass(frozen=True)
class RestoreResult:
    set_id: str
    restored: tuple[RestoredComponent, ...]


def restore_component(
    backup_set: BackupSet,
    entry: ComponentEntry,
    comp: ComponentConfig,
    *,
    stamp: str,
    progress: Progress | None = None,
    check: bool = True,
) -> RestoredComponent:
    """Restore one captured component of ``backup_set`` over the target ``comp`` describes.

    ``check`` runs a database's integrity check on the restored copy before it replaces the target: needed
    when verification (which runs that check) was skipped with ``--force``; frame checksums catch damage
    to a verified set since.
    """
    if not entry.ok or entry.file is None:
        raise BackupError(f"set {backup_set.set_id}: component {entry.name} was not captured ({entry.error})")
    if entry.kind != comp.kind:
        raise BackupError(
            f"set {backup_set.set_id}: component {entry.name} is a {entry.kind} backup, "
            f"but the configuration says {comp.kind}"
        )
    archive = backup_set.path / entry.file
    if comp.kind == "postgresql":
        return _restore_postgres(entry, archive, backup_set, comp, stamp)
    if comp.kind == "mysql":
        return _restore_mysql(entry, archive, backup_set, comp, stamp)
    assert comp.source is not None  # guaranteed by the config parser
    if comp.kind == "folder":
        patterns = DEFAULT_EXCLUDES + comp.exclude
        safety = _restore_folder(archive, backup_set.compression, comp.source, stamp, patterns)
    else:
        if comp.kind == "sqlite":
            safety = _restore_sqlite(archive, backup_set.compression, comp.source, stamp, progress, check=check)
        else:
            safety = _restore_file(archive, backup_set.compression, comp.source, stamp, progress)
    return RestoredComponent(entry.name, str(comp.source), str(safety) if safety else None)


def safety_path(target: Path, stamp: str) -> Path:
    """``<name>_before_restore_<stamp><suffix>`` next to ``target``, never an existing name."""
    suffix = "" if target.is_dir() else target.suffix
    stem = target.name[: len(target.name) - len(suffix)] if suffix else target.name
    candidate = target.with_name(f"{stem}_before_restore_{stamp}{suffix}")
    number = 2
    while candidate.exists() or candidate.is_symlink():
        candidate = target.with_name(f"{stem}_before_restore_{stamp}-{number}{suffix}")
        number += 1
    return candidate


def _temp_sibling(target: Path) -> Path:
    return target.with_name(f".{target.name}{RESTORE_TEMP_MARK}{secrets.token_hex(4)}")


RESTORE_TEMP_MARK = ".aide-restore-"


def remove_dead_restore_copies(comp: ComponentConfig, backup_root: Path) -> list[Path]:
    """Remove what killed restores of ``comp`` left: temp copies beside its target (or PostgreSQL dumps).

    Only call this holding the exclusive restore lock: then no other restore is running, so every such copy
    is provably dead.
    """
    if comp.source is not None:
        pattern, folder = f".{comp.source.name}{RESTORE_TEMP_MARK}*", comp.source.parent
    else:
        pattern, folder = f".{comp.name}{RESTORE_TEMP_MARK}*", backup_root  # .pgdump / .sql temps
    removed = []
    for path in sorted(folder.glob(pattern)) if folder.is_dir() else []:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _restore_sqlite(
    archive: Path, compression: str, target: Path, stamp: str, progress: Progress | None, *, check: bool
) -> Path | None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_sibling(target)
    try:
        _decompress_beside(archive, compression, target, tmp, progress, cached=check)
        problems = sqlite_source.check(tmp)[0] if check else []  # even --force never installs a broken one
        if problems:
            raise BackupError(f"{archive.name}: restored copy fails its check ({problems[0]}); {target} untouched")
        safety = None
        if target.exists():
            # Refuses a database the application still holds; after it the main file holds everything, so
            # the old inode, kept under the safety name by a hard link, is a complete copy at no cost.
            # A damaged target's journal files are part of its evidence, and even a failed attempt to open
            # it may delete them: copied before anything opens it, kept only when it proves damaged.
            journals = _copy_journals(target, tmp)
            try:
                damaged = sqlite_source.release_for_replace(target)
                safety = safety_path(target, stamp)
                _keep_copy(target, safety)
                if damaged:
                    for suffix, copy in journals.items():
                        os.replace(copy, f"{safety}{suffix}")
            finally:
                for copy in journals.values():
                    copy.unlink(missing_ok=True)
        os.replace(tmp, target)
    finally:
        for scratch in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):  # the check's read leaves -wal/-shm
            scratch.unlink(missing_ok=True)
    for leftover in (Path(f"{target}-wal"), Path(f"{target}-shm")):
        leftover.unlink(missing_ok=True)  # emptied by the checkpoint; stale against the new file
    fsync_dir(target.parent)
    return safety


_NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _decompress_beside(
    archive: Path, compression: str, target: Path, tmp: Path, progress: Progress | None, *, cached: bool = False
) -> None:
    """Decompress into the temp copy ``tmp`` beside ``target`` (``cached``: it is checked before it is installed).
    A full disk surfaces from a bare ``write`` that names no file: say where, and that the target was not
    touched (the caller removes ``tmp``)."""
    try:
        decompress_to(archive, compression, tmp, progress=progress, cached=cached)
    except OSError as exc:
        if exc.errno not in _NO_ROOM:
            raise
        why = (exc.strerror or str(exc)).lower()
        raise UnwritablePlaceError(
            f"{target.parent}: cannot write the restored copy of {archive.name}: {why}; "
            f"{target} is untouched: make room there and restore again"
        ) from None


def _copy_journals(target: Path, beside: Path) -> dict[str, Path]:
    """Byte copies of ``target``'s non-empty ``-wal``/``-shm``, named after the temp file ``beside``."""
    copies = {}
    for suffix in ("-wal", "-shm"):
        journal = Path(f"{target}{suffix}")
        if journal.is_file() and journal.stat().st_size:
            copies[suffix] = Path(f"{beside}.keep{suffix}")
            shutil.copy2(journal, copies[suffix])
    return copies


def _restore_file(archive: Path, compression: str, target: Path, stamp: str, progress: Progress | None) -> Path | None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_sibling(target)
    try:
        _decompress_beside(archive, compression, target, tmp, progress)
        safety = None
        if target.exists():
            safety = safety_path(target, stamp)
            _keep_copy(target, safety)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(target.parent)
    return safety


def _keep_copy(target: Path, safety: Path) -> None:
    """A hard link keeps the old content for free (os.replace gives the target a new inode)."""
    try:
        os.link(target, safety)
    except OSError:
        shutil.copy2(target, safety)


def _restore_folder(
    archive: Path, compression: str, target: Path, stamp: str, patterns: tuple[str, ...]
) -> Path | None:
    with open_reader(archive, compression) as stream:
        folder_source.scan(stream, archive.name)  # refuses unsafe members before anything is written
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_sibling(target)
    tmp.mkdir()
    try:
        with open_reader(archive, compression) as stream:
            folder_source.extract(stream, tmp, archive.name)
        if target.is_dir():
            folder_source.carry_over_excluded(target, tmp, patterns)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if not target.exists():
        os.rename(tmp, target)
        fsync_dir(target.parent)
        return None
    safety = safety_path(target, stamp)
    if _exchange(tmp, target):
        os.rename(tmp, safety)  # tmp now holds the old content
    else:
        os.rename(target, safety)
        os.rename(tmp, target)
    fsync_dir(target.parent)
    return safety


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2``); False when the platform cannot."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    rc = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def safety_dump_folder() -> Path:
    """``$XDG_STATE_HOME/aide`` (``~/.local/state/aide``): for safety dumps when the backup folder is read-only."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    folder = Path(base) / "aide"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _dump_folder(backup_set: BackupSet) -> Path:
    """Where a database restore puts its dumps: beside the sets, or, on read-only media, where this user keeps
    state."""
    root = backup_set.path.parent
    return root if scratch_parent(root) is not None else safety_dump_folder()


def _restore_postgres(
    entry: ComponentEntry, archive: Path, backup_set: BackupSet, comp: ComponentConfig, stamp: str
) -> RestoredComponent:
    url = component_url(comp)
    root = _dump_folder(backup_set)
    token = secrets.token_hex(4)
    safety = root / f"{comp.name}_before_restore_{stamp}.pgdump{SUFFIX['zstd']}"
    dump_file = root / f".{comp.name}{RESTORE_TEMP_MARK}{token}.pgdump"
    safety_raw = root / f".{comp.name}{RESTORE_TEMP_MARK}{token}-safety.pgdump"
    try:
        decompress_to(archive, backup_set.compression, dump_file, cached=True)  # read back at once
        postgres_source.dump(url, safety_raw)
        # compressed like the sets, and counted by [backup.retention] keep_safety_copies
        compress_file(safety_raw, safety, "zstd", safety_raw.name, discard_source=True)
        postgres_source.restore_into(url, dump_file, clean=True)
    finally:
        dump_file.unlink(missing_ok=True)
        safety_raw.unlink(missing_ok=True)
    return RestoredComponent(entry.name, redact_url(url), str(safety))


def _restore_mysql(
    entry: ComponentEntry, archive: Path, backup_set: BackupSet, comp: ComponentConfig, stamp: str
) -> RestoredComponent:
    url = component_url(comp)
    dump_file = _dump_folder(backup_set) / f".{comp.name}{RESTORE_TEMP_MARK}{secrets.token_hex(4)}.sql"
    try:
        decompress_to(archive, backup_set.compression, dump_file, cached=True)  # read back at once
        kept = mysql_source.restore(url, dump_file, entry.summary.get("tables", {}), stamp)
    finally:
        dump_file.unlink(missing_ok=True)
    server = redact_url(url).rsplit("/", 1)[0]
    return RestoredComponent(entry.name, redact_url(url), f"{server}/{kept}")
