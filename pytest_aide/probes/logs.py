"""Log-file probes in bounded memory: size and age, the last lines, errors among them or within a window.

This is the one module checks import: it also re-exports the cost-marker sum (``logmarker``) and the new
lines since the previous run (``logstate``). A log can be many GiB: nothing here reads a file whole.
``tail`` reads backwards from the end in blocks and stops at ``max_bytes``; ``errors_within`` reads
backwards only as far as the time window reaches. Lines are what :meth:`str.splitlines` makes of the text
in the file's encoding (undecodable bytes become U+FFFD), so CRLF logs and a missing final newline read like
ordinary ones. What an entry is, its time and whether it is an error come from the file's format
(:mod:`~pytest_aide.probes.logformats`, detected or named), or from an operator's pattern and timestamp format.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from pytest_aide.errors import ConfigError, ProbeError
from pytest_aide.probes.logformats import FORMATS, GENERIC_ERROR, GENERIC_ERROR_PATTERN, LogFormat, detect, get_format
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
    "FORMATS",
    "LogFile",
    "LogRules",
    "LogStat",
    "MarkerEntry",
    "MarkerTotals",
    "NewLines",
    "NoTimestampError",
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

DEFAULT_ERROR_PATTERN = GENERIC_ERROR_PATTERN  # level words in any usual spelling: ERROR, [error], <crit>...
DEFAULT_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
_TIMESTAMP_CHARS = 100  # a leading timestamp is never longer; parsing more would only cost time
_UNCONVERTED = "unconverted data remains: "
NO_TIMESTAMP_LINES = 2000  # lines read back without one timestamp before the window is declared unreadable
DETECT_BYTES = 64 * 1024  # the format is detected from the last 200 lines within these bytes


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


def compile_pattern(pattern: str | re.Pattern[str] | None) -> re.Pattern[str]:
    """Compile an error pattern (None: the level words); an invalid regular expression is a configuration mistake."""
    if pattern is None:
        return GENERIC_ERROR
    if isinstance(pattern, re.Pattern):
        return pattern
    try:
        return re.compile(pattern)
    except re.error as exc:
        message = f"invalid log pattern {pattern!r}: {exc}; expected a Python regular expression"
        raise ConfigError(message) from None


# --- matching -----------------------------------------------------------------------------------------------


def error_lines(lines: Iterable[str], pattern: str | re.Pattern[str] | None = None) -> list[str]:
    """The lines in which ``pattern`` is found (``re.search``), in order: evidence for a failed check."""
    regex = compile_pattern(pattern)
    return [line for line in lines if regex.search(line)]


def count_matching(lines: Iterable[str], pattern: str | re.Pattern[str] | None = None) -> int:
    """How many lines contain ``pattern``."""
    regex = compile_pattern(pattern)
    return sum(1 for line in lines if regex.search(line))


def error_rate(lines: Iterable[str], pattern: str | re.Pattern[str] | None = None) -> float:
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


class LineInfo(NamedTuple):
    """One line as the rules read it: whether it starts an entry, whether it makes its entry an error, its time."""

    starts_entry: bool
    error: bool
    when: datetime | None


@dataclass(frozen=True)
class LogRules:
    """How one file is read: its format, and the operator's pattern or timestamp format if set.

    A ``pattern`` replaces the format's error rule: an entry is an error when any of its lines matches. A
    ``timestamp_format`` replaces the format's time: a line starting with such a time also starts an entry.
    Without a pattern an entry is an error when its first line is one by the format's rule, or when one of
    its other lines carries a level word (``ERROR``, ``[crit]``...).
    """

    format: LogFormat
    pattern: re.Pattern[str] | None = None
    timestamps: TimestampParser | None = None

    @classmethod
    def build(
        cls,
        sample: Iterable[str] = (),
        *,
        log_format: str | LogFormat | None = None,
        pattern: str | re.Pattern[str] | None = None,
        timestamp_format: str | None = None,
    ) -> LogRules:
        """Rules for a file: ``log_format`` named (or ``auto``/None: detected from ``sample``, its last lines)."""
        if isinstance(log_format, LogFormat):
            fmt = log_format
        elif log_format in (None, "auto"):
            fmt = detect(sample)
        else:
            try:
                fmt = get_format(log_format)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        return cls(
            fmt,
            None if pattern is None else compile_pattern(pattern),
            None if timestamp_format is None else TimestampParser(timestamp_format),
        )

    def classify(self, line: str) -> LineInfo:
        head = self.format.head(line)
        if self.pattern is not None:
            error = self.pattern.search(line) is not None
        else:
            error = head.error if head is not None else GENERIC_ERROR.search(line) is not None
        if self.timestamps is not None:
            when = self.timestamps.parse(line)
            return LineInfo(head is not None or when is not None, error, when)
        return LineInfo(head is not None, error, head.when if head is not None else None)

    def describe(self) -> str:
        """How times are read, for a message: the format's name and the timestamp format if one is set."""
        text = f"format {self.format.name}"
        if self.timestamps is not None:
            text += f", timestamp_format {self.timestamps.format!r}"
        return text

    def error_entries(self, lines: Iterable[str]) -> list[list[str]]:
        """The entries among ``lines`` (oldest first) that are errors, each as its lines. Lines before the
        first entry's start continue an entry begun earlier and are left out (they were judged with it)."""
        found: list[list[str]] = []
        current: list[str] | None = None
        error = False
        for line in lines:
            info = self.classify(line)
            if info.starts_entry:
                if current is not None and error:
                    found.append(current)
                current, error = [line], info.error
            elif current is not None:
                current.append(line)
                error = error or info.error
        if current is not None and error:
            found.append(current)
        return found


