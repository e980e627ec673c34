"""The lines a log gained since the previous run, surviving appends, rotation and truncation.

A JSON state file remembers, per log path, the file's device and inode, the offset read up to, and a
fingerprint of its first line (at most 1 KiB). On the next run:

- same file, grown: the lines after the offset;
- rotated (another inode, or the same inode whose first line changed, as after copytruncate): first the rest
  of the old file from the remembered offset, when it is found beside the log (a sibling named
  ``<name>.1``, ``<name>-20261130``..., not compressed: the same inode after logrotate's rename and create, or
  the same first line after copytruncate), then the new file from its start. Lines written before a
  rotation are so counted once. A log that was empty at the last read has no first line to recognise a copy
  by: the renamed file itself (same inode) is finished then, or after copytruncate the newest sibling if it
  was written after that read (the state remembers when it read). A predecessor already compressed cannot be
  finished (``rotated_from`` is then None); copytruncate itself loses what is written between its copy and
  its truncation;
- truncated (same file, now smaller than the offset): the old content's rest if a copy is found as above,
  then from the start;
- first run (no entry yet): no lines, only the position is recorded. Without a baseline, a whole history of
  old errors would be reported as new at once, and a check would fail for what happened long ago.

Only whole lines are consumed: a last line still being written is read next time. At most ``max_bytes`` are
read; an older excess is skipped and reported in ``skipped_bytes``. The state file is replaced atomically and
guarded by a lock file, so parallel workers sharing it do not lose each other's entries.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import stat
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

import filelock

from pytest_aide.errors import ProbeError
from pytest_aide.probes.logread import DEFAULT_MAX_BYTES, open_log

FINGERPRINT_BYTES = 1024
LOCK_TIMEOUT_S = 10.0
_BOUNDARY_SEARCH_BYTES = 64 * 1024
_ROTATED_CANDIDATES = 20  # siblings looked at, newest first
_COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".lz4", ".z", ".zip")


@dataclass(frozen=True)
class NewLines:
    """Lines appended since the previous run; offsets are byte positions in the current file."""

    lines: list[str]
    from_offset: int  # where reading started: the remembered offset, or 0 after rotation or truncation
    to_offset: int  # remembered for the next run: the end of the last whole line read
    rotated: bool
    truncated: bool
    skipped_bytes: int  # bytes after from_offset left unread because more than max_bytes had been written
    first_run: bool
    rotated_from: str | None = None  # the rotated predecessor whose rest was read first (its lines lead ``lines``)
    rotated_lines: int = 0  # how many of ``lines`` came from it

    def to_dict(self) -> dict[str, Any]:
        """Builtin types only, ready for JSON reports and ``user_properties``."""
        return asdict(self)


@dataclass(frozen=True)
class _Position:
    device: int
    inode: int
    offset: int
    fingerprint: str
    fingerprint_len: int
    read_at: float | None = None  # when it was read (None in a state written before it was remembered)


def _first_line_hash(f: BinaryIO, length: int) -> tuple[str, int]:
    """SHA-256 of the file's first ``length`` bytes cut after the first newline, and the bytes hashed."""
    f.seek(0)
    head = f.read(length)
    newline = head.find(b"\n")
    if newline >= 0:
        head = head[: newline + 1]
    return hashlib.sha256(head).hexdigest(), len(head)


def _same_file(f: BinaryIO, st: os.stat_result, before: _Position) -> bool:
    return (st.st_dev, st.st_ino) == (before.device, before.inode) and _same_content(f, st, before)


def _last_line_end(f: BinaryIO, size: int) -> int:
    """Offset just after the last newline (or 0 for a small file without one); ``size`` if none is near."""
    start = max(0, size - _BOUNDARY_SEARCH_BYTES)
    f.seek(start)
    newline = f.read(size - start).rfind(b"\n")
    if newline >= 0:
        return start + newline + 1
    return 0 if start == 0 else size


