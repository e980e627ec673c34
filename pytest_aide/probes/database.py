"""Read-only database probes: one entry point, :func:`open_database`, and one class per engine.

The probe answers an operator's questions about a database (does it answer, how fast, how many rows in the
key tables, how big is it, is it intact) without ever being able to change it. Read-only is enforced by the
database itself: SQLite is opened with ``mode=ro``, PostgreSQL and MySQL/MariaDB run every statement alone in
a ``READ ONLY`` transaction that is rolled back afterwards. Each engine module (``db_sqlite``, ``db_postgres``,
``db_mysql``) explains the details, and imports its driver only when used.

A read-only transaction is no sandbox for a privileged role (a PostgreSQL superuser runs shell commands with
``COPY … TO PROGRAM`` inside one), so a server session knows its :class:`MonitoringRole`; opened with
``allow_privileged=False`` (the ``aide_db`` fixture, unless ``[db] allow_privileged_role = true``) it refuses
every statement when that role is privileged. Besides, statements that escape a read-only transaction are
refused before they are sent (:mod:`pytest_aide.probes.sqlguard`): a guard rail, not the guarantee.

Every failure is a :class:`~pytest_aide.errors.ProbeError` with a one-line message that names the
(redacted) database URL and what failed.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, ParamSpec, TypeVar

from pytest_aide.errors import ProbeError
from pytest_aide.probes.closing import ClosesOnExit
from pytest_aide.redact import Redactor, url_redactor

if TYPE_CHECKING:
    from pytest_aide.dependencies import Dependency

Row = tuple[Any, ...]
Params = Sequence[Any]
T = TypeVar("T")
P = ParamSpec("P")

# Plain ASCII identifiers only: table names end up inside SQL text (they cannot be bound parameters), so
# anything that would need escaping is refused instead. 63 is PostgreSQL's limit, the smallest of the three.
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_SCHEMES = {
    "sqlite": "sqlite",
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
}
_MAX_DETAIL = 300  # characters of a driver message kept in a ProbeError: one readable line


def one_line(text: str, limit: int = _MAX_DETAIL) -> str:
    """Collapse driver messages (often multi-line, with a caret under the SQL) into one short line."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def client_deadline(timeout: float) -> float:
    """How long the client waits for a statement: the server's own limit plus a grace (up to 1 s) so the
    server's clearer "statement timeout" error normally arrives before the client gives up."""
    return timeout + min(1.0, timeout)


def missing_driver(engine: str, extra: str) -> ProbeError:
    """The error for an engine whose optional driver is not installed, with the command that fixes it."""
    return ProbeError(f"{engine} support needs the '{extra}' extra: pip install 'pytest-aide[{extra}]'")


class TableNotFound(ProbeError):
    """A key table the database does not have (dropped, renamed, or misnamed in ``[db] tables``): a finding
    about the target, unlike a table the role may not read (``permission denied``, a plain ProbeError)."""


def table_name_parts(name: str) -> tuple[str, ...]:
    """Split ``table`` or ``schema.table`` into identifiers, refusing anything that would need escaping."""
    parts = tuple(name.split("."))
    if len(parts) > 2 or not all(_IDENTIFIER.fullmatch(part) for part in parts):
        raise ProbeError(
            f"not a plain table name (ASCII letters, digits and _, optionally schema.table): {one_line(repr(name), 80)}"
        )
    return parts


@dataclass(frozen=True)
class MonitoringRole:
    """Who a server session runs as, and which of its rights a read-only transaction does not contain."""

    name: str
    privileges: tuple[str, ...]  # e.g. "a superuser", "a member of pg_execute_server_program", "FILE"
    remedy: str  # what to do instead: the statements that create a monitoring role

    @property
    def privileged(self) -> bool:
        return bool(self.privileges)

    def describe(self) -> str:
        """``role postgres is a superuser``: one phrase for messages."""
        return f"role {self.name} is {', '.join(self.privileges) or 'unprivileged'}"


