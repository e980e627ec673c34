"""Monitoring roles on the real servers (PostgreSQL 127.0.0.1:5432, MariaDB 127.0.0.1:3306).

A read-only transaction is no sandbox for a privileged role: these tests first show that the server really
runs a shell command or writes a file from inside one (so the marker checks below can fail), then that the
probe detects the role, refuses the database checks unless ``[db] allow_privileged_role`` says otherwise, that
the guard rail refuses the escaping statements unsent even when the role is allowed, and that an unprivileged
role made the way the remedy says runs every check normally.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from aide_testing import aide_run, latest_health

from conftest import MYSQL_HOST, PG_ADMIN_URL, unique_name
from pytest_aide.errors import ProbeError
from pytest_aide.probes.database import open_database

REMEDY_PG = "CREATE ROLE aide_monitor LOGIN"
REMEDY_MYSQL = "CREATE USER 'aide_monitor'@'%'"


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder the database servers (other users) may write in: where a marker would appear."""
    path = Path(tempfile.mkdtemp(prefix="aide_marker_"))
    path.chmod(0o777)
    yield path
    for child in path.iterdir():
        child.unlink()
    path.rmdir()


@pytest.fixture
def pg_items(pg_database: str) -> str:
    import psycopg

    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE items (n int)")
        conn.execute("INSERT INTO items VALUES (1), (2), (3)")
    return pg_database


@pytest.fixture
def mysql_items(mysql_database: str) -> str:
    import pymysql

    from pytest_aide.probes.db_mysql import mysql_params

    conn = pymysql.connect(**mysql_params(mysql_database), autocommit=True, ssl_disabled=True)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE items (n INT)")
        cur.execute("INSERT INTO items VALUES (1), (2), (3)")
    conn.close()
    return mysql_database


