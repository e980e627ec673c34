"""Log-file probes in bounded memory: size and age, the last lines, errors among them or within a window.

This is the one module checks import: it also re-exports the cost-marker sum (``logmarker``) and the new
lines since the previous run (``logstate``). A log can be many GiB: nothing here reads a file whole.
``tail`` reads backwards from the end in blocks and stops at ``max_bytes``; ``errors_within`` reads
backwards only as far as the time window reaches. Lines are what :meth:`str.splitlines` makes of the UTF-8
text (undecodable bytes become U+FFFD), so CRLF logs and a missing final newline read like ordinary ones.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pytest_aide.errors import ConfigError
from pytest_aide.probes.logmarker import MarkerEntry, MarkerTotals, parse_marker_line, sum_marker
from pytest_aide.probes.logread import (
    DEFAULT_BLOCK_SIZE,
    DEFAULT_MAX_BYTES,
    MAX_LINE_BYTES,
    MIB,
    lines_backwards,
    open_log,
)
from pytest_aide.probes.logstate import NewLines, read_new_lines

__all__ = [
    "DEFAULT_ERROR_PATTERN",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_TIMESTAMP_FORMAT",
    "LogFile",
    "LogStat",
    "MarkerEntry",
    "MarkerTotals",
    "NewLines",
    "TimestampParser",
    "compile_pattern",
    "count_errors_since",
    "count_matching",
    "error_lines",
    "error_rate",
    "parse_marker_line",
    "read_new_lines",
    "rotation_due",
    "sum_marker",
]

DEFAULT_ERROR_PATTERN = r"\bERROR\b"
DEFAULT_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
_TIMESTAMP_CHARS = 100  # a leading timestamp is never longer; parsing more would only cost time
_UNCONVERTED = "unconverted data remains: "


@dataclass(frozen=True)
class LogStat:
    """Size and age of a log file. A returned stat always has ``exists`` and ``readable`` true (else
    :meth:`LogFile.stat` raises); they are kept so the report entry says so explicitly."""

    path: str
    exists: bool
    readable: bool
    size_bytes: int
    size_mb: float
    last_write_age_s: float

    def to_dict(self) -> dict[str, Any]:
        """Builtin types only, ready for JSON reports and ``user_properties``."""
        return asdict(self)


def compile_pattern(pattern: str | re.Pattern[str]) -> re.Pattern[str]:
    """Compile an error pattern; an invalid regular expression is a configuration mistake."""
    if isinstance(pattern, re.Pattern):
        return pattern
    try:
        return re.compile(pattern)
    except re.error as exc:
        message = f"invalid log pattern {pattern!r}: {exc}; expected a Python regular expression"
        raise ConfigError(message) from None


# --- matching -----------------------------------------------------------------------------------------------


def error_lines(lines: Iterable[str], pattern: str | re.Pattern[str] = DEFAULT_ERROR_PATTERN) -> list[str]:
    """The lines in which ``pattern`` is found (``re.search``), in order: evidence for a failed check."""
    regex = compile_pattern(pattern)
    return [line for line in lines if regex.search(line)]


def count_matching(lines: Iterable[str], pattern: str | re.Pattern[str] = DEFAULT_ERROR_PATTERN) -> int:
    """How many lines contain ``pattern``."""
    regex = compile_pattern(pattern)
    return sum(1 for line in lines if regex.search(line))


def error_rate(lines: Iterable[str], pattern: str | re.Pattern[str] = DEFAULT_ERROR_PATTERN) -> float:
    """Percentage (0-100) of lines that contain ``pattern``; no lines means 0 %."""
    regex = compile_pattern(pattern)
    total = errors = 0
    for line in lines:
        total += 1
        errors += bool(regex.search(line))
    return 0.0 if total == 0 else errors / total * 100


def rotation_due(stat: LogStat, max_mb: float = 100) -> bool:
    """True when the log has grown past ``max_mb`` MiB and should be rotated."""
    return stat.size_mb > max_mb


# --- timestamps ---------------------------------------------------------------------------------------------


class TimestampParser:
    """Parses the timestamp at the start of a line with a strptime format, ignoring the rest of the line.

    strptime only parses whole strings; its "unconverted data remains" error tells how long the timestamp
    was, and that length is tried first on the next lines (one strptime call per line in the usual case).
    """

    def __init__(self, timestamp_format: str = DEFAULT_TIMESTAMP_FORMAT) -> None:
        self.format = timestamp_format
        self._length: int | None = None

    def parse(self, line: str) -> datetime | None:
        """The leading timestamp of ``line``, or None when the line does not start with one."""
        head = line[:_TIMESTAMP_CHARS]
        # The cached length fits only if the timestamp ends there (",5" must not be read from ",56").
        if self._length is not None and not head[self._length : self._length + 1].isalnum():
            try:
                return datetime.strptime(head[: self._length], self.format)
            except ValueError:
                pass
        try:
            return datetime.strptime(head, self.format)
        except ValueError as exc:
            message = str(exc)
        if not message.startswith(_UNCONVERTED):
            return None
        length = len(head) - (len(message) - len(_UNCONVERTED))
        try:
            stamp = datetime.strptime(head[:length], self.format)
        except ValueError:
            return None
        self._length = length
        return stamp


def _comparable(stamp: datetime, cutoff: datetime) -> datetime:
    """``stamp`` made comparable with ``cutoff``: naive times are taken as local time."""
    if (stamp.tzinfo is None) == (cutoff.tzinfo is None):
        return stamp
    if stamp.tzinfo is None:
        return stamp.astimezone()
    return stamp.astimezone().replace(tzinfo=None)


def count_errors_since(
    lines_last_first: Iterable[str], cutoff: datetime, regex: re.Pattern[str], parser: TimestampParser
) -> int:
    """Log entries at or after ``cutoff`` with an error, reading lines last-first and stopping at the first
    entry older than ``cutoff``. An entry is a timestamped line plus the lines without a timestamp after it
    (a traceback); it counts once however many of its lines match. Lines before the first timestamp have no
    known time and are not counted."""
    errors = 0
    pending_error = False  # some untimestamped line read since the last timestamped one matched
    for line in lines_last_first:
        matched = regex.search(line) is not None
        stamp = parser.parse(line)
        if stamp is None:
            pending_error = pending_error or matched
            continue
        if _comparable(stamp, cutoff) < cutoff:
            break
        errors += matched or pending_error
        pending_error = False
    return errors


# --- the log file -------------------------------------------------------------------------------------------


class LogFile:
    """One log file; every method opens it afresh, so rotation between calls is harmless."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def stat(self) -> LogStat:
        """Size and time since the last write; a missing or unreadable file raises ProbeError."""
        with open_log(self.path) as f:
            st = os.fstat(f.fileno())
        return LogStat(
            path=str(self.path),
            exists=True,
            readable=True,
            size_bytes=st.st_size,
            size_mb=round(st.st_size / MIB, 3),
            last_write_age_s=round(max(0.0, time.time() - st.st_mtime), 3),
        )

    def tail(
        self, n: int = 100, *, max_bytes: int = DEFAULT_MAX_BYTES, block_size: int = DEFAULT_BLOCK_SIZE
    ) -> list[str]:
        """The last ``n`` lines, oldest first, reading at most ``max_bytes`` from the end of the file.

        When those bytes hold fewer than ``n`` whole lines, the whole lines found are returned.
        """
        if n <= 0:
            return []
        lines: list[str] = []
        with open_log(self.path) as f:
            for line in lines_backwards(f, block_size=block_size, max_bytes=max_bytes):
                lines.append(line)
                if len(lines) == n:
                    break
        lines.reverse()
        return lines

    def errors_in_tail(
        self,
        n: int = 100,
        pattern: str | re.Pattern[str] = DEFAULT_ERROR_PATTERN,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> int:
        """How many of the last ``n`` lines contain ``pattern`` (the manual: <= 10 in the last 100)."""
        return count_matching(self.tail(n, max_bytes=max_bytes), pattern)

    def errors_within(
        self,
        window: timedelta,
        *,
        pattern: str | re.Pattern[str] = DEFAULT_ERROR_PATTERN,
        timestamp_format: str = DEFAULT_TIMESTAMP_FORMAT,
        now: datetime | None = None,
        max_bytes: int | None = None,
        block_size: int = DEFAULT_BLOCK_SIZE,
    ) -> int:
        """Error entries whose leading timestamp lies within ``window`` before ``now`` (default: local now).

        Reads backwards and stops at the first entry older than the window, so a recent window of a huge
        log costs only the bytes it spans; ``max_bytes`` bounds the reading further if given. Memory stays
        bounded either way (lines longer than 1 MiB are cut). Entries: see :func:`count_errors_since`.
        """
        cutoff = (datetime.now() if now is None else now) - window
        regex, parser = compile_pattern(pattern), TimestampParser(timestamp_format)
        with open_log(self.path) as f:
            lines = lines_backwards(f, block_size=block_size, max_bytes=max_bytes, max_line_bytes=MAX_LINE_BYTES)
            return count_errors_since(lines, cutoff, regex, parser)
