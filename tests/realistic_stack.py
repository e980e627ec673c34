"""The realistic-target tier's stack: real third-party software started by the tests, and the shipped suite run
against it as an operator runs it.

- **nginx** (Debian's package) as the reverse proxy, with its real access and error logs, on HTTP and HTTPS
  (another port; a certificate made by ``trustme``, 90 days valid or 5 days left). ``master_process off``: one
  process, stopped by its pid.
- **gunicorn** (a test extra) serving a small WSGI app (:data:`APP`) whose health answer a state file switches
  (:meth:`Stack.health_mode`): a health document, a hang, a 5xx, a slow answer, an HTML page. The app writes a
  Python-logging log (``app.log``); gunicorn its error log.
- **Redis**: its own ``redis-server --port X --save ''``, so a stop never touches the machine's one.
- **PostgreSQL** and the **volume** come from the caller (``tests/realistic_pg.py``, ``tests/realistic_volume.py``).

:meth:`Stack.write_config` writes an ``aide.toml`` as an operator would from the README alone (per-file log
settings, ``[tls] hosts``, ``url_env`` for the database URL, processes by port, the data volume marked), and
:func:`run_daily` runs ``pytest -m daily`` in a subprocess with this session's interpreter and returns the
parsed ``health.json``. Every process is started on a free port in the test's own folder and stopped by its pid
in teardown, also when the test failed. :func:`record_fault` appends one line to the fault matrix named by
``AIDE_FAULT_MATRIX`` (``tests/fault_matrix.py FILE`` prints it as a table).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from realistic_pg import APP_ROLE, PGBENCH_TABLES, PgCluster

from conftest import HANG_S, free_port, unavailable

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
REDIS_SERVER = shutil.which("redis-server")
RUN_TIMEOUT_S = 240.0  # one whole daily run on a loaded 2-core machine; only a hang takes longer

HOST_CHECKS = ("check_cpu", "check_load", "check_memory", "check_swap")
"""The shipped checks that measure the shared host (its CPU, load, memory, swap), which no test controls."""
HOST_TRENDS = ("trend_cpu_percent", "trend_memory_percent")  # check_trends' means of those, over the archive
HEALTH_PATH = "/healthz"
DB_URL_ENV = "SHOP_DB_URL"  # [db] url_env: the operator keeps the password out of aide.toml
SERVER_NAME = "shop.test"

APP = '''
"""The shop's WSGI app: its health answer is chosen by state.json next to it (written by the tests)."""
import json
import logging
import pathlib
import time

HERE = pathlib.Path(__file__).parent
STATE = HERE / "state.json"
logging.basicConfig(
    filename=str(HERE.parent / "logs" / "app.log"),
    format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    level=logging.INFO,
)
log = logging.getLogger("shop")

LOGIN = b"""<!DOCTYPE html>
<html><head><title>Sign in</title></head><body><form method="post"><input name="user"></form></body></html>
"""


def state():
    try:
        return json.loads(STATE.read_text())
    except (OSError, ValueError):
        return {"mode": "healthy"}


def send(start_response, status, kind, body):
    start_response(status, [("Content-Type", kind), ("Content-Length", str(len(body)))])
    return [body]


def health(start_response):
    current = state()
    mode = current.get("mode", "healthy")
    if mode == "hang":  # until the tests switch it back (or two minutes)
        deadline = time.monotonic() + 120
        while state().get("mode") == "hang" and time.monotonic() < deadline:
            time.sleep(0.1)
    if mode == "slow":
        time.sleep(float(current["delay"]))
    if mode == "error":
        raise RuntimeError("health handler crashed: database pool exhausted")
    if mode == "html":
        return send(start_response, "200 OK", "text/html; charset=utf-8", LOGIN)
    document = {"status": "pass", "version": "1.4.2", "checks": {"database": "pass", "cache": "pass"}}
    return send(start_response, "200 OK", "application/health+json", json.dumps(document).encode())


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/healthz":
        return health(start_response)
    if path.startswith("/boom"):
        raise ValueError(f"order {path[5:]} could not be priced")
    if path.startswith("/jobs/"):
        try:
            raise ConnectionError("payment gateway closed the connection")
        except ConnectionError:
            log.exception("job %s failed", path[6:])
        return send(start_response, "202 Accepted", "application/json", b'{"queued": true}')
    log.info("GET %s", path)
    return send(start_response, "200 OK", "text/plain", b"shop\\n")
