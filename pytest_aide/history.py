"""Run history: every run, every check's status and every measurement in ``<archive>/history.sqlite3``.

One SQLite file beside the run folders, shared by every process that writes a run into the archive (two cron
jobs may finish at once) and by other features that keep state per archive (alert state adds its own
``alert_*`` tables to the same file with its own ``CREATE TABLE IF NOT EXISTS``). So every connection uses WAL
mode (readers never block the writer), a busy timeout (a second writer waits instead of failing), and every
write is one short ``BEGIN IMMEDIATE`` transaction (the write lock is taken up front, so two writers never
deadlock upgrading a read lock). :func:`history_path` is the one place that names the file.

Runs archived before the database existed (``<run-id>/health.json``) are imported once, by whichever process
opens the history first. A *sample* of a metric is its worst value in one complete run: not partial (``-k``,
``--lf``...) and not interrupted. Each complete run of a named schedule (``-m daily``) also records when that
schedule last completed, for the dead-man's switch (``aide overdue``).
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import sqlite3
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from pytest_aide.errors import ProbeError
from pytest_aide.runs import run_started

HISTORY_NAME = "history.sqlite3"
BUSY_TIMEOUT_S = 30.0  # a writer waits this long for another one before giving up
SCHEMA_VERSION = 1
INCOMPLETE_EXIT_STATUSES = frozenset({2, 3})  # interrupted, internal error: the run did not finish its checks
_TABLES = ("runs", "checks", "measurements", "schedules", "meta")
_SCHEDULE = re.compile(r"^[A-Za-z_][\w-]*$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    started TEXT NOT NULL,            -- ISO 8601, UTC
    finished TEXT NOT NULL,
    host TEXT NOT NULL DEFAULT '',
    selection TEXT NOT NULL DEFAULT '',
    schedule TEXT,                    -- the -m expression when it names one schedule, else NULL
    partial INTEGER NOT NULL,
    partial_reason TEXT NOT NULL DEFAULT '',
    complete INTEGER NOT NULL,        -- not partial and not interrupted: its values are samples
    verdict TEXT,
    score REAL,
    measured INTEGER,
    selected INTEGER,
    exit_status INTEGER,
    source TEXT NOT NULL              -- 'run' (recorded at its end) or 'import' (read from its health.json)
);
CREATE INDEX IF NOT EXISTS runs_by_time ON runs (started, run_id);
CREATE TABLE IF NOT EXISTS checks (
    run_id TEXT NOT NULL,
    nodeid TEXT NOT NULL,
    component TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,             -- OK, WARNING, CRITICAL, UNKNOWN or SKIPPED
    message TEXT NOT NULL DEFAULT '',
    duration REAL,
    PRIMARY KEY (run_id, nodeid)
);
CREATE TABLE IF NOT EXISTS measurements (
    run_id TEXT NOT NULL,
    nodeid TEXT NOT NULL,
    name TEXT NOT NULL,
    value REAL,                       -- NULL for a value that was not a number
    unit TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, nodeid, name)
);
CREATE INDEX IF NOT EXISTS measurements_by_name ON measurements (name, run_id);
CREATE TABLE IF NOT EXISTS schedules (
    schedule TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,             -- the schedule's newest complete run
    finished TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def history_path(archive: Path) -> Path:
    """The run history of the report archive ``archive`` (shared with the alert state)."""
    return archive / HISTORY_NAME


def schedule_of(selection: str) -> str | None:
    """The schedule a run ran: its ``-m`` expression when that is one marker name (``daily``), else None."""
    selection = selection.strip()
    return selection if _SCHEDULE.match(selection) else None


def connect(path: Path) -> sqlite3.Connection:
    """Open (and create) the history in WAL mode with a busy timeout; autocommit, so writes use :func:`write`."""
    con = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        con.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        use_wal(con)
        if not _has_schema(con):
            with write(con):
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        con.execute(statement)
                con.execute("INSERT OR IGNORE INTO meta VALUES ('history_schema', ?)", (str(SCHEMA_VERSION),))
    except BaseException:
        con.close()
        raise
    return con


def _has_schema(con: sqlite3.Connection) -> bool:
    """Whether this file already holds the history's tables (``PRAGMA user_version`` is left to nobody: other
    features share the file)."""
    found = con.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN (?, ?, ?, ?, ?)", _TABLES
    ).fetchone()[0]
    return bool(found == len(_TABLES))


def use_wal(con: sqlite3.Connection, timeout: float = BUSY_TIMEOUT_S) -> None:
    """Switch to WAL once (it stays in the file). SQLite answers "database is locked" at once, without waiting
    its busy timeout, while another process holds a write transaction on the file (creating its tables, say),
    so a busy answer is tried again here until ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if con.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                con.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextlib.contextmanager
