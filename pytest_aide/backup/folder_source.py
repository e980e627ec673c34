"""Folders as tar streams (dotfiles, secret-looking names and key material left out), and their checks on the
way back.

Symbolic links are stored as links, never followed: following one could pull a file from outside the
folder (``/etc/shadow``) into a backup. Private keys are recognised by content as well as by name: a
``server.pem`` holding a certificate *and* its key looks harmless by name.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import stat
import tarfile
from pathlib import Path
from typing import IO, Any

from pytest_aide.backup.safety import ArchiveGuard
from pytest_aide.errors import BackupError

SNIFF_BYTES = 1 << 20  # key files are small; larger files are read this far
LEFT_OUT_LISTED = 200  # names kept in the manifest; the count is always complete
_PEM_PRIVATE_KEY = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")
_PKCS7_DATA_OID = bytes.fromhex("06092a864886f70d010701")  # what a PKCS#12 file's outer content starts with


def key_material(path: Path) -> str | None:
    """What private key ``path`` holds by content (PEM, OpenSSH, PKCS#12), or None; unreadable is None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)  # a FIFO must not block the backup
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        try:
            head = fh.read(SNIFF_BYTES)
        except OSError:
            return None
    if b"PRIVATE KEY-----" in head and _PEM_PRIVATE_KEY.search(head):
        return "a private key"
    # PKCS#12 (.p12/.pfx under any name): a DER SEQUENCE, version 3, then PKCS#7 data
    if head[:1] == b"\x30" and b"\x02\x01\x03" in head[:8] and _PKCS7_DATA_OID in head[:32]:
        return "a PKCS#12 key store"
    return None


def excluded(name: str, patterns: tuple[str, ...]) -> bool:
    """True when a file or folder name matches one of the (case-insensitive) exclude patterns."""
    lowered = name.lower()
    return any(fnmatch.fnmatchcase(lowered, pattern.lower()) for pattern in patterns)


def archive(source: Path, out: IO[bytes], patterns: tuple[str, ...]) -> dict[str, Any]:
    """Write ``source`` as a tar stream to ``out``; returns {files, bytes, excluded, left_out}.

    ``left_out`` names (never contents) what was left out, so the manifest and ``aide backup`` can say so.
    """
    if not source.is_dir():
        raise BackupError(f"folder {source} does not exist")
    summary: dict[str, Any] = {"files": 0, "bytes": 0, "excluded": 0, "left_out": []}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for path in _walk(source, patterns, summary):
            info = tar.gettarinfo(str(path), arcname=path.relative_to(source).as_posix())
            if info is None:  # a socket: nothing to back up
                continue
            if info.islnk():  # a second hard link: stored as a plain file, so each is restored and counted
                info.type, info.linkname, info.size = tarfile.REGTYPE, "", path.stat().st_size
            if info.isfile():
                with open(path, "rb") as fh:
                    tar.addfile(info, fh)
                summary["files"] += 1
                summary["bytes"] += info.size
            elif info.isdir() or info.issym():
                tar.addfile(info)
    return summary


def _walk(source: Path, patterns: tuple[str, ...], summary: dict[str, Any]) -> list[Path]:
    """Files, folders and links under ``source`` in a stable order, excluded names and key files pruned."""
    found: list[Path] = []
    for root, dirs, files in os.walk(source, onerror=_raise):
        kept = sorted(d for d in dirs if not excluded(d, patterns))
        for name in sorted(set(dirs) - set(kept)):
            _leave_out(source, Path(root, name), summary)
        dirs[:] = kept
        for name in sorted(files):
            path = Path(root, name)
            if excluded(name, patterns) or (not path.is_symlink() and key_material(path)):
                _leave_out(source, path, summary)
                continue
            found.append(path)
        found.extend(Path(root, d) for d in kept)
    return found


def _leave_out(source: Path, path: Path, summary: dict[str, Any]) -> None:
    summary["excluded"] += 1
    if len(summary["left_out"]) < LEFT_OUT_LISTED:
        summary["left_out"].append(path.relative_to(source).as_posix())


def _raise(exc: OSError) -> None:
    raise exc


def carry_over_excluded(old: Path, new: Path, patterns: tuple[str, ...]) -> list[str]:
    """Copy into ``new`` what ``old`` holds but backups leave out (``.env``, keys...), so a restore keeps it.

    Returns the relative paths carried over. Without this, restoring a config folder would delete the very
    secrets the application needs to start.
    """
    carried = []
    for root, dirs, files in os.walk(old):
        rel = Path(root).relative_to(old)
        for name in [*dirs, *files]:
            src, dest = Path(root, name), new / rel / name
            if dest.exists() or dest.is_symlink():
                continue
            left_out = excluded(name, patterns) or (name in files and not src.is_symlink() and key_material(src))
            if left_out:
                dest.parent.mkdir(parents=True, exist_ok=True)
                if src.is_dir() and not src.is_symlink():
                    shutil.copytree(src, dest, symlinks=True)
                else:
                    shutil.copy2(src, dest, follow_symlinks=False)
                carried.append((rel / name).as_posix())
        dirs[:] = [d for d in dirs if not excluded(d, patterns)]
    return carried


def scan(stream: IO[bytes], archive_name: str) -> dict[str, Any]:
    """Read a whole tar stream and judge its members together; returns {files, bytes} for comparison.

    ``verify`` and ``restore`` both call this before anything is written, so they refuse the same archives.
    """
    summary = {"files": 0, "bytes": 0}
    guard = ArchiveGuard()
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                _refuse(guard.add(member), archive_name)
                if member.isfile():
                    summary["files"] += 1
                    summary["bytes"] += member.size
    except tarfile.TarError as exc:
        raise BackupError(f"{archive_name}: not a readable tar archive: {exc}") from exc
    _refuse(guard.finish(), archive_name)
    return summary


def _refuse(problem: str | None, archive_name: str) -> None:
    if problem is not None:
        raise BackupError(f"{archive_name}: refused, {problem}; nothing was written")


def extract(stream: IO[bytes], dest: Path, archive_name: str) -> None:
    """Extract a tar stream that :func:`scan` accepted into the empty folder ``dest``, fsyncing what it writes.

    The stream is read a second time, so each member is judged again as it comes; the interpreter's ``data``
    filter stays on as a second guard.
    """
    guard = ArchiveGuard()
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                problem = guard.add(member)
                if problem is not None:
                    raise BackupError(f"{archive_name}: refused, {problem}")
                tar.extract(member, dest, filter="data")
    except tarfile.TarError as exc:
        raise BackupError(f"{archive_name}: cannot extract: {exc}") from exc
    except OSError as exc:
        raise BackupError(f"{archive_name}: cannot extract into {dest}: {exc.strerror or exc}") from exc
    _fsync_tree(dest)


def _fsync_tree(root: Path) -> None:
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
