"""PostgreSQL probe (psycopg 3): every statement alone in a READ ONLY transaction, always rolled back.

How read-only is enforced by the server:

* the session starts with ``default_transaction_read_only=on`` and psycopg opens each transaction with
  ``BEGIN READ ONLY``;
* each call runs in pipeline mode, i.e. the extended protocol, which refuses several statements in one
  string (so ``COMMIT; SET ...; INSERT ...`` cannot leave the read-only transaction);
* the transaction is rolled back after each call, which also undoes any ``SET`` a statement made.

Timeouts: ``connect_timeout`` (libpq and psycopg never wait less than 2 s, whatever is asked),
``statement_timeout`` on the server, and a client-side deadline that cuts the socket if the server has not
answered by :func:`~pytest_aide.probes.database.client_deadline` (a hung server or a silent network).
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pytest_aide.errors import ProbeError, ProbeUnreachable
from pytest_aide.probes.database import (
    Database,
    MonitoringRole,
    Params,
    Row,
    client_deadline,
    missing_driver,
    one_line,
)
from pytest_aide.redact import Redactor

if TYPE_CHECKING:
    import psycopg

_MIN_CONNECT_TIMEOUT = 2  # libpq's floor for connect_timeout, which psycopg applies too
# The session's role: superuser, or a member (directly or not) of a superuser role or of the predefined roles
# that reach the host's programs and files. pg_has_role(..., 'MEMBER') counts NOINHERIT memberships too,
# since SET ROLE reaches them.
_ROLE_SQL = """
SELECT current_user::text, r.rolsuper,
       ARRAY(SELECT CASE WHEN g.rolsuper THEN 'a member of superuser role ' ELSE 'a member of ' END || g.rolname
             FROM pg_catalog.pg_roles g
             WHERE g.rolname <> current_user
               AND (g.rolsuper OR g.rolname IN
                    ('pg_execute_server_program', 'pg_write_server_files', 'pg_read_server_files'))
               AND pg_catalog.pg_has_role(current_user, g.oid, 'MEMBER')
             ORDER BY g.rolname)
FROM pg_catalog.pg_roles r WHERE r.rolname = current_user
"""

# pg_has_role(..., 'USAGE'): the privileges the session holds now (inherited), as pg_stat_activity checks them
_CONNECTIONS_SQL = """
SELECT CASE WHEN pg_catalog.pg_has_role('pg_read_all_stats', 'USAGE')
            THEN (SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE backend_type = 'client backend') END
"""


def open_postgres(url: str, *, timeout: float, redactor: Redactor) -> PostgresDatabase:
    """Connect with read-only defaults and the timeouts above; a failure says why, without the password."""
    try:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict, make_conninfo
    except ImportError:
        raise missing_driver("PostgreSQL", "postgres") from None
    display = redactor.redact(url)
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error as exc:
        raise ProbeError(redactor.redact(f"invalid PostgreSQL URL {display}: {one_line(str(exc))}")) from None
    params.update(_session_params(params, timeout))
    try:
        conn = psycopg.connect(make_conninfo("", **params))
    except psycopg.Error as exc:
        raise ProbeError(redactor.redact(_connect_message(display, exc, timeout))) from None
    conn.read_only = True
    return PostgresDatabase(conn, display_url=display, timeout=timeout, redactor=redactor)


def _session_params(params: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Connection parameters that make the session read-only and bounded, keeping the URL's own options."""
    statement_ms = max(1, round(timeout * 1000))
    options = f"{params.get('options') or ''} -c default_transaction_read_only=on -c statement_timeout={statement_ms}"
    return {
        "options": options.strip(),
        "connect_timeout": max(_MIN_CONNECT_TIMEOUT, math.ceil(timeout)),
        "application_name": params.get("application_name") or "pytest-aide",
    }


def _connect_message(display: str, exc: Exception, timeout: float) -> str:
    if type(exc).__name__ == "ConnectionTimeout":  # by name: the class only exists since psycopg 3.2
        waited = max(_MIN_CONNECT_TIMEOUT, math.ceil(timeout))
        return f"cannot connect to {display}: no answer within {waited} s"
    detail = str(exc).removeprefix("connection failed: ")
    return f"cannot connect to {display}: {one_line(detail)}"


@contextlib.contextmanager
def _hard_deadline(fd: int, seconds: float) -> Iterator[threading.Event]:
    """Shut the socket down if the block is still running after ``seconds``; the event says it happened.

    Shutting a socket down (unlike closing its descriptor) is safe from another thread: the blocked driver
    wakes up with "connection closed" instead of waiting forever.
    """
    fired = threading.Event()

    def cut() -> None:
        fired.set()
        # OSError: already closed by the peer, nothing left to wake up.
        with socket.socket(fileno=os.dup(fd)) as sock, contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(seconds, cut)
    timer.daemon = True
    timer.start()
    try:
        yield fired
    finally:
        timer.cancel()