def write(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One short write transaction, the write lock taken at its start (``BEGIN IMMEDIATE``)."""
    con.execute("BEGIN IMMEDIATE")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


@contextlib.contextmanager
def opened(archive: Path) -> Iterator[sqlite3.Connection]:
    """The archive's history, its older runs imported the first time; closed on exit."""
    con = connect(history_path(archive))
    try:
        import_archive(con, archive)
        yield con
    finally:
        con.close()


def _utc(text: object, fallback: datetime | None = None) -> str:
    """An ISO 8601 time as UTC text that sorts as time (``2026-11-30T16:00:00+00:00``)."""
    try:
        when = datetime.fromisoformat(str(text))
    except ValueError:
        if fallback is None:
            raise
        when = fallback
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="seconds")


def is_complete(data: Mapping[str, Any]) -> bool:
    """Whether a run (its health.json data) ran its whole selection to the end: its values are samples."""
    return not data.get("partial") and data.get("exit_status") not in INCOMPLETE_EXIT_STATUSES


def _insert_run(con: sqlite3.Connection, data: Mapping[str, Any], *, source: str, folder: str = "") -> str:
    """Insert one run (health.json data); an imported run already present is left as it is."""
    run_id = str(data.get("run_id") or folder)
    started_at = run_started(run_id) or run_started(folder) or datetime.now(UTC)
    started = _utc(data.get("started", ""), started_at)
    finished = _utc(data.get("finished", ""), datetime.fromisoformat(started))
    coverage = data.get("coverage")
    if not isinstance(coverage, Mapping):
        coverage = {}
    verb = "INSERT OR REPLACE" if source == "run" else "INSERT OR IGNORE"
    cursor = con.execute(
        f"{verb} INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            run_id,
            started,
            finished,
            str(data.get("host", "")),
            str(data.get("selection", "")),
            schedule_of(str(data.get("selection", ""))),
            int(bool(data.get("partial"))),
            str(data.get("partial_reason", "")),
            int(is_complete(data)),
            data.get("status"),
            _number(data.get("score")),
            coverage.get("measured"),
            coverage.get("selected"),
            data.get("exit_status"),
            source,
        ),
    )
    if cursor.rowcount == 0:
        return run_id
    con.execute("DELETE FROM checks WHERE run_id = ?", (run_id,))
    con.execute("DELETE FROM measurements WHERE run_id = ?", (run_id,))
    checks = [c for c in data.get("checks", []) if isinstance(c, Mapping)]
    con.executemany(
        "INSERT OR REPLACE INTO checks VALUES (?, ?, ?, ?, ?, ?)",
        [
            (
                run_id,
                str(c.get("nodeid", "")),
                str(c.get("component", "")),
                str(c.get("status", "SKIPPED")),
                str(c.get("message") or c.get("skip_reason") or ""),
                _number(c.get("duration")),
            )
            for c in checks
        ],
    )
    con.executemany(
        "INSERT OR REPLACE INTO measurements VALUES (?, ?, ?, ?, ?, ?)",
        [
            (
                run_id,
                str(c.get("nodeid", "")),
                str(name),
                _number(m.get("value")),
                m.get("unit") or "",
                m.get("status") or "",
            )
            for c in checks
            if isinstance(c.get("measurements"), Mapping)
            for name, m in c["measurements"].items()
            if isinstance(m, Mapping)
        ],
    )
    schedule = schedule_of(str(data.get("selection", "")))
    if schedule is not None and is_complete(data):
        con.execute(
            "INSERT INTO schedules VALUES (?, ?, ?) ON CONFLICT (schedule) DO UPDATE SET"
            " run_id = excluded.run_id, finished = excluded.finished WHERE excluded.finished >= schedules.finished",
            (schedule, run_id, finished),
        )
    return run_id


