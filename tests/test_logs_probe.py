"""Log-file probes on real files: tails, error counts, cost markers and new lines since the previous run.

Large logs are SPARSE files (``truncate`` to 3 GiB, then append a few lines): they cost no disk, yet a probe
that read them whole would take seconds and GiBs of memory, so "fast and small" proves bounded reading.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import HANG_S
from pytest_aide.errors import ConfigError, ProbeError
from pytest_aide.probes.logs import (
    LogFile,
    MarkerTotals,
    count_matching,
    error_lines,
    error_rate,
    parse_marker_line,
    read_new_lines,
    rotation_due,
    sum_marker,
)

GIB = 2**30
T = TypeVar("T")
NOW = datetime(2026, 11, 21, 12, 0, 0)
FUNCTION_TMP = settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
FILE_IO = settings(FUNCTION_TMP, max_examples=30)  # each example writes files and fsyncs a state file


def _write(path: Path, data: str | bytes) -> Path:
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def _append(path: Path, data: str) -> None:
    with path.open("ab") as f:
        f.write(data.encode("utf-8"))


def _sparse_log(path: Path, tail: str) -> Path:
    """A 3 GiB file of NUL bytes (a hole: no disk used), a newline, then ``tail``."""
    with path.open("wb") as f:
        f.truncate(3 * GIB)
        f.seek(3 * GIB)
        f.write(b"\n" + tail.encode("utf-8"))
    return path


def _measured(call: Callable[[], T]) -> tuple[T, int, int]:
    """Result, bytes this process read and peak bytes allocated by Python while running ``call``.

    Bytes read, not seconds: what reading only the end of a log saves, counted the same on a busy machine.
    """
    me = psutil.Process()
    tracemalloc.start()
    read_before = me.io_counters().read_chars
    try:
        result = call()
        read = me.io_counters().read_chars - read_before
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, read, peak


# --- stat ----------------------------------------------------------------------------------------------------


def test_stat_reports_size_and_age(tmp_path: Path) -> None:
    log = _write(tmp_path / "app.log", "x" * 3 * 2**20)
    an_hour_ago = time.time() - 3600
    os.utime(log, (an_hour_ago, an_hour_ago))
    stat = LogFile(log).stat()
    assert stat.exists
    assert stat.readable
    assert stat.size_bytes == 3 * 2**20
    assert stat.size_mb == 3.0
    assert 3599 <= stat.last_write_age_s <= 3700
    assert json.loads(json.dumps(stat.to_dict())) == stat.to_dict()
    assert not rotation_due(stat, max_mb=3)
    assert rotation_due(stat, max_mb=2.5)


def test_missing_log_raises_with_its_path(tmp_path: Path) -> None:
    missing = tmp_path / "gone.log"
    for probe in (LogFile(missing).stat, LogFile(missing).tail):
        with pytest.raises(ProbeError, match=f"^log file not found: {re.escape(str(missing))}$"):
            probe()


def test_unreadable_log_raises_with_its_path(tmp_path: Path) -> None:
    # The tests run as root, where chmod 000 does not deny reading; a directory where the file should be
    # makes open() fail for everyone.
    not_a_file = tmp_path / "app.log"
    not_a_file.mkdir()
    for probe in (LogFile(not_a_file).stat, LogFile(not_a_file).tail):
        with pytest.raises(ProbeError) as caught:
            probe()
        assert str(caught.value) == f"log file not readable: {not_a_file} (Is a directory)"


# --- tail ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("one\ntwo\nthree\n", ["two", "three"]),
        ("one\ntwo\nthree", ["two", "three"]),  # no trailing newline
        ("one\r\ntwo\r\nthree\r\n", ["two", "three"]),  # CRLF
        ("one\n\n\n", ["", ""]),  # empty lines are lines
        ("only", ["only"]),
        ("", []),
    ],
)
def test_tail_returns_the_last_lines(tmp_path: Path, content: str, expected: list[str]) -> None:
    log = _write(tmp_path / "app.log", content)
    assert LogFile(log).tail(2) == expected
    assert LogFile(log).tail(2, block_size=3) == expected


def test_tail_of_a_line_longer_than_a_block(tmp_path: Path) -> None:
    long_line = "L" * 10_000
    log = _write(tmp_path / "app.log", f"first\n{long_line}\nlast\n")
    assert LogFile(log).tail(2, block_size=64) == [long_line, "last"]
    assert LogFile(log).tail(5, block_size=64) == ["first", long_line, "last"]


def test_tail_replaces_undecodable_bytes(tmp_path: Path) -> None:
    log = _write(tmp_path / "app.log", b"ok\n\xff\xfe broken\n")
    assert LogFile(log).tail(1) == ["\ufffd\ufffd broken"]


def test_tail_returns_only_whole_lines_within_max_bytes(tmp_path: Path) -> None:
    log = _write(tmp_path / "app.log", "aaaa\nbbbb\ncccc\n")
    assert LogFile(log).tail(10, max_bytes=10) == ["bbbb", "cccc"]  # exactly two whole lines
    assert LogFile(log).tail(10, max_bytes=12) == ["bbbb", "cccc"]  # "a" is part of a line: dropped
    assert LogFile(log).tail(0) == []


def test_tail_of_a_sparse_3gib_log_is_fast_and_small(tmp_path: Path) -> None:
    lines = [f"2026-11-21 11:59:5{i} INFO line {i}" for i in range(5)]
    log = LogFile(_sparse_log(tmp_path / "big.log", "\n".join(lines) + "\n"))
    last, read, peak = _measured(lambda: log.tail(3))
    assert last == lines[-3:]
    assert read < 2**20
    assert peak < 20 * 2**20
    # Asking for more lines than exist reads max_bytes (8 MiB) of the NUL hole, no more, and keeps it bounded.
    every, read, peak = _measured(lambda: log.tail(100))
    assert every == lines
    assert read < 9 * 2**20
    assert peak < 20 * 2**20


@FUNCTION_TMP
@given(text=st.text(), n=st.integers(min_value=1, max_value=30), block_size=st.integers(1, 40))
@example(text="\x85\n", n=2, block_size=1)  # another separator before the newline: two empty lines
@example(text="a\r\nb\u2028\r\r\n\n", n=5, block_size=2)
def test_tail_equals_the_last_splitlines(tmp_path: Path, text: str, n: int, block_size: int) -> None:
    log = _write(tmp_path / "prop.log", text)
    assert LogFile(log).tail(n, block_size=block_size) == text.splitlines()[-n:]


# --- matching ------------------------------------------------------------------------------------------------

LINES = ["INFO start", "ERROR db down", "WARNING slow", "ERRORS are words too", "x ERROR: again"]


def test_error_counting_functions() -> None:
    assert count_matching(LINES) == 2
    assert error_lines(LINES) == ["ERROR db down", "x ERROR: again"]
    assert error_rate(LINES) == pytest.approx(40.0)
    assert error_rate([]) == 0.0
    assert count_matching(LINES, r"WARN|ERRORS") == 2


def test_an_invalid_pattern_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"invalid log pattern '\(ERROR'"):
        count_matching(LINES, "(ERROR")


def test_errors_in_tail_counts_only_the_last_lines(tmp_path: Path) -> None:
    log = _write(tmp_path / "app.log", "ERROR old\n" * 50 + "INFO fine\n" * 95 + "ERROR new\n" * 5)
    assert LogFile(log).errors_in_tail(100) == 5
    assert LogFile(log).errors_in_tail(200) == 55


# --- errors within a time window -----------------------------------------------------------------------------


def _stamp(minutes_ago: float, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return (NOW - timedelta(minutes=minutes_ago)).strftime(fmt)


def test_errors_within_counts_entries_in_the_window(tmp_path: Path) -> None:
    log = _write(
        tmp_path / "app.log",
        "\n".join(
            [
                "no timestamp yet ERROR",  # before the first timestamp: time unknown, not counted
                f"{_stamp(120)} ERROR two hours ago",
                f"{_stamp(61)} INFO request",
                "Traceback ERROR inside an old entry",  # belongs to the entry 61 minutes ago
                f"{_stamp(59)} ERROR within the hour",
                f"{_stamp(30)} INFO ok",
                "  ERROR in a continuation line",  # makes the 30-minute entry an error
                "  ERROR again",  # ... still one entry
                f"{_stamp(1)} ERROR just now",
                f"{_stamp(0)} INFO now",
            ]
        )
        + "\n",
    )
    assert LogFile(log).errors_within(timedelta(hours=1), now=NOW) == 3
    assert LogFile(log).errors_within(timedelta(minutes=5), now=NOW) == 1
    assert LogFile(log).errors_within(timedelta(hours=3), now=NOW) == 5


def test_errors_within_stops_at_the_first_older_entry(tmp_path: Path) -> None:
    # Recent errors BEFORE an old entry would be counted if reading went on past it.
    log = _write(
        tmp_path / "app.log",
        "\n".join(
            [
                f"{_stamp(2)} ERROR out of order",
                f"{_stamp(90)} INFO old",
                f"{_stamp(1)} ERROR recent",
            ]
        )
        + "\n",
    )
    assert LogFile(log).errors_within(timedelta(hours=1), now=NOW) == 1


def test_errors_within_other_timestamp_formats(tmp_path: Path) -> None:
    fmt = "%Y-%m-%d %H:%M:%S,%f"  # logging's asctime: milliseconds after a comma
    log = _write(
        tmp_path / "app.log",
        "\n".join(
            [
                f"{_stamp(90, '%Y-%m-%d %H:%M:%S')},123 ERROR old",
                f"{_stamp(10, '%Y-%m-%d %H:%M:%S')},5 ERROR recent",
                f"{_stamp(5, '%Y-%m-%d %H:%M:%S')},456 [ERROR] recent",
            ]
        ),
    )
    assert LogFile(log).errors_within(timedelta(hours=1), timestamp_format=fmt, now=NOW) == 2
    aware_now = NOW.replace(tzinfo=UTC)
    zoned = _write(
        tmp_path / "zoned.log",
        "\n".join(
            [
                "2026-11-21T10:30:00+0000 ERROR old",
                "2026-11-21T20:30:00+0900 ERROR recent (11:30 UTC)",
            ]
        ),
    )
    count = LogFile(zoned).errors_within(timedelta(hours=1), timestamp_format="%Y-%m-%dT%H:%M:%S%z", now=aware_now)
    assert count == 1


def test_errors_within_a_sparse_3gib_log_reads_only_the_window(tmp_path: Path) -> None:
    recent = [f"{_stamp(60 - i)} ERROR recent {i}" for i in range(1, 6)]
    log = LogFile(_sparse_log(tmp_path / "big.log", "\n".join([f"{_stamp(600)} INFO old", *recent]) + "\n"))
    count, read, peak = _measured(lambda: log.errors_within(timedelta(hours=1), now=NOW))
    assert count == 5
    assert read < 2**20
    assert peak < 20 * 2**20


# --- cost markers --------------------------------------------------------------------------------------------


def _cost(timestamp: str, cost: Any) -> str:
    return "2026-11-01 00:00:00 INFO app.cost: API_COST " + json.dumps({"timestamp": timestamp, "cost": cost})


def test_sum_marker_today_and_this_month_at_a_month_boundary(tmp_path: Path) -> None:
    log = _write(
        tmp_path / "app.log",
        "\n".join(
            [
                _cost("2026-10-31T23:59:59", 1000),  # last month
                _cost("2026-11-01T00:00:00", 12.5),  # today, first second of the month
                _cost("2026-11-01T00:20:00", "7.5"),  # numeric string
                _cost("2026-11-30T10:00:00", 100),  # later this month (clock skew): month only
                _cost("2025-11-01T10:00:00", 3000),  # same month, last year
                "2026-11-01 INFO app.cost: API_COST {broken json",
                "2026-11-01 INFO app.cost: API_COST [1, 2]",
                _cost("2026-11-01T00:00:00", True),
                _cost("not a time", 1),
                'API_COST {"cost": 5}',  # no timestamp
                "INFO nothing to see",
                "INFO app.cost: API_COST",
            ]
        )
        + "\n",
    )
    totals = sum_marker(log, now=datetime(2026, 11, 1, 0, 30))
    assert totals == MarkerTotals(today=20.0, this_month=120.0, lines_counted=5, bad_lines=6)
    assert json.loads(json.dumps(totals.to_dict())) == totals.to_dict()


def test_sum_marker_converts_zoned_timestamps_to_the_zone_of_now(tmp_path: Path) -> None:
    tokyo = timezone(timedelta(hours=9))
    log = _write(
        tmp_path / "app.log",
        "\n".join(
            [
                _cost("2026-10-31T15:30:00+00:00", 10),  # 00:30 on 1 November in Tokyo
                _cost("2026-10-31T14:30:00+00:00", 20),  # 23:30 on 31 October in Tokyo
                _cost("2026-11-01T00:10:00", 1),  # naive: already Tokyo time
            ]
        ),
    )
    totals = sum_marker(log, now=datetime(2026, 11, 1, 1, 0, tzinfo=tokyo))
    assert (totals.today, totals.this_month, totals.lines_counted) == (11.0, 11.0, 3)


def test_sum_marker_custom_marker_and_fields(tmp_path: Path) -> None:
    log = _write(tmp_path / "app.log", 'SPEND {"at": "2026-11-21T09:00:00", "yen": 42} trailing text\n')
    totals = sum_marker(log, marker="SPEND", field="yen", timestamp_field="at", now=NOW)
    assert (totals.today, totals.bad_lines) == (42.0, 0)


def test_sum_marker_survives_an_overlong_line(tmp_path: Path) -> None:
    huge = "2026-11-21 API_COST " + json.dumps({"timestamp": "2026-11-21T01:00:00", "pad": "p" * 2**21, "cost": 1})
    log = _write(tmp_path / "app.log", huge + "\n" + _cost("2026-11-21T02:00:00", 2) + "\n")
    totals = sum_marker(log, now=NOW)
    assert totals == MarkerTotals(today=2.0, this_month=2.0, lines_counted=1, bad_lines=1)


def test_sum_marker_of_a_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(ProbeError, match=r"^log file not found: .*/nothing\.log$"):
        sum_marker(tmp_path / "nothing.log")


@given(st.text())
def test_marker_parser_never_raises(tail: str) -> None:
    assert parse_marker_line(tail) is None or "API_COST" in tail
    parse_marker_line("x API_COST " + tail)
    parse_marker_line("API_COST {" + tail)


def test_marker_parser_survives_deep_nesting_and_huge_numbers() -> None:
    assert parse_marker_line("API_COST " + "[" * 100_000) is None  # RecursionError inside json
    assert parse_marker_line('API_COST {"timestamp": "2026-11-21T00:00:00", "cost": 1e999}') is None
    assert parse_marker_line('API_COST {"timestamp": "2026-11-21T00:00:00", "cost": ' + "9" * 5000 + "}") is None


@given(value=st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**6), 10**6), stamp=st.datetimes())
def test_marker_parser_reads_what_was_written(value: float, stamp: datetime) -> None:
    entry = parse_marker_line(_cost(stamp.isoformat(), value))
    assert entry is not None
    assert (entry.timestamp, entry.value) == (stamp, float(value))


# --- new lines since the previous run ------------------------------------------------------------------------


def test_first_run_records_the_position_only(tmp_path: Path) -> None:
    log, state = _write(tmp_path / "app.log", "old 1\nold 2\npartial"), tmp_path / "state" / "logs.json"
    first = read_new_lines(log, state)
    assert first.first_run
    assert first.lines == []
    assert first.to_offset == len("old 1\nold 2\n")  # the unfinished line is read when it is finished
    saved = json.loads(state.read_text())["logs"][str(log)]
    assert saved["offset"] == first.to_offset
    assert saved["inode"] == log.stat().st_ino
    _append(log, " now done\nnew\n")
    again = read_new_lines(log, state)
    assert (again.lines, again.first_run, again.from_offset) == (["partial now done", "new"], False, 12)
    assert not [p.name for p in state.parent.iterdir() if p.name.endswith(".tmp")]  # written atomically


def test_appended_lines_are_read_once(tmp_path: Path) -> None:
    log, state = _write(tmp_path / "app.log", "a\n"), tmp_path / "state.json"
    read_new_lines(log, state)
    _append(log, "b\r\nc\nunfinished")
    assert read_new_lines(log, state).lines == ["b", "c"]
    assert read_new_lines(log, state).lines == []
    _append(log, "\n")
    result = read_new_lines(log, state)
    assert (result.lines, result.rotated, result.truncated) == (["unfinished"], False, False)
    assert result.to_offset == log.stat().st_size


def test_rotation_by_rename_reads_the_new_file_from_its_start(tmp_path: Path) -> None:
    log, state = _write(tmp_path / "app.log", "2026-11-20 first\n"), tmp_path / "state.json"
    read_new_lines(log, state)
    log.rename(tmp_path / "app.log.1")
    _write(log, "2026-11-21 new file\nsecond\n")
    result = read_new_lines(log, state)
    assert (result.lines, result.rotated, result.truncated, result.from_offset) == (
        ["2026-11-21 new file", "second"],
        True,
        False,
        0,
    )


def test_copytruncate_rotation_is_seen_by_the_fingerprint(tmp_path: Path) -> None:
    log, state = _write(tmp_path / "app.log", "2026-11-20 first\n"), tmp_path / "state.json"
    read_new_lines(log, state)
    inode = log.stat().st_ino
    with log.open("r+b") as f:  # same inode, rewritten and already longer than before
        f.truncate(0)
        f.write(b"2026-11-21 after rotation\nmore\n")
    assert log.stat().st_ino == inode
    result = read_new_lines(log, state)
    assert (result.lines, result.rotated) == (["2026-11-21 after rotation", "more"], True)


def test_truncation_reads_from_the_start(tmp_path: Path) -> None:
    log, state = _write(tmp_path / "app.log", "a long first line\nline two\n"), tmp_path / "state.json"
    read_new_lines(log, state)
    with log.open("r+b") as f:
        f.truncate(0)
        f.write(b"short\n")
    result = read_new_lines(log, state)
    assert (result.lines, result.truncated, result.rotated, result.from_offset) == (["short"], True, False, 0)


def test_more_than_max_bytes_reads_only_the_last(tmp_path: Path) -> None:
    log, state = _write(tmp_path / "app.log", "start\n"), tmp_path / "state.json"
    read_new_lines(log, state)
    _append(log, "".join(f"line {i:03}\n" for i in range(100)))  # 9 bytes each
    result = read_new_lines(log, state, max_bytes=40)
    assert result.lines == ["line 096", "line 097", "line 098", "line 099"]
    assert result.skipped_bytes == 96 * 9
    assert result.to_offset == log.stat().st_size
    assert result.from_offset == 6


def test_one_state_file_keeps_every_log(tmp_path: Path) -> None:
    one, two, state = _write(tmp_path / "one.log", "1\n"), _write(tmp_path / "two.log", "2\n"), tmp_path / "s.json"
    read_new_lines(one, state)
    read_new_lines(two, state)
    _append(one, "one more\n")
    _append(two, "two more\n")
    assert read_new_lines(one, state).lines == ["one more"]
    assert read_new_lines(two, state).lines == ["two more"]
    assert sorted(json.loads(state.read_text())["logs"]) == [str(one), str(two)]


def test_a_corrupt_state_file_says_how_to_recover(tmp_path: Path) -> None:
    log, state = _write(tmp_path / "app.log", "a\n"), _write(tmp_path / "state.json", "{not json")
    with pytest.raises(ProbeError) as caught:
        read_new_lines(log, state)
    assert str(caught.value) == f"log state file is not valid: {state}; delete it to start afresh"


def test_a_missing_log_leaves_the_state_alone(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with pytest.raises(ProbeError, match=r"^log file not found: "):
        read_new_lines(tmp_path / "missing.log", state)
    assert not state.exists()


def test_a_held_state_lock_times_out_instead_of_hanging(tmp_path: Path) -> None:
    log, state = _write(tmp_path / "app.log", "a\n"), tmp_path / "state.json"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import filelock, sys; lock = filelock.FileLock(sys.argv[1]); lock.acquire(); "
            "print('held', flush=True); sys.stdin.read()",
            f"{state}.lock",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        started = time.monotonic()
        with pytest.raises(ProbeError, match=r"^log state file is locked by another run for over 0\.3 s: "):
            read_new_lines(log, state, lock_timeout=0.3)
        assert time.monotonic() - started < HANG_S  # the other run holds it until we let go
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)
        if holder.stdout is not None:
            holder.stdout.close()


@FILE_IO
@given(first=st.text("ab\r\né", max_size=20), chunks=st.lists(st.text("ab\r\né", max_size=20), max_size=5))
def test_new_lines_across_appends_are_every_whole_line(tmp_path: Path, first: str, chunks: list[str]) -> None:
    log, state = _write(tmp_path / "prop.log", first), tmp_path / "prop-state.json"
    state.unlink(missing_ok=True)
    start = read_new_lines(log, state).to_offset
    seen: list[str] = []
    for chunk in chunks:
        _append(log, chunk)
        seen += read_new_lines(log, state).lines
    data = log.read_bytes()
    whole = data[start : data.rfind(b"\n") + 1] if data.rfind(b"\n") >= start else b""
    assert seen == whole.decode("utf-8").splitlines()