def _read_whole_lines(
    f: BinaryIO, start: int, end: int, max_bytes: int, encoding: str = "utf-8", *, finished: bool = False
) -> tuple[list[str], int, int]:
    """Whole lines in ``[start, end)`` within the last ``max_bytes``: (lines, end offset, skipped bytes).

    ``finished``: the file is written no more (a rotated one), so its unterminated last line is whole too.
    """
    if end - start <= max_bytes:
        f.seek(start)
        data = f.read(end - start)
        last = len(data) if finished else data.rfind(b"\n") + 1
        return data[:last].decode(encoding, errors="replace").splitlines(), start + last, 0
    # Too much was written: read the last max_bytes, from one byte earlier to see whether a line starts there.
    base = end - max_bytes - 1
    f.seek(base)
    data = f.read(max_bytes + 1)
    first = data.find(b"\n") + 1
    last = data.rfind(b"\n") + 1
    if first == 0:  # all inside one giant line: skip it all
        return [], end, end - start
    last = len(data) if finished else last
    lines = data[first:last].decode(encoding, errors="replace").splitlines()
    return lines, base + last, base + first - start


def _load(state_file: Path) -> dict[str, Any]:
    try:
        text = state_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ProbeError(f"log state file not readable: {state_file} ({exc.strerror})") from None
    try:
        state = json.loads(text)
    except ValueError:
        state = None
    if not isinstance(state, dict) or not isinstance(state.get("logs", {}), dict):
        raise ProbeError(f"log state file is not valid: {state_file}; delete it to start afresh")
    logs: dict[str, Any] = state.get("logs", {})
    return logs


def _save(state_file: Path, logs: dict[str, Any]) -> None:
    """Write the state to a temporary file beside it, then rename: readers see the old or the new whole."""
    fd, tmp = tempfile.mkstemp(prefix=f".{state_file.name}.", suffix=".tmp", dir=state_file.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"version": 1, "logs": logs}, out, indent=1, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, state_file)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _position(entry: Any) -> _Position | None:
    """The remembered position, or None for no entry or one this code did not write (a fresh start)."""
    try:
        return _Position(**entry)
    except TypeError:
        return None


def _rotated_siblings(path: Path) -> list[Path]:
    """Files beside ``path`` named as rotation names them (``app.log.1``, ``app.log-20261130``), newest first."""
    found: list[tuple[float, Path]] = []
    for name in glob.glob(glob.escape(str(path)) + "[.-]*"):
        candidate = Path(name)
        if candidate.name.lower().endswith(_COMPRESSED) or candidate.name.endswith((".lock", ".tmp")):
            continue
        with contextlib.suppress(OSError):
            st = candidate.stat()
            if stat.S_ISREG(st.st_mode):  # a FIFO or device named like a rotated log would block open()
                found.append((st.st_mtime, candidate))
    found.sort(key=lambda pair: pair[0], reverse=True)
    return [candidate for _, candidate in found[:_ROTATED_CANDIDATES]]


def _predecessor(path: Path, before: _Position) -> Path | None:
    """The rotated file that was ``path`` at the last read: the same inode (rename and create), or a copy with
    the same first line and at least the bytes read then (copytruncate)."""
    siblings = _rotated_siblings(path)
    for candidate in siblings:
        with contextlib.suppress(OSError):
            st = candidate.stat()
            if (st.st_dev, st.st_ino) == (before.device, before.inode):
                return candidate
    if before.fingerprint_len == 0:
        return None  # the log was empty: no first line to recognise a copy by (every file would match)
    for candidate in siblings:
        with contextlib.suppress(OSError), open(candidate, "rb", buffering=0) as f:
            st = os.fstat(f.fileno())
            if st.st_size >= before.offset and _same_content(f, st, before):
                return candidate
    return None


def _same_content(f: BinaryIO, st: os.stat_result, before: _Position) -> bool:
    if st.st_size < before.fingerprint_len:
        return False
    return _first_line_hash(f, before.fingerprint_len) == (before.fingerprint, before.fingerprint_len)


def _finish_rotated(path: Path, before: _Position, max_bytes: int, encoding: str) -> tuple[str | None, list[str]]:
    """The lines the rotated predecessor gained after the remembered offset (none if it is not found)."""
    rotated = _predecessor(path, before)
    return (None, []) if rotated is None else _rest_of(rotated, before.offset, max_bytes, encoding)


