"""SQLite probe: the stdlib driver, a file opened read-only, and a deadline on every statement.

Read-only is the engine's job: the file is opened through a ``file:...?mode=ro`` URI (so a missing file is
never created and every write fails with SQLITE_READONLY), and the ATTACH limit is set to 0 so a statement
cannot open a second, writable file (``ATTACH``, ``VACUUM INTO``). Waiting for another connection's lock is
bounded by sqlite3's ``timeout``; a statement running too long is interrupted by a progress handler.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from urllib.parse import unquote

from pytest_aide.errors import ProbeError
from pytest_aide.probes.database import Database, Params, Row, one_line
from pytest_aide.redact import Redactor

_PROGRESS_STEPS = 1000  # VM instructions between deadline checks: cheap, and well under a millisecond


def sqlite_path(url: str, base_dir: Path | None = None) -> Path:
    """The file named by ``sqlite:///relative.db`` or ``sqlite:////absolute.db`` (percent-decoded)."""
    rest = url.split("://", 1)[1] if "://" in url else ""
    path_text = unquote(rest[1:].split("?", 1)[0]) if rest.startswith("/") else ""
    if not path_text or "\x00" in path_text:
        raise ProbeError(
            f"not a SQLite file URL: {one_line(repr(url), 120)}: use sqlite:///relative/path.db "
            "or sqlite:////absolute/path.db"
        )
    path = Path(path_text)
    return path if path.is_absolute() else (base_dir or Path.cwd()) / path


def open_sqlite(url: str, *, timeout: float, base_dir: Path | None, redactor: Redactor) -> SQLiteDatabase:
    """Open the file read-only and read its header, so a missing, locked or foreign file fails here."""
    path = sqlite_path(url, base_dir).absolute()
    conn = _connect(path, timeout)
    database = SQLiteDatabase(conn, path, display_url=redactor.redact(url), timeout=timeout, redactor=redactor)
    try:
        database.query("PRAGMA schema_version")
    except ProbeError:
        database.close()
        raise
    return database


def _connect(path: Path, timeout: float) -> sqlite3.Connection:
    try:
        # isolation_level=None: no implicit BEGIN, each statement is its own read transaction.
        return sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=timeout, isolation_level=None)
    except sqlite3.Error as exc:
        if not path.exists():
            raise ProbeError(f"database file not found: {path}") from None
        raise ProbeError(f"cannot open SQLite database {path}: {one_line(str(exc))}") from None


class SQLiteDatabase(Database):
    """A read-only connection to one SQLite file."""

    kind = "sqlite"
    _guarded = False  # the file is opened read-only and cannot ATTACH another: nothing reaches past it

    def __init__(
        self, conn: sqlite3.Connection, path: Path, *, display_url: str, timeout: float, redactor: Redactor
    ) -> None:
        super().__init__(display_url, timeout, redactor)
        self.path = path
        self._conn = conn
        self._deadline = 0.0
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        conn.set_progress_handler(self._past_deadline, _PROGRESS_STEPS)

    def size_bytes(self) -> int:
        """The file plus its ``-wal`` file: committed data not yet checkpointed lives there."""
        total = 0
        for file in (self.path, self.path.with_name(self.path.name + "-wal")):
            try:
                total += file.stat().st_size
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise self._error("cannot stat database file", exc) from None
        return total

    def active_connections(self) -> int | None:
        """None: SQLite is a file, it has no server that counts sessions."""
        return None

    def integrity(self) -> str:
        """``PRAGMA quick_check``: page and index structure, without the slow cross-checks of integrity_check."""
        problems = [str(row[0]) for row in self.query("PRAGMA quick_check")]
        return "ok" if problems == ["ok"] else "; ".join(problems)

    def close(self) -> None:
        self._conn.close()

    def _run(self, sql: str, params: Params) -> tuple[list[Row], float]:
        self._deadline = time.monotonic() + self.timeout
        start = time.perf_counter()
        try:
            rows = self._conn.execute(sql, tuple(params)).fetchall()
        except (sqlite3.Error, ValueError, OverflowError) as exc:
            raise self._query_error(sql, exc) from None
        return rows, time.perf_counter() - start

    def _table_exists(self, parts: tuple[str, ...]) -> bool:
        schema, table = parts if len(parts) == 2 else ("main", parts[0])
        sql = (
            f"SELECT 1 FROM {self._quote(schema)}.sqlite_master "
            "WHERE type IN ('table', 'view') AND name = ? COLLATE NOCASE"
        )
        return bool(self.query(sql, (table,)))

    def _past_deadline(self) -> int:
        """Progress handler: a non-zero answer makes SQLite abandon the statement (SQLITE_INTERRUPT)."""
        return int(time.monotonic() > self._deadline)

    def _query_error(self, sql: str, exc: Exception) -> ProbeError:
        name = getattr(exc, "sqlite_errorname", "")
        if name == "SQLITE_INTERRUPT":
            return self._error(f"query timed out after {self.timeout:g} s", self._sql_hint(sql))
        if name.startswith("SQLITE_BUSY") or "database is locked" in str(exc):
            return self._error(f"database is locked (waited {self.timeout:g} s)", exc)
        return self._error(f"query failed ({self._sql_hint(sql)})", exc)
