"""Creating and listing backup sets.

A set is written under ``.tmp-<id>`` and renamed to ``<id>`` only once its manifest is on disk (files and
folder fsynced), so a crash or ``kill -9`` never leaves something that looks like a finished set. A failing
component makes the set ``partial`` with the reason; nothing outside the new set is ever touched.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pytest_aide import __version__
from pytest_aide.backup import folder_source, mysql_source, postgres_source, sqlite_source
from pytest_aide.backup.compress import (
    SUFFIX,
    Progress,
    Written,
    compress_file,
    compressed_writer,
    file_growth,
    piped_writer,
)
from pytest_aide.backup.config import DEFAULT_EXCLUDES, BackupConfig, ComponentConfig
from pytest_aide.backup.locking import writer_lock
from pytest_aide.backup.manifest import (
    MANIFEST,
    BackupSet,
    ComponentEntry,
    fsync_dir,
    manifest_data,
    read_set,
    write_json_durably,
)
from pytest_aide.errors import BackupError
from pytest_aide.redact import Redactor

TMP_PREFIX = ".tmp-"
EXTENSIONS = {"sqlite": "sqlite", "postgresql": "pgdump", "mysql": "sql", "folder": "tar", "file": "data"}


def new_set_id(now: datetime) -> str:
    """Ids sort by creation time (microseconds) and a random suffix keeps two hosts/processes apart."""
    return f"{now:%Y%m%dT%H%M%S}.{now.microsecond:06d}Z-{secrets.token_hex(2)}"


def component_url(comp: ComponentConfig) -> str:
    """The server URL of a database component, from the config or its environment variable."""
    if comp.url is not None:
        return comp.url
    value = os.environ.get(comp.url_env or "")
    if not value:
        raise BackupError(f"component {comp.name}: environment variable {comp.url_env} is not set")
    return value


def list_sets(root: Path) -> list[BackupSet]:
    """Finished sets under ``root`` (anything without our manifest is ignored), newest first."""
    if not root.is_dir():
        return []
    found = (read_set(path) for path in root.iterdir())
    return sorted((s for s in found if s is not None), key=lambda s: s.set_id, reverse=True)


def create_set(config: BackupConfig, *, redactor: Redactor, progress: Progress | None = None) -> BackupSet:
    """Capture every component into a new set; raises BackupError only when no set could be written."""
    root = config.dir
    root.mkdir(parents=True, exist_ok=True)
    created = datetime.now(UTC)
    set_id = new_set_id(created)
    tmp = root / f"{TMP_PREFIX}{set_id}"
    with writer_lock(tmp):
        return _write_set(config, tmp, set_id, created, redactor, progress)


def _write_set(
    config: BackupConfig, tmp: Path, set_id: str, created: datetime, redactor: Redactor, progress: Progress | None
) -> BackupSet:
    root = config.dir
    started = time.monotonic()
    tmp.mkdir()
    entries = tuple(_capture(comp, tmp, config.compression, redactor, progress) for comp in config.components)
    backup_set = BackupSet(
        set_id=set_id,
        path=root / set_id,
        created=created,
        status="complete" if all(e.ok for e in entries) else "partial",
        host=socket.gethostname(),
        tool_version=__version__,
        compression=config.compression,
        components=entries,
        duration_s=round(time.monotonic() - started, 3),
    )
    try:
        write_json_durably(tmp / MANIFEST, manifest_data(backup_set))
        os.rename(tmp, backup_set.path)
        fsync_dir(root)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise BackupError(
            f"backup {set_id} could not be written to {root}: {_describe(exc)}; earlier sets are untouched"
        ) from exc
    return backup_set


def _capture(
    comp: ComponentConfig, tmp: Path, compression: str, redactor: Redactor, progress: Progress | None
) -> ComponentEntry:
    member = f"{comp.name}.{EXTENSIONS[comp.kind]}"
    dest = tmp / f"{member}{SUFFIX[compression]}"
    source = _describe_source(comp, redactor)
    try:
        written, summary = _write_component(comp, tmp, dest, compression, member, progress)
    except (OSError, BackupError, sqlite3.Error) as exc:
        for leftover in tmp.glob(f"{member}*"):
            leftover.unlink(missing_ok=True)
        return ComponentEntry(
            name=comp.name,
            kind=comp.kind,
            file=None,
            size=0,
            sha256=None,
            summary={},
            status="failed",
            error=redactor.redact(_describe(exc)),
            source=source,
        )
    return ComponentEntry(
        name=comp.name,
        kind=comp.kind,
        file=dest.name,
        size=written.size,
        sha256=written.sha256,
        summary=summary,
        status="ok",
        source=source,
    )


def _write_component(
    comp: ComponentConfig, tmp: Path, dest: Path, compression: str, member: str, progress: Progress | None
) -> tuple[Written, dict[str, Any]]:
    """Capture one component into ``dest``; returns what was written and the content summary."""
    if comp.kind == "folder":
        assert comp.source is not None  # guaranteed by the config parser
        with compressed_writer(dest, compression, member) as (out, written):
            summary = folder_source.archive(comp.source, out, DEFAULT_EXCLUDES + comp.exclude)
        return written, summary
    if comp.kind == "file":
        assert comp.source is not None
        if not comp.source.is_file():
            raise BackupError(f"file {comp.source} does not exist")
        summary = {"files": 1, "bytes": comp.source.stat().st_size}
        return compress_file(comp.source, dest, compression, member, progress=progress), summary
    if comp.kind == "mysql":  # streamed straight into the compressor, rows counted on the way
        url = component_url(comp)
        growth = file_growth(progress, f"dump {comp.name}", dest, 0)
        with growth, piped_writer(dest, compression, member) as (out, written):
            summary = mysql_source.dump(url, out)
        return written, summary
    raw = tmp / f"{member}.raw"
    try:
        if comp.kind == "sqlite":
            assert comp.source is not None
            with file_growth(progress, f"snapshot {comp.name}", raw, _sqlite_size(comp.source)):
                sqlite_source.snapshot(comp.source, raw)
            summary = sqlite_source.summarize(raw)
        else:
            with file_growth(progress, f"dump {comp.name}", raw, 0):
                summary = postgres_source.dump(component_url(comp), raw)
        return compress_file(raw, dest, compression, member, progress=progress, discard_source=True), summary
    finally:
        # reading a WAL-mode snapshot leaves its -wal and -shm beside it: scratch, never part of the set
        for leftover in (raw, Path(f"{raw}-wal"), Path(f"{raw}-shm")):
            leftover.unlink(missing_ok=True)


def _sqlite_size(path: Path) -> int:
    """About what a snapshot of ``path`` will hold: the file and its WAL."""
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.is_file())


def _describe_source(comp: ComponentConfig, redactor: Redactor) -> str:
    """Where a component comes from, fit for the manifest: a path, or a URL without its password."""
    if comp.source is not None:
        return str(comp.source)
    try:
        return redactor.redact(component_url(comp))
    except BackupError:
        return f"${comp.url_env}"


def _describe(exc: BaseException) -> str:
    """One line for an exception: ``No space left on device (/backups/x)`` rather than a repr."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror} ({exc.filename})" if exc.filename else exc.strerror
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
