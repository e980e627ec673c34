"""MariaDB/MySQL through its own tools: ``mariadb-dump --single-transaction`` out, the ``mariadb`` client back.

``--single-transaction`` reads every InnoDB table in one consistent snapshot, which no second connection can
share: so the manifest's row counts are counted in the dump itself while it streams to the compressor
(:class:`RowCounter`). The password reaches the tools only through a 0600 option file passed with
``--defaults-extra-file`` (``MYSQL_PWD`` is deprecated in MySQL 8), never a command line, where ``ps`` shows
it to every user of the host. DDL commits in MySQL, so a restore loads a side database, checks its counts and
swaps it in with ONE multi-table ``RENAME TABLE`` (atomic on the server), the old tables kept in
``<db>_before_restore_<stamp>``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from pytest_aide.backup.sqlite_source import compare_counts
from pytest_aide.errors import BackupError
from pytest_aide.redact import redact_url

TIMEOUT = 3600.0  # seconds for one dump or load
CONNECT_TIMEOUT = 10
STATEMENT_TIMEOUT = 600  # socket read/write bound of one PyMySQL statement (a COUNT(*) of a big table)
SCHEMES = ("mysql://", "mariadb://")
_BLOCK = 1 << 20
_QUEUED_BLOCKS = 8  # dump read ahead of the compressor, at most
_MAX_NAME = 64  # MySQL's identifier limit
_LOCK_LINE = re.compile(rb"^LOCK TABLES `((?:[^`]|``)+)` WRITE;$", re.M)
_UNLOCK_LINE = b"UNLOCK TABLES;\n"  # only ever a line of its own: no data line ends so


@dataclass(frozen=True)
class Target:
    """Where a ``mysql://user:pw@host:port/db`` URL points; the password is left out of every repr."""

    host: str
    port: int
    user: str | None
    database: str
    password: str | None = field(default=None, repr=False)


def parse_url(url: str) -> Target:
    """Read ``mysql://`` / ``mariadb://`` URLs, the password in the userinfo or in ``?password=``."""
    shown = redact_url(url)
    if not url.startswith(SCHEMES):
        raise BackupError(f"not a MySQL URL (mysql:// or mariadb://): {shown}")
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(query) - {"password"})
    if unknown:
        raise BackupError(f"unsupported parameter {unknown[0]!r} in MySQL URL {shown} (accepted: password)")
    try:
        port = parts.port or 3306
    except ValueError:
        raise BackupError(f"invalid port in MySQL URL {shown} (percent-encode / @ : in a password)") from None
    database = unquote(parts.path.lstrip("/"))
    if not database or "/" in database:
        raise BackupError(f"no database in MySQL URL {shown} (name one: mysql://user@host/db)")
    password = unquote(parts.password) if parts.password is not None else query.get("password")
    user = unquote(parts.username) if parts.username else None
    return Target(parts.hostname or "localhost", port, user, database, password)


def quote_name(name: str) -> str:
    """A backquoted identifier (``a`b`` -> ```a``b```)."""
    return "`" + name.replace("`", "``") + "`"


_OPTION_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def _option_value(value: str) -> str:
    """A value for an option file: double-quoted (``#``, quotes and spaces kept), escaped as mysys reads it."""
    return '"' + value.translate(_OPTION_ESCAPES) + '"'


@contextmanager
def option_file(target: Target) -> Iterator[Path]:
    """A ``[client]`` option file readable by this user only, removed afterwards: the password's way in."""
    lines = ["[client]", f"host={_option_value(target.host)}", f"port={target.port}"]
    if target.user is not None:
        lines.append(f"user={_option_value(target.user)}")
    if target.password is not None:
        lines.append(f"password={_option_value(target.password)}")
    fd, name = tempfile.mkstemp(prefix="aide-my-", suffix=".cnf")  # created 0600
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write("\n".join(lines) + "\n")
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def client_tool(*names: str) -> str:
    """The first of ``names`` on PATH (``mariadb-dump`` before ``mysqldump``), or a one-line error."""
    for name in names:
        path = shutil.which(name)
        if path is not None:
            return path
    raise BackupError(f"{' or '.join(names)} not found on PATH; install the MariaDB client tools (mariadb-client)")


