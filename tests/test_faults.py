"""Down, hanging, slow and misconfigured targets through the shipped checks: a clear verdict in bounded time.

Each case runs real checks of the shipped suite (``pytest_aide/suite/aide``) in an inner pytest run against a
real fault (a closed port, a server that never answers, a locked SQLite file...) and asserts the check's
status, its one-line reason naming the configured timeout, and that no traceback wall and no secret reach the
output. The inner runs are in-process (a subprocess each would cost a second of interpreter start-up); every
probe they make has its own timeout, and HANG_S bounds the check's recorded duration.
"""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import psutil
import pytest
from quiet_http import QuietHTTPServer

from conftest import HANG_S, free_port, require_service

REPO = Path(__file__).resolve().parents[1]
CHECKS = REPO / "pytest_aide" / "suite" / "aide"


def run_checks(pytester: pytest.Pytester, toml: str, target: str, *args: str) -> tuple[dict, str, int]:
    """The run's health.json, its output, and the bytes this process read during it (the run is in-process)."""
    config = pytester.path / "aide.toml"
    config.write_text(toml)
    me = psutil.Process()
    read_before = me.io_counters().read_chars
    result = pytester.runpytest_inprocess(
        "-p",
        "no:cacheprovider",
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",  # the outer run imported pytest_aide already
        str(CHECKS / target),
        f"--aide-config={config}",
        "-q",
        *args,
    )
    read = me.io_counters().read_chars - read_before
    runs = sorted((pytester.path / "reports").glob("2*/health.json"))
    assert runs, result.stdout.str()
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output
    assert "INTERNALERROR" not in output
    health = json.loads(runs[-1].read_text())
    assert all(check["duration"] < HANG_S for check in health["checks"])
    return health, output, read


def only_check(health: dict) -> dict:
    [check] = [c for c in health["checks"] if c["status"] != "SKIPPED"]
    assert "\n" not in check["message"]
    return check


class _Handler(BaseHTTPRequestHandler):
    delay = 0.0
    status = 200

    def do_GET(self) -> None:
        time.sleep(self.delay)
        body = json.dumps({"status": "healthy"}).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server(request: pytest.FixtureRequest) -> Iterator[str]:
    delay, status = request.param
    handler = type("Handler", (_Handler,), {"delay": delay, "status": status})
    server = QuietHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


def api_toml(url: str, timeout: float = 1.0) -> str:
    return f'[app]\nurl = "{url}"\ntimeout = {timeout}\nconnect_timeout = {timeout}\n'


def test_refused_connection_is_critical(pytester: pytest.Pytester) -> None:
    health, _, _ = run_checks(
        pytester, api_toml(f"http://127.0.0.1:{free_port()}"), "check_api.py", "-k", "check_api_health"
    )
    check = only_check(health)
    assert check["status"] == "CRITICAL"
    assert "connection refused" in check["message"]


def test_server_that_never_answers_is_critical_within_the_timeout(
    pytester: pytest.Pytester, silent_server: str
) -> None:
    health, _, _ = run_checks(pytester, api_toml(silent_server, 1.5), "check_api.py", "-k", "check_api_health")
    check = only_check(health)
    assert check["status"] == "CRITICAL"
    assert "timed out after 1.5 s" in check["message"]  # the configured timeout, not a default
    assert check["duration"] >= 1.5


@pytest.mark.parametrize("http_server", [(0.6, 200)], indirect=True)
def test_slow_answer_breaks_the_response_time_band(pytester: pytest.Pytester, http_server: str) -> None:
    health, _, _ = run_checks(
        pytester,
        api_toml(http_server, 3.0),
        "check_api.py",
        "-k",
        "check_api_health",
        "--aide-threshold",
        "response_time_s=0.2,0.5",
    )
    check = only_check(health)
    assert check["status"] == "CRITICAL"
    assert check["measurements"]["response_time_s"]["value"] >= 0.6  # the server's delay, and a busy machine's
    assert re.match(r"response_time_s = \d+(\.\d+)? s \(critical > 0\.5", check["message"]), check["message"]
    assert "check the app's rate limits" in check["message"]