'''

NGINX_CONF = """
daemon off;
master_process off;
pid {root}/nginx.pid;
error_log {logs}/nginx-error.log notice;
events {{ worker_connections 128; }}
http {{
    access_log {logs}/nginx-access.log;
    client_body_temp_path {root}/tmp/body;
    proxy_temp_path {root}/tmp/proxy;
    fastcgi_temp_path {root}/tmp/fastcgi;
    uwsgi_temp_path {root}/tmp/uwsgi;
    scgi_temp_path {root}/tmp/scgi;
    types {{ text/html html; text/css css; }}
    server {{
        listen 127.0.0.1:{port};
        listen 127.0.0.1:{tls_port} ssl;
        server_name {server_name};
        ssl_certificate {root}/tls/cert.pem;
        ssl_certificate_key {root}/tls/key.pem;
        root {root}/www;
        location /static/ {{ }}
        location /legacy/ {{ proxy_pass http://127.0.0.1:{gone_port}/; }}
        location / {{ proxy_pass http://127.0.0.1:{app_port}; proxy_read_timeout 300s; }}
    }}
}}
"""


def require_software() -> None:
    """Skip (fail under AIDE_REQUIRE_SERVICES=1) when nginx, redis-server or gunicorn is missing."""
    if NGINX is None:
        unavailable("nginx is not installed (Debian: apt-get install nginx)")
    if REDIS_SERVER is None:
        unavailable("redis-server is not installed (Debian: apt-get install redis-server)")
    if importlib.util.find_spec("gunicorn") is None:
        unavailable("gunicorn is not installed (pip install -e '.[test]')")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM by pid, then SIGKILL if it has not gone within HANG_S; a process already gone is left alone."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=HANG_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=HANG_S)


def wait_for_http(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    """Until ``url`` answers at all (any status), or fail when ``process`` exits or HANG_S passes."""
    deadline = time.monotonic() + HANG_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} before it answered on {url}")
        try:
            requests.get(url, timeout=2, verify=False)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer on {url} within {HANG_S:g} s")


def wait_for_port(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    import socket

    deadline = time.monotonic() + HANG_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} before it listened on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {port} within {HANG_S:g} s")


def start_gunicorn(app_dir: Path, port: int, error_log: Path, app: str = "shop:app") -> subprocess.Popen[bytes]:
    """:func:`gunicorn_command` started with no terminal input or output (stop it with :func:`stop_process`)."""
    return subprocess.Popen(
        gunicorn_command(app_dir, port, error_log, app=app),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def gunicorn_command(app_dir: Path, port: int, error_log: Path, app: str = "shop:app") -> list[str]:
    """gunicorn serving ``app`` (``module:callable`` in ``app_dir``) with one worker of four threads (a hanging
    request holds one), its error log in ``error_log``."""
    binary = [sys.executable, "-m", "gunicorn"]
    usage = subprocess.run([*binary, "--help"], capture_output=True, text=True, timeout=HANG_S, check=False).stdout
    # gunicorn 25+ opens a control socket, whose path under a deep test folder is too long: a real [ERROR]
    extra = ["--no-control-socket"] if "--no-control-socket" in usage else []
    return [
        *binary, "--bind", f"127.0.0.1:{port}", "--workers", "1", "--worker-class", "gthread", "--threads", "4",
        "--timeout", "300", "--graceful-timeout", "2", "--chdir", str(app_dir), "--error-logfile", str(error_log),
        *extra, app,
    ]  # fmt: skip


@dataclass
class Certificates:
    """A private CA (``ca.pem``, given to aide as ``ca_bundle``) and nginx's certificate for SERVER_NAME."""

    folder: Path

    def __post_init__(self) -> None:
        import trustme

        self.folder.mkdir(exist_ok=True)
        self._ca = trustme.CA()
        self._ca.cert_pem.write_to_path(str(self.ca_bundle))

    @property
    def ca_bundle(self) -> Path:
        return self.folder / "ca.pem"

    def issue(self, days_left: float) -> None:
        """nginx's certificate, valid from yesterday for ``days_left`` more days (read when nginx starts)."""
        now = datetime.now(UTC)
        leaf = self._ca.issue_cert(
            SERVER_NAME,
            common_name=SERVER_NAME,
            not_before=now - timedelta(days=1),
            not_after=now + timedelta(days=days_left),
        )
        (self.folder / "cert.pem").write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        leaf.private_key_pem.write_to_path(str(self.folder / "key.pem"))


@dataclass
class Stack:
    """nginx (HTTP and HTTPS) in front of gunicorn, and a Redis of its own, in ``root``; see the module doc."""

    root: Path
    port: int = field(default_factory=free_port)
    tls_port: int = field(default_factory=free_port)
    app_port: int = field(default_factory=free_port)
    redis_port: int = field(default_factory=free_port)
    gone_port: int = field(default_factory=free_port)  # /legacy/ proxies here: an upstream that is gone
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for folder in ("app", "www/static", "tmp", "logs", "redis"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        (self.root / "app" / "shop.py").write_text(APP)
        (self.root / "app" / "shop.env").write_text("SHOP_CURRENCY=EUR\nSHOP_WORKERS=4\n")
        (self.root / "www" / "static" / "site.css").write_text("body { margin: 0 }\n")
        self.certificates = Certificates(self.root / "tls")
        self.certificates.issue(days_left=90)
        self.health_mode("healthy")
        conf = NGINX_CONF.format(
            root=self.root, logs=self.logs, port=self.port, tls_port=self.tls_port, app_port=self.app_port,
            gone_port=self.gone_port, server_name=SERVER_NAME,
        )  # fmt: skip
        (self.root / "nginx.conf").write_text(conf)

    # --- the parts --------------------------------------------------------------------------------------

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        for name in ("redis", "app", "nginx"):
            self.start_part(name)

    def start_part(self, name: str) -> None:
        """Start one part (``redis``, ``app`` or ``nginx``) and wait until it answers."""
        assert name not in self.processes or self.processes[name].poll() is not None, f"{name} runs already"
        quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        if name == "redis":
            assert REDIS_SERVER is not None
            command = [
                REDIS_SERVER, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                "no", "--dir", str(self.root / "redis"), "--logfile", str(self.logs / "redis.log"),
            ]  # fmt: skip
            self.processes[name] = subprocess.Popen(command, **quiet)  # type: ignore[call-overload]
            wait_for_port(self.redis_port, self.processes[name], "redis-server")
        elif name == "app":
            self.processes[name] = start_gunicorn(self.root / "app", self.app_port, self.logs / "gunicorn-error.log")
            wait_for_http(f"http://127.0.0.1:{self.app_port}/", self.processes[name], "gunicorn")
        elif name == "nginx":
            assert NGINX is not None
            command = [NGINX, "-p", str(self.root), "-c", str(self.root / "nginx.conf"), "-e", "/dev/null"]
            self.processes[name] = subprocess.Popen(command, **quiet)  # type: ignore[call-overload]
            wait_for_http(f"{self.url}/static/site.css", self.processes[name], "nginx")
        else:
            raise ValueError(f"no part {name!r}")

    def stop_part(self, name: str) -> None:
        stop_process(self.processes[name])

    def close(self) -> None:
        """Stop every part by its pid (nginx first), whatever state the test left them in."""
        for name in ("nginx", "app", "redis"):
            if name in self.processes:
                stop_process(self.processes[name])

    # --- switches ---------------------------------------------------------------------------------------

    def health_mode(self, mode: str, delay: float = 0.0) -> None:
        """The health path's answer: ``healthy``, ``hang``, ``error`` (5xx), ``slow`` (``delay`` s), ``html``."""
        state = self.root / "app" / "state.json"
        temporary = state.with_suffix(".tmp")
        temporary.write_text(json.dumps({"mode": mode, "delay": delay}))
        temporary.replace(state)  # the app never reads half a file

    def use_certificate(self, days_left: float) -> None:
        """Serve a certificate with ``days_left`` days left on the HTTPS port (nginx restarted to read it)."""
        self.certificates.issue(days_left)
        self.stop_part("nginx")
        self.start_part("nginx")

    def rotate_nginx_logs(self) -> None:
        """logrotate's rename and create for nginx: the logs renamed to ``.1``, nginx reopens them on USR1."""
        for name in ("nginx-error.log", "nginx-access.log"):
            (self.logs / name).rename(self.logs / f"{name}.1")
        os.kill(self.processes["nginx"].pid, signal.SIGUSR1)
        deadline = time.monotonic() + HANG_S
        while not (self.logs / "nginx-error.log").exists():
            assert time.monotonic() < deadline, "nginx did not reopen its logs after USR1"
            time.sleep(0.05)

    def get(self, path: str, times: int = 1) -> list[int]:
        """GET ``path`` through nginx ``times`` times; the status codes."""
        return [requests.get(f"{self.url}{path}", timeout=HANG_S).status_code for _ in range(times)]

    def traffic(self) -> None:
        """An ordinary minute of a healthy shop: pages, a static file, a client's missing image (a 404)."""
        assert set(self.get("/", 10)) == {200}
        assert self.get("/static/site.css") == [200]
        assert self.get("/static/missing-logo.png") == [404]  # nginx logs this at [error]: a client's fault

    # --- the operator's configuration --------------------------------------------------------------------

    def write_config(
        self,
        folder: Path,
        *,
        db: PgCluster | None = None,
        volume: Path | None = None,
        without_host: bool = False,
        reports: Path | None = None,
    ) -> Path:
        """An ``aide.toml`` for this stack in ``folder``, written from the README (see the module doc).

        The database URL, with the monitoring role's password, is read from ``$SHOP_DB_URL``
        (:func:`db_env`); the cluster's data folder is the app's data volume (``data = true``).
        """
        disks = ['"/"', f'"{volume}"' if volume else None, f'{{ path = "{db.data_dir}", data = true }}' if db else None]
        logs = [
            f'"{self.logs / "nginx-error.log"}"',
            f'"{self.logs / "nginx-access.log"}"',
            # tracebacks: 12 failed requests take more than the default 100 lines
            f'{{ path = "{self.logs / "gunicorn-error.log"}", tail_lines = 500 }}',
            f'{{ path = "{self.logs / "app.log"}", format = "python", tail_lines = 500 }}',
            f'"{self.logs / "redis.log"}"',
        ]
        ports = [self.port, self.tls_port, self.app_port, self.redis_port]
        db_table = ""
        if db is not None:
            logs.append(f'"{db.log_path}"')
            ports.append(db.port)
            tables = ", ".join(f'"{t}"' for t in PGBENCH_TABLES)
            db_table = f'[db]\nurl_env = "{DB_URL_ENV}"\ntables = [{tables}]\n\n'
        suite = ""
        if without_host:  # the tier's own change: the shared host's conditions stay out of the verdict
            names = ", ".join(json.dumps(name) for name in HOST_CHECKS)
            suite += f"[suite]\nexclude = [{names}]\n\n"
            suite += "".join(f"[thresholds.{metric}]\nwarning = false\n\n" for metric in HOST_TRENDS)
        suite += f'[reports]\ndir = "{reports}"\n\n' if reports else ""
        text = (
            "# The shop behind nginx, written from README.md: per-file log settings, the HTTPS port under [tls],\n"
            "# the database URL (with its password) from the environment, processes found by their ports.\n\n"
            f'[app]\nurl = "{self.url}"\nhealth_path = "{HEALTH_PATH}"\ntimeout = 8.0\n\n'
            f"{db_table}"
            f'[cache]\nurl = "redis://127.0.0.1:{self.redis_port}/0"\n\n'
            f"[resources]\ndisk_paths = [{', '.join(d for d in disks if d)}]\n"
            f"ports = [{', '.join(str(p) for p in ports)}]\n\n"
            "[logs]\nfiles = [\n" + "".join(f"  {entry},\n" for entry in logs) + "]\n\n"
            f'[tls]\nhosts = [{{ host = "127.0.0.1", port = {self.tls_port}, server_name = "{SERVER_NAME}", '
            f'ca_bundle = "{self.certificates.ca_bundle}" }}]\n\n'
            f'[preflight]\nconfig_files = ["{self.root / "app" / "shop.env"}"]\n\n'
            f"{suite}"
        )
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "aide.toml"
        config.write_text(text)
        return config


@contextlib.contextmanager
def running_stack(root: Path) -> Iterator[Stack]:
    """A started :class:`Stack` in ``root``, stopped by pid afterwards (also when starting it failed)."""
    require_software()
    stack = Stack(root)
    try:
        stack.start()
        yield stack
    finally:
        stack.close()


def db_env(db: PgCluster | None) -> dict[str, str]:
    """The environment of the operator's run: the monitoring role's URL in ``$SHOP_DB_URL``."""
    return {DB_URL_ENV: db.url()} if db is not None else {}


def app_queries(db: PgCluster, count: int = 10) -> None:
    """What the shop does to its database in a quiet minute: reads and small updates as its own role."""
    statements = [
        f"SELECT abalance FROM pgbench_accounts WHERE aid = {i + 1};\n"
        f"UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = {i + 1};\n"
        for i in range(count)
    ]
    db.psql("".join(statements), role=APP_ROLE)


# --- the operator's run ---------------------------------------------------------------------------------------


@dataclass
class Run:
    """One ``pytest -m daily`` run: its exit status, output and ``health.json``."""

    returncode: int
    output: str
    health: dict[str, Any]

    @property
    def verdict(self) -> str:
        return str(self.health["status"])

    def check(self, name: str) -> dict[str, Any]:
        """The check whose test name (``check_x`` or ``check_x[param]``) is ``name``."""
        found = [c for c in self.health["checks"] if c["nodeid"].split("::")[-1] == name]
        assert len(found) == 1, f"{name}: {[c['nodeid'] for c in self.health['checks']]}"
        return dict(found[0])

    def not_ok(self) -> dict[str, dict[str, Any]]:
        """The checks that are WARNING, CRITICAL or UNKNOWN, by test name."""
        bad = ("WARNING", "CRITICAL", "UNKNOWN")
        return {c["nodeid"].split("::")[-1]: c for c in self.health["checks"] if c["status"] in bad}


def run_daily(config: Path, env: dict[str, str] | None = None, *, reports: Path | None = None) -> Run:
    """``pytest -m daily`` in the configuration's folder, with this session's interpreter (a subprocess);
    ``reports`` is the configuration's ``[reports] dir`` when it is not the default."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AIDE_")}
    folder = config.parent
    archive = reports or folder / "reports"
    before = set(archive.glob("2*/health.json"))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "daily", "-p", "no:cacheprovider", "-q", "-rN"],
        cwd=folder,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    output = result.stdout + result.stderr
    runs = sorted(set(archive.glob("2*/health.json")) - before)
    assert runs, f"no health.json written (exit {result.returncode}):\n{output[-3000:]}"
    assert "INTERNALERROR" not in output, output[-3000:]
    return Run(result.returncode, output, json.loads(runs[-1].read_text()))


# --- the fault matrix -----------------------------------------------------------------------------------------


def record_fault(fault: str, check: str, run: Run) -> None:
    """One JSON line {fault, check, status, verdict, score, message} appended to $AIDE_FAULT_MATRIX, if set.

    One ``os.write`` on an ``O_APPEND`` descriptor: lines of two xdist workers never interleave.
    """
    target = os.environ.get("AIDE_FAULT_MATRIX")
    if not target:
        return
    entry = run.check(check)
    line = {
        "fault": fault,
        "check": check,
        "status": entry["status"],
        "verdict": run.verdict,
        "score": run.health.get("score"),
        "message": entry["message"],
    }
    append_matrix_row(line)


def record_run(name: str, run: Run, host_conditions: list[str]) -> None:
    """A healthy run's row in $AIDE_FAULT_MATRIX: the verdict and the host conditions it flagged (if any)."""
    target = os.environ.get("AIDE_FAULT_MATRIX")
    if not target:
        return
    flagged = "; ".join(f"{n}: {run.check(n)['message']}" for n in host_conditions) or "no check flagged"
    worst = next((s for s in ("CRITICAL", "UNKNOWN", "WARNING") if run.health["counts"].get(s)), "OK")
    line = {"fault": name, "check": "(all)", "status": worst, "verdict": run.verdict, "score": run.health.get("score"),
            "message": flagged}  # fmt: skip
    append_matrix_row(line)


def append_matrix_row(line: dict[str, Any]) -> None:
    """One JSON line appended to $AIDE_FAULT_MATRIX (if set) with one ``os.write`` on an ``O_APPEND``
    descriptor, so the lines of two xdist workers never interleave."""
    target = os.environ.get("AIDE_FAULT_MATRIX")
    if not target:
        return
    fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(line) + "\n").encode())
    finally:
        os.close(fd)
