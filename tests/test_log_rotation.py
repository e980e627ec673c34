"""New log errors across rotation: lines written just before a rotation are read from the rotated file, from the
offset the previous run reached, and counted once (logrotate's rename and create, copytruncate, dated names);
and the shipped default that judges new errors (more than 10 new error entries since the previous run).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

import pytest_aide.suite
from pytest_aide.probes.logstate import read_new_lines

SUITE = Path(pytest_aide.suite.__file__).parent / "aide"


def _errors(n: int, start: int = 0) -> str:
    return "".join(f"2026-11-30 10:00:{(start + i) % 60:02d},000 ERROR app: failure {start + i}\n" for i in range(n))


def _age(path: Path, hours: float) -> None:
    """Date the file's modification ``hours`` back (or ahead, negative), as a rotation long ago (or later) would."""
    when = time.time() - hours * 3600
    os.utime(path, (when, when))


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(text)


def test_rename_and_create_finishes_the_rotated_file_from_the_saved_offset(tmp_path: Path) -> None:
    log, state = tmp_path / "app.log", tmp_path / "state.json"
    log.write_text("2026-11-30 09:00:00,000 INFO app: started\n")
    read_new_lines(log, state)  # the baseline
    _append(log, _errors(30))  # written after the last run, just before the rotation
    log.rename(tmp_path / "app.log.1")  # logrotate's default: rename, then create
    log.write_text(_errors(2, start=30))
    new = read_new_lines(log, state)
    assert new.rotated
    assert new.rotated_from == str(tmp_path / "app.log.1")
    assert new.rotated_lines == 30
    assert new.lines == _errors(32).splitlines()
    again = read_new_lines(log, state)  # counted once
    assert again.lines == []
    assert again.rotated_from is None


def test_copytruncate_finishes_the_copy(tmp_path: Path) -> None:
    log, state = tmp_path / "app.log", tmp_path / "state.json"
    log.write_text("2026-11-30 09:00:00,000 INFO app: started\n")
    read_new_lines(log, state)
    _append(log, _errors(30))
    shutil.copyfile(log, tmp_path / "app.log.1")  # copytruncate: copy, then truncate in place
    with log.open("r+b") as f:
        f.truncate(0)
    _append(log, _errors(1, start=30))
    new = read_new_lines(log, state)
    assert new.rotated or new.truncated  # which one depends on the new size against the old offset
    assert new.rotated_from == str(tmp_path / "app.log.1")
    assert new.lines == _errors(31).splitlines()
    assert read_new_lines(log, state).lines == []


def test_a_dated_name_and_an_unfinished_last_line_are_read(tmp_path: Path) -> None:
    log, state = tmp_path / "app.log", tmp_path / "state.json"
    log.write_text("2026-11-30 09:00:00,000 INFO app: started\n")
    read_new_lines(log, state)
    _append(log, _errors(3) + "2026-11-30 10:01:00,000 ERROR app: cut off by the rotation")
    log.rename(tmp_path / "app.log-20261130")  # dateext
    log.write_text("")
    (tmp_path / "app.log-20261129").write_text("older rotation: not ours\n")
    new = read_new_lines(log, state)
    assert new.rotated_from == str(tmp_path / "app.log-20261130")
    assert new.lines[-1] == "2026-11-30 10:01:00,000 ERROR app: cut off by the rotation"
    assert len(new.lines) == 4


def test_an_already_compressed_predecessor_is_not_read_but_the_new_file_is(tmp_path: Path) -> None:
    log, state = tmp_path / "app.log", tmp_path / "state.json"
    log.write_text("2026-11-30 09:00:00,000 INFO app: started\n")
    read_new_lines(log, state)
    _append(log, _errors(5))
    with log.open("rb") as raw, gzip.open(tmp_path / "app.log.1.gz", "wb") as packed:
        shutil.copyfileobj(raw, packed)
    log.unlink()
    log.write_text(_errors(1, start=5))
    new = read_new_lines(log, state)
    assert (new.rotated, new.rotated_from, new.lines) == (True, None, _errors(1, start=5).splitlines())


# --- through the shipped check -------------------------------------------------------------------------------


def _run(pytester: pytest.Pytester) -> dict[str, Any]:
    before = set((pytester.path / "reports").glob("2*/health.json"))
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning",
        str(SUITE / "check_logs.py"), f"--aide-config={pytester.path / 'aide.toml'}", "-q",
        "-k", "check_new_log_errors",
    )  # fmt: skip
    runs = sorted(set((pytester.path / "reports").glob("2*/health.json")) - before)
    assert runs, result.stdout.str()
    [check] = json.loads(runs[-1].read_text())["checks"]
    return dict(check)


