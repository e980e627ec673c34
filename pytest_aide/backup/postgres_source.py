"""PostgreSQL through its own tools: ``pg_dump --format=custom`` out, ``pg_restore`` back.

The row counts in the manifest are taken inside the very snapshot pg_dump exports (``--snapshot``), so they
match the dump exactly even while the application writes. Passwords travel in ``PGPASSWORD``, never on a
command line (visible in ``ps``) nor in any message.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pytest_aide.errors import BackupError
from pytest_aide.redact import redact_url

TIMEOUT = 3600.0  # seconds for one pg_dump / pg_restore run
CONNECT_TIMEOUT = 10
_COUNT_SQL = """SELECT schemaname, tablename FROM pg_tables
                WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"""


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:
        raise BackupError("PostgreSQL backups need psycopg: pip install 'pytest-aide[postgres]'") from exc
    return psycopg


def connect(url: str, **kwargs: Any) -> Any:
    """A psycopg connection with a connect timeout; errors become one redacted line."""
    try:
        return _psycopg().connect(url, connect_timeout=CONNECT_TIMEOUT, **kwargs)
    except Exception as exc:  # psycopg.Error and friends: reported, never a traceback with the URL
        raise BackupError(f"cannot connect to {redact_url(url)}: {_first_line(str(exc))}") from exc


def tool_env(url: str) -> tuple[str, dict[str, str]]:
    """A connection string without its password, and an environment carrying the password in PGPASSWORD.

    Every libpq form is read by libpq's own rules (psycopg's parser): ``postgresql://user:pw@host``,
    ``postgresql://user@host?password=pw`` and ``host=... password=pw``; the password never reaches a
    command line, where ``ps`` shows it to every user of the host.
    """
    conninfo = _psycopg_conninfo()
    try:
        params = conninfo.conninfo_to_dict(url)
    except Exception as exc:  # psycopg.ProgrammingError: its message would quote the string, password included
        raise BackupError(f"not a valid PostgreSQL connection string: {redact_url(url)}") from exc
    env = dict(os.environ)
    password = params.pop("password", None)
    if password:
        env["PGPASSWORD"] = str(password)
    return conninfo.make_conninfo(**params), env


def with_dbname(url: str, dbname: str) -> str:
    """The same connection in another database (any libpq form in, a key=value string out)."""
    return str(_psycopg_conninfo().make_conninfo(url, dbname=dbname))


def _psycopg_conninfo() -> Any:
    _psycopg()  # the friendly error when psycopg is missing
    from psycopg import conninfo

    return conninfo


def run_tool(args: list[str], url: str, *, timeout: float = TIMEOUT) -> str:
    """Run a PostgreSQL client tool bounded by ``timeout``; returns stdout or raises a one-line error."""
    tool = args[0]
    if shutil.which(tool) is None:
        raise BackupError(f"{tool} not found on PATH; install the PostgreSQL client tools (postgresql-client)")
    bare_url, env = tool_env(url)
    try:
        done = subprocess.run(
            [*args, f"--dbname={bare_url}", "--no-password"],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BackupError(f"{tool} on {redact_url(url)} timed out after {timeout:g} s") from exc
    if done.returncode != 0:
        raise BackupError(f"{tool} on {redact_url(url)} failed: {_first_line(redact_url(done.stderr))}")
    return done.stdout


def check_versions(url: str, conn: Any) -> None:
    """pg_dump older than the server refuses to dump it: say so before trying."""
    tool_major = tool_version("pg_dump")
    server_major = int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000
    if tool_major < server_major:
        raise BackupError(
            f"pg_dump {tool_major} is older than the server {redact_url(url)} "
            f"({server_major}); install postgresql-client-{server_major}"
        )


def tool_version(tool: str) -> int:
    """Major version of a PostgreSQL client tool (``pg_dump (PostgreSQL) 15.4`` -> 15)."""
    if shutil.which(tool) is None:
        raise BackupError(f"{tool} not found on PATH; install the PostgreSQL client tools (postgresql-client)")
    try:
        out = subprocess.run([tool, "--version"], capture_output=True, text=True, timeout=30, check=True).stdout
    except (subprocess.SubprocessError, OSError) as exc:
        raise BackupError(f"cannot run {tool} --version: {exc}") from exc
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    if match is None:
        raise BackupError(f"cannot read the version of {tool} from {out.strip()!r}")
    return int(match.group(1))


def table_counts(conn: Any) -> dict[str, int]:
    """Row count of every user table, keyed ``schema.table``."""
    counts = {}
    for schema, table in conn.execute(_COUNT_SQL).fetchall():
        quoted = f'"{schema.replace(chr(34), chr(34) * 2)}"."{table.replace(chr(34), chr(34) * 2)}"'
        counts[f"{schema}.{table}"] = int(conn.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0])
    return counts


def dump(url: str, dest: Path, *, timeout: float = TIMEOUT) -> dict[str, Any]:
    """pg_dump the database into ``dest`` (custom format, uncompressed: zstd follows); returns the summary."""
    with connect(url) as conn:
        check_versions(url, conn)
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        counts = table_counts(conn)
        run_tool(
            ["pg_dump", "--format=custom", "--compress=0", f"--snapshot={snapshot}", f"--file={dest}"],
            url,
            timeout=timeout,
        )
        conn.execute("COMMIT")
    return {"tables": counts}


def count_url(url: str) -> dict[str, int]:
    """Row counts of the database at ``url``."""
    with connect(url, autocommit=True) as conn:
        return table_counts(conn)


def list_archive(dump_file: Path, *, timeout: float = TIMEOUT) -> int:
    """``pg_restore --list`` of a dump: proves the archive is readable; returns its number of entries."""
    try:
        done = subprocess.run(
            ["pg_restore", "--list", str(dump_file)], capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError as exc:
        raise BackupError("pg_restore not found on PATH; install the PostgreSQL client tools") from exc
    except subprocess.TimeoutExpired as exc:
        raise BackupError(f"pg_restore --list {dump_file.name} timed out after {timeout:g} s") from exc
    if done.returncode != 0:
        raise BackupError(f"pg_restore --list {dump_file.name} failed: {_first_line(done.stderr)}")
    return sum(1 for line in done.stdout.splitlines() if line and not line.startswith(";"))


def restore_into(url: str, dump_file: Path, *, clean: bool, timeout: float = TIMEOUT) -> None:
    """pg_restore in ONE transaction: a failure or a kill leaves the database as it was.

    ``clean`` (restoring over the live database) drops and recreates the dumped objects, owners and grants
    included; otherwise (a scratch copy) ownership and grants are skipped, as their roles may not exist.
    """
    args = ["pg_restore", "--single-transaction", "--exit-on-error"]
    args += ["--clean", "--if-exists"] if clean else ["--no-owner", "--no-privileges"]
    run_tool([*args, str(dump_file)], url, timeout=timeout)


def scratch_prefix(url: str) -> str:
    """``aide_scratch_<database>_``: the start of the scratch databases made for ``url``'s database (its name cut
    to 24 characters of ``[A-Za-z0-9_]``), so one left by a killed verify says whose it was."""
    dbname = str(_psycopg_conninfo().conninfo_to_dict(url).get("dbname") or "")
    return f"aide_scratch_{re.sub(r'[^A-Za-z0-9_]', '', dbname)[:24]}_"


@contextmanager
def scratch_database(url: str) -> Iterator[str]:
    """A new empty database on the same server as ``url``, dropped afterwards; yields its URL."""
    name = scratch_prefix(url) + uuid.uuid4().hex[:12]
    with connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_dbname(url, name)
    finally:
        with connect(url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "no error output"