def _number(value: object) -> float | None:
    """A finite float, or None (SQLite has no NaN; a missing or broken value is no sample)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def import_archive(con: sqlite3.Connection, archive: Path) -> int:
    """Import the runs archived as ``<run-id>/health.json`` before the history existed, once; return how many.

    The flag and the runs are written in one transaction, so two processes opening a new history at once
    import the archive exactly once between them."""
    if con.execute("SELECT 1 FROM meta WHERE key = 'archive_imported'").fetchone():
        return 0
    with write(con):
        if con.execute("SELECT 1 FROM meta WHERE key = 'archive_imported'").fetchone():
            return 0
        count = 0
        for health in sorted(archive.glob("*/health.json")):
            data = _read_health(health)
            if data is not None:
                _insert_run(con, data, source="import", folder=health.parent.name)
                count += 1
        con.execute(
            "INSERT INTO meta VALUES ('archive_imported', ?)",
            (json.dumps({"at": datetime.now(UTC).isoformat(timespec="seconds"), "runs": count}),),
        )
    return count


def _read_health(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def record_run(con: sqlite3.Connection, data: Mapping[str, Any]) -> str:
    """Record a run that just ended (its health.json data) in one short transaction; return its id."""
    with write(con):
        return _insert_run(con, data, source="run")


class Sample(NamedTuple):
    """One value of a series: the run it comes from, when that run started, and the value."""

    run_id: str
    time: datetime
    value: float


def _value_in_run(nodeid: str | None) -> str:
    """The worst value of measurement ``?`` in run ``r`` (of one check when ``nodeid``): an index lookup."""
    check = " AND m.nodeid = ?" if nodeid is not None else ""
    return f"(SELECT MAX(m.value) FROM measurements m WHERE m.name = ? AND m.run_id = r.run_id{check})"


def series(con: sqlite3.Connection, name: str, *, last: int = 10, nodeid: str | None = None) -> list[Sample]:
    """The newest ``last`` samples of measurement ``name``, oldest first: one per complete run that measured
    it, its highest value when several checks did (the trend metrics are all worse when higher), or check
    ``nodeid``'s only when given.

    Runs are walked newest first and each is looked up by index, so the cost follows ``last``, not the size
    of the history."""
    query = (
        f"SELECT run_id, started, value FROM (SELECT r.run_id, r.started, {_value_in_run(nodeid)} AS value"
        " FROM runs r WHERE r.complete = 1 ORDER BY r.started DESC, r.run_id DESC)"
        " WHERE value IS NOT NULL LIMIT ?"
    )
    params: list[object] = [name, *([nodeid] if nodeid is not None else []), last]
    rows = con.execute(query, params).fetchall()
    return [Sample(run_id, datetime.fromisoformat(started), value) for run_id, started, value in reversed(rows)]


def measured_by(con: sqlite3.Connection, name: str, *, last: int = 30) -> list[str]:
    """The checks (node ids) that recorded measurement ``name`` in its newest ``last`` samples, in name order."""
    runs = [sample.run_id for sample in series(con, name, last=last)]
    found: set[str] = set()
    for run_id in runs:
        rows = con.execute("SELECT nodeid FROM measurements WHERE name = ? AND run_id = ?", (name, run_id))
        found.update(nodeid for (nodeid,) in rows)
    return sorted(found)


@dataclass(frozen=True)
class LastRun:
    """A schedule's newest complete run."""

    schedule: str
    run_id: str
    finished: datetime