def _rest_of(sibling: Path, offset: int, max_bytes: int, encoding: str) -> tuple[str | None, list[str]]:
    """A rotated sibling's whole lines from ``offset`` to its end (it is written no more)."""
    try:
        with open_log(sibling) as old:
            size = os.fstat(old.fileno()).st_size
            lines, _, _ = _read_whole_lines(old, offset, size, max_bytes, encoding, finished=True)
    except ProbeError:  # rotated away again, or unreadable: the new file is still read
        return None, []
    return str(sibling), lines


def _finish_copy_of_empty(path: Path, before: _Position, max_bytes: int, encoding: str) -> tuple[str | None, list[str]]:
    """A log that was empty at the last read and is the same file now: if copytruncate ran since, its copy is
    the newest sibling, written after that read (an older sibling is a rotation the last read had seen)."""
    if before.read_at is None:
        return None, []
    siblings = _rotated_siblings(path)
    with contextlib.suppress(OSError):
        if siblings and siblings[0].stat().st_mtime > before.read_at:
            return _rest_of(siblings[0], 0, max_bytes, encoding)
    return None, []


def _read(f: BinaryIO, path: Path, before: _Position | None, max_bytes: int, encoding: str) -> NewLines:
    st = os.fstat(f.fileno())
    if before is None:
        offset = _last_line_end(f, st.st_size)
        return NewLines([], offset, offset, rotated=False, truncated=False, skipped_bytes=0, first_run=True)
    truncated = (st.st_dev, st.st_ino) == (before.device, before.inode) and st.st_size < before.offset
    rotated = not truncated and not _same_file(f, st, before)
    start = 0 if rotated or truncated else before.offset
    # Only a log that changed under the remembered position has a predecessor to finish: one that was empty
    # then (offset 0) and only grew since would otherwise have the newest rotated sibling read as new.
    moved = rotated or truncated
    rotated_from, old_lines = _finish_rotated(path, before, max_bytes, encoding) if moved else (None, [])
    if not moved and before.fingerprint_len == 0:
        rotated_from, old_lines = _finish_copy_of_empty(path, before, max_bytes, encoding)
    lines, end, skipped = _read_whole_lines(f, start, st.st_size, max_bytes, encoding)
    return NewLines(
        old_lines + lines,
        start,
        end,
        rotated=rotated,
        truncated=truncated,
        skipped_bytes=skipped,
        first_run=False,
        rotated_from=rotated_from,
        rotated_lines=len(old_lines),
    )


def read_new_lines(
    path: Path | str,
    state_file: Path | str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    lock_timeout: float = LOCK_TIMEOUT_S,
    encoding: str = "utf-8",
) -> NewLines:
    """The whole lines ``path`` gained since the previous call with the same ``state_file``.

    A missing or unreadable log, an unreadable or corrupt state file, or a state lock held by another run
    for more than ``lock_timeout`` seconds raise ProbeError. See the module docstring for rotation,
    truncation and the first run.
    """
    if max_bytes < 1:
        raise ValueError(f"max_bytes must be at least 1, not {max_bytes}")
    path, state_file = Path(path), Path(state_file)
    key = os.path.abspath(path)
    state_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        with filelock.FileLock(f"{state_file}.lock", timeout=lock_timeout):
            logs = _load(state_file)
            read_at = time.time()  # before the read: a copy made while reading counts as made after it
            with open_log(path) as f:
                result = _read(f, path, _position(logs.get(key)), max_bytes, encoding)
                st = os.fstat(f.fileno())
                fingerprint, length = _first_line_hash(f, FINGERPRINT_BYTES)
            position = _Position(st.st_dev, st.st_ino, result.to_offset, fingerprint, length, read_at)
            logs[key] = asdict(position)
            _save(state_file, logs)
    except filelock.Timeout:
        raise ProbeError(f"log state file is locked by another run for over {lock_timeout:g} s: {state_file}") from None
    return result
