"""The log rows of the realistic fault list, through the shipped checks: an error burst in each log format is
WARNING with its cause (and a client's 404 burst in nginx is not), and a live nginx in front of gunicorn whose
real error logs are judged, rotated between runs, and counted once.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from realistic_stack import NGINX, start_gunicorn, stop_process, wait_for_http

import pytest_aide.suite
from conftest import HANG_S, free_port, unavailable

SUITE = Path(pytest_aide.suite.__file__).parent / "aide"


def _run(pytester: pytest.Pytester, *select: str) -> dict[str, dict[str, Any]]:
    """Run the shipped log checks named by ``-k`` and return this run's checks by their test name."""
    before = set((pytester.path / "reports").glob("2*/health.json"))
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning",
        str(SUITE / "check_logs.py"), f"--aide-config={pytester.path / 'aide.toml'}", "-q", "-k", " or ".join(select),
    )  # fmt: skip
    runs = sorted(set((pytester.path / "reports").glob("2*/health.json")) - before)
    assert runs, result.stdout.str()
    return {c["nodeid"].split("::")[-1]: c for c in json.loads(runs[-1].read_text())["checks"]}


# --- an error burst in each format ---------------------------------------------------------------------------

_Write = Callable[[datetime, int], str]
_BURSTS: dict[str, tuple[_Write, _Write]] = {  # format: (an error line, a quiet line), at a time and a number
    "nginx": (
        lambda t, i: (
            f"{t:%Y/%m/%d %H:%M:%S} [error] 7#7: *{i} connect() failed (111: Connection refused) while "
            'connecting to upstream, client: 127.0.0.1, server: , request: "GET /api HTTP/1.1"'
        ),
        lambda t, i: f"{t:%Y/%m/%d %H:%M:%S} [notice] 7#7: signal process started",
    ),
    "apache": (
        lambda t, i: f"[{t:%a %b %d %H:%M:%S}.000000 {t:%Y}] [proxy:error] [pid 9] (111)Connection refused: AH00957",
        lambda t, i: f"[{t:%a %b %d %H:%M:%S}.000000 {t:%Y}] [mpm_event:notice] [pid 9] AH00489: resuming",
    ),
    "gunicorn": (
        lambda t, i: (
            f"[{t.astimezone(UTC):%Y-%m-%d %H:%M:%S} +0000] [12] [ERROR] Error handling request GET /x\n"
            f'Traceback (most recent call last):\n  File "app.py", line 3, in app\nValueError: boom {i}'
        ),
        lambda t, i: f"[{t.astimezone(UTC):%Y-%m-%d %H:%M:%S} +0000] [12] [INFO] Booting worker with pid: {i}",
    ),
    "postgresql": (
        lambda t, i: (
            f"{t.astimezone(UTC):%Y-%m-%d %H:%M:%S}.000 UTC [4{i}] app@db FATAL:  password authentication "
            'failed for user "app"'
        ),
        lambda t, i: f"{t.astimezone(UTC):%Y-%m-%d %H:%M:%S}.000 UTC [4{i}] LOG:  checkpoint starting: time",
    ),
    "redis": (
        lambda t, i: f"1:M {t:%d %b %Y %H:%M:%S}.000 # Background saving error",
        lambda t, i: f"1:M {t:%d %b %Y %H:%M:%S}.000 * 1 changes in 3600 seconds. Saving...",
    ),
    "python": (
        lambda t, i: f"{t:%Y-%m-%d %H:%M:%S},000 ERROR app.orders: order {i} failed",
        lambda t, i: f"{t:%Y-%m-%d %H:%M:%S},000 INFO app.orders: order {i} accepted",
    ),
    "json": (
        lambda t, i: json.dumps({"time": t.astimezone(UTC).isoformat(), "level": "error", "msg": f"failed {i}"}),
        lambda t, i: json.dumps({"time": t.astimezone(UTC).isoformat(), "level": "info", "msg": f"ok {i}"}),
    ),
    "syslog": (
        lambda t, i: f"{t:%b} {t.day:2d} {t:%H:%M:%S} web1 app[77]: ERROR payment {i} failed",
        lambda t, i: f"{t:%b} {t.day:2d} {t:%H:%M:%S} web1 CRON[78]: (root) CMD (run-parts /etc/cron.hourly)",
    ),
    "access": (
        lambda t, i: f'127.0.0.1 - - [{t.astimezone(UTC):%d/%b/%Y:%H:%M:%S} +0000] "GET /api/{i} HTTP/1.1" 502 157',
        lambda t, i: f'127.0.0.1 - - [{t.astimezone(UTC):%d/%b/%Y:%H:%M:%S} +0000] "GET /x{i} HTTP/1.1" 404 153',
    ),
}


