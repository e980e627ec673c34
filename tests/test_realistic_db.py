"""The realistic tier, database and volume part: the shipped daily suite run as an operator runs it against a
PostgreSQL cluster of the tier's own (the pgbench schema, a read-only monitoring role over SCRAM, the server's
real log) and a 64 MiB tmpfs, first healthy, then one fault at a time.

Each test writes the ``aide.toml`` an operator writes from README.md alone (the DB URL through ``url_env``),
runs ``python -m pytest -m daily`` in a subprocess with this checkout's interpreter, and asserts the status of
the check the fault concerns, the verdict's severity and the cause named in the message.

Host load and memory are real conditions of the shared 2-core host, not of the target: the configuration
excludes the host checks (``check_cpu``, ``check_load``, ``check_memory``, ``check_swap``, through ``[suite]
exclude`` as README.md documents), and the disk checks measure only the tier's own volume, never ``/``. So a
verdict here depends on the target alone.

With ``AIDE_FAULT_MATRIX`` set, each test appends one JSON line ``{fault, check, status, verdict, score,
message}`` to that file.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aide_testing import latest_health, serve
from realistic_pg import APP_ROLE, MONITOR_ROLE, PGBENCH_TABLES, PgCluster, pg_cluster_fixture, running
from realistic_stack import append_matrix_row
from realistic_volume import Volume, tmpfs_volume

from conftest import HANG_S, unavailable

pytestmark = [pytest.mark.slow, pytest.mark.realistic]

RUN_TIMEOUT_S = 300.0  # the whole daily run on a busy host: only a hang exceeds it
DB_URL_ENV = "SHOP_DB_URL"
HOST_CHECKS = ("check_cpu", "check_load", "check_memory", "check_swap")

cluster = pg_cluster_fixture("module")


# -- the fault matrix ------------------------------------------------------------------------------------------


def record_fault(fault: str, check: dict[str, Any], health: dict[str, Any]) -> None:
    """This fault's row of the matrix: {fault, check, status, verdict, score, message}."""
    row = {
        "fault": fault,
        "check": check["nodeid"].split("::", 1)[-1],
        "status": check["status"],
        "verdict": health["status"],
        "score": health["score"],
        "message": check["message"],
    }
    append_matrix_row(row)


# -- the target: an app health endpoint, the cluster, the volume -------------------------------------------------


def _answer_healthy(conn: socket.socket) -> None:
    """A health endpoint answering ``{"status": "pass"}`` (the app itself is not what this file tests)."""
    request = b""
    while b"\r\n\r\n" not in request:
        chunk = conn.recv(4096)
        if not chunk:
            return
        request += chunk
    body = b'{"status": "pass"}'
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close"
    conn.sendall(head.encode() + b"\r\n\r\n" + body)


@pytest.fixture(scope="module")
def app_port() -> Iterator[int]:
    yield from serve(_answer_healthy)


@pytest.fixture
def pg(cluster: PgCluster) -> PgCluster:
    """The module's cluster, running (an earlier fault may have stopped it), with an empty server log."""
    running(cluster)
    cluster.fresh_log()
    return cluster


@pytest.fixture
def volume() -> Iterator[Volume]:
    with tmpfs_volume() as mounted:
        yield mounted