def last_complete(con: sqlite3.Connection, schedule: str | None = None) -> list[LastRun]:
    """The newest complete run of each schedule (or of ``schedule`` only), by schedule name."""
    query = "SELECT schedule, run_id, finished FROM schedules"
    rows = con.execute(
        query + (" WHERE schedule = ?" if schedule else "") + " ORDER BY schedule", ((schedule,) if schedule else ())
    )
    return [LastRun(name, run_id, datetime.fromisoformat(finished)) for name, run_id, finished in rows]


def history_keep_days(history_days: float | None, archive_days: float | None) -> float | None:
    """How long history rows stay: ``[history] keep_days``, never less than the run folders' (None: forever)."""
    if history_days is None or archive_days is None:
        return history_days
    return max(history_days, archive_days)


def prune(con: sqlite3.Connection, keep_days: float, *, now: datetime | None = None) -> int:
    """Delete runs started more than ``keep_days`` ago with their checks and measurements; return how many.

    The schedules' last complete runs stay (the dead-man's switch must still see a schedule that stopped)."""
    cutoff = ((now or datetime.now(UTC)) - timedelta(days=keep_days)).astimezone(UTC).isoformat(timespec="seconds")
    with write(con):
        old = "SELECT run_id FROM runs WHERE started < ?"
        con.execute(f"DELETE FROM measurements WHERE run_id IN ({old})", (cutoff,))
        con.execute(f"DELETE FROM checks WHERE run_id IN ({old})", (cutoff,))
        return con.execute("DELETE FROM runs WHERE started < ?", (cutoff,)).rowcount


NO_ARCHIVE = "no run history: archiving is off ([reports] archive = false or --aide-no-archive)"


class History:
    """What checks read of the run history (the ``aide_history`` fixture): series of earlier complete runs.

    The database is opened on first use (importing the archive's older runs the very first time); the run in
    progress is recorded only when it ends, so every series is of runs before it."""

    def __init__(self, archive: Path | None) -> None:
        self.archive = archive
        self._con: sqlite3.Connection | None = None

    @property
    def available(self) -> bool:
        """False when the run is not archived: there is no history to read (:data:`NO_ARCHIVE` says so)."""
        return self.archive is not None

    def _connection(self) -> sqlite3.Connection | None:
        if self._con is None and self.archive is not None:
            with self._unreadable():
                con = connect(history_path(self.archive))
                try:
                    import_archive(con, self.archive)
                except BaseException:
                    con.close()
                    raise
            self._con = con
        return self._con

    @contextlib.contextmanager
    def _unreadable(self) -> Iterator[None]:
        """A history that cannot be read is a probe failure (the check is UNKNOWN), not a fact about the system."""
        try:
            yield
        except sqlite3.Error as exc:
            assert self.archive is not None
            raise ProbeError(f"run history {history_path(self.archive)}: {exc}") from None

    def series(self, name: str, last: int = 10, *, check: str | None = None) -> list[Sample]:
        """The newest ``last`` samples of measurement ``name`` (of check node id ``check`` only), oldest first."""
        con = self._connection()
        if con is None:
            return []
        with self._unreadable():
            return series(con, name, last=last, nodeid=check)

    def values(self, name: str, last: int = 10, *, check: str | None = None) -> list[float]:
        """The values of :meth:`series`, oldest first."""
        return [sample.value for sample in self.series(name, last, check=check)]

    def checks_measuring(self, name: str, last: int = 30) -> list[str]:
        """The node ids of the checks that recorded ``name`` in its newest ``last`` complete runs."""
        con = self._connection()
        if con is None:
            return []
        with self._unreadable():
            return measured_by(con, name, last=last)

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