class Database(ClosesOnExit, ABC):
    """A read-only session on one database; use it as a context manager so it is always closed.

    Subclasses run one statement per call (``_run``) and know their catalog; everything an operator calls
    that is the same on every engine lives here.
    """

    kind: ClassVar[str]
    _quote_char: ClassVar[str] = '"'
    _guarded: ClassVar[bool] = True  # statements pass the sqlguard before they are sent

    def __init__(self, display_url: str, timeout: float, redactor: Redactor) -> None:
        self.display_url = display_url
        self.timeout = timeout
        self._redactor = redactor
        # False: every statement is refused while the role is privileged (open_database sets it).
        self.allow_privileged = True
        self._role: MonitoringRole | None = None
        # The database's circuit (the aide_db fixture sets it): every statement goes through it, so a server
        # that stops answering costs the first statements a timeout each and the rest fail at once.
        self.dependency: Dependency | None = None

    @property
    def role(self) -> MonitoringRole | None:
        """The session's role, read from the server once (None for SQLite, which has no roles)."""
        if self._role is None:
            self._role = self._through_circuit(self._detect_role)
        return self._role

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.display_url}>"

    def query(self, sql: str, params: Params = ()) -> list[Row]:
        """Rows of one statement; a write is refused by the database and raised as ProbeError."""
        return self._checked_run(sql, params)[0]

    def scalar(self, sql: str, params: Params = ()) -> Any:
        """First column of the first row, or None when the statement returns no row."""
        rows = self.query(sql, params)
        return rows[0][0] if rows and rows[0] else None

    def timed_query(self, sql: str) -> tuple[list[Row], float]:
        """Rows and the seconds the statement took (session set-up and rollback excluded)."""
        return self._checked_run(sql, ())

    def ping(self) -> float:
        """Seconds for ``SELECT 1``: the round trip an operator compares with the response-time threshold."""
        return self._checked_run("SELECT 1", ())[1]

    def row_counts(self, tables: Iterable[str]) -> dict[str, int]:
        """``COUNT(*)`` of each table; names are exact (quoted) and a missing table is a TableNotFound naming it."""
        counts: dict[str, int] = {}
        for name in tables:
            parts = table_name_parts(name)
            if not self._table_exists(parts):
                raise TableNotFound(f"table {name} not found in {self.display_url}")
            quoted = ".".join(self._quote(part) for part in parts)
            counts[name] = int(self.scalar(f"SELECT COUNT(*) FROM {quoted}"))
        return counts

    @abstractmethod
    def size_bytes(self) -> int:
        """Size of the database on disk, in bytes."""

    @abstractmethod
    def active_connections(self) -> int | None:
        """Client sessions open on the server, or None where the engine has no such notion."""

    @abstractmethod
    def integrity(self) -> str:
        """``"ok"``, or the problems found, in one string."""

    @abstractmethod
    def close(self) -> None:
        """End the session; calling it twice is harmless."""

    @abstractmethod
    def _run(self, sql: str, params: Params) -> tuple[list[Row], float]:
        """Run one statement read-only; return its rows and the seconds it took, or raise ProbeError."""

    @abstractmethod
    def _table_exists(self, parts: tuple[str, ...]) -> bool:
        """Whether the catalog knows this (already validated) table or view."""

    def _detect_role(self) -> MonitoringRole | None:
        """Ask the server who this session is and what it may do (engines with roles override it)."""
        return None

    def _checked_run(self, sql: str, params: Params) -> tuple[list[Row], float]:
        """``_run`` behind the two refusals: a privileged role not allowed, and a statement that escapes."""
        if not self.allow_privileged:
            role = self.role
            if role is not None and role.privileged:
                raise ProbeError(self._redactor.redact(refusal_message(self.display_url, role)))
        if self._guarded:
            from pytest_aide.probes.sqlguard import escape_reason

            reason = escape_reason(sql)
            if reason:
                what = f"statement refused before it reached the server ({self._sql_hint(sql)})"
                raise self._error(what, f"{reason}; a read-only transaction does not stop that")
        return self._through_circuit(self._run, sql, params)

    def _through_circuit(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """A round trip to the server, through the database's circuit when it has one."""
        if self.dependency is None:
            return fn(*args, **kwargs)
        return self.dependency.call(fn, *args, **kwargs)

    def _quote(self, identifier: str) -> str:
        return f"{self._quote_char}{identifier}{self._quote_char}"

    def _error(self, what: str, detail: object) -> ProbeError:
        """A one-line, secret-free ProbeError: ``<what> on <url>: <detail>``."""
        return ProbeError(self._redactor.redact(f"{what} on {self.display_url}: {one_line(str(detail))}"))

    def _sql_hint(self, sql: str) -> str:
        """The start of a statement, so an operator sees which of their queries failed."""
        return one_line(sql, 60)


def refusal_message(display_url: str, role: MonitoringRole) -> str:
    """Why database checks do not run as a privileged role, and the way out (one line, whole remedy kept)."""
    return (
        f"database checks refused on {display_url}: {role.describe()}, and a read-only transaction does not "
        f"stop such a role from running shell commands or reading and writing files on the database host; "
        f"{role.remedy}; "
        "or accept the risk with [db] allow_privileged_role = true"
    )


def open_database(
    url: str, *, timeout: float = 5.0, base_dir: Path | None = None, allow_privileged: bool = True
) -> Database:
    """Open a read-only session; the URL scheme picks the engine and its (lazily imported) driver.

    ``timeout`` bounds connecting, waiting for locks and each statement. ``base_dir`` anchors relative SQLite
    paths (``sqlite:///data/app.db``); without it they are relative to the current directory. With
    ``allow_privileged=False`` the session's role is read on first use and, when privileged, every statement
    is refused with :func:`refusal_message` (the session stays open, so :attr:`Database.role` can be reported).
    """
    database = _open(url, timeout=timeout, base_dir=base_dir)
    database.allow_privileged = allow_privileged
    return database


def unsupported_url(url: str) -> str | None:
    """Why ``url`` names no database this module can open (its password masked), or None: the configuration
    is checked with this at load time, and :func:`open_database` says the same."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in _SCHEMES:
        return None
    display = url_redactor(url).redact(url)
    return (
        f"unsupported database URL {one_line(display, 120)}: expected sqlite:///, postgresql://, "
        "postgres://, mysql:// or mariadb://"
    )


def _open(url: str, *, timeout: float, base_dir: Path | None) -> Database:
    redactor = url_redactor(url)
    display = redactor.redact(url)
    if not timeout > 0:
        raise ProbeError(f"database timeout must be a positive number of seconds, got {timeout!r}")
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    kind = _SCHEMES.get(scheme)
    if kind == "sqlite":
        from pytest_aide.probes.db_sqlite import open_sqlite

        return open_sqlite(url, timeout=timeout, base_dir=base_dir, redactor=redactor)
    if kind == "postgresql":
        from pytest_aide.probes.db_postgres import open_postgres

        return open_postgres(url, timeout=timeout, redactor=redactor)
    if kind == "mysql":
        from pytest_aide.probes.db_mysql import open_mysql

        return open_mysql(url, timeout=timeout, redactor=redactor)
    raise ProbeError(unsupported_url(url) or f"unsupported database URL {one_line(display, 120)}")
