"""The read-only database probes against real engines: a SQLite file, PostgreSQL and MariaDB on 127.0.0.1.

Each test builds its own data with a separate admin connection, then checks what the probe reports, that
the database refuses every write made through it, and that no failure hangs or leaks a password.
"""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import struct
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aide_testing import aide_run, latest_health
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import HANG_S, free_port, timed
from pytest_aide.errors import ProbeError
from pytest_aide.probes.database import Database, TableNotFound, open_database, table_name_parts
from pytest_aide.probes.db_sqlite import sqlite_path

SECRET = "s3cret-pw"
WRITES = ["INSERT INTO items (n) VALUES (4)", "UPDATE items SET n = 0", "DROP TABLE items"]


# --- helpers and fixtures -------------------------------------------------------------------------------


def _recv_exact(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("client went away")
        data += chunk
    return data


@pytest.fixture
def postgres_that_hangs_after_login() -> Iterator[int]:
    """A fake PostgreSQL server: it accepts the login (AuthenticationOk, ReadyForQuery), then goes silent."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    conns: list[socket.socket] = []

    def serve() -> None:
        conn = listener.accept()[0]
        conns.append(conn)
        while True:  # refuse SSL / GSS encryption requests until the real startup message
            length, code = struct.unpack("!ii", _recv_exact(conn, 8))
            _recv_exact(conn, length - 8)
            if code not in (80877103, 80877104):
                break
            conn.sendall(b"N")
        conn.sendall(b"R" + struct.pack("!ii", 8, 0) + b"Z" + struct.pack("!i", 5) + b"I")
        stop.wait()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join(timeout=2)
    for conn in conns:
        conn.close()
    listener.close()


def make_sqlite(path: Path, *, rows: int = 3) -> Path:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, n INTEGER)")
        conn.executemany("INSERT INTO items (n) VALUES (?)", [(i,) for i in range(rows)])
    conn.close()
    return path


def sqlite_items(path: Path) -> list[tuple[int, int]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT id, n FROM items ORDER BY id").fetchall()
    finally:
        conn.close()


def assert_one_line(err: pytest.ExceptionInfo[ProbeError]) -> str:
    message = str(err.value)
    assert "\n" not in message
    assert SECRET not in message
    return message


def assert_read_only(db: Database) -> None:
    """Every write, including attempts to leave the read-only transaction first, fails with ProbeError."""
    for sql in WRITES:
        with pytest.raises(ProbeError) as err:
            db.query(sql)
        assert_one_line(err)


# --- parsing and validation (no server) -------------------------------------------------------------------


@given(st.text(max_size=80))
def test_table_name_is_plain_identifiers_or_refused(name: str) -> None:
    try:
        parts = table_name_parts(name)
    except ProbeError as exc:
        message = str(exc)
    else:
        message = ""
    if message:
        assert "\n" not in message
        return
    assert ".".join(parts) == name
    assert len(parts) in (1, 2)
    assert all(p.isascii() and (p[0].isalpha() or p[0] == "_") and p.replace("_", "a").isalnum() for p in parts)


@pytest.mark.parametrize("name", ["users", "_t1", "public.users", "A" * 63])
def test_table_name_accepts_plain_names(name: str) -> None:
    assert ".".join(table_name_parts(name)) == name


@pytest.mark.parametrize(
    "name", ["", "a.b.c", 'x"; DROP TABLE items; --', "1abc", "a b", "tbl`", "é", "A" * 64, "items\n"]
)
def test_table_name_refuses_anything_needing_escapes(name: str) -> None:
    with pytest.raises(ProbeError, match="not a plain table name"):
        table_name_parts(name)


@given(st.text(max_size=40))
def test_sqlite_url_path_round_trips(text: str) -> None:
    base = Path("/srv/app")
    url = "sqlite:///" + quote(text, safe="/")
    if not text or "\x00" in text:
        with pytest.raises(ProbeError, match="not a SQLite file URL"):
            sqlite_path(url, base)
        return
    path = sqlite_path(url, base)
    assert path == (Path(text) if text.startswith("/") else base / text)


def test_sqlite_url_forms(tmp_path: Path) -> None:
    assert sqlite_path("sqlite:////var/db/app.db") == Path("/var/db/app.db")
    assert sqlite_path("sqlite:///data/app.db", tmp_path) == tmp_path / "data/app.db"
    assert sqlite_path("sqlite:///my%20app.db", tmp_path) == tmp_path / "my app.db"
    with pytest.raises(ProbeError, match="not a SQLite file URL"):
        sqlite_path("sqlite://app.db")


@pytest.mark.parametrize("url", ["redis://127.0.0.1/0", "http://x", "app.db", "oracle://u:s3cret-pw@h/db"])
def test_unsupported_scheme(url: str) -> None:
    with pytest.raises(ProbeError, match="unsupported database URL") as err:
        open_database(url)
    assert_one_line(err)


def test_timeout_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ProbeError, match="positive"):
        open_database("sqlite:///x.db", timeout=0, base_dir=tmp_path)


@pytest.mark.parametrize(
    ("module", "url", "extra"),
    [("psycopg", "postgresql://u@127.0.0.1/db", "postgres"), ("pymysql", "mysql://u@127.0.0.1/db", "mysql")],
)
def test_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch, module: str, url: str, extra: str) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes `import <module>` raise ImportError
    with pytest.raises(ProbeError) as err:
        open_database(url)
    assert str(err.value).endswith(f"support needs the '{extra}' extra: pip install 'pytest-aide[{extra}]'")


# --- SQLite ------------------------------------------------------------------------------------------------


def test_sqlite_measures(tmp_path: Path) -> None:
    path = make_sqlite(tmp_path / "app.db")
    with open_database("sqlite:///app.db", base_dir=tmp_path) as db:
        assert (db.kind, db.display_url) == ("sqlite", "sqlite:///app.db")
        seconds, took = timed(db.ping)
        assert 0 <= seconds <= took
        assert db.row_counts(["items", "main.items", "ITEMS"]) == {"items": 3, "main.items": 3, "ITEMS": 3}
        assert db.query("SELECT n FROM items WHERE n >= ? ORDER BY n", (1,)) == [(1,), (2,)]
        assert db.scalar("SELECT max(n) FROM items") == 2
        assert db.scalar("SELECT n FROM items WHERE n > 99") is None
        (rows, seconds), took = timed(lambda: db.timed_query("SELECT count(*) FROM items WHERE n LIKE '%'"))
        assert rows == [(3,)]
        assert 0 <= seconds <= took
        assert db.size_bytes() == path.stat().st_size
        assert db.active_connections() is None
        assert db.integrity() == "ok"


def test_sqlite_absolute_url(tmp_path: Path) -> None:
    path = make_sqlite(tmp_path / "abs.db")
    with open_database(f"sqlite:///{path}") as db:  # sqlite:////tmp/.../abs.db
        assert db.row_counts(["items"]) == {"items": 3}


def test_sqlite_size_includes_wal(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("PRAGMA wal_autocheckpoint=0")
        writer.execute("CREATE TABLE blobs (b BLOB)")
        writer.executemany("INSERT INTO blobs VALUES (?)", [(b"x" * 4000,)] * 20)
        wal = tmp_path / "wal.db-wal"
        with open_database(f"sqlite:///{path}") as db:
            assert wal.stat().st_size > 80_000
            assert db.size_bytes() == path.stat().st_size + wal.stat().st_size
            assert db.row_counts(["blobs"]) == {"blobs": 20}
    finally:
        writer.close()


def test_sqlite_refuses_writes(tmp_path: Path) -> None:
    path = make_sqlite(tmp_path / "app.db")
    before = sqlite_items(path)
    with open_database(f"sqlite:///{path}") as db:
        assert_read_only(db)
        for sql in ["ATTACH 'other.db' AS other", "VACUUM INTO 'copy.db'", "PRAGMA journal_mode=WAL"]:
            with pytest.raises(ProbeError):
                db.query(sql)
    assert sqlite_items(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]


def test_sqlite_missing_file_is_reported_and_not_created(tmp_path: Path) -> None:
    with pytest.raises(ProbeError) as err:
        open_database("sqlite:///missing/app.db", base_dir=tmp_path)
    assert assert_one_line(err) == f"database file not found: {tmp_path / 'missing/app.db'}"
    with pytest.raises(ProbeError, match="database file not found"):
        open_database("sqlite:///app.db", base_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_sqlite_foreign_file(tmp_path: Path) -> None:
    (tmp_path / "notes.db").write_text("not a database, just some text " * 20)
    with pytest.raises(ProbeError, match="file is not a database") as err:
        open_database("sqlite:///notes.db", base_dir=tmp_path)
    assert assert_one_line(err).endswith("file is not a database")


def test_sqlite_missing_table_is_named(tmp_path: Path) -> None:
    make_sqlite(tmp_path / "app.db")
    with open_database("sqlite:///app.db", base_dir=tmp_path) as db, pytest.raises(ProbeError) as err:
        db.row_counts(["items", "orders"])
    assert str(err.value) == "table orders not found in sqlite:///app.db"
    assert isinstance(err.value, TableNotFound)


def test_shipped_check_a_missing_key_table_is_critical(pytester: pytest.Pytester) -> None:
    """A key table that is gone is a finding (CRITICAL, the table named), not an unreadable target (UNKNOWN)."""
    make_sqlite(pytester.path / "app.db")
    (pytester.path / "aide.toml").write_text(
        '[db]\nurl = "sqlite:///app.db"\ntables = ["items", "orders"]\n[suite]\nenabled = true\n'
    )
    aide_run(pytester, "-k", "check_table_rows")
    checks = {c["nodeid"].split("::")[-1]: c for c in latest_health(pytester.path)["checks"]}
    assert checks["check_table_rows[items]"]["status"] == "OK"
    missing = checks["check_table_rows[orders]"]
    assert missing["status"] == "CRITICAL", missing
    assert missing["message"] == (
        "table orders not found in sqlite:///app.db: restore it from the newest verified backup, or correct [db] tables"
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(max_size=30))
def test_sqlite_row_counts_never_injects(tmp_path: Path, name: str) -> None:
    path = tmp_path / "app.db"
    if not path.exists():
        make_sqlite(path)
    with open_database(f"sqlite:///{path}") as db:
        try:
            counts = db.row_counts([name])
        except ProbeError:
            pass
        else:
            assert name.lower() in ("items", "main.items")
            assert counts == {name: 3}
    assert len(sqlite_items(path)) == 3


def test_sqlite_locked_database_fails_within_timeout(tmp_path: Path) -> None:
    path = make_sqlite(tmp_path / "app.db")
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        with open_database(f"sqlite:///{path}", timeout=0.5) as db:
            holder.execute("BEGIN EXCLUSIVE")
            start = time.monotonic()
            with pytest.raises(ProbeError, match=r"database is locked \(waited 0.5 s\)") as err:
                db.row_counts(["items"])
            assert 0.4 < time.monotonic() - start < HANG_S  # the message names the 0.5 s it waited
            assert_one_line(err)
        start = time.monotonic()
        with pytest.raises(ProbeError, match="database is locked"):
            open_database(f"sqlite:///{path}", timeout=0.5)
        assert 0.4 < time.monotonic() - start < 4  # its 0.5 s, not sqlite3's default 5 s
    finally:
        holder.close()


def test_sqlite_runaway_query_is_interrupted(tmp_path: Path) -> None:
    make_sqlite(tmp_path / "app.db")
    endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    with open_database("sqlite:///app.db", base_dir=tmp_path, timeout=0.3) as db:
        start = time.monotonic()
        with pytest.raises(ProbeError, match=r"query timed out after 0.3 s"):
            db.query(endless)
        assert time.monotonic() - start < HANG_S  # the query itself never ends
        assert db.scalar("SELECT count(*) FROM items") == 3  # the session is still usable


def test_sqlite_integrity_reports_problems(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "bad.db", isolation_level=None)
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES (NULL)")
    conn.execute("PRAGMA writable_schema=ON")  # declare NOT NULL after the fact: quick_check must notice
    conn.execute("UPDATE sqlite_master SET sql = 'CREATE TABLE t (x NOT NULL)' WHERE name = 't'")
    conn.close()
    with open_database("sqlite:///bad.db", base_dir=tmp_path) as db:
        assert db.integrity() == "NULL value in t.x"


def test_closed_session_is_closed(tmp_path: Path) -> None:
    make_sqlite(tmp_path / "app.db")
    db = open_database("sqlite:///app.db", base_dir=tmp_path)
    db.close()
    db.close()
    with pytest.raises(ProbeError):
        db.ping()


# --- PostgreSQL --------------------------------------------------------------------------------------------


@pytest.fixture
def pg_items(pg_database: str) -> str:
    """``pg_database`` with a table ``items`` of three rows."""
    import psycopg

    with psycopg.connect(pg_database, autocommit=True, connect_timeout=5) as conn:
        conn.execute("CREATE TABLE items (id serial PRIMARY KEY, n integer)")
        conn.execute("INSERT INTO items (n) VALUES (0), (1), (2)")
    return pg_database


def pg_items_rows(url: str) -> list[tuple[int, int]]:
    import psycopg

    with psycopg.connect(url, connect_timeout=5) as conn:
        return conn.execute("SELECT id, n FROM items ORDER BY id").fetchall()


def test_postgres_measures(pg_items: str) -> None:
    with open_database(pg_items) as db:
        assert (db.kind, db.display_url) == ("postgresql", pg_items)
        seconds, took = timed(db.ping)
        assert 0 <= seconds <= took
        assert db.row_counts(["items", "public.items"]) == {"items": 3, "public.items": 3}
        assert db.query("SELECT n FROM items WHERE n >= %s ORDER BY n", (1,)) == [(1,), (2,)]
        assert db.scalar("SELECT count(*) FROM items WHERE n::text LIKE '%'") == 3
        assert db.size_bytes() > 1_000_000  # an empty PostgreSQL database is several MB
        connections = db.active_connections()
        assert connections is not None
        assert connections >= 1
        assert db.integrity() == "ok"


def test_postgres_postgres_scheme_and_password_redacted(pg_items: str) -> None:
    url = pg_items.replace("postgresql://postgres@", f"postgres://postgres:{SECRET}@")  # trust auth ignores it
    with open_database(url) as db:
        assert SECRET not in db.display_url
        assert db.display_url.startswith("postgres://postgres:***@")
        assert db.row_counts(["items"]) == {"items": 3}


def test_postgres_refuses_writes(pg_items: str) -> None:
    before = pg_items_rows(pg_items)
    with open_database(pg_items) as db:
        assert_read_only(db)
        with pytest.raises(ProbeError, match="read-only transaction"):
            db.query("INSERT INTO items (n) VALUES (4)")
        with pytest.raises(ProbeError, match="multiple commands"):  # cannot commit out of the transaction
            db.query("COMMIT; SET default_transaction_read_only = off; INSERT INTO items (n) VALUES (5)")
        db.query("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE")  # rolled back with its transaction
        db.query("SET default_transaction_read_only = off")
        with pytest.raises(ProbeError, match="read-only transaction"):
            db.query("DELETE FROM items")
    assert pg_items_rows(pg_items) == before


def test_postgres_missing_table_is_named(pg_items: str) -> None:
    with open_database(pg_items) as db, pytest.raises(ProbeError, match=r"^table orders not found in "):
        db.row_counts(["items", "orders"])


def test_postgres_statement_timeout(pg_items: str) -> None:
    with open_database(pg_items, timeout=0.5) as db:
        start = time.monotonic()
        with pytest.raises(ProbeError, match=r"query timed out after 0.5 s on .*: SELECT pg_sleep\(60\)"):
            db.query("SELECT pg_sleep(60)")
        assert time.monotonic() - start < HANG_S  # the query itself takes a minute
        assert db.scalar("SELECT count(*) FROM items") == 3


def test_postgres_silent_listener_is_bounded(silent_port: int) -> None:
    start = time.monotonic()
    with pytest.raises(ProbeError, match=r"cannot connect to .*: no answer within 2 s") as err:
        open_database(f"postgresql://postgres:{SECRET}@127.0.0.1:{silent_port}/db", timeout=0.5)
    assert time.monotonic() - start < HANG_S  # libpq never waits less than 2 s to connect; the server, forever
    assert_one_line(err)


def test_postgres_server_hanging_mid_session_is_cut(postgres_that_hangs_after_login: int) -> None:
    url = f"postgresql://postgres@127.0.0.1:{postgres_that_hangs_after_login}/db"
    with open_database(url, timeout=0.3) as db:
        start = time.monotonic()
        with pytest.raises(ProbeError, match=r"no answer within 0.6 s on .*: SELECT 1"):
            db.ping()
        assert time.monotonic() - start < HANG_S  # the server never answers


@pytest.mark.usefixtures("pg_database")  # makes sure PostgreSQL runs
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"postgresql://aide_nobody:{SECRET}@127.0.0.1:5432/test", 'role "aide_nobody" does not exist'),
        (f"postgresql://postgres:{SECRET}@127.0.0.1:5432/aide_no_such_db", 'database "aide_no_such_db" does not'),
        (f"postgresql://postgres:{SECRET}@127.0.0.1:{free_port()}/test", "Connection refused"),
        (f"postgresql://postgres:{SECRET}@aide-no-such-host.invalid/test", "failed to resolve host"),
        (f"postgresql://postgres:{SECRET}/@127.0.0.1:5432/test", "failed to resolve host 'postgres'"),
    ],
    ids=["unknown-user", "unknown-database", "refused", "unresolvable", "unencoded-password"],
)
def test_postgres_connect_errors(url: str, expected: str) -> None:
    with pytest.raises(ProbeError) as err:
        open_database(url, timeout=2)
    message = assert_one_line(err)
    assert message.startswith("cannot connect to postgresql://")
    assert ":***@" in message
    assert expected in message


# --- MySQL / MariaDB ---------------------------------------------------------------------------------------


@pytest.fixture
def mysql_items(mysql_database: str) -> str:
    """``mysql_database`` with a table ``items`` of three rows."""
    with _mysql_admin(mysql_database) as cur:
        cur.execute("CREATE TABLE items (id INT AUTO_INCREMENT PRIMARY KEY, n INT)")
        cur.execute("INSERT INTO items (n) VALUES (0), (1), (2)")
    return mysql_database


@contextlib.contextmanager
def _mysql_admin(url: str) -> Iterator[Any]:
    """A read-write admin cursor on the test's database."""
    import pymysql

    conn = pymysql.connect(
        host="127.0.0.1",
        user="root",
        password="",
        database=url.rsplit("/", 1)[1],
        autocommit=True,
        connect_timeout=5,
        read_timeout=10,
        ssl_disabled=True,
    )
    try:
        with conn.cursor() as cursor:
            yield cursor
    finally:
        conn.close()


def mysql_items_rows(url: str) -> list[tuple[int, int]]:
    with _mysql_admin(url) as cur:
        cur.execute("SELECT id, n FROM items ORDER BY id")
        return [tuple(row) for row in cur.fetchall()]


def test_mysql_measures(mysql_items: str) -> None:
    with open_database(mysql_items) as db:
        assert (db.kind, db.display_url) == ("mysql", mysql_items)
        seconds, took = timed(db.ping)
        assert 0 <= seconds <= took
        schema = mysql_items.rsplit("/", 1)[1]
        assert db.row_counts(["items", f"{schema}.items"]) == {"items": 3, f"{schema}.items": 3}
        assert db.query("SELECT n FROM items WHERE n >= %s ORDER BY n", (1,)) == [(1,), (2,)]
        assert db.scalar("SELECT COUNT(*) FROM items WHERE n LIKE '%'") == 3
        assert db.size_bytes() > 0
        connections = db.active_connections()
        assert connections is not None
        assert connections >= 1
        assert db.integrity() == "ok"


def test_mysql_mariadb_scheme(mysql_items: str) -> None:
    with open_database(mysql_items.replace("mysql://", "mariadb://")) as db:
        assert db.kind == "mysql"
        assert db.row_counts(["items"]) == {"items": 3}


def test_mysql_refuses_writes(mysql_items: str) -> None:
    before = mysql_items_rows(mysql_items)
    with open_database(mysql_items) as db:
        assert_read_only(db)
        with pytest.raises(ProbeError, match="READ ONLY transaction"):
            db.query("CREATE TABLE other (x INT)")  # DDL would commit implicitly: refused before that
        with pytest.raises(ProbeError, match="SQL syntax"):  # one statement per call
            db.query("COMMIT; INSERT INTO items (n) VALUES (5)")
        db.query("SET SESSION TRANSACTION READ WRITE")  # reset to READ ONLY before the next call
        with pytest.raises(ProbeError, match="READ ONLY transaction"):
            db.query("DROP TABLE items")
    assert mysql_items_rows(mysql_items) == before


def test_mysql_missing_table_is_named(mysql_items: str) -> None:
    with open_database(mysql_items) as db, pytest.raises(ProbeError, match=r"^table orders not found in "):
        db.row_counts(["orders"])


def test_mysql_statement_timeout(mysql_items: str) -> None:
    with open_database(mysql_items, timeout=0.5) as db:
        start = time.monotonic()
        with pytest.raises(ProbeError, match=r"query timed out after 0.5 s on .*: SELECT SLEEP\(60\)"):
            db.query("SELECT SLEEP(60)")
        assert time.monotonic() - start < HANG_S  # the query itself takes a minute
        assert db.scalar("SELECT COUNT(*) FROM items") == 3


def test_mysql_silent_listener_is_bounded(silent_port: int) -> None:
    start = time.monotonic()
    with pytest.raises(ProbeError, match=r"cannot connect to .*: no answer within 0.6 s") as err:
        open_database(f"mysql://root:{SECRET}@127.0.0.1:{silent_port}/db", timeout=0.3)
    assert time.monotonic() - start < HANG_S  # the server never answers
    assert_one_line(err)


@pytest.mark.usefixtures("mysql_database")  # makes sure MariaDB runs
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"mysql://aide_nobody:{SECRET}@127.0.0.1:3306/test", "Access denied for user 'aide_nobody'"),
        (f"mysql://root:{quote(SECRET + '/@', safe='')}@127.0.0.1:3306/test", "Access denied for user 'root'"),
        ("mysql://root@127.0.0.1:3306/aide_no_such_db", "Unknown database 'aide_no_such_db' (MySQL error 1049)"),
        (f"mysql://root:{SECRET}@127.0.0.1:{free_port()}/test", "Connection refused"),
        (f"mysql://root:{SECRET}@aide-no-such-host.invalid/test", "Name or service not known"),
    ],
    ids=["unknown-user", "wrong-password", "unknown-database", "refused", "unresolvable"],
)
def test_mysql_connect_errors(url: str, expected: str) -> None:
    with pytest.raises(ProbeError) as err:
        open_database(url, timeout=2)
    message = assert_one_line(err)
    assert message.startswith("cannot connect to mysql://")
    assert expected in message


def test_mysql_unencoded_password_is_not_echoed() -> None:
    with pytest.raises(ProbeError, match="invalid port in MySQL URL") as err:
        open_database(f"mysql://root:{SECRET}/x@127.0.0.1:3306/test")
    assert assert_one_line(err).endswith("(percent-encode / @ : in a password)")