def test_an_error_burst_in_each_format_warns_and_names_its_cause(pytester: pytest.Pytester) -> None:
    now = datetime.now().astimezone().replace(microsecond=0)
    for name, (error, quiet) in _BURSTS.items():
        old = [quiet(now - timedelta(hours=3), i) for i in range(40)]
        burst = [error(now - timedelta(minutes=5), i) for i in range(12)] + [quiet(now, i) for i in range(20)]
        (pytester.path / f"{name}.log").write_text("\n".join(old + burst) + "\n")
    # a client's 404s at nginx's [error] level: a burst of them is no server error
    not_found = [
        f'{now:%Y/%m/%d %H:%M:%S} [error] 7#7: *{i} open() "/srv/www/x{i}.png" failed (2: No such file or directory), '
        f'client: 127.0.0.1, server: , request: "GET /x{i}.png HTTP/1.1"'
        for i in range(30)
    ]
    (pytester.path / "nginx-404.log").write_text("\n".join(not_found) + "\n")
    files = ", ".join(f'"{name}.log"' for name in [*_BURSTS, "nginx-404"])
    (pytester.path / "aide.toml").write_text(f"[logs]\nfiles = [{files}]\n")
    checks = _run(pytester, "check_log_errors")
    for name in _BURSTS:
        check = checks[f"check_log_errors[{name}.log]"]
        measured = {key: m["value"] for key, m in check["measurements"].items()}
        assert measured["log_errors"] == 12, name
        assert measured["log_errors_last_window"] == 12, name  # the old quiet lines are outside the hour
        assert check["status"] == "WARNING", name
        assert "log_errors = 12" in check["message"], name
    quiet_404 = checks["check_log_errors[nginx-404.log]"]
    assert quiet_404["status"] == "OK"
    assert quiet_404["measurements"]["log_errors"]["value"] == 0


# --- live: nginx in front of gunicorn ------------------------------------------------------------------------

APP = """
def app(environ, start_response):
    if environ["PATH_INFO"].startswith("/boom"):
        raise ValueError("boom")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
"""

NGINX_CONF = """
daemon off;
master_process off;
pid {root}/nginx.pid;
error_log {root}/nginx-error.log notice;
events {{ worker_connections 64; }}
http {{
    access_log {root}/nginx-access.log;
    client_body_temp_path {root}/tmp/body;
    proxy_temp_path {root}/tmp/proxy;
    fastcgi_temp_path {root}/tmp/fastcgi;
    uwsgi_temp_path {root}/tmp/uwsgi;
    scgi_temp_path {root}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root}/www;
        location /app/ {{ proxy_pass http://127.0.0.1:{app_port}/; }}
        location /down/ {{ proxy_pass http://127.0.0.1:{down_port}/; }}
    }}
}}
"""