def _pg_rows(url: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM items").fetchone()
    assert row is not None
    return int(row[0])


def _mysql_rows(url: str) -> int:
    import pymysql

    from pytest_aide.probes.db_mysql import mysql_params

    conn = pymysql.connect(**mysql_params(url), ssl_disabled=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM items")
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def _database_checks(pytester: pytest.Pytester, url: str, extra: str = "") -> dict[str, dict[str, str]]:
    """Run the shipped database checks against ``url``; each check's status and message by name."""
    (pytester.path / "aide.toml").write_text(
        f'[db]\nurl = "{url}"\ntables = ["items"]\n{extra}\n[reports]\narchive = true\n[suite]\nenabled = true\n'
    )
    aide_run(pytester, "-k", "check_database")
    health = latest_health(pytester.path)
    return {c["nodeid"].split("::")[-1]: {"status": c["status"], "message": c["message"]} for c in health["checks"]}


# --- the threat is real: a read-only transaction does not stop it --------------------------------------------


def test_postgres_read_only_transaction_does_not_stop_a_superuser(pg_items: str, shared_dir: Path) -> None:
    """The control for the marker assertions below: done directly with psycopg, the command runs."""
    import psycopg

    marker = shared_dir / "control"
    with psycopg.connect(pg_items) as conn:
        conn.read_only = True
        conn.execute(f"COPY (SELECT 1) TO PROGRAM 'cat >/dev/null; touch {marker}'")  # reads its input: no EPIPE
        conn.rollback()
    assert marker.exists()


def test_mysql_read_only_transaction_does_not_stop_file_privilege(mysql_items: str, shared_dir: Path) -> None:
    import pymysql

    from pytest_aide.probes.db_mysql import mysql_params

    marker = shared_dir / "control"
    conn = pymysql.connect(**mysql_params(mysql_items), ssl_disabled=True)
    try:
        with conn.cursor() as cur:
            cur.execute("START TRANSACTION READ ONLY")
            cur.execute(f"SELECT 'x' INTO OUTFILE '{marker}'")
            cur.execute("ROLLBACK")
    finally:
        conn.close()
    assert marker.exists()


# --- PostgreSQL -------------------------------------------------------------------------------------------


def test_postgres_superuser_is_detected_and_refused(pg_items: str, shared_dir: Path) -> None:
    marker = shared_dir / "refused"
    with open_database(pg_items, allow_privileged=False) as db:
        assert db.role is not None
        assert (db.role.name, db.role.privileges) == ("postgres", ("a superuser",))
        for attempt in (db.ping, db.size_bytes, lambda: db.query(f"COPY (SELECT 1) TO PROGRAM 'touch {marker}'")):
            with pytest.raises(ProbeError) as err:
                attempt()
            message = str(err.value)
            assert "database checks refused" in message
            assert "role postgres is a superuser" in message
            assert REMEDY_PG in message
            assert "GRANT pg_monitor TO aide_monitor" in message
            assert "allow_privileged_role = true" in message
    assert not marker.exists()
    assert _pg_rows(pg_items) == 3


@pytest.mark.parametrize(
    "statement",
    [
        "COPY (SELECT 1) TO PROGRAM 'touch {marker}'",
        "copy/**/(select 1)/**/to/**/program/**/'touch {marker}'",
        "COPY items TO '{marker}'",
        "SELECT lo_export(lo_from_bytea(0, 'x'), '{marker}')",
        "SELECT \"lo_export\"(1, '{marker}')",
        "DO $$ BEGIN EXECUTE 'COPY (SELECT 1) TO PROGRAM ''touch {marker}'''; END $$",
        "SELECT 1 # lo_export(1, '{marker}')",
    ],
)
def test_postgres_guard_refuses_escapes_even_when_the_role_is_allowed(
    pg_items: str, shared_dir: Path, statement: str
) -> None:
    marker = shared_dir / "escaped"
    with open_database(pg_items, allow_privileged=True) as db:
        with pytest.raises(ProbeError, match="refused before it reached the server"):
            db.query(statement.format(marker=marker))
        assert db.scalar("SELECT count(*) FROM items") == 3  # the session still works
    assert not marker.exists()
    assert _pg_rows(pg_items) == 3


@pytest.fixture
def pg_role(pg_items: str) -> Iterator[tuple[str, str]]:
    """A login role with what the remedy grants; yields (its name, the database URL as that role)."""
    import psycopg

    name = unique_name("aide_mon")
    database = pg_items.rsplit("/", 1)[1]
    with psycopg.connect(pg_items, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {name} LOGIN")
        conn.execute(f'GRANT CONNECT ON DATABASE "{database}" TO {name}')
        conn.execute(f"GRANT pg_monitor TO {name}")
        conn.execute(f"GRANT USAGE ON SCHEMA public TO {name}")
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {name}")
    try:
        yield name, pg_items.replace("postgres@", f"{name}@")
    finally:
        with psycopg.connect(pg_items, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {name}")
            conn.execute(f"DROP ROLE {name}")


def test_postgres_member_of_pg_execute_server_program_is_privileged(pg_role: tuple[str, str], shared_dir: Path) -> None:
    import psycopg

    name, url = pg_role
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"GRANT pg_execute_server_program TO {name}")
    marker = shared_dir / "member"
    with psycopg.connect(url) as conn:  # the control: such a member runs programs from a read-only transaction
        conn.read_only = True
        conn.execute(f"COPY (SELECT 1) TO PROGRAM 'cat >/dev/null; touch {marker}'")  # reads its input: no EPIPE
        conn.rollback()
    assert marker.exists()
    marker.unlink()
    with open_database(url, allow_privileged=False) as db:
        assert db.role is not None
        assert db.role.privileges == ("a member of pg_execute_server_program",)
        with pytest.raises(ProbeError, match="database checks refused"):
            db.query(f"COPY (SELECT 1) TO PROGRAM 'touch {marker}'")
    assert not marker.exists()


def test_postgres_monitoring_role_runs_every_check(pytester: pytest.Pytester, pg_role: tuple[str, str]) -> None:
    name, url = pg_role
    with open_database(url, allow_privileged=False) as db:
        assert db.role is not None
        assert db.role.name == name
        assert not db.role.privileged
    checks = _database_checks(pytester, url)
    assert {check: result["status"] for check, result in checks.items()} == {
        "check_db_reachable": "OK",
        "check_table_rows[items]": "OK",
        "check_db_size": "OK",
        "check_db_integrity": "OK",
        "check_db_role": "OK",
    }


def test_postgres_connection_count_sees_every_session_or_is_not_recorded(pg_role: tuple[str, str]) -> None:
    """Without pg_read_all_stats (pg_monitor grants it) pg_stat_activity hides other roles' backend_type, so
    counting client backends would count only the role's own sessions: the count is then not recorded."""
    import psycopg

    name, url = pg_role
    with psycopg.connect(PG_ADMIN_URL, connect_timeout=5):  # another role's session, open throughout
        with open_database(url) as db:
            connections = db.active_connections()
            assert connections is not None
            assert connections >= 2  # this session and the admin's
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"REVOKE pg_monitor FROM {name}")
        with open_database(url) as db:
            assert db.active_connections() is None  # not 1 (its own session only)
            assert db.size_bytes() > 0  # the rest needs nothing more


def test_postgres_superuser_checks_unknown_and_role_warning(pytester: pytest.Pytester, pg_items: str) -> None:
    checks = _database_checks(pytester, pg_items)
    for check in ("check_db_reachable", "check_table_rows[items]", "check_db_size", "check_db_integrity"):
        assert checks[check]["status"] == "UNKNOWN", check
        assert "database checks refused" in checks[check]["message"]
        assert REMEDY_PG in checks[check]["message"]
    assert checks["check_db_role"]["status"] == "WARNING"
    assert "role postgres is a superuser" in checks["check_db_role"]["message"]
    assert REMEDY_PG in checks["check_db_role"]["message"]


def test_postgres_superuser_allowed_by_the_operator_still_warns(pytester: pytest.Pytester, pg_items: str) -> None:
    checks = _database_checks(pytester, pg_items, "allow_privileged_role = true")
    assert {check: result["status"] for check, result in checks.items()} == {
        "check_db_reachable": "OK",
        "check_table_rows[items]": "OK",
        "check_db_size": "OK",
        "check_db_integrity": "OK",
        "check_db_role": "WARNING",
    }
    assert REMEDY_PG in checks["check_db_role"]["message"]


# --- MySQL / MariaDB --------------------------------------------------------------------------------------


@pytest.fixture
def mysql_account(mysql_items: str) -> Iterator[tuple[str, str]]:
    """An account with what the remedy grants; yields (its name, the database URL as that account)."""
    import pymysql

    from pytest_aide.probes.db_mysql import mysql_params

    name = unique_name("aide_mon")
    database = mysql_items.rsplit("/", 1)[1]
    conn = pymysql.connect(**mysql_params(mysql_items), autocommit=True, ssl_disabled=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE USER '{name}'@'%' IDENTIFIED BY 'pw-{name}'")
            cur.execute(f"GRANT SELECT, SHOW VIEW ON `{database}`.* TO '{name}'@'%'")
        yield name, f"mysql://{name}:pw-{name}@{MYSQL_HOST}:3306/{database}"
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{name}'@'%'")
            cur.execute(f"DROP ROLE IF EXISTS {name}_r")
        conn.close()


def test_mysql_root_is_detected_and_refused(mysql_items: str, shared_dir: Path) -> None:
    marker = shared_dir / "refused"
    with open_database(mysql_items, allow_privileged=False) as db:
        assert db.role is not None
        assert db.role.privileges == ("granted ALL on *.*",)
        with pytest.raises(ProbeError) as err:
            db.query(f"SELECT 'x' INTO OUTFILE '{marker}'")
        assert "database checks refused" in str(err.value)
        assert REMEDY_MYSQL in str(err.value)
    assert not marker.exists()


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT 'x' INTO OUTFILE '{marker}'",
        "SELECT 'x' /*! INTO OUTFILE '{marker}' */",
        "select 'x' into/**/dumpfile '{marker}'",
        "SELECT 1--1 INTO OUTFILE '{marker}'",
        "SELECT LOAD_FILE('/etc/hostname') INTO OUTFILE '{marker}'",
        "SET GLOBAL max_connections = 777",
    ],
)
def test_mysql_guard_refuses_escapes_even_when_the_account_is_allowed(
    mysql_items: str, shared_dir: Path, statement: str
) -> None:
    marker = shared_dir / "escaped"
    with open_database(mysql_items, allow_privileged=True) as db:
        before = db.scalar("SELECT @@global.max_connections")
        with pytest.raises(ProbeError, match="refused before it reached the server"):
            db.query(statement.format(marker=marker))
        assert db.scalar("SELECT @@global.max_connections") == before
    assert not marker.exists()
    assert _mysql_rows(mysql_items) == 3


@pytest.mark.parametrize(
    ("default_role", "privilege"),
    [(True, "granted FILE on *.*"), (False, "able to SET ROLE {name}_r, whose grants it cannot read")],
    ids=["active-role", "inactive-role"],
)
def test_mysql_file_privilege_through_a_role_is_found(
    mysql_account: tuple[str, str], default_role: bool, privilege: str
) -> None:
    """FILE granted to a role of the account: its default role (active), or one it may switch to."""
    import pymysql

    name, url = mysql_account
    conn = pymysql.connect(host=MYSQL_HOST, port=3306, user="root", password="", autocommit=True, ssl_disabled=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE ROLE {name}_r")
            cur.execute(f"GRANT FILE ON *.* TO {name}_r")
            cur.execute(f"GRANT {name}_r TO '{name}'@'%'")
            if default_role:
                cur.execute(f"SET DEFAULT ROLE {name}_r FOR '{name}'@'%'")
    finally:
        conn.close()
    with open_database(url, allow_privileged=False) as db:
        assert db.role is not None
        assert db.role.privileges == (privilege.format(name=name),)
        with pytest.raises(ProbeError, match="database checks refused"):
            db.ping()


def test_mysql_monitoring_account_runs_every_check(pytester: pytest.Pytester, mysql_account: tuple[str, str]) -> None:
    name, url = mysql_account
    with open_database(url, allow_privileged=False) as db:
        assert db.role is not None
        assert db.role.name == f"{name}@%"
        assert not db.role.privileged
    checks = _database_checks(pytester, url)
    assert {check: result["status"] for check, result in checks.items()} == {
        "check_db_reachable": "OK",
        "check_table_rows[items]": "OK",
        "check_db_size": "OK",
        "check_db_integrity": "OK",
        "check_db_role": "OK",
    }
    assert f"pw-{name}" not in str(checks)


def test_mysql_root_checks_unknown_and_role_warning(pytester: pytest.Pytester, mysql_items: str) -> None:
    checks = _database_checks(pytester, mysql_items)
    for check in ("check_db_reachable", "check_table_rows[items]", "check_db_size", "check_db_integrity"):
        assert checks[check]["status"] == "UNKNOWN", check
        assert REMEDY_MYSQL in checks[check]["message"]
    assert checks["check_db_role"]["status"] == "WARNING"
    assert "granted ALL on *.*" in checks["check_db_role"]["message"]


def test_sqlite_has_no_role_to_judge(pytester: pytest.Pytester) -> None:
    import sqlite3

    with sqlite3.connect(pytester.path / "app.db") as conn:
        conn.execute("CREATE TABLE items (n)")
    conn.close()
    checks = _database_checks(pytester, "sqlite:///app.db")
    assert checks["check_db_role"]["status"] == "SKIPPED"
    assert checks["check_db_reachable"]["status"] == "OK"
    assert os.path.exists(pytester.path / "app.db")
