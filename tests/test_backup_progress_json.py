"""Progress for people, JSON for scripts: MB/s and time left on a terminal, silence in cron, ``--json`` output.

The backup issue's finding: a 1.4 GB backup was silent for its first seconds (the copy step), then printed a
line a second with no rate or ETA, whether or not anyone was watching.
"""

from __future__ import annotations

import io
import json
import os
import pty
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from aide_testing import run_aide

from conftest import HANG_S
from pytest_aide.backup.compress import file_growth
from pytest_aide.cli import PROGRESS_MIN_BYTES, _Progress, progress_line


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_terminal_gets_rate_and_time_left_at_most_once_a_second() -> None:
    stream, clock = Terminal(), Clock()
    progress = _Progress(stream, clock)
    total = 1000 * 10**6
    progress("compress db.sqlite", 0, total)
    for step in range(1, 5):
        clock.now += 0.5
        progress("compress db.sqlite", step * 100 * 10**6, total)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "aide: compress db.sqlite: 0.0 MB of 1000.0 MB"
    assert lines[1:] == [
        "aide: compress db.sqlite: 200.0 MB of 1000.0 MB, 200.0 MB/s, about 4 s left",
        "aide: compress db.sqlite: 400.0 MB of 1000.0 MB, 200.0 MB/s, about 3 s left",
    ]


def test_cron_and_systemd_get_no_progress() -> None:
    stream = io.StringIO()  # not a terminal
    progress = _Progress(stream, Clock())
    progress("compress db.sqlite", 10**9, 2 * 10**9)
    progress("compress db.sqlite", 2 * 10**9, 2 * 10**9)
    assert stream.getvalue() == ""


def test_unknown_totals_and_long_waits_read_well() -> None:
    assert progress_line("dump appdb", 300 * 10**6, 0, 10.0) == "dump appdb: 300.0 MB, 30.0 MB/s"
    assert progress_line("compress x", 10**6, 10**9, 1.0).endswith("about 16 min 39 s left")


def test_steps_without_their_own_progress_report_the_growing_file(tmp_path: Path) -> None:
    seen: list[int] = []
    target = tmp_path / "snapshot.raw"
    with file_growth(lambda _stage, done, _total: seen.append(done), "snapshot db", target, 10**6):
        deadline = time.monotonic() + HANG_S
        with target.open("wb") as out:
            while not seen and time.monotonic() < deadline:
                out.write(b"x" * 4096)
                out.flush()
                time.sleep(0.05)
    assert seen, "the ticker reported while the file grew"
    assert seen[-1] > 0
    assert not [t for t in threading.enumerate() if t.name.startswith("aide progress")], "the ticker stopped"


def big_database(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE blob (v BLOB)")
    chunk = os.urandom(1 << 20)
    conn.executemany("INSERT INTO blob VALUES (?)", [(chunk,)] * (PROGRESS_MIN_BYTES // (1 << 20) + 6))
    conn.commit()
    conn.close()


def test_a_real_backup_on_a_terminal_shows_its_rate_and_is_quiet_in_a_pipe(tmp_path: Path) -> None:
    big_database(tmp_path / "app.db")
    (tmp_path / "aide.toml").write_text(
        '[backup]\ndir = "backups"\n[[backup.components]]\nname = "db"\nkind = "sqlite"\nsource = "app.db"\n'
    )
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest_aide.cli", "backup"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=follower,
            timeout=HANG_S * 4,
            check=False,
        )
        os.close(follower)
        follower = -1
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the other end is closed and everything was read
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(leader)
        if follower != -1:
            os.close(follower)
    assert done.returncode == 0
    on_terminal = b"".join(chunks).decode()
    assert "aide: compress db.sqlite:" in on_terminal
    assert " MB/s" in on_terminal

    piped = run_aide(tmp_path, "backup")
    assert piped.returncode == 0
    assert "MB/s" not in piped.stderr
    assert piped.stderr == ""


def test_json_for_scripts(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "app.db")
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    (tmp_path / "aide.toml").write_text(
        '[backup]\ndir = "backups"\n[[backup.components]]\nname = "db"\nkind = "sqlite"\nsource = "app.db"\n'
    )
    assert run_aide(tmp_path, "backup").returncode == 0

    listed = json.loads(run_aide(tmp_path, "backups", "--json").stdout)
    (only,) = listed["sets"]
    assert only["status"] == "complete"
    assert only["verified"] is False
    assert [c["name"] for c in only["components"]] == ["db"]
    assert listed["safety_copies"] == []

    verified = run_aide(tmp_path, "verify", only["id"], "--json")
    assert verified.returncode == 0
    assert json.loads(verified.stdout) == {
        "set_id": only["id"],
        "ok": True,
        "problems": [],
        "checked": ["db"],
        "notes": [],
    }
    missing = run_aide(tmp_path, "verify", "20200101T000000.000000Z-dead", "--json")
    assert missing.returncode == 1
    assert missing.stderr.startswith("aide: error: ")
