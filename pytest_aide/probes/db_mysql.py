"""MySQL / MariaDB probe (PyMySQL): every statement alone in a READ ONLY transaction, always rolled back.

How read-only is enforced by the server: before each call the session is set back to ``TRANSACTION READ
ONLY`` and a ``START TRANSACTION READ ONLY`` is opened, so DML and DDL alike fail with error 1792 (DDL would
otherwise commit implicitly and escape). PyMySQL refuses several statements in one string (no
MULTI_STATEMENTS flag), so a statement cannot end the transaction and write after it.

Timeouts: ``connect_timeout`` for the TCP connect, ``read_timeout``/``write_timeout`` on the socket (set to
:func:`~pytest_aide.probes.database.client_deadline`; they also bound the server greeting), and a server-side
statement limit: ``max_statement_time`` on MariaDB,
``max_execution_time`` (SELECT only) on MySQL.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

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
from pytest_aide.redact import Redactor, url_redactor

if TYPE_CHECKING:
    import pymysql

_UNKNOWN_VARIABLE = 1193
_READ_ONLY_VIOLATION = 1792
_STATEMENT_TIMEOUTS = {1969, 3024}  # MariaDB max_statement_time, MySQL max_execution_time
_LOST_CONNECTION = {2006, 2013}
# Global privileges a read-only transaction does not contain: FILE reads and writes the host's files (INTO
# OUTFILE, LOAD_FILE), SUPER changes the server (SET GLOBAL) and ALL includes both.
_PRIVILEGED = {"SUPER", "FILE", "ALL", "ALL PRIVILEGES"}


def mysql_params(url: str) -> dict[str, Any]:
    """PyMySQL keyword arguments from ``mysql://user:password@host:port/database`` (parts percent-decoded)."""
    parts = urlsplit(url)
    try:
        port = parts.port or 3306
    except ValueError:
        shown = one_line(url_redactor(url).redact(url), 120)
        raise ProbeError(f"invalid port in MySQL URL {shown} (percent-encode / @ : in a password)") from None
    if parts.query:
        raise ProbeError(f"MySQL URL parameters are not supported: ?{one_line(parts.query, 80)}")
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": port,
        "user": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else "",
        "database": unquote(parts.path.lstrip("/")) or None,
    }


def open_mysql(url: str, *, timeout: float, redactor: Redactor) -> MySQLDatabase:
    """Connect with bounded socket waits, then set the session read-only and the statement limit."""
    try:
        import pymysql
    except ImportError:
        raise missing_driver("MySQL/MariaDB", "mysql") from None
    display = redactor.redact(url)
    params = mysql_params(url)
    try:
        conn = pymysql.connect(
            **params,
            connect_timeout=timeout,
            read_timeout=client_deadline(timeout),
            write_timeout=client_deadline(timeout),
            autocommit=True,
            charset="utf8mb4",
        )
    except pymysql.MySQLError as exc:
        raise ProbeError(redactor.redact(_connect_message(display, exc, timeout))) from None
    database = MySQLDatabase(conn, display_url=display, timeout=timeout, redactor=redactor)
    try:
        database._limit_statements()
    except ProbeError:
        database.close()
        raise
    return database


def global_privileges(grant: str) -> set[str]:
    """The privileges a ``SHOW GRANTS`` line gives ``ON *.*`` (upper-case; empty for any other line).

    Read with the SQL tokenizer, so quoted names that contain ``ON`` or commas are not mistaken for syntax.
    """
    from pytest_aide.probes.sqlguard import lex

    leaves = [leaf for leaf in lex(grant) if not leaf.is_whitespace]
    values = [leaf.value for leaf in leaves]
    upper = [value.upper() for value in values]
    if not upper or upper[0] != "GRANT" or "ON" not in upper:
        return set()
    on = upper.index("ON")
    if "".join(values[on + 1 : on + 4]) != "*.*":
        return set()
    privileges: set[str] = set()
    words: list[str] = []
    for value in [*upper[1:on], ","]:
        if value == ",":
            privileges.add(" ".join(words))
            words = []
        else:
            words.append(value)
    return privileges - {""}


def monitoring_role_remedy(database: str | None) -> str:
    """The statements that create an account able to run every shipped check and nothing beyond reading."""
    scope = "`" + database.replace("`", "``") + "`.*" if database else "`your_database`.*"
    return (
        "create a monitoring account: CREATE USER 'aide_monitor'@'%' IDENTIFIED BY '...'; "
        f"GRANT SELECT, SHOW VIEW ON {scope} TO 'aide_monitor'@'%'; and use it in [db] url"
    )


def _connect_message(display: str, exc: Exception, timeout: float) -> str:
    code, message = _code_and_message(exc)
    if code in _LOST_CONNECTION and "timed out" in message:
        return f"cannot connect to {display}: no answer within {client_deadline(timeout):g} s"
    return f"cannot connect to {display}: {one_line(message)} (MySQL error {code})"


def _code_and_message(exc: Exception) -> tuple[int | None, str]:
    """PyMySQL errors carry ``(code, message)`` in ``args``; anything else is kept as text."""
    if len(exc.args) == 2 and isinstance(exc.args[0], int):
        return exc.args[0], str(exc.args[1])
    return None, str(exc)