class RowCounter:
    """Counts the rows of each table in a dump as it streams by, without parsing SQL in Python.

    The dump tools write each table's data between ``LOCK TABLES `t` WRITE;`` and ``UNLOCK TABLES;`` lines
    (``--add-locks``), every row as one parenthesised tuple of literals; strings escape quotes and newlines,
    so a chunk of whole lines holds whole strings (see :func:`_rows`).
    """

    def __init__(self) -> None:
        self.tables: dict[str, int] = {}
        self._table: str | None = None
        self._quoted = b""
        self._per_line: bool | None = None  # this table's style, known from its first INSERT line
        self._pending = b""

    def feed(self, data: bytes) -> None:
        """Take the next bytes of the dump (any split); whole lines are read in place, without a copy."""
        first = data.find(b"\n") + 1
        if not first:
            self._pending += data
            return
        self._lines(self._pending + data[:first], 0, len(self._pending) + first)
        end = data.rfind(b"\n") + 1
        self._lines(data, first, end)
        self._pending = data[end:]

    def close(self) -> dict[str, int]:
        """The counts once the dump ended (a last line without newline is counted too)."""
        if self._pending:
            chunk = self._pending + b"\n"
            self._lines(chunk, 0, len(chunk))
            self._pending = b""
        return self.tables

    def _lines(self, chunk: bytes, pos: int, end: int) -> None:
        """Count the whole lines ``chunk[pos:end]``."""
        while pos < end:
            if self._table is None:
                found = _LOCK_LINE.search(chunk, pos, end)
                if found is None:
                    return
                self._table = found.group(1).decode("utf-8", "replace").replace("``", "`")
                self._quoted = found.group(0)[12:-7]  # `name`, as INSERT and ALTER TABLE lines write it
                self._per_line = None
                self.tables.setdefault(self._table, 0)
                pos = found.end()
                continue
            stop = chunk.find(_UNLOCK_LINE, pos, end)
            if self._per_line is None:
                header = b"INSERT INTO " + self._quoted + b" VALUES"
                found_at = chunk.find(header, pos, end)
                if found_at >= 0:  # no row comes before the first INSERT line
                    after = found_at + len(header)
                    self._per_line = chunk[after : after + 1] == b"\n"
            if self._per_line is not None:
                self.tables[self._table] += _rows(chunk, pos, end if stop < 0 else stop, self._quoted, self._per_line)
            if stop < 0:
                return
            self._table, pos = None, stop + len(_UNLOCK_LINE)


def _rows(chunk: bytes, pos: int, end: int, quoted: bytes, per_line: bool) -> int:
    """Tuples in the whole data lines ``chunk[pos:end]`` (``pos`` at a line start or its newline).

    mariadb-dump writes one row per line (``VALUES`` then a newline), each line opening with ``(``: no
    string holds a raw newline, so counting line starts is exact and runs at memory speed. mysqldump writes
    ``VALUES (..),(..)`` on one line: there ``(`` is counted outside strings, minus those of the table's name.
    """
    if per_line:  # a row line follows a row line or its INSERT line: long needles, found ~2x faster than "\n("
        return chunk.count(b"),\n(", pos, end) + chunk.count(b" VALUES\n(", pos, end) + chunk.startswith(b"(", pos)
    plain = chunk[pos:end].replace(b"\\\\", b"").replace(b"\\'", b"")
    outside = b"".join(plain.split(b"'")[::2])
    return outside.count(b"(") - outside.count(quoted) * quoted.count(b"(")


def dump_args(tool: str, options: Path, database: str) -> list[str]:
    """The dump command: consistent (InnoDB snapshot), with routines and triggers, no password."""
    return [
        tool,
        f"--defaults-extra-file={options}",  # must come first
        "--single-transaction",
        "--routines",
        "--triggers",
        "--add-locks",  # the markers RowCounter reads
        "--no-tablespaces",  # needs no PROCESS privilege
        "--default-character-set=utf8mb4",
        "--",
        database,
    ]


