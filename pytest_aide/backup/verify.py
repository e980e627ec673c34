"""Prove a set restorable: checksums, full decompression, and a real restore of each database into scratch.

A checksum only proves the archive did not change since it was written; the scratch restore (SQLite
``integrity_check``, ``pg_restore`` into a throw-away database) and the row counts prove it was worth
writing.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_aide.backup import folder_source, mysql_source, postgres_source, sqlite_source
from pytest_aide.backup.compress import Progress, decompress_to, drain, has_frame_checksum, open_reader, sha256_file
from pytest_aide.backup.locking import scratch_parent
from pytest_aide.backup.manifest import BackupSet, ComponentEntry
from pytest_aide.errors import BackupError

SCRATCH_PREFIX = ".scratch-"


@dataclass(frozen=True)
class VerifyResult:
    """``ok`` when every component was captured and passed every check; else ``problems`` say why."""

    set_id: str
    ok: bool
    problems: tuple[str, ...]
    checked: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # what was checked less thoroughly than a new set would be


def verify_set(
    backup_set: BackupSet, pg_urls: dict[str, str], *, extract: bool = False, progress: Progress | None = None
) -> VerifyResult:
    """Check every component of ``backup_set``; ``pg_urls`` maps database components to their server's URL.

    ``extract`` unpacks folders onto disk too (the restore drill), instead of only reading the archive.
    """
    problems: list[str] = []
    checked: list[str] = []
    notes = [
        f"{entry.name}: {entry.file} carries no zstd frame checksum (written before they were added): "
        "checked by its sha256 and its content only"
        for entry in backup_set.components
        if backup_set.compression == "zstd"
        and entry.ok
        and entry.file is not None
        and (backup_set.path / entry.file).is_file()
        and not has_frame_checksum(backup_set.path / entry.file)
    ]
    scratch_dir = scratch_parent(backup_set.path.parent)  # read-only media: the temp folder
    with tempfile.TemporaryDirectory(prefix=SCRATCH_PREFIX, dir=scratch_dir) as scratch:
        for entry in backup_set.components:
            found = _component_problems(backup_set, entry, Path(scratch), pg_urls.get(entry.name), extract, progress)
            problems += [f"{entry.name}: {p}" for p in found]
            if not found:
                checked.append(entry.name)
    return VerifyResult(backup_set.set_id, not problems, tuple(problems), tuple(checked), tuple(notes))


def _component_problems(
    backup_set: BackupSet,
    entry: ComponentEntry,
    scratch: Path,
    pg_url: str | None,
    extract: bool,
    progress: Progress | None,
) -> list[str]:
    if not entry.ok or entry.file is None:
        return [f"was not captured: {entry.error}"]
    archive = backup_set.path / entry.file
    problems = _file_problems(entry, archive)
    if problems:
        return problems
    try:
        return _content_problems(entry, archive, backup_set.compression, scratch, pg_url, extract, progress)
    except (BackupError, OSError) as exc:
        return [str(exc).splitlines()[0]]


def _file_problems(entry: ComponentEntry, archive: Path) -> list[str]:
    if not archive.is_file():
        return [f"{archive.name} is missing"]
    size = archive.stat().st_size
    if size != entry.size:
        return [f"{archive.name} is {size} bytes, manifest says {entry.size}"]
    if sha256_file(archive) != entry.sha256:
        return [f"{archive.name} checksum does not match the manifest (corrupted or altered)"]
    return []


def _content_problems(
    entry: ComponentEntry,
    archive: Path,
    compression: str,
    scratch: Path,
    pg_url: str | None,
    extract: bool,
    progress: Progress | None,
) -> list[str]:
    if entry.kind == "sqlite":
        copy = scratch / f"{entry.name}.sqlite"
        decompress_to(archive, compression, copy, progress=progress, durable=False)
        problems, counts = sqlite_source.check(copy)
        copy.unlink()
        return problems or sqlite_source.compare_counts(entry.summary.get("tables", {}), counts)
    if entry.kind == "folder":
        return _folder_problems(entry, archive, compression, scratch, extract)
    if entry.kind == "file":
        size = drain(archive, compression)
        want = entry.summary.get("bytes")
        return [] if size == want else [f"restored file has {size} bytes, manifest says {want}"]
    if entry.kind == "mysql":
        return _mysql_problems(entry, archive, compression, scratch, pg_url)
    return _postgres_problems(entry, archive, compression, scratch, pg_url)


def _folder_problems(entry: ComponentEntry, archive: Path, compression: str, scratch: Path, extract: bool) -> list[str]:
    with open_reader(archive, compression) as stream:
        got = folder_source.scan(stream, archive.name)
    if extract:
        target = scratch / entry.name
        target.mkdir()
        with open_reader(archive, compression) as stream:
            folder_source.extract(stream, target, archive.name)
        got = _disk_summary(target)
    return _compare_summary(entry.summary, got, ("files", "bytes"))


def _disk_summary(root: Path) -> dict[str, int]:
    files = [Path(d, f) for d, _, names in os.walk(root) for f in names]
    regular = [f for f in files if f.is_file() and not f.is_symlink()]
    return {"files": len(regular), "bytes": sum(f.stat().st_size for f in regular)}


def _postgres_problems(
    entry: ComponentEntry, archive: Path, compression: str, scratch: Path, pg_url: str | None
) -> list[str]:
    dump_file = scratch / f"{entry.name}.pgdump"
    decompress_to(archive, compression, dump_file, durable=False)
    postgres_source.list_archive(dump_file)
    if pg_url is None:
        return ["no PostgreSQL server configured to restore the dump into a scratch database"]
    with postgres_source.scratch_database(pg_url) as url:
        postgres_source.restore_into(url, dump_file, clean=False)
        counts = postgres_source.count_url(url)
    dump_file.unlink()
    return sqlite_source.compare_counts(entry.summary.get("tables", {}), counts)


def _mysql_problems(
    entry: ComponentEntry, archive: Path, compression: str, scratch: Path, url: str | None
) -> list[str]:
    """Replay the dump into a scratch database (always dropped) and compare its row counts."""
    dump_file = scratch / f"{entry.name}.sql"
    try:
        decompress_to(archive, compression, dump_file, durable=False)  # proves the archive whole even without a server
        if url is None:
            return ["no MySQL server configured to restore the dump into a scratch database"]
        counts = mysql_source.count_dump(url, dump_file)
    finally:
        dump_file.unlink(missing_ok=True)
    return sqlite_source.compare_counts(entry.summary.get("tables", {}), counts)


def _compare_summary(expected: dict[str, Any], got: dict[str, Any], keys: tuple[str, ...]) -> list[str]:
    return [
        f"{key}: manifest says {expected.get(key)}, archive has {got.get(key)}"
        for key in keys
        if expected.get(key) != got.get(key)
    ]