@pytest.fixture
def proxy(pytester: pytest.Pytester) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """nginx on a free port proxying /app/ to gunicorn and /down/ to a port nothing listens on."""
    if NGINX is None:
        unavailable("nginx is not installed (Debian package nginx)")
    if importlib.util.find_spec("gunicorn") is None:
        unavailable("gunicorn is not installed in this environment (pip install gunicorn)")
    root = pytester.path
    for sub in ("www", "tmp"):
        (root / sub).mkdir()
    (root / "wsgi_app.py").write_text(APP)
    port, app_port, down_port = free_port(), free_port(), free_port()
    (root / "nginx.conf").write_text(NGINX_CONF.format(root=root, port=port, app_port=app_port, down_port=down_port))
    gunicorn = start_gunicorn(root, app_port, root / "gunicorn-error.log", app="wsgi_app:app")
    assert NGINX is not None  # unavailable() skipped or failed otherwise
    nginx = subprocess.Popen(
        [NGINX, "-p", str(root), "-c", str(root / "nginx.conf"), "-e", str(root / "nginx-error.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_http(f"http://127.0.0.1:{app_port}/", gunicorn, "gunicorn")
        wait_for_http(f"http://127.0.0.1:{port}/app/", nginx, "nginx")
        yield f"http://127.0.0.1:{port}", nginx
    finally:
        stop_process(nginx)
        stop_process(gunicorn)


def _get(base: str, path: str, times: int) -> set[int]:
    return {requests.get(f"{base}{path}{i}", timeout=HANG_S).status_code for i in range(times)}


def test_real_nginx_and_gunicorn_logs_are_judged_and_rotation_counts_once(
    pytester: pytest.Pytester, proxy: tuple[str, subprocess.Popen[bytes]]
) -> None:
    base, nginx = proxy
    (pytester.path / "aide.toml").write_text(
        '[logs]\nfiles = ["nginx-error.log", "nginx-access.log", {path = "gunicorn-error.log", tail_lines = 400}]\n'
    )  # 12 tracebacks take more than the default 100 lines
    baseline = _run(pytester, "check_new_log_errors")
    assert {c["status"] for c in baseline.values()} == {"SKIPPED"}  # first run: positions saved, nothing to judge
    assert _get(base, "/missing-", 25) == {404}  # client faults: nginx logs them at [error]
    assert _get(base, "/app/boom", 12) == {500}  # the app raises: gunicorn logs [ERROR] and a traceback
    assert _get(base, "/down/x", 3) == {502}  # the upstream refuses: nginx's server errors
    checks = _run(pytester, "check_log_errors", "check_new_log_errors")
    counted = {name: c["measurements"] for name, c in checks.items()}
    assert counted["check_log_errors[nginx-error.log]"]["log_errors"]["value"] == 3  # not the 25 404s
    assert counted["check_log_errors[nginx-access.log]"]["log_errors"]["value"] == 15  # 12 times 500, 3 times 502
    assert counted["check_log_errors[gunicorn-error.log]"]["log_errors"]["value"] == 12
    assert counted["check_log_errors[gunicorn-error.log]"]["log_errors_last_window"]["value"] == 12
    assert checks["check_log_errors[gunicorn-error.log]"]["status"] == "WARNING"
    assert checks["check_log_errors[nginx-error.log]"]["status"] == "OK"
    assert counted["check_new_log_errors[gunicorn-error.log]"]["new_log_errors"]["value"] == 12
    assert checks["check_new_log_errors[gunicorn-error.log]"]["status"] == "WARNING"

    # 11 upstream failures, then logrotate's rename + create: nginx reopens its logs on USR1
    assert _get(base, "/down/y", 11) == {502}
    (pytester.path / "nginx-error.log").rename(pytester.path / "nginx-error.log.1")
    os.kill(nginx.pid, signal.SIGUSR1)
    deadline = time.monotonic() + HANG_S
    while not (pytester.path / "nginx-error.log").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _get(base, "/down/z", 1) == {502}
    after = _run(pytester, "check_new_log_errors")
    nginx_new = after["check_new_log_errors[nginx-error.log]"]
    assert nginx_new["measurements"]["new_log_errors"]["value"] == 12  # 11 before the rotation, 1 after
    assert nginx_new["status"] == "WARNING"
    again = _run(pytester, "check_new_log_errors")
    assert again["check_new_log_errors[nginx-error.log]"]["measurements"]["new_log_errors"]["value"] == 0