@pytest.mark.parametrize("http_server", [(0.0, 503)], indirect=True)
def test_server_error_is_critical(pytester: pytest.Pytester, http_server: str) -> None:
    health, _, _ = run_checks(pytester, api_toml(http_server), "check_api.py", "-k", "check_api_health")
    check = only_check(health)
    assert check["status"] == "CRITICAL"
    assert "expected status 200, got 503" in check["message"]
    assert check["evidence"][0]["text"] == '{"status": "healthy"}'


def test_unresolvable_host_is_critical(pytester: pytest.Pytester) -> None:
    health, _, _ = run_checks(
        pytester, api_toml("http://no-such-host.invalid:5000"), "check_api.py", "-k", "check_api_health"
    )
    check = only_check(health)
    assert check["status"] == "CRITICAL"
    assert "cannot resolve host no-such-host.invalid" in check["message"]


def test_wrong_database_password_is_unknown_without_the_secret(pytester: pytest.Pytester) -> None:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    url = "postgresql://no_such_aide_user:Sup3r-S3cret-pw@127.0.0.1:5432/test"
    health, output, _ = run_checks(
        pytester, f'[db]\nurl = "{url}"\ntimeout = 2\n', "check_database.py", "-k", "check_db_reachable"
    )
    check = only_check(health)
    assert check["status"] == "UNKNOWN"
    assert "no_such_aide_user" in check["message"]
    assert "Sup3r-S3cret-pw" not in output + json.dumps(health)


def test_missing_database_file_is_unknown_and_not_created(pytester: pytest.Pytester) -> None:
    health, _, _ = run_checks(
        pytester, '[db]\nurl = "sqlite:///data/missing.db"\n', "check_database.py", "-k", "check_db_reachable"
    )
    check = only_check(health)
    assert check["status"] == "UNKNOWN"
    assert "database file not found" in check["message"]
    assert not (pytester.path / "data" / "missing.db").exists()


def test_locked_sqlite_database_gives_a_bounded_verdict(pytester: pytest.Pytester) -> None:
    path = pytester.path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        health, _, _ = run_checks(
            pytester,
            '[db]\nurl = "sqlite:///locked.db"\ntimeout = 0.5\n',
            "check_database.py",
            "-k",
            "check_db_reachable",
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    check = only_check(health)
    assert check["status"] in ("UNKNOWN", "CRITICAL")
    assert "locked" in check["message"]
    assert check["duration"] < 4  # its 0.5 s, not sqlite3's default 5 s


def test_missing_log_file_is_critical(pytester: pytest.Pytester) -> None:
    health, _, _ = run_checks(pytester, '[logs]\nfiles = ["logs/gone.log"]\n', "check_logs.py", "-k", "check_log_file")
    check = only_check(health)
    assert check["status"] == "CRITICAL"
    assert "log file not found" in check["message"]


def test_a_log_of_several_gib_is_read_from_its_end_only(pytester: pytest.Pytester) -> None:
    log = pytester.path / "huge.log"
    with log.open("wb") as handle:
        handle.truncate(3 * 2**30)  # sparse: costs no disk
        handle.seek(0, 2)
        old = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() - 3 * 3600))  # before the window
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        lines = f"\n{old},000 ERROR app: long ago\n{stamp},000 ERROR app: disk full\n{stamp},001 INFO app: retrying\n"
        handle.write(lines.encode())
    health, _, read = run_checks(pytester, '[logs]\nfiles = ["huge.log"]\n', "check_logs.py", "-k", "check_log_errors")
    check = only_check(health)
    assert check["measurements"]["log_errors"]["value"] == 2
    assert check["measurements"]["log_errors_last_window"]["value"] == 1
    assert read < 64 * 2**20  # bytes, not seconds: of 3 GiB, only the end (and the run's own files)