def dump(url: str, out: IO[bytes], *, timeout: float = TIMEOUT) -> dict[str, Any]:
    """Stream a dump of the database into ``out`` (the compressor); returns its per-table row counts."""
    target = parse_url(url)
    tool = client_tool("mariadb-dump", "mysqldump")
    counter = RowCounter()
    with option_file(target) as options, tempfile.TemporaryFile() as errors:
        args = dump_args(tool, options, target.database)
        with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=errors) as proc, _deadline(proc, timeout) as expired:
            assert proc.stdout is not None
            with contextlib.suppress(OSError):  # a 1 MiB pipe: fewer wake-ups of both sides (Linux only)
                fcntl.fcntl(proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, _BLOCK)
            with _writer_thread(out) as write:
                # Whole 1 MiB blocks (the buffered reader waits for them): mariadb-dump writes ~9 KB at a time,
                # and feeding each piece to the counter and the writer thread on its own (60,000 hand-offs for
                # 540 MB) cost 1.5 s of CPU, which on a machine busy with the dump and zstd was 1.2x the pipeline.
                while block := proc.stdout.read(_BLOCK):
                    counter.feed(block)
                    write(block)
            proc.wait()
        _check_exit(proc, errors, expired, f"{Path(tool).name} of {redact_url(url)}", timeout)
    return {"tables": counter.close()}


@contextmanager
def _writer_thread(out: IO[bytes]) -> Iterator[Callable[[bytes], None]]:
    """Blocks written to ``out`` by a thread of their own, so the pipe is read while zstd compresses.

    Written in line (measured with the in-process compressor), the compressor's waits stalled the reader, the
    full pipe stalled the dump, and the three ran in turn. A write error stops the dump.
    """
    blocks: queue.Queue[bytes | None] = queue.Queue(maxsize=_QUEUED_BLOCKS)
    failure: list[BaseException] = []

    def drain() -> None:
        while (block := blocks.get()) is not None:
            if not failure:
                try:
                    out.write(block)
                except BaseException as exc:  # handed to the reading thread, which raises it
                    failure.append(exc)

    def write(block: bytes) -> None:
        if failure:
            raise failure[0]
        blocks.put(block)

    thread = threading.Thread(target=drain, name="aide mysql dump writer", daemon=True)
    thread.start()
    try:
        yield write
    finally:
        blocks.put(None)
        thread.join()
    if failure:
        raise failure[0]


def load(url: str, database: str, dump_file: Path, *, timeout: float = TIMEOUT) -> None:
    """Replay ``dump_file`` into ``database`` on the server of ``url`` with the ``mariadb``/``mysql`` client."""
    target = parse_url(url)
    tool = client_tool("mariadb", "mysql")
    with option_file(target) as options, tempfile.TemporaryFile() as errors, open(dump_file, "rb") as stdin:
        args = [tool, f"--defaults-extra-file={options}", "--batch", f"--database={database}"]
        proc = subprocess.Popen(args, stdin=stdin, stdout=subprocess.DEVNULL, stderr=errors)
        with _deadline(proc, timeout) as expired:
            proc.wait()
        _check_exit(proc, errors, expired, f"loading {dump_file.name} into {database}", timeout)


@contextmanager
def _deadline(proc: subprocess.Popen[bytes], timeout: float) -> Iterator[threading.Event]:
    """Kill ``proc`` once ``timeout`` seconds pass (the event tells that it did); the process is reaped after."""
    expired = threading.Event()

    def kill() -> None:
        expired.set()
        proc.kill()

    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        yield expired
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _check_exit(
    proc: subprocess.Popen[bytes], errors: IO[bytes], expired: threading.Event, what: str, timeout: float
) -> None:
    if expired.is_set():
        raise BackupError(f"{what} timed out after {timeout:g} s")
    if proc.returncode != 0:
        errors.seek(0)
        text = errors.read(8192).decode("utf-8", "replace")
        raise BackupError(f"{what} failed: {_first_line(redact_url(text))}")


