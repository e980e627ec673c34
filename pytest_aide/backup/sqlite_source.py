"""A consistent copy of a live SQLite database, and the content checks run on such copies.

SQLite's stepwise online backup restarts whenever another connection writes between two steps, so under a
busy writer it may never finish. We open a read transaction first (bounded by the busy timeout) and copy
all pages in ONE step inside it: the copy is exactly that snapshot, WAL content included, and it ends.
"""

from __future__ import annotations

import os
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


def release_for_replace(target: Path, *, timeout: float = RELEASE_TIMEOUT) -> bool:
    """Fold the WAL (and roll back any hot journal) so the main file alone holds the database.

    Needed before the file is replaced by rename: a leftover WAL would be replayed onto the new file. A
    target too damaged to open as a database (the very case a restore is for) has nothing to fold: it is
    refused only while another process holds a lock on it. Returns whether the target was damaged.
    """
    conn = _connect_existing(target, timeout)
    damaged = False
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # rolls back a hot journal
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    except sqlite3.OperationalError as exc:
        raise BackupError(f"cannot prepare {target} for restore: {exc}") from exc
    except sqlite3.DatabaseError:  # "file is not a database", "malformed": damaged, restore over it
        damaged, busy = True, 0
    finally:
        conn.close()
    holders = lock_holders(target) if damaged else []  # asked once our own connection is closed
    if holders:
        raise BackupError(
            f"{target} is damaged and in use by another process (pid {holders[0]} holds a lock on it); "
            "stop the application before restoring"
        )
    if busy:
        raise BackupError(
            f"{target} is in use by another process (WAL checkpoint blocked); stop the application before restoring"
        )
    return damaged


def lock_holders(target: Path) -> list[int]:
    """Pids holding a POSIX or OFD lock on ``target`` or its ``-wal``/``-shm`` (Linux ``/proc/locks``).

    Every open SQLite connection in WAL mode holds one on the ``-shm``; this needs no readable database.
    """
    wanted = set()
    for path in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
        try:
            st = path.stat()
        except OSError:
            continue
        wanted.add((os.major(st.st_dev), os.minor(st.st_dev), st.st_ino))
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return []
    holders = []
    for line in lines:
        fields = line.split()
        if len(fields) < 6 or fields[1] == "->":  # "->" lines are waiters, not holders
            continue
        try:
            major, minor, inode = fields[5].split(":")
            key = (int(major, 16), int(minor, 16), int(inode))
            pid = int(fields[4])
        except ValueError:
            continue
        if key in wanted:
            holders.append(pid)
    return holders


def _quote(name: str) -> str:
    return name.replace('"', '""')