def test_a_certificate_close_to_expiry_is_critical(pytester: pytest.Pytester, tmp_path: Path) -> None:
    import ssl
    from datetime import UTC, datetime, timedelta

    import trustme

    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", not_after=datetime.now(UTC) + timedelta(days=3)).configure_cert(context)
    server = QuietHTTPServer(("127.0.0.1", 0), _Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"https://127.0.0.1:{server.server_address[1]}"
        health, _, _ = run_checks(pytester, f'[app]\nurl = "{url}"\nverify_tls = "{bundle}"\n', "check_tls.py")
    finally:
        server.shutdown()
        server.server_close()
    check = only_check(health)
    assert check["status"] == "CRITICAL"
    assert 2 < check["measurements"]["tls_days_left"]["value"] < 3.01
    assert "renew the TLS certificate" in check["message"]


class _NeedsToken(_Handler):
    def do_GET(self) -> None:
        if self.headers.get("Authorization") != "Bearer header-secret-991":
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()


@pytest.fixture
def token_server() -> Iterator[str]:
    server = QuietHTTPServer(("127.0.0.1", 0), _NeedsToken)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_auth_header_comes_from_the_environment_and_stays_secret(
    pytester: pytest.Pytester, token_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = api_toml(token_server) + 'headers_env = { Authorization = "HEALTH_AUTH" }\n'
    monkeypatch.setenv("HEALTH_AUTH", "Bearer header-secret-991")
    health, output, _ = run_checks(pytester, toml, "check_api.py", "-k", "check_api_health", "-rA")
    assert only_check(health)["status"] == "OK"
    monkeypatch.setenv("HEALTH_AUTH", "Bearer wrong-but-secret-992")
    health, output, _ = run_checks(pytester, toml, "check_api.py", "-k", "check_api_health", "-rA")
    assert "expected status 200, got 401" in only_check(health)["message"]
    reports = "".join(p.read_text() for p in (pytester.path / "reports").glob("2*/*") if p.is_file())
    for secret in ("header-secret-991", "wrong-but-secret-992"):
        assert secret not in output + reports
    monkeypatch.delenv("HEALTH_AUTH")
    health, _, _ = run_checks(pytester, toml, "check_api.py", "-k", "check_api_health")
    check = only_check(health)
    assert check["status"] == "UNKNOWN"
    assert "environment variable HEALTH_AUTH is not set" in check["message"]


def test_a_process_is_found_by_its_pidfile(pytester: pytest.Pytester) -> None:
    import os

    (pytester.path / "app.pid").write_text(f"{os.getpid()}\n")
    health, _, _ = run_checks(
        pytester, '[resources]\npidfiles = ["app.pid", "gone.pid"]\n', "check_processes.py", "-k", "pidfile"
    )
    statuses = {c["nodeid"].split("[")[-1].rstrip("]"): c for c in health["checks"] if c["status"] != "SKIPPED"}
    assert statuses["app.pid"]["status"] == "OK"
    assert statuses["app.pid"]["measurements"]["processes"]["value"] == 1
    assert statuses["gone.pid"]["status"] == "CRITICAL"
    assert "pidfile" in statuses["gone.pid"]["message"]


def test_pip_check_runs_in_the_targets_environment(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """A broken dependency in the target's virtualenv is found; a missing interpreter is a clear failure."""
    venv = tmp_path / "target-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = next((venv / "lib").glob("python3*/site-packages"))
    # A distribution whose requirement is missing, as `pip check` reports it.
    info = site / "brokenapp-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: brokenapp\nVersion: 1.0\nRequires-Dist: nosuchdep\n")
    (site / "pip").symlink_to(Path(__import__("pip").__file__).parent)  # borrow pip, nothing else
    health, _, _ = run_checks(
        pytester,
        f'[preflight]\npython = "{venv}/bin/python"\n',
        "check_preflight.py",
        "-k",
        "dependencies",
        "-m",
        "weekly",
    )
    check = only_check(health)
    assert check["status"] == "CRITICAL"
    assert "brokenapp 1.0 requires nosuchdep" in check["message"]
    health, _, _ = run_checks(
        pytester,
        '[preflight]\npython = "/nonexistent/python"\n',
        "check_preflight.py",
        "-k",
        "dependencies",
        "-m",
        "weekly",
    )
    assert "cannot run /nonexistent/python" in only_check(health)["message"]