def connect(url: str, *, database: str | None = None) -> Any:
    """A PyMySQL connection (autocommit, bounded connect and socket waits); errors become one redacted line."""
    try:
        import pymysql
    except ImportError as exc:
        raise BackupError("MySQL backups need PyMySQL: pip install 'pytest-aide[mysql]'") from exc
    target = parse_url(url)
    try:
        return pymysql.connect(
            host=target.host,
            port=target.port,
            user=target.user,
            password=target.password or "",
            database=database,
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=STATEMENT_TIMEOUT,
            write_timeout=STATEMENT_TIMEOUT,
            autocommit=True,
            charset="utf8mb4",
        )
    except Exception as exc:  # pymysql.Error: reported in one line, never a traceback with the URL
        raise BackupError(f"cannot connect to {redact_url(url)}: {_first_line(str(exc))}") from exc


def query(conn: Any, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of one statement; server errors become one line."""
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args or None)
            return list(cur.fetchall())
    except Exception as exc:  # pymysql.Error
        raise BackupError(f"MySQL: {_first_line(str(exc))}") from exc


def base_tables(conn: Any, database: str) -> list[str]:
    """The tables of ``database`` (views and sequences left out)."""
    rows = query(
        conn,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND table_type = 'BASE TABLE'"
        " ORDER BY table_name",
        (database,),
    )
    return [str(row[0]) for row in rows]


def table_counts(conn: Any, database: str) -> dict[str, int]:
    """Row count of every table of ``database``."""
    db = quote_name(database)
    tables = base_tables(conn, database)
    return {t: int(query(conn, f"SELECT COUNT(*) FROM {db}.{quote_name(t)}")[0][0]) for t in tables}


def create_database(conn: Any, name: str, *, like: str | None = None) -> None:
    """``CREATE DATABASE name``, with the character set and collation of ``like`` when given."""
    options = ""
    if like is not None:
        found = query(
            conn,
            "SELECT default_character_set_name, default_collation_name FROM information_schema.schemata "
            "WHERE schema_name = %s",
            (like,),
        )
        if found:
            options = f" CHARACTER SET {found[0][0]} COLLATE {found[0][1]}"
    query(conn, f"CREATE DATABASE {quote_name(name)}{options}")


def drop_database(conn: Any, name: str) -> None:
    query(conn, f"DROP DATABASE IF EXISTS {quote_name(name)}")


def scratch_prefix(url: str) -> str:
    """``aide_scratch_<database>_``: the start of the scratch databases made for ``url``'s database (the
    database name cut to 24 characters of ``[A-Za-z0-9_]``, within MySQL's 64-character limit)."""
    source = re.sub(r"[^A-Za-z0-9_]", "", parse_url(url).database)[:24]
    return f"aide_scratch_{source}_"


@contextmanager
def scratch_database(url: str, prefix: str | None = None) -> Iterator[str]:
    """A new empty database on the server of ``url``, dropped afterwards (also on failure); yields its name.

    The name says whose it is (``aide_scratch_<database>_<random>``): one left by a killed verify is then
    recognisable, and runs for other databases on the same server are told apart."""
    name = (scratch_prefix(url) if prefix is None else f"{prefix}_") + uuid.uuid4().hex[:12]
    conn = connect(url)
    try:
        create_database(conn, name, like=parse_url(url).database)
        yield name
    finally:
        with contextlib.suppress(BackupError):
            drop_database(conn, name)
        conn.close()


def count_dump(url: str, dump_file: Path, *, timeout: float = TIMEOUT) -> dict[str, int]:
    """Load a dump into a scratch database and count its rows (verify's proof that the dump restores)."""
    with scratch_database(url) as name:
        load(url, name, dump_file, timeout=timeout)
        conn = connect(url)
        try:
            return table_counts(conn, name)
        finally:
            conn.close()


def kept_name(database: str, stamp: str) -> str:
    """``<db>_before_restore_<stamp>``, the database name cut to fit MySQL's 64 characters."""
    suffix = f"_before_restore_{stamp}"
    return database[: _MAX_NAME - len(suffix)] + suffix


def restore(url: str, dump_file: Path, expected: dict[str, int], stamp: str, *, timeout: float = TIMEOUT) -> str:
    """Load ``dump_file`` into a side database, check it, swap it in; returns the database keeping the old tables.

    Until the one ``RENAME TABLE`` runs, the target is not touched: a bad dump, a count mismatch or a kill
    leaves it as it was (and at most a side database, removed by the next restore).
    """
    target = parse_url(url).database
    side_prefix = f"{target[:30]}_aide_side"
    conn = connect(url)
    try:
        _drop_stale_sides(conn, side_prefix)
        with scratch_database(url, side_prefix) as side:
            load(url, side, dump_file, timeout=timeout)
            problems = compare_counts(expected, table_counts(conn, side))
            if problems:
                raise BackupError(f"restored copy does not match the manifest ({problems[0]}); {target} untouched")
            return _swap(conn, target, side, _free_name(conn, kept_name(target, stamp)))
    finally:
        conn.close()


def _swap(conn: Any, target: str, side: str, kept: str) -> str:
    """ONE ``RENAME TABLE``: the target's tables into ``kept``, the side's into the target."""
    triggers = query(
        conn, "SELECT COUNT(*) FROM information_schema.triggers WHERE event_object_schema IN (%s, %s)", (target, side)
    )
    if triggers[0][0]:
        raise BackupError(
            f"{target} has triggers, which RENAME TABLE cannot move between databases; restore it by hand "
            f"(decompress the dump, then `mariadb {target} < dump`); {target} untouched"
        )
    create_database(conn, kept, like=target)
    pairs = [(target, t, kept) for t in base_tables(conn, target)]
    pairs += [(side, t, target) for t in base_tables(conn, side)]
    renames = ", ".join(f"{quote_name(a)}.{quote_name(t)} TO {quote_name(b)}.{quote_name(t)}" for a, t, b in pairs)
    try:
        if renames:
            query(conn, f"RENAME TABLE {renames}")
    except BackupError:
        drop_database(conn, kept)
        raise
    return kept


def _free_name(conn: Any, name: str) -> str:
    """``name``, or ``name-2``, ``name-3``... when a restore in the same second already took it."""
    taken = {str(row[0]) for row in query(conn, "SELECT schema_name FROM information_schema.schemata")}
    candidate, number = name, 2
    while candidate in taken:
        candidate, number = f"{name[: _MAX_NAME - 4]}-{number}", number + 1
    return candidate


def _drop_stale_sides(conn: Any, prefix: str) -> None:
    """Side databases of killed restores of this target (the caller holds the exclusive restore lock)."""
    found = query(
        conn, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s", (_like(prefix) + "\\_%",)
    )
    for (name,) in found:
        drop_database(conn, str(name))


def _like(text: str) -> str:
    """``text`` matched literally by LIKE."""
    return text.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")


def kept_databases(url: str) -> list[tuple[str, int]]:
    """The ``<db>_before_restore_*`` databases of ``url``'s server, with their sizes in bytes."""
    database = parse_url(url).database
    pattern = _like(kept_name(database, "")) + "%"
    conn = connect(url)
    try:
        rows = query(
            conn,
            "SELECT s.schema_name, COALESCE(SUM(t.data_length + t.index_length), 0) FROM information_schema.schemata s"
            " LEFT JOIN information_schema.tables t ON t.table_schema = s.schema_name"
            " WHERE s.schema_name LIKE %s GROUP BY s.schema_name ORDER BY s.schema_name",
            (pattern,),
        )
    finally:
        conn.close()
    return [(str(name), int(size)) for name, size in rows]


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "no error output"
