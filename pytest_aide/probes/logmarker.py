"""Sum a numeric field of structured log lines: a marker, then a JSON object (the cost budget check).

A line looks like ``2026-11-21 10:00:00 INFO app.cost: API_COST {"timestamp": "2026-11-21T10:00:00",
"cost": 12.5}``. The file is streamed line by line, so its size does not matter, and a malformed line is
counted, never raised: one bad line must not hide the spend of the whole month.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from pytest_aide.probes.logread import MAX_LINE_BYTES, open_log

_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class MarkerEntry:
    """One parsed marker line: when it happened and the value of the summed field."""

    timestamp: datetime
    value: float


@dataclass(frozen=True)
class MarkerTotals:
    """Sums for the calendar day and month of ``now``; ``lines_counted`` are all valid marker lines (any
    date), ``bad_lines`` the marker lines that could not be parsed."""

    today: float
    this_month: float
    lines_counted: int
    bad_lines: int

    def to_dict(self) -> dict[str, Any]:
        """Builtin types only, ready for JSON reports and ``user_properties``."""
        return asdict(self)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def parse_marker_line(
    line: str, *, marker: str = "API_COST", field: str = "cost", timestamp_field: str = "timestamp"
) -> MarkerEntry | None:
    """The entry carried by ``line``, or None when it has no marker followed by a valid JSON object.

    Valid means: a JSON object right after the marker (text after the object is ignored), ``field`` a finite
    number (or numeric string) and ``timestamp_field`` an ISO 8601 time. Never raises, whatever the line.
    """
    start = line.find(marker) if marker else -1
    if start < 0:
        return None
    rest = line[start + len(marker) :].lstrip()
    try:
        data, _ = _DECODER.raw_decode(rest)
        if not isinstance(data, dict):
            return None
        value = _number(data.get(field))
        stamp = data.get(timestamp_field)
        if value is None or not isinstance(stamp, str):
            return None
        return MarkerEntry(timestamp=datetime.fromisoformat(stamp), value=value)
    except (ValueError, TypeError, OverflowError, RecursionError):
        # json errors are ValueErrors; RecursionError: deeply nested arrays; OverflowError: huge numbers
        return None


def _bounded_lines(f: BinaryIO) -> Iterator[bytes]:
    """Lines of ``f``; a line longer than MAX_LINE_BYTES yields its start only, the rest is skipped."""
    while line := f.readline(MAX_LINE_BYTES):
        if len(line) == MAX_LINE_BYTES and not line.endswith(b"\n"):
            while (more := f.readline(MAX_LINE_BYTES)) and not more.endswith(b"\n"):
                pass
        yield line


def _local(stamp: datetime, now: datetime) -> datetime:
    """``stamp`` in the time zone of ``now``; naive times are taken as being in that zone already."""
    if stamp.tzinfo is None:
        return stamp
    return stamp.astimezone(now.tzinfo) if now.tzinfo else stamp.astimezone().replace(tzinfo=None)


def sum_marker(
    path: Path | str,
    *,
    marker: str = "API_COST",
    field: str = "cost",
    timestamp_field: str = "timestamp",
    now: datetime | None = None,
) -> MarkerTotals:
    """Sum ``field`` over the marker lines dated today and this month (calendar of ``now``, default local).

    A missing or unreadable file raises ProbeError; bad lines are only counted.
    """
    now = datetime.now() if now is None else now
    today = month = 0.0
    counted = bad = 0
    marker_bytes = marker.encode("utf-8")
    with open_log(Path(path), buffered=True) as f:
        for line in _bounded_lines(f):
            if marker_bytes not in line:
                continue
            entry = parse_marker_line(
                line.decode("utf-8", errors="replace"), marker=marker, field=field, timestamp_field=timestamp_field
            )
            if entry is None:
                bad += 1
                continue
            counted += 1
            stamp = _local(entry.timestamp, now)
            if (stamp.year, stamp.month) == (now.year, now.month):
                month += entry.value
                today += entry.value if stamp.day == now.day else 0.0
    return MarkerTotals(today=round(today, 6), this_month=round(month, 6), lines_counted=counted, bad_lines=bad)