@pytest.fixture
def project() -> Iterator[Path]:
    """The operator's folder (outside the tests' private temp dir, so ``nobody`` can own it in the unprivileged
    run)."""
    folder = Path(tempfile.mkdtemp(prefix="aide-realistic-db-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# -- the operator's configuration and run -------------------------------------------------------------------


def write_config(project: Path, *, app_port: int, pg: PgCluster, volume: Volume, data: bool = False) -> Path:
    """``aide.toml`` as README.md tells an operator to write it (nothing here is known only from the code)."""
    disk = f'{{ path = "{volume.path}", data = true }}' if data else f'"{volume.path}"'
    tables = ", ".join(f'"{name}"' for name in PGBENCH_TABLES[:3])
    config = project / "aide.toml"
    config.write_text(
        f"""# the shop: an app with a health endpoint, PostgreSQL (pgbench schema), a small volume, the server's log
[app]
url = "http://127.0.0.1:{app_port}"
health_path = "/healthz"

[db]
url_env = "{DB_URL_ENV}"        # postgresql://{MONITOR_ROLE}:...@127.0.0.1:{pg.port}/shop
tables = [{tables}]

[resources]
disk_paths = [{disk}]
ports = [{pg.port}, {app_port}]
processes = ["postgres"]

[logs]
files = ["{pg.log_path}"]

[suite]
# host load and memory are the shared test host's conditions, not the target's
exclude = {json.dumps(list(HOST_CHECKS))}
"""
    )
    return config


@dataclass
class Run:
    returncode: int
    output: str  # stdout and stderr
    health: dict[str, Any]

    def check(self, name: str) -> dict[str, Any]:
        """The health.json entry whose test name (after ``::``) is ``name``."""
        found = [c for c in self.health["checks"] if c["nodeid"].split("::", 1)[-1] == name]
        assert len(found) == 1, f"{name}: {[c['nodeid'] for c in self.health['checks']]}\n{self.output[-3000:]}"
        return found[0]

    def statuses(self) -> dict[str, str]:
        return {c["nodeid"].split("::", 1)[-1]: c["status"] for c in self.health["checks"]}


def _environment(db_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIDE_")}
    env[DB_URL_ENV] = db_url
    return env


def run_daily(project: Path, db_url: str, *, as_user: pwd.struct_passwd | None = None) -> Run:
    """``pytest -m daily`` in the operator's folder, with this checkout's interpreter (as ``as_user`` if given)."""
    command = [sys.executable, "-m", "pytest", "-m", "daily", "-p", "no:cacheprovider"]
    env = _environment(db_url)
    if as_user is not None:
        command = _unprivileged(project, as_user, command)
        env = {k: env[k] for k in ("PATH", "LANG", "PYTHONPATH", DB_URL_ENV, "PYTEST_ADDOPTS") if k in env}
        env["HOME"] = str(project)
    done = subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode in (0, 1), output[-4000:]
    assert "Traceback" not in output, output[-4000:]
    return Run(done.returncode, output, latest_health(project))


def _unprivileged(project: Path, user: pwd.struct_passwd, command: list[str]) -> list[str]:
    """``command`` as ``user`` with CAP_DAC_READ_SEARCH only (read this checkout and the logs wherever they lie;
    no view of other users' processes), as tests/test_unprivileged.py runs it."""
    if not shutil.which("setpriv"):
        unavailable("setpriv is not installed (Debian package util-linux)")
    os.chown(project, user.pw_uid, user.pw_gid)
    for path in project.rglob("*"):
        os.chown(path, user.pw_uid, user.pw_gid)
    return [
        "setpriv",
        f"--reuid={user.pw_uid}",
        f"--regid={user.pw_gid}",
        "--clear-groups",
        "--inh-caps=+dac_read_search",
        "--ambient-caps=+dac_read_search",
        *command,
    ]


def all_outputs(project: Path, run: Run) -> str:
    """The run's terminal output and every file it wrote (reports, index, saved state)."""
    texts = [run.output]
    for path in (project / "reports").rglob("*"):
        if path.is_file():
            texts.append(path.read_bytes().decode("utf-8", errors="replace"))
    return "\n".join(texts)


def assert_fast(check: dict[str, Any]) -> None:
    """A fault answered by a timeout or at once, never a hang."""
    assert check["duration"] < HANG_S, check


# -- (a) healthy ------------------------------------------------------------------------------------------------

DB_CHECKS = ("check_db_reachable", "check_db_size", "check_db_role")


def test_healthy_cluster_all_db_checks_ok_and_verdict_healthy(
    project: Path, app_port: int, pg: PgCluster, volume: Volume
) -> None:
    write_config(project, app_port=app_port, pg=pg, volume=volume)
    run = run_daily(project, pg.url())
    statuses = run.statuses()
    for name in (*DB_CHECKS, *(f"check_table_rows[{t}]" for t in PGBENCH_TABLES[:3])):
        assert statuses[name] == "OK", run.check(name)
    assert run.check("check_table_rows[pgbench_accounts]")["measurements"]["rows"]["value"] == 100_000
    assert run.check("check_db_role")["measurements"]["db_role_privileges"]["value"] == 0
    assert run.check("check_db_reachable")["measurements"]["db_connections"]["value"] >= 1  # pg_monitor sees all
    not_ok = {name: status for name, status in statuses.items() if status not in ("OK", "SKIPPED")}
    assert not_ok == {}, [run.check(name) for name in not_ok]
    assert run.health["status"] == "HEALTHY", run.output[-3000:]
    assert run.returncode == 0
    record_fault("none (healthy)", run.check("check_db_reachable"), run.health)


def test_role_with_only_the_privilege_table_grants_runs_every_db_check(
    project: Path, app_port: int, pg: PgCluster, volume: Volume
) -> None:
    """README's privilege table: ``CONNECT``, ``USAGE`` on the schema, ``SELECT`` on the key tables, no
    ``pg_monitor``. Every DB check is OK; the connection count, which such a role cannot see, is not recorded."""
    role, password = "aide_minimal", secrets.token_hex(12)
    pg.psql(
        f"DROP ROLE IF EXISTS {role};\nCREATE ROLE {role} LOGIN PASSWORD '{password}';\n"
        f"GRANT CONNECT ON DATABASE shop TO {role};\n",
        database="postgres",
    )
    tables = ", ".join(PGBENCH_TABLES[:3])
    pg.psql(f"GRANT USAGE ON SCHEMA public TO {role};\nGRANT SELECT ON {tables} TO {role};\n", role=APP_ROLE)
    write_config(project, app_port=app_port, pg=pg, volume=volume)
    with psycopg_session(pg.url(role=APP_ROLE)):  # the app is connected: a session the role cannot see
        run = run_daily(project, pg.url(password, role=role))
    for name in (*DB_CHECKS, *(f"check_table_rows[{t}]" for t in PGBENCH_TABLES[:3])):
        assert run.check(name)["status"] == "OK", run.check(name)
    assert "db_connections" not in run.check("check_db_reachable")["measurements"]  # never its own sessions only
    assert run.health["status"] == "HEALTHY"
    record_fault("minimal role (no pg_monitor)", run.check("check_db_reachable"), run.health)


@contextlib.contextmanager
def psycopg_session(url: str) -> Iterator[None]:
    psycopg = pytest.importorskip("psycopg")
    with psycopg.connect(url, connect_timeout=10):
        yield


# -- (b) DB stopped -----------------------------------------------------------------------------------------------


def test_db_stopped_is_an_emergency_naming_the_refused_connection(
    project: Path, app_port: int, pg: PgCluster, volume: Volume
) -> None:
    write_config(project, app_port=app_port, pg=pg, volume=volume)
    pg.stop()
    run = run_daily(project, pg.url())
    reachable = run.check("check_db_reachable")
    assert reachable["status"] in ("CRITICAL", "UNKNOWN"), reachable
    assert f"127.0.0.1:{pg.port}" in reachable["message"], reachable
    assert "refused" in reachable["message"].lower(), reachable
    assert_fast(reachable)
    assert run.health["status"] == "CRITICAL", run.output[-3000:]
    assert "check_db_reachable" in run.health.get("verdict_rule", ""), run.health.get("verdict_rule")
    port = run.check(f"check_port_listening[{pg.port}]")
    assert port["status"] == "CRITICAL"
    assert f"nothing listens on TCP port {pg.port}" in port["message"]
    assert run.returncode == 1
    record_fault("DB stopped", reachable, run.health)


def test_db_hanging_is_an_emergency_after_the_connect_timeout(
    project: Path, app_port: int, pg: PgCluster, volume: Volume
) -> None:
    """A hung server (postmaster stopped by SIGSTOP): the TCP connection opens, the login never answers."""
    write_config(project, app_port=app_port, pg=pg, volume=volume)
    with pg.frozen():
        run = run_daily(project, pg.url())
    reachable = run.check("check_db_reachable")
    assert reachable["status"] == "UNKNOWN", reachable
    assert f"127.0.0.1:{pg.port}" in reachable["message"], reachable
    assert "no answer within 5 s" in reachable["message"], reachable  # [db] timeout 5 s (the default)
    assert_fast(reachable)
    assert run.health["status"] == "CRITICAL"
    assert run.check(f"check_port_listening[{pg.port}]")["status"] == "OK"  # it listens: it does not answer
    record_fault("DB hanging (postmaster SIGSTOP)", reachable, run.health)


def test_lost_key_table_is_critical_naming_it(project: Path, app_port: int, pg: PgCluster, volume: Volume) -> None:
    """A key table gone (renamed away here, and back afterwards): data the app needs is missing, a finding, not
    an unreadable target."""
    write_config(project, app_port=app_port, pg=pg, volume=volume)
    pg.psql("ALTER TABLE pgbench_tellers RENAME TO pgbench_tellers_moved;", role=APP_ROLE)
    try:
        run = run_daily(project, pg.url())
    finally:
        pg.psql("ALTER TABLE pgbench_tellers_moved RENAME TO pgbench_tellers;", role=APP_ROLE)
    rows = run.check("check_table_rows[pgbench_tellers]")
    assert rows["status"] == "CRITICAL", rows
    assert "table pgbench_tellers not found in postgresql://aide_monitor:***@" in rows["message"], rows
    assert run.check("check_table_rows[pgbench_accounts]")["status"] == "OK"
    assert run.check("check_db_reachable")["status"] == "OK"
    assert run.health["status"] == "UNHEALTHY"
    record_fault("key table missing", rows, run.health)


# -- (c) wrong password ---------------------------------------------------------------------------------------


def test_wrong_db_password_is_named_and_never_shown(
    project: Path, app_port: int, pg: PgCluster, volume: Volume
) -> None:
    write_config(project, app_port=app_port, pg=pg, volume=volume)
    wrong = "Wr0ngPass-" + pg.monitor_password[:8]
    run = run_daily(project, pg.url(wrong))
    reachable = run.check("check_db_reachable")
    assert reachable["status"] in ("CRITICAL", "UNKNOWN"), reachable
    assert f'password authentication failed for user "{MONITOR_ROLE}"' in reachable["message"], reachable
    assert_fast(reachable)
    assert run.health["status"] == "CRITICAL"
    assert run.returncode == 1
    everything = all_outputs(project, run)
    assert wrong not in everything
    assert pg.monitor_password not in everything
    assert "***" in reachable["message"]  # the URL is named, its password masked
    record_fault("wrong DB password", reachable, run.health)


# -- (d) the volume -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("percent", "status", "verdict"),
    [(0, "OK", "HEALTHY"), (85, "WARNING", "DEGRADED"), (95, "CRITICAL", "UNHEALTHY")],
    ids=["empty", "85%", "95%"],
)
def test_volume_fill(
    project: Path, app_port: int, pg: PgCluster, volume: Volume, percent: int, status: str, verdict: str
) -> None:
    measured = volume.fill_to(percent)
    write_config(project, app_port=app_port, pg=pg, volume=volume)
    run = run_daily(project, pg.url())
    disk = run.check(f"check_disk[{volume.path.name}]")
    assert disk["status"] == status, disk
    assert disk["measurements"]["disk_percent"]["value"] == pytest.approx(measured, abs=0.1)
    if status != "OK":
        assert "disk_percent" in disk["message"], disk
        assert "free disk space" in disk["message"], disk
    assert run.health["status"] == verdict, {n: s for n, s in run.statuses().items() if s != "OK"}
    record_fault(f"volume {percent} % full" if percent else "volume empty (64 MiB)", disk, run.health)


def test_small_data_volume_fails_the_documented_1_gb_rule(
    project: Path, app_port: int, pg: PgCluster, volume: Volume
) -> None:
    """Marked as the app's data (README: ``{ path = ..., data = true }``), an empty 64 MiB volume is below the
    manuals' "more than 1 GB free before the app starts": CRITICAL by that documented rule, and only by it."""
    write_config(project, app_port=app_port, pg=pg, volume=volume, data=True)
    run = run_daily(project, pg.url())
    disk = run.check(f"check_disk[{volume.path.name}]")
    assert disk["status"] == "CRITICAL", disk
    measured = disk["measurements"]
    assert measured["free_disk_gb"]["status"] == "CRITICAL", measured
    assert measured["disk_percent"]["status"] == "OK", measured
    assert measured["free_disk_percent"]["status"] == "OK", measured
    assert "free_disk_gb" in disk["message"], disk
    assert "1 GB" in disk["message"], disk
    assert run.health["status"] == "UNHEALTHY"
    record_fault("64 MiB volume marked data = true, empty", disk, run.health)


# -- (e) PostgreSQL log error burst ---------------------------------------------------------------------------

BURST = 12  # ERROR entries, above the shipped warning of 10 (in the last 100 lines, and new since the last run)


def test_postgresql_error_burst_is_counted_in_its_own_format(
    project: Path, app_port: int, pg: PgCluster, volume: Volume
) -> None:
    write_config(project, app_port=app_port, pg=pg, volume=volume)
    first = run_daily(project, pg.url())  # quiet log: OK, and the read position is saved
    assert first.check("check_log_errors[postgresql.log]")["status"] == "OK"
    assert first.health["status"] == "HEALTHY", first.output[-3000:]

    pg.provoke_errors(BURST)  # the app's role sends bad SQL: ERROR + STATEMENT lines, written by the server
    psycopg = pytest.importorskip("psycopg")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(pg.url("not-the-password"), connect_timeout=10).close()  # FATAL + DETAIL lines
    text = pg.wait_for_log(" FATAL:  ", 1)
    text = pg.wait_for_log(" STATEMENT:  ", BURST)
    assert text.count(" ERROR:  ") == BURST
    assert text.count(" STATEMENT:  ") == BURST
    assert text.count(" FATAL:  ") == 1

    run = run_daily(project, pg.url())
    errors = run.check("check_log_errors[postgresql.log]")
    assert errors["status"] == "WARNING", errors
    measured = errors["measurements"]
    assert measured["log_errors"]["value"] == BURST + 1  # STATEMENT and DETAIL lines are not counted again
    assert measured["log_errors_last_window"]["value"] == BURST + 1
    assert "log_errors" in errors["message"], errors
    [entries, *_host] = errors["evidence"]  # the error entries first, then the host's top processes
    assert entries["title"] == "last error entries of postgresql.log (format postgresql)", entries
    # the newest 10 entries: 9 of the bad queries, then the failed login
    assert entries["text"].count('ERROR:  relation "no_such_table" does not exist') == 9, entries
    assert entries["text"].endswith(f'FATAL:  password authentication failed for user "{MONITOR_ROLE}"'), entries
    new = run.check("check_new_log_errors[postgresql.log]")
    assert new["status"] == "WARNING", new
    assert new["measurements"]["new_log_errors"]["value"] == BURST + 1
    assert run.health["status"] == "DEGRADED", {n: s for n, s in run.statuses().items() if s != "OK"}
    record_fault(f"PostgreSQL log: {BURST} ERROR + 1 FATAL", errors, run.health)
    record_fault(f"PostgreSQL log: {BURST} ERROR + 1 FATAL (new since last run)", new, run.health)


# -- (f) unprivileged run ----------------------------------------------------------------------------------------


def test_unprivileged_run_sees_no_false_critical(project: Path, app_port: int, pg: PgCluster, volume: Volume) -> None:
    """As ``nobody``: PostgreSQL's port (user postgres) and the app's (root) are served by processes it cannot
    see: OK with ``unseen_listeners``, never "no process listens"; everything else as healthy as for root."""
    if os.geteuid() != 0:
        unavailable("running the suite as another user needs root")
    nobody = pwd.getpwnam("nobody")
    write_config(project, app_port=app_port, pg=pg, volume=volume)
    run = run_daily(project, pg.url(), as_user=nobody)
    assert f"uid={nobody.pw_uid}" not in run.output  # (sanity: nothing printed who we are)
    assert (project / "reports").stat().st_uid == nobody.pw_uid  # the run really was nobody's
    for port in (pg.port, app_port):
        listening = run.check(f"check_port_listening[{port}]")
        assert listening["status"] == "OK", listening
        assert listening["measurements"]["unseen_listeners"]["value"] >= 1, listening
        assert "processes" not in listening["measurements"]
    by_name = run.check("check_process_running[postgres]")
    assert by_name["status"] == "OK", by_name
    assert "open_files" not in by_name["measurements"]  # hidden from nobody: not recorded, never a 0
    not_ok = {name: status for name, status in run.statuses().items() if status not in ("OK", "SKIPPED")}
    assert not_ok == {}, [run.check(name) for name in not_ok]
    assert run.health["status"] == "HEALTHY"
    record_fault("unprivileged run (nobody)", run.check(f"check_port_listening[{pg.port}]"), run.health)
