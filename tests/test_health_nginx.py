"""The health-document rule against real software: Debian's nginx as a reverse proxy in front of gunicorn.

nginx runs as a child of this test with its own configuration, prefix and free port (``master_process off``:
one process, stopped by its pid); gunicorn serves a tiny WSGI app whose answer a state file chooses. nginx
serves ``maintenance.html`` instead of the app while that file exists (the usual ``try_files`` maintenance
switch), and answers 502 once gunicorn is stopped. Each case runs the shipped ``check_api_health``.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from aide_testing import shipped_health_check
from realistic_stack import NGINX, start_gunicorn, stop_process, wait_for_http

from conftest import free_port, unavailable

APP = """
import pathlib

STATE = pathlib.Path(__file__).with_name("answer.json")


def app(environ, start_response):
    body = STATE.read_bytes()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
"""

NGINX_CONF = """
daemon off;
master_process off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log {root}/access.log;
    client_body_temp_path {root}/tmp/body;
    proxy_temp_path {root}/tmp/proxy;
    fastcgi_temp_path {root}/tmp/fastcgi;
    uwsgi_temp_path {root}/tmp/uwsgi;
    scgi_temp_path {root}/tmp/scgi;
    types {{ text/html html; }}
    server {{
        listen 127.0.0.1:{port};
        root {root}/www;
        location / {{ try_files /maintenance.html @app; }}
        location @app {{ proxy_pass http://127.0.0.1:{app_port}; proxy_read_timeout 5s; }}
    }}
}}
"""

MAINTENANCE = "<!DOCTYPE html>\n<html><head><title>Maintenance</title></head><body>Back at 14:00</body></html>\n"


@dataclass
class Stack:
    root: Path
    url: str
    app_port: int
    gunicorn: subprocess.Popen[bytes]

    def start_app(self) -> None:
        """gunicorn again, answering (the case that stops it puts it back, so no case depends on the order)."""
        self.gunicorn = start_gunicorn(
            self.root / "app", self.app_port, self.root / "gunicorn.log", app="health_app:app"
        )
        wait_for_http(f"http://127.0.0.1:{self.app_port}/", self.gunicorn, "gunicorn")

    def answer(self, document: dict[str, object]) -> None:
        (self.root / "app" / "answer.json").write_text(json.dumps(document))

    def maintenance(self, on: bool) -> None:
        page = self.root / "www" / "maintenance.html"
        if on:
            page.write_text(MAINTENANCE)
        else:
            page.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if NGINX is None:
        unavailable("nginx is not installed (Debian: apt-get install nginx)")
    if importlib.util.find_spec("gunicorn") is None:
        unavailable("gunicorn is not installed (pip install gunicorn)")
    assert NGINX is not None
    root = tmp_path_factory.mktemp("nginx")
    for folder in ("app", "www", "tmp", "logs"):
        (root / folder).mkdir()
    (root / "app" / "health_app.py").write_text(APP)
    (root / "app" / "answer.json").write_text(json.dumps({"status": "ok"}))
    app_port, port = free_port(), free_port()
    (root / "nginx.conf").write_text(NGINX_CONF.format(root=root, port=port, app_port=app_port))
    gunicorn = start_gunicorn(root / "app", app_port, root / "gunicorn.log", app="health_app:app")
    nginx = subprocess.Popen(
        [NGINX, "-p", str(root), "-c", str(root / "nginx.conf"), "-e", str(root / "error.log")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{app_port}/", gunicorn, "gunicorn")
        wait_for_http(f"http://127.0.0.1:{port}/", nginx, "nginx")
        stack = Stack(root, f"http://127.0.0.1:{port}", app_port, gunicorn)
        yield stack
        gunicorn = stack.gunicorn
    finally:
        stop_process(nginx)
        stop_process(gunicorn)


def health_check(pytester: pytest.Pytester, url: str) -> dict:
    return shipped_health_check(pytester, url, path="/healthz", timeout=5)


# The cases share one nginx and one gunicorn; each sets the answer it needs, and the app's stop starts it again.


def test_healthy_document_through_nginx_is_ok(pytester: pytest.Pytester, stack: Stack) -> None:
    stack.answer({"status": "UP", "components": {"db": {"status": "UP"}}})
    check = health_check(pytester, stack.url)
    assert check["status"] == "OK", check["message"]
    assert check["measurements"]["response_time_s"]["status"] == "OK"


def test_degraded_document_through_nginx_is_a_warning(pytester: pytest.Pytester, stack: Stack) -> None:
    stack.answer({"status": "degraded", "reason": "replica lag 40 s"})
    check = health_check(pytester, stack.url)
    assert check["status"] == "WARNING"
    assert "degraded" in check["message"]


def test_app_reporting_itself_down_through_nginx_is_critical(pytester: pytest.Pytester, stack: Stack) -> None:
    stack.answer({"status": "fail", "checks": {"database": "fail"}})
    check = health_check(pytester, stack.url)
    assert check["status"] == "CRITICAL"
    assert "reports itself unhealthy: status 'fail'" in check["message"]


def test_nginx_maintenance_page_is_critical(pytester: pytest.Pytester, stack: Stack) -> None:
    stack.answer({"status": "ok"})
    stack.maintenance(True)
    try:
        assert requests.get(stack.url + "/healthz", timeout=5).status_code == 200  # what fooled the old check
        check = health_check(pytester, stack.url)
    finally:
        stack.maintenance(False)
    assert check["status"] == "CRITICAL"
    assert "answered 200 with an HTML page" in check["message"]
    assert "login or maintenance page?" in check["message"]


def test_app_stopped_behind_nginx_is_a_502_and_critical(pytester: pytest.Pytester, stack: Stack) -> None:
    stop_process(stack.gunicorn)
    try:
        check = health_check(pytester, stack.url)
    finally:
        stack.start_app()
    assert check["status"] == "CRITICAL"
    assert "expected status 200, got 502" in check["message"]
    assert '"GET /healthz HTTP/1.1" 502 ' in (stack.root / "access.log").read_text()  # nginx's own record
