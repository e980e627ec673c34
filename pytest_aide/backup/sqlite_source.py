"""A consistent copy of a live SQLite database, and the content checks run on such copies.

SQLite's stepwise online backup restarts whenever another connection writes between two steps, so under a
busy writer it may never finish. We open a read transaction first (bounded by the busy timeout) and copy
all pages in ONE step inside it: the copy is exactly that snapshot, WAL content included, and it ends.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from pytest_aide.errors import BackupError

BUSY_TIMEOUT = 30.0  # seconds to wait for a writer to let us take the read lock
# Seconds a restore waits for other connections to let go of the target: an application that still holds it
# after that is running, and restoring under it would corrupt its view, so we refuse rather than wait.
RELEASE_TIMEOUT = 2.0


def _connect_existing(path: Path, timeout: float) -> sqlite3.Connection:
    """Open an existing database without ever creating one (a typo must not become an empty backup)."""
    if not path.is_file():
        raise BackupError(f"SQLite database {path} does not exist")
    try:
        return sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=timeout, isolation_level=None)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot open SQLite database {path}: {exc}") from exc


def snapshot(source: Path, dest: Path, *, timeout: float = BUSY_TIMEOUT) -> None:
    """Copy ``source`` as one snapshot into the new file ``dest`` (a temp file: compression follows)."""
    src = _connect_existing(source, timeout)
    try:
        dst = sqlite3.connect(dest, isolation_level=None)
        try:
            # The copy is scratch: only the compressed archive made from it must be durable (and is fsynced),
            # so neither a rollback journal nor fsyncs of this file buy anything.
            dst.execute("PRAGMA journal_mode=OFF")
            dst.execute("PRAGMA synchronous=OFF")
            src.execute("BEGIN")
            src.execute("SELECT count(*) FROM sqlite_master").fetchone()  # takes the read lock now
            src.backup(dst, pages=-1)
            src.execute("COMMIT")
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite backup of {source} failed: {exc}") from exc
    finally:
        src.close()


def summarize(path: Path) -> dict[str, Any]:
    """Tables and their row counts: what a restore is compared against."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {"tables": table_counts(conn)}
    except sqlite3.Error as exc:
        raise BackupError(f"cannot read SQLite database {path}: {exc}") from exc
    finally:
        conn.close()


def table_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Row count of every ordinary table (internal ``sqlite_*`` tables left out)."""
    names = [
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    return {name: conn.execute(f'SELECT count(*) FROM "{_quote(name)}"').fetchone()[0] for name in names}


def check(path: Path) -> tuple[list[str], dict[str, int]]:
    """``PRAGMA integrity_check`` problems and the table counts of a restored copy."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        problems = [] if rows == ["ok"] else [f"integrity_check: {'; '.join(rows[:3])}"]
        return problems, table_counts(conn)
    except sqlite3.Error as exc:
        return [f"not a readable SQLite database: {exc}"], {}
    finally:
        conn.close()


def compare_counts(expected: dict[str, Any], actual: dict[str, int]) -> list[str]:
    """Differences between the manifest's row counts and a restored copy's."""
    problems = []
    for table in sorted(set(expected) | set(actual)):
        want, got = expected.get(table), actual.get(table)
        if want != got:
            problems.append(f"table {table}: manifest says {want} rows, restored copy has {got}")
    return problems


def release_for_replace(target: Path, *, timeout: float = RELEASE_TIMEOUT) -> None:
    """Fold the WAL (and roll back any hot journal) so the main file alone holds the database.

    Needed before the file is replaced by rename: a leftover WAL would be replayed onto the new file.
    """
    conn = _connect_existing(target, timeout)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # rolls back a hot journal
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    except sqlite3.Error as exc:
        raise BackupError(f"cannot prepare {target} for restore: {exc}") from exc
    finally:
        conn.close()
    if busy:
        raise BackupError(
            f"{target} is in use by another process (WAL checkpoint blocked); stop the application before restoring"
        )


def _quote(name: str) -> str:
    return name.replace('"', '""')