class NoTimestampError(ProbeError):
    """Recent lines were read but none carried a time the rules could read: the window cannot be judged."""


def count_errors_since(
    lines_last_first: Iterable[str], cutoff: datetime, rules: LogRules, *, scan_limit: int = NO_TIMESTAMP_LINES
) -> int:
    """Error entries at or after ``cutoff``, reading lines last-first and stopping at the first entry older
    than ``cutoff``. An entry is a line with a time plus the lines without one after it (a traceback); it
    counts once however many of its lines are errors. Lines before the first time have no known time and are
    not counted. No time in the first ``scan_limit`` lines (or in the whole file) raises NoTimestampError."""
    errors = read = 0
    pending_error = timed = False
    for line in lines_last_first:
        read += 1
        info = rules.classify(line)
        pending_error = pending_error or info.error
        if info.when is None:
            if not timed and read >= scan_limit:
                break
            continue
        timed = True
        if _comparable(info.when, cutoff) < cutoff:
            break
        errors += pending_error
        pending_error = False
    if read and not timed:
        raise NoTimestampError(f"none of the last {read} lines carries a timestamp readable with {rules.describe()}")
    return errors


# --- the log file -------------------------------------------------------------------------------------------


class LogFile:
    """One log file; every method opens it afresh, so rotation between calls is harmless."""

    def __init__(self, path: Path | str, *, encoding: str = "utf-8") -> None:
        self.path = Path(path)
        self.encoding = encoding

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
            for line in lines_backwards(f, block_size=block_size, max_bytes=max_bytes, encoding=self.encoding):
                lines.append(line)
                if len(lines) == n:
                    break
        lines.reverse()
        return lines

    def rules(
        self,
        *,
        log_format: str | LogFormat | None = None,
        pattern: str | re.Pattern[str] | None = None,
        timestamp_format: str | None = None,
    ) -> LogRules:
        """The rules for this file; an ``auto`` (or None) format is detected from its last 200 lines."""
        needs_sample = log_format in (None, "auto")
        sample = self.tail(200, max_bytes=DETECT_BYTES) if needs_sample else []
        return LogRules.build(sample, log_format=log_format, pattern=pattern, timestamp_format=timestamp_format)

    def errors_in_tail(
        self,
        n: int = 100,
        pattern: str | re.Pattern[str] | None = None,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        rules: LogRules | None = None,
    ) -> int:
        """Error entries among the last ``n`` lines (the manual: <= 10 in the last 100)."""
        tail = self.tail(n, max_bytes=max_bytes)
        rules = rules or LogRules.build(tail, pattern=pattern)
        return len(rules.error_entries(tail))

    def errors_within(
        self,
        window: timedelta,
        *,
        pattern: str | re.Pattern[str] | None = None,
        timestamp_format: str | None = None,
        log_format: str | LogFormat | None = None,
        rules: LogRules | None = None,
        now: datetime | None = None,
        max_bytes: int | None = None,
        block_size: int = DEFAULT_BLOCK_SIZE,
    ) -> int:
        """Error entries whose time lies within ``window`` before ``now`` (default: local now).

        Reads backwards and stops at the first entry older than the window, so a recent window of a huge
        log costs only the bytes it spans; ``max_bytes`` bounds the reading further if given. A file last
        written before the window has 0 (a quiet log); one with recent lines of which none carries a time the
        rules can read raises ProbeError naming the file and the format: a count of 0 would be a guess.
        """
        cutoff = (datetime.now() if now is None else now) - window
        if rules is None:
            rules = self.rules(log_format=log_format, pattern=pattern, timestamp_format=timestamp_format)
        with open_log(self.path) as f:
            if os.fstat(f.fileno()).st_mtime < cutoff.timestamp():
                return 0  # nothing was written within the window
            lines = lines_backwards(
                f, block_size=block_size, max_bytes=max_bytes, max_line_bytes=MAX_LINE_BYTES, encoding=self.encoding
            )
            try:
                return count_errors_since(lines, cutoff, rules)
            except NoTimestampError as exc:
                hint = "" if rules.format.timestamps else f" (format {rules.format.name} writes no time)"
                raise NoTimestampError(
                    f"{self.path}: {exc}{hint}: errors within the last {window} cannot be counted; "
                    "set format or timestamp_format for this file in [logs] files"
                ) from None
