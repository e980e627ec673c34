"""``manifest.json`` and ``verified.json``: what a set holds, and whether it was proven restorable.

The manifest is the only thing that makes a directory a backup set: retention and listing trust nothing
else, and the ``format`` marker keeps them away from directories somebody else put in the backup folder.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pytest_aide.errors import BackupError

FORMAT = "pytest-aide-backup/1"
MANIFEST = "manifest.json"
VERIFIED = "verified.json"
SET_ID = re.compile(r"^\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{4}$")


@dataclass(frozen=True)
class ComponentEntry:
    """One component of a set: its file, checksum, content summary and whether it was captured."""

    name: str
    kind: str
    file: str | None
    size: int
    sha256: str | None
    summary: dict[str, Any]
    status: str  # "ok" | "failed"
    error: str | None = None
    source: str = ""  # path or redacted URL: where it came from

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class BackupSet:
    """A finished set as its manifest describes it (``verified`` read from ``verified.json``)."""

    set_id: str
    path: Path
    created: datetime
    status: str  # "complete" | "partial"
    host: str
    tool_version: str
    compression: str
    components: tuple[ComponentEntry, ...]
    verified: bool = False
    verified_at: datetime | None = field(default=None)
    duration_s: float | None = None  # how long the backup took (sets written before it was recorded: None)

    @property
    def complete(self) -> bool:
        return self.status == "complete"

    def component(self, name: str) -> ComponentEntry:
        for comp in self.components:
            if comp.name == name:
                return comp
        raise BackupError(
            f"set {self.set_id}: no component named {name!r} (has: {', '.join(c.name for c in self.components)})"
        )


def manifest_data(backup_set: BackupSet) -> dict[str, Any]:
    """The JSON document written as ``manifest.json``."""
    return {
        "format": FORMAT,
        "type": "full",
        "set_id": backup_set.set_id,
        "created": backup_set.created.isoformat(),
        "host": backup_set.host,
        "tool_version": backup_set.tool_version,
        "status": backup_set.status,
        "compression": backup_set.compression,
        "duration_s": backup_set.duration_s,
        "components": [
            {
                "name": c.name,
                "kind": c.kind,
                "source": c.source,
                "file": c.file,
                "size": c.size,
                "sha256": c.sha256,
                "summary": c.summary,
                "status": c.status,
                "error": c.error,
            }
            for c in backup_set.components
        ],
    }


def write_json_durably(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` via a temp file + fsync + rename, so readers see all of it or nothing."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=False)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """fsync a directory so a rename or new entry in it survives a power cut."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_set(path: Path) -> BackupSet | None:
    """The set stored in directory ``path``, or None when it is not one of our finished sets."""
    if not SET_ID.match(path.name) or path.is_symlink() or not path.is_dir():
        return None
    try:
        data = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("set_id") != path.name:
        return None
    try:
        return _set_from_data(path, data)
    except (KeyError, TypeError, ValueError):
        return None


def _set_from_data(path: Path, data: dict[str, Any]) -> BackupSet:
    components = tuple(
        ComponentEntry(
            name=str(c["name"]),
            kind=str(c["kind"]),
            file=c["file"],
            size=int(c["size"]),
            sha256=c["sha256"],
            summary=dict(c["summary"]),
            status=str(c["status"]),
            error=c.get("error"),
            source=str(c.get("source", "")),
        )
        for c in data["components"]
    )
    verified_at = _verified_at(path)
    return BackupSet(
        set_id=path.name,
        path=path,
        created=datetime.fromisoformat(data["created"]),
        status=str(data["status"]),
        host=str(data["host"]),
        tool_version=str(data["tool_version"]),
        compression=str(data["compression"]),
        components=components,
        verified=verified_at is not None,
        verified_at=verified_at,
        duration_s=float(data["duration_s"]) if data.get("duration_s") is not None else None,
    )


def _verified_at(path: Path) -> datetime | None:
    try:
        data = json.loads((path / VERIFIED).read_text(encoding="utf-8"))
        return datetime.fromisoformat(data["verified_at"]) if data.get("ok") is True else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def mark_verified(backup_set: BackupSet, tool_version: str) -> None:
    """Record a successful verification, so "newest verified set" needs no re-verification."""
    now = datetime.now(UTC)
    write_json_durably(
        backup_set.path / VERIFIED,
        {"set_id": backup_set.set_id, "ok": True, "verified_at": now.isoformat(), "tool_version": tool_version},
    )