class PostgresDatabase(Database):
    """A read-only session on one PostgreSQL database."""

    kind = "postgresql"

    def __init__(self, conn: psycopg.Connection[Row], *, display_url: str, timeout: float, redactor: Redactor) -> None:
        super().__init__(display_url, timeout, redactor)
        self._conn = conn

    def size_bytes(self) -> int:
        """``pg_database_size``: every file of this database, tables, indexes and TOAST included."""
        return int(self.scalar("SELECT pg_database_size(current_database())"))

    def active_connections(self) -> int | None:
        """Client sessions on the whole server: what counts against ``max_connections``.

        None (not recorded) for a role without ``pg_read_all_stats`` (``pg_monitor`` grants it): the server hides
        the ``backend_type`` of other roles' sessions from it, so it would count its own sessions only.
        """
        count = self.scalar(_CONNECTIONS_SQL)
        return None if count is None else int(count)

    def integrity(self) -> str:
        """``"ok"`` when the system catalog answers: the server is up and the database's catalog is readable.

        It does not verify data pages (that needs the amcheck extension and time); a failure raises ProbeError.
        """
        self.scalar("SELECT count(*) FROM pg_catalog.pg_class")
        return "ok"

    def close(self) -> None:
        self._conn.close()

    def _detect_role(self) -> MonitoringRole:
        rows, _seconds = self._run(_ROLE_SQL, ())
        if not rows:  # a role dropped while connected: nothing to judge it by
            raise self._error("cannot read the session's role", "current_user is not in pg_roles")
        name, superuser, memberships = rows[0]
        privileges = ("a superuser",) if superuser else tuple(memberships)
        return MonitoringRole(str(name), privileges, monitoring_role_remedy(self._conn.info.dbname))

    def _run(self, sql: str, params: Params) -> tuple[list[Row], float]:
        import psycopg

        if self._conn.closed:
            raise ProbeUnreachable(
                self._redactor.redact(f"query failed on {self.display_url}: the connection is closed")
            )
        try:
            with _hard_deadline(self._conn.fileno(), client_deadline(self.timeout)) as cut:
                try:
                    return self._execute(sql, params)
                finally:
                    self._end_transaction()
        except psycopg.Error as exc:
            raise self._query_error(sql, exc, cut.is_set()) from None

    def _execute(self, sql: str, params: Params) -> tuple[list[Row], float]:
        start = time.perf_counter()
        # Operators pass their own SQL on purpose (not a LiteralString): the server keeps it read-only.
        with self._conn.pipeline():
            # None, not (): with parameters psycopg parses placeholders, breaking a literal "%".
            cursor = self._conn.execute(sql, params or None)
        rows = cursor.fetchall() if cursor.description is not None else []
        return rows, time.perf_counter() - start

    def _end_transaction(self) -> None:
        import psycopg

        try:
            self._conn.rollback()
        except psycopg.Error:
            if not self._conn.closed:
                raise

    def _table_exists(self, parts: tuple[str, ...]) -> bool:
        qualified = ".".join(self._quote(part) for part in parts)
        return bool(self.scalar("SELECT to_regclass(%s) IS NOT NULL", (qualified,)))

    def _query_error(self, sql: str, exc: Exception, cut: bool) -> ProbeError:
        hint = self._sql_hint(sql)
        if cut:
            return self._error(f"no answer within {client_deadline(self.timeout):g} s", hint)
        if getattr(exc, "sqlstate", None) == "57014":  # query_canceled: our statement_timeout
            return self._error(f"query timed out after {self.timeout:g} s", hint)
        diag = getattr(exc, "diag", None)
        detail = getattr(diag, "message_primary", None) or str(exc)
        return self._error(f"query failed ({hint})", detail)


def monitoring_role_remedy(database: str) -> str:
    """The statements that create a role able to run every shipped check and nothing beyond reading."""
    quoted = '"' + database.replace('"', '""') + '"'
    return (
        "create a monitoring role: CREATE ROLE aide_monitor LOGIN PASSWORD '...'; "
        f"GRANT CONNECT ON DATABASE {quoted} TO aide_monitor; GRANT pg_monitor TO aide_monitor; "
        "GRANT USAGE ON SCHEMA public TO aide_monitor; "
        "GRANT SELECT ON ALL TABLES IN SCHEMA public TO aide_monitor; and use it in [db] url"
    )
