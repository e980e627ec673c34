"""A PostgreSQL cluster of the realistic tier's own: ``initdb`` into a temp dir, started on a free port.

Stopping it (a fault the tier switches on) never touches the machine's PostgreSQL service. What it holds is what
an operator's database holds: the pgbench schema (``pgbench -i -s 1``, owned by the app's role ``shop_app``) in
the database ``shop``, and a read-only monitoring role ``aide_monitor`` set up exactly as README.md's "Database
roles" says (``CONNECT``, ``pg_monitor``, ``USAGE`` on the schema, ``SELECT`` on its tables; not a superuser).

Authentication is real: local (Unix socket) connections are trusted, for the tests' own set-up and fault
injection as the superuser; TCP connections on 127.0.0.1 need the role's password (SCRAM), so a wrong password
is a real fault. The server logs to ``log/postgresql.log`` through its logging collector with Debian's
``log_line_prefix`` (``%m [%p] %q%u@%d ``), so the log checks read PostgreSQL's real format.

initdb refuses to run as root, so the server runs as the ``postgres`` system user when it exists (else
``nobody``), its folder owned by that user. Every call has a timeout; :meth:`PgCluster.stop` is a fast shutdown
by pid (SIGINT), then an immediate one (SIGQUIT), then SIGKILL.

Use :func:`pg_cluster` (a context manager) or :func:`pg_cluster_fixture` (a pytest fixture of any scope); both
always stop the cluster and delete its folder. Two clusters (``-n 2``) run side by side: each has its own
folder, port and socket directory.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import HANG_S, free_port, unavailable

DATABASE = "shop"
MONITOR_ROLE = "aide_monitor"
APP_ROLE = "shop_app"
SUPERUSER = "postgres"
PGBENCH_TABLES = ("pgbench_accounts", "pgbench_branches", "pgbench_tellers", "pgbench_history")
LOG_NAME = "postgresql.log"
LOG_LINE_PREFIX = "%m [%p] %q%u@%d "  # Debian's postgresql.conf

START_TIMEOUT_S = 90.0  # a busy 2-core host: start-up takes a second, recovery after a kill longer
STOP_TIMEOUT_S = 30.0
COMMAND_TIMEOUT_S = 120.0

_SERVER_CONF = """
# pytest-aide's realistic tier
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{socket_dir}'
max_connections = 40
shared_buffers = 16MB
logging_collector = on
log_directory = '{log_dir}'
log_filename = '{log_name}'
log_file_mode = 0640  # Debian's: the adm group reads it
log_rotation_age = 0
log_rotation_size = 0
log_truncate_on_rotation = off
log_line_prefix = '{prefix}'
log_timezone = 'UTC'
password_encryption = 'scram-sha-256'
# a test cluster: durability is not the point, speed on a shared host is
fsync = off
synchronous_commit = off
full_page_writes = off
"""


def _binary(name: str) -> str | None:
    """``name`` from PATH, else from the newest Debian ``/usr/lib/postgresql/*/bin``."""
    found = shutil.which(name)
    if found:
        return found
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / name).is_file():
            return str(folder / name)
    return None


def server_binaries() -> dict[str, str]:
    """initdb, postgres, psql and pgbench, or ``unavailable`` naming what is missing."""
    found = {name: _binary(name) for name in ("initdb", "postgres", "psql", "pgbench")}
    missing = sorted(name for name, path in found.items() if path is None)
    if missing:
        unavailable(f"PostgreSQL programs not installed: {', '.join(missing)} (Debian: postgresql, postgresql-client)")
    return {name: path for name, path in found.items() if path is not None}


def server_user() -> pwd.struct_passwd | None:
    """The user the server runs as when we are root (initdb refuses root); None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    unavailable("neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL as (initdb refuses root)")
    return None  # unreachable: unavailable raises


class PgCluster:
    """One PostgreSQL cluster in its own folder: ``data/``, ``sock/``, ``log/postgresql.log``."""

    def __init__(self, base: Path, *, port: int | None = None) -> None:
        self.base = base
        self.port = port if port is not None else free_port()
        self.host = "127.0.0.1"
        self.data_dir = base / "data"
        self.socket_dir = base / "sock"
        self.log_dir = base / "log"
        self.log_path = self.log_dir / LOG_NAME
        self.startup_log = base / "startup.log"  # what the server writes before its logging collector runs
        self.monitor_password = secrets.token_hex(12)
        self.app_password = secrets.token_hex(12)
        self._bin = server_binaries()
        self._user = server_user()
        self._proc: subprocess.Popen[bytes] | None = None

    # -- URLs -------------------------------------------------------------------------------------------

    def url(self, password: str | None = None, *, role: str = MONITOR_ROLE, database: str = DATABASE) -> str:
        """The TCP DSN of ``role`` (the monitoring role's real password unless ``password`` is given)."""
        if password is None:
            password = self.app_password if role == APP_ROLE else self.monitor_password
        return f"postgresql://{role}:{password}@{self.host}:{self.port}/{database}"

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while it runs (from our child, else ``postmaster.pid``)."""
        if self._proc is not None and self._proc.poll() is None:
            return self._proc.pid
        first = self._pidfile_lines()[:1]
        if first and first[0].strip().isdigit() and _alive(int(first[0])):
            return int(first[0])
        return None

    @property
    def running(self) -> bool:
        return self.pid is not None

    # -- life cycle -------------------------------------------------------------------------------------

    def initialize(self) -> None:
        """initdb, configure, start, create the roles and the pgbench schema. Raises on any failure."""
        for folder in (self.base, self.socket_dir, self.log_dir):
            folder.mkdir(parents=True, exist_ok=True)
            self._own(folder)
        self._as_server_user(
            self._bin["initdb"],
            f"--pgdata={self.data_dir}",
            f"--username={SUPERUSER}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--no-locale",
            "--encoding=UTF8",
            "--no-sync",
            "--no-instructions",
        )
        conf = self.data_dir / "postgresql.conf"
        with conf.open("a") as out:
            out.write(
                _SERVER_CONF.format(
                    port=self.port,
                    socket_dir=self.socket_dir,
                    log_dir=self.log_dir,
                    log_name=LOG_NAME,
                    prefix=LOG_LINE_PREFIX,
                )
            )
        self.start()
        self._create_schema()

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        """Start the server (no-op when it runs) and wait until ``postmaster.pid`` says ready."""
        if self.running:
            return
        with self.startup_log.open("ab") as out:
            self._proc = subprocess.Popen(
                [*self._user_prefix(), self._bin["postgres"], "-D", str(self.data_dir)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=_server_env(),
                start_new_session=True,  # a Ctrl-C of the test run does not reach it; stop() does
            )
        deadline = time.monotonic() + timeout
        while not self._ready():
            if self._proc.poll() is not None:
                raise RuntimeError(f"PostgreSQL exited with {self._proc.returncode} on start: {self._tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"PostgreSQL was not ready within {timeout:g} s: {self._tail()}")
            time.sleep(0.05)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Fast shutdown by pid (SIGINT), then immediate (SIGQUIT), then SIGKILL; returns once it is gone."""
        pid = self.pid
        if pid is None:
            return
        for sig, wait in ((signal.SIGINT, timeout), (signal.SIGQUIT, 10.0), (signal.SIGKILL, 10.0)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            if self._wait_gone(pid, wait):
                return
        raise RuntimeError(f"PostgreSQL (pid {pid}) survived SIGKILL")

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """The postmaster stopped with SIGSTOP (a hung server: TCP connects, nothing answers), resumed after."""
        pid = self.pid
        assert pid is not None, "the cluster is not running"
        os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(pid, signal.SIGCONT)

    def close(self) -> None:
        """Stop the server and delete its folder."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> PgCluster:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- SQL and logs -----------------------------------------------------------------------------------

    def psql(
        self, sql: str, *, role: str = SUPERUSER, database: str = DATABASE, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run ``sql`` (from stdin, so no secret shows in ``ps``) through psql on the Unix socket (trusted)."""
        command = [self._bin["psql"], "-X", "-q", "-v", "ON_ERROR_STOP=1", *self._socket_args(role, database)]
        return _run(command, stdin=sql, check=check)

    def provoke_errors(self, count: int, *, role: str = APP_ROLE, table: str = "no_such_table") -> None:
        """``count`` real ERROR entries in the server log: queries on a missing table, one session each."""
        for _ in range(count):
            done = self.psql(f"SELECT * FROM {table};", role=role, check=False)
            assert done.returncode != 0, done.stdout
            assert "does not exist" in done.stderr, done.stderr

    def wait_for_log(self, text: str, count: int) -> str:
        """The server log once it holds ``count`` lines containing ``text`` (its collector writes asynchronously)."""
        deadline = time.monotonic() + HANG_S
        while True:
            log = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
            found = sum(text in line for line in log.splitlines())
            if found >= count:
                return log
            assert time.monotonic() < deadline, f"{found} of {count} log lines with {text!r}: {log[-1500:]}"
            time.sleep(0.05)

    def fresh_log(self) -> Path:
        """Move the current log aside (``postgresql.log.1``) and make the server open a new, empty one."""
        if self.log_path.exists():
            self.log_path.replace(self.log_path.with_name(LOG_NAME + ".1"))
        if self.running:
            self.psql("SELECT pg_rotate_logfile();")
            deadline = time.monotonic() + HANG_S
            while not self.log_path.exists():  # the collector reopens the file asynchronously
                assert time.monotonic() < deadline, "the logging collector did not reopen its file"
                time.sleep(0.02)
        return self.log_path

    # -- internals --------------------------------------------------------------------------------------

    def _create_schema(self) -> None:
        self.psql(
            f"CREATE ROLE {MONITOR_ROLE} LOGIN PASSWORD '{self.monitor_password}';\n"
            f"CREATE ROLE {APP_ROLE} LOGIN PASSWORD '{self.app_password}';\n"
            f"CREATE DATABASE {DATABASE} OWNER {APP_ROLE};\n",
            database="postgres",
        )
        _run([self._bin["pgbench"], "-i", "-s", "1", "-q", *self._socket_args(APP_ROLE, DATABASE)])
        # README.md, "Database roles": what a monitoring role needs, and no more
        self.psql(f'GRANT CONNECT ON DATABASE "{DATABASE}" TO {MONITOR_ROLE};\nGRANT pg_monitor TO {MONITOR_ROLE};\n')
        self.psql(  # by the schema's owner, as the app's migrations would
            f"GRANT USAGE ON SCHEMA public TO {MONITOR_ROLE};\n"
            f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {MONITOR_ROLE};\n",
            role=APP_ROLE,
        )

    def _socket_args(self, role: str, database: str) -> list[str]:
        return ["-h", str(self.socket_dir), "-p", str(self.port), "-U", role, "-d", database]

    def _user_prefix(self) -> list[str]:
        if self._user is None:
            return []
        return [
            "setpriv",
            f"--reuid={self._user.pw_uid}",
            f"--regid={self._user.pw_gid}",
            "--clear-groups",
            "--",
        ]

    def _as_server_user(self, *command: str) -> None:
        _run([*self._user_prefix(), *command], cwd=self.base)

    def _own(self, path: Path) -> None:
        if self._user is not None:
            os.chown(path, self._user.pw_uid, self._user.pw_gid)

    def _pidfile_lines(self) -> list[str]:
        try:
            return (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return []

    def _ready(self) -> bool:
        lines = self._pidfile_lines()
        return (
            len(lines) >= 8
            and lines[7].strip() == "ready"
            and self._proc is not None
            and lines[0] == str(self._proc.pid)
        )

    def _wait_gone(self, pid: int, seconds: float) -> bool:
        if self._proc is not None and self._proc.pid == pid:
            try:
                self._proc.wait(seconds)
            except subprocess.TimeoutExpired:
                return False
            return True
        deadline = time.monotonic() + seconds
        while _alive(pid):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def _tail(self) -> str:
        text = ""
        for path in (self.startup_log, self.log_path):
            with contextlib.suppress(OSError):
                text += path.read_text(errors="replace")[-1500:]
        return text.strip() or "(no log output)"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _server_env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "TZ": "UTC"}


def _run(
    command: list[str], *, stdin: str | None = None, cwd: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {**_server_env(), "PGCONNECT_TIMEOUT": "10"}
    done = subprocess.run(
        command, input=stdin, cwd=cwd, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
    )
    if check and done.returncode != 0:
        program = command[command.index("--") + 1] if "--" in command else command[0]
        raise RuntimeError(f"{Path(program).name} failed ({done.returncode}): {(done.stderr or done.stdout)[-1500:]}")
    return done


@contextlib.contextmanager
def pg_cluster() -> Iterator[PgCluster]:
    """A fresh, running cluster with the pgbench schema and the monitoring role; always stopped and deleted."""
    # In /tmp: the server's user must reach it (a root-only TMPDIR would not do), and a socket path has ~100 bytes
    base = Path(tempfile.mkdtemp(prefix="aide-pg-", dir="/tmp" if os.geteuid() == 0 else None))
    base.chmod(0o755)  # like /var/log/postgresql: the log file's own mode decides who reads it
    cluster = PgCluster(base)
    try:
        cluster.initialize()
        yield cluster
    finally:
        cluster.close()


def pg_cluster_fixture(scope: str = "module") -> Callable[[], Iterator[PgCluster]]:
    """A pytest fixture giving one running cluster per ``scope`` (per xdist worker); assign it to a name:

    ``realistic_pg_cluster = pg_cluster_fixture("module")``. A test that stops it must :meth:`PgCluster.start`
    it again (or use :func:`running`), so later tests of the scope find it up.
    """

    @pytest.fixture(scope=scope)
    def _cluster() -> Iterator[PgCluster]:
        with pg_cluster() as cluster:
            yield cluster

    return _cluster


def running(cluster: PgCluster) -> PgCluster:
    """The cluster started again if an earlier test's fault stopped it."""
    cluster.start()
    return cluster