def test_errors_written_before_a_rotation_are_counted_once_by_the_check(pytester: pytest.Pytester) -> None:
    log = pytester.path / "app.log"
    log.write_text("2026-11-30 09:00:00,000 INFO app: started\n")
    (pytester.path / "aide.toml").write_text('[logs]\nfiles = ["app.log"]\n')
    first = _run(pytester)  # the baseline: nothing to compare with yet, so skipped (never a vacuous OK)
    assert first["status"] == "SKIPPED"
    assert first["skip_reason"].startswith("first run for app.log: its read position is saved")
    _append(log, _errors(30) + "Traceback (most recent call last):\n  File x\nValueError: boom\n")
    log.rename(pytester.path / "app.log.1")
    log.write_text("2026-11-30 10:05:00,000 INFO app: reopened\n")
    check = _run(pytester)
    assert check["measurements"]["new_log_errors"]["value"] == 30  # the traceback belongs to entry 29
    assert check["status"] == "WARNING"  # more than 10: the shipped default
    assert "new_log_errors = 30" in check["message"]
    again = _run(pytester)
    assert again["measurements"]["new_log_errors"]["value"] == 0
    assert again["status"] == "OK"


def test_the_odd_new_error_is_ok_more_than_ten_warn(pytester: pytest.Pytester) -> None:
    log = pytester.path / "app.log"
    log.write_text("2026-11-30 09:00:00,000 INFO app: started\n")
    (pytester.path / "aide.toml").write_text('[logs]\nfiles = ["app.log"]\n')
    _run(pytester)
    _append(log, _errors(10))
    assert _run(pytester)["status"] == "OK"
    _append(log, _errors(11))
    assert _run(pytester)["status"] == "WARNING"


def test_a_fifo_named_like_a_rotated_log_is_never_opened(tmp_path: Path) -> None:
    """open() on a FIFO blocks until a writer comes: a rotated-file candidate must be a regular file."""
    import os

    from pytest_aide.probes.logstate import _rotated_siblings

    log = tmp_path / "app.log"
    log.write_text("x\n")
    os.mkfifo(tmp_path / "app.log.1")
    (tmp_path / "app.log.2").write_text("older\n")
    assert _rotated_siblings(log) == [tmp_path / "app.log.2"]


def test_a_log_empty_at_the_last_run_does_not_reread_yesterdays_rotated_file(tmp_path: Path) -> None:
    """Right after logrotate the new log is empty: a run then remembers offset 0. The next run read the whole
    rotated ``.1`` again as new (found on a real PostgreSQL: its collector's previous file, already counted)."""
    log, state = tmp_path / "app.log", tmp_path / "state.json"
    (tmp_path / "app.log.1").write_text(_errors(40))  # yesterday's log, counted by yesterday's runs
    _age(tmp_path / "app.log.1", hours=20)
    log.write_text("")
    assert read_new_lines(log, state).first_run  # the baseline: offset 0 of an empty file
    assert read_new_lines(log, state).lines == []  # still empty: nothing new, nothing from app.log.1
    _append(log, _errors(3, start=40))
    new = read_new_lines(log, state)
    assert new.lines == _errors(3, start=40).splitlines()
    assert (new.rotated, new.rotated_from, new.rotated_lines) == (False, None, 0)


def test_a_rotation_of_a_log_that_was_empty_finishes_its_predecessor_by_inode_only(tmp_path: Path) -> None:
    log, state = tmp_path / "app.log", tmp_path / "state.json"
    (tmp_path / "app.log.2").write_text(_errors(40))  # an older rotation, not this log's predecessor
    log.write_text("")
    read_new_lines(log, state)  # the baseline: empty
    _append(log, _errors(2))  # written after the run, then rotated (rename and create)
    log.rename(tmp_path / "app.log.1")
    log.write_text(_errors(1, start=2))
    new = read_new_lines(log, state)
    assert new.rotated_from == str(tmp_path / "app.log.1")
    assert new.lines == _errors(3).splitlines()  # the predecessor's two, then the new one; app.log.2 untouched


def test_copytruncate_of_a_log_that_was_empty_finishes_the_copy_written_since(tmp_path: Path) -> None:
    """An empty log has no first line to recognise its copy by: the copy is the sibling written after the read."""
    log, state = tmp_path / "app.log", tmp_path / "state.json"
    (tmp_path / "app.log.2").write_text(_errors(40))  # an older rotation, seen before
    _age(tmp_path / "app.log.2", hours=20)
    log.write_text("")
    read_new_lines(log, state)  # the baseline: empty
    _append(log, _errors(2))  # written after the run
    shutil.copyfile(log, tmp_path / "app.log.1")  # copytruncate, later
    _age(tmp_path / "app.log.1", hours=-1)
    with log.open("r+b") as f:
        f.truncate(0)
    _append(log, _errors(1, start=2))
    new = read_new_lines(log, state)
    assert new.rotated_from == str(tmp_path / "app.log.1")
    assert new.lines == _errors(3).splitlines()
    assert read_new_lines(log, state).lines == []  # counted once


def test_a_log_that_was_empty_and_is_made_anew_reads_only_the_new_file(tmp_path: Path) -> None:
    """Deleted and created again (not renamed): no sibling is its predecessor, not even by an empty first line."""
    log, state = tmp_path / "app.log", tmp_path / "state.json"
    (tmp_path / "app.log.1").write_text(_errors(40))
    _age(tmp_path / "app.log.1", hours=20)
    log.write_text("")
    read_new_lines(log, state)
    log.unlink()
    log.write_text(_errors(1, start=40))
    new = read_new_lines(log, state)
    assert new.rotated_from is None
    assert new.lines == _errors(1, start=40).splitlines()