class MySQLDatabase(Database):
    """A read-only session on one MySQL or MariaDB database."""

    kind = "mysql"
    _quote_char = "`"

    def __init__(
        self, conn: pymysql.connections.Connection[Any], *, display_url: str, timeout: float, redactor: Redactor
    ) -> None:
        super().__init__(display_url, timeout, redactor)
        self._conn = conn

    def _limit_statements(self) -> None:
        """Ask the server to abort statements running past the timeout (MariaDB first, then MySQL)."""
        try:
            self._execute_plain("SET SESSION max_statement_time = %s", (self.timeout,))
        except ProbeError as exc:
            if f"MySQL error {_UNKNOWN_VARIABLE}" not in str(exc):
                raise
            self._execute_plain("SET SESSION max_execution_time = %s", (max(1, round(self.timeout * 1000)),))

    def size_bytes(self) -> int:
        """Data plus index length of this database's tables, as ``information_schema`` reports them."""
        sql = (
            "SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables "
            "WHERE table_schema = DATABASE()"
        )
        return int(self.scalar(sql))

    def active_connections(self) -> int | None:
        """Client sessions on the whole server (``Threads_connected``): what counts against max_connections."""
        rows = self.query("SHOW GLOBAL STATUS LIKE 'Threads_connected'")
        return int(rows[0][1]) if rows else None

    def integrity(self) -> str:
        """``"ok"`` when ``information_schema`` answers: the server is up and its catalog is readable.

        It does not verify tables (``CHECK TABLE`` is slow and locks); a failure raises ProbeError.
        """
        self.scalar("SELECT COUNT(*) FROM information_schema.schemata")
        return "ok"

    def close(self) -> None:
        if self._conn.open:
            self._conn.close()

    def _detect_role(self) -> MonitoringRole:
        """The account's global privileges, those of its active roles (SHOW GRANTS lists them on MariaDB) and
        of every other role it may switch to; such a role whose grants it cannot read counts as privileged."""
        name = str(self._run("SELECT CURRENT_USER()", ())[0][0][0])
        grants = [str(row[0]) for row in self._run("SHOW GRANTS", ())[0]]
        unreadable: list[str] = []
        for role in self._inactive_roles():
            try:
                grants += [str(row[0]) for row in self._run("SHOW GRANTS FOR %s", (role,))[0]]
            except ProbeError:  # access denied to the mysql schema
                unreadable.append(role)
        found = set().union(*(global_privileges(line) for line in grants)) & _PRIVILEGED
        privileges = tuple(sorted({"ALL" if p == "ALL PRIVILEGES" else p for p in found}))
        shown: tuple[str, ...] = (f"granted {', '.join(privileges)} on *.*",) if privileges else ()
        shown += tuple(f"able to SET ROLE {role}, whose grants it cannot read" for role in unreadable)
        database = self._conn.db.decode() if isinstance(self._conn.db, bytes) else self._conn.db
        return MonitoringRole(name, shown, monitoring_role_remedy(database))

    def _inactive_roles(self) -> list[str]:
        """Roles granted to the account but not active in this session (none on servers without roles)."""
        sql = (
            "SELECT ROLE_NAME FROM information_schema.APPLICABLE_ROLES WHERE ROLE_NAME NOT IN "
            "(SELECT ROLE_NAME FROM information_schema.ENABLED_ROLES WHERE ROLE_NAME IS NOT NULL)"
        )
        try:
            return [str(row[0]) for row in self._run(sql, ())[0]]
        except ProbeError:  # MySQL before 8.0: no roles
            return []

    def _run(self, sql: str, params: Params) -> tuple[list[Row], float]:
        import pymysql

        if not self._conn.open:
            raise ProbeUnreachable(
                self._redactor.redact(f"query failed on {self.display_url}: the connection is closed")
            )
        try:
            with self._conn.cursor() as cursor:
                cursor.execute("SET SESSION TRANSACTION READ ONLY")
                cursor.execute("START TRANSACTION READ ONLY")
                try:
                    start = time.perf_counter()
                    # None, not (): with arguments PyMySQL %-formats the SQL, breaking a literal "%".
                    cursor.execute(sql, tuple(params) if params else None)
                    rows = [tuple(row) for row in cursor.fetchall()]
                    return rows, time.perf_counter() - start
                finally:
                    self._end_transaction(cursor)
        except (pymysql.MySQLError, ValueError, TypeError) as exc:
            raise self._query_error(sql, exc) from None

    def _execute_plain(self, sql: str, params: Params) -> None:
        """A session statement outside the read-only wrapper (SET of a session variable)."""
        import pymysql

        try:
            with self._conn.cursor() as cursor:
                cursor.execute(sql, tuple(params))
        except pymysql.MySQLError as exc:
            raise self._query_error(sql, exc) from None

    def _end_transaction(self, cursor: pymysql.cursors.Cursor) -> None:
        if self._conn.open:
            cursor.execute("ROLLBACK")

    def _table_exists(self, parts: tuple[str, ...]) -> bool:
        schema, table = parts if len(parts) == 2 else (None, parts[0])
        sql = (
            "SELECT COUNT(*) FROM information_schema.tables "
            "WHERE table_schema = COALESCE(%s, DATABASE()) AND table_name = %s"
        )
        return bool(self.scalar(sql, (schema, table)))

    def _query_error(self, sql: str, exc: Exception) -> ProbeError:
        code, message = _code_and_message(exc)
        hint = self._sql_hint(sql)
        if code in _STATEMENT_TIMEOUTS:
            return self._error(f"query timed out after {self.timeout:g} s", hint)
        if code in _LOST_CONNECTION and "timed out" in message:
            return self._error(f"no answer within {client_deadline(self.timeout):g} s", hint)
        suffix = f" (MySQL error {code})" if code is not None else ""
        return self._error(f"query failed ({hint})", f"{message}{suffix}")
