"""Alert state in the history database (``<archive>/history.sqlite3``): the ``alert_*`` tables.

The run tables of the same file belong to :mod:`pytest_aide.history`; this module creates and reads only its own
tables, each with ``CREATE TABLE IF NOT EXISTS``, so either side may open the file first. Overlapping runs (cron
jobs a few minutes apart) share it: WAL mode lets readers go on while one writes, ``busy_timeout`` makes a writer
wait for the other instead of failing, and every transaction is short — decide and claim (``BEGIN IMMEDIATE``,
so two runs never both claim one notification), then send with no transaction open, then undo a claim whose
sending failed.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from pytest_aide.alerts.messages import AlertEvent
from pytest_aide.alerts.state import RuleState
from pytest_aide.history import HISTORY_NAME, history_path, use_wal

FILE_NAME = HISTORY_NAME  # the run history's file: one database per archive (pytest_aide.history)
BUSY_TIMEOUT_S = 10.0
_DIGEST_MARK = "digest_mark"
KEEP_SENT_S = 30 * 86400.0  # digested events are kept a month (what went out, for an operator who asks)

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS alert_state (
        rule TEXT PRIMARY KEY,
        phase TEXT NOT NULL,
        failures INTEGER NOT NULL,
        successes INTEGER NOT NULL,
        since REAL,
        last_sent REAL,
        notified INTEGER NOT NULL,
        updated REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS alert_digest (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        queued REAL NOT NULL,
        event TEXT NOT NULL,
        sent REAL
    )""",
    "CREATE INDEX IF NOT EXISTS alert_digest_unsent ON alert_digest (sent)",
    "CREATE TABLE IF NOT EXISTS alert_meta (key TEXT PRIMARY KEY, value REAL NOT NULL)",
)


def database_path(archive: Path) -> Path:
    return history_path(archive)


class AlertStore:
    """The ``alert_*`` tables of one history database; use :meth:`transaction` for every read and write."""

    def __init__(self, path: Path, *, busy_timeout: float = BUSY_TIMEOUT_S) -> None:
        self.path = path
        self.busy_timeout = busy_timeout

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One short write transaction (``BEGIN IMMEDIATE``): committed at the end of the block, else rolled back."""
        connection = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        with closing(connection):
            connection.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            use_wal(connection, self.busy_timeout)
            connection.execute("BEGIN IMMEDIATE")
            try:
                for statement in _SCHEMA:
                    connection.execute(statement)
                yield Transaction(connection)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")


class Transaction:
    """The reads and writes of the alert tables, inside one open transaction."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection

    def states(self, rules: Iterable[str]) -> dict[str, RuleState]:
        """Each named rule's state (a rule never seen starts afresh)."""
        found: dict[str, RuleState] = {}
        for rule in rules:
            row = self._db.execute(
                "SELECT phase, failures, successes, since, last_sent, notified FROM alert_state WHERE rule = ?",
                (rule,),
            ).fetchone()
            found[rule] = (
                RuleState() if row is None else RuleState(row[0], row[1], row[2], row[3], row[4], bool(row[5]))
            )
        return found

    def save(self, rule: str, state: RuleState, now: float) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO alert_state (rule, phase, failures, successes, since, last_sent, notified, updated)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (rule, state.phase, state.failures, state.successes, state.since, state.last_sent, state.notified, now),
        )

    def undo_claim(self, rule: str, claimed: float, before: RuleState) -> None:
        """Give back a notification claimed at ``claimed`` that could not be sent (unless a later run moved on)."""
        self._db.execute(
            "UPDATE alert_state SET last_sent = ?, notified = ? WHERE rule = ? AND last_sent = ?",
            (before.last_sent, before.notified, rule, claimed),
        )

    def queue(self, event: AlertEvent, now: float) -> None:
        """Keep ``event`` for the next digest."""
        self._db.execute("INSERT INTO alert_digest (queued, event) VALUES (?, ?)", (now, json.dumps(event.to_dict())))

    def digest_mark(self) -> float | None:
        """When the last digest was taken (or digests started), in seconds since the epoch."""
        row = self._db.execute("SELECT value FROM alert_meta WHERE key = ?", (_DIGEST_MARK,)).fetchone()
        return None if row is None else float(row[0])

    def set_digest_mark(self, value: float) -> None:
        self._db.execute("INSERT OR REPLACE INTO alert_meta (key, value) VALUES (?, ?)", (_DIGEST_MARK, value))

    def take_digest(self, now: float) -> tuple[list[int], list[AlertEvent]]:
        """Claim every event waiting for a digest (oldest first): their ids and the events."""
        rows = self._db.execute("SELECT id, event FROM alert_digest WHERE sent IS NULL ORDER BY id").fetchall()
        ids = [row[0] for row in rows]
        self._db.executemany("UPDATE alert_digest SET sent = ? WHERE id = ?", [(now, i) for i in ids])
        self._db.execute("DELETE FROM alert_digest WHERE sent < ?", (now - KEEP_SENT_S,))
        return ids, [AlertEvent.from_dict(json.loads(row[1])) for row in rows]

    def undo_digest(self, ids: Iterable[int], claimed: float, mark_before: float | None) -> None:
        """Put back a digest claimed at ``claimed`` that could not be sent: the next run after this one tries again."""
        self._db.executemany(
            "UPDATE alert_digest SET sent = NULL WHERE id = ? AND sent = ?", [(i, claimed) for i in ids]
        )
        if mark_before is not None:
            self._db.execute(
                "UPDATE alert_meta SET value = ? WHERE key = ? AND value = ?", (mark_before, _DIGEST_MARK, claimed)
            )

    def waiting(self) -> int:
        """Events waiting for the next digest."""
        return int(self._db.execute("SELECT count(*) FROM alert_digest WHERE sent IS NULL").fetchone()[0])
