"""HttpClient reads what requests takes from the environment (proxies, NO_PROXY, REQUESTS_CA_BUNDLE) once per
host, not on every request — and still honours it. Real loopback servers: a target, and a proxy that records the
absolute-form request lines it is sent."""

from __future__ import annotations

import json
import ssl
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import trustme
from quiet_http import QuietHTTPServer

from conftest import free_port
from pytest_aide.probes.http import HttpClient

BODY = json.dumps({"status": "healthy"}).encode()


class Recording(QuietHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Answer)
        self.lines: list[str] = []


class Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Recording

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.lines.append(self.path)  # a proxy is sent the absolute URL
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)


def serve(server: Recording) -> Iterator[Recording]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def proxy() -> Iterator[Recording]:
    yield from serve(Recording())


@pytest.fixture
def target() -> Iterator[Recording]:
    yield from serve(Recording())


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setenv("NETRC", "/nonexistent/netrc")


def test_a_proxy_from_the_environment_is_used(proxy: Recording, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
    with HttpClient("http://app.example.invalid") as client:
        probes = [client.probe("/health"), client.probe("/stats")]
    assert [p.ok for p in probes] == [True, True]
    assert proxy.lines == ["http://app.example.invalid/health", "http://app.example.invalid/stats"]


def test_no_proxy_sends_the_target_direct(target: Recording, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")  # nothing listens: used, it would fail
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with HttpClient(f"http://127.0.0.1:{target.server_address[1]}") as client:
        probe = client.probe("/health")
    assert probe.ok, probe.error
    assert target.lines == ["/health"]


def test_the_environment_is_read_once_per_host_not_per_request(
    target: Recording, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = urllib.request.getproxies_environment

    def counting() -> dict[str, str]:
        calls.append(1)
        return real()

    monkeypatch.setattr(urllib.request, "getproxies_environment", counting)
    with HttpClient(f"http://127.0.0.1:{target.server_address[1]}") as client:
        probes = [client.probe(f"/ep/{i}") for i in range(20)]
    assert all(p.ok for p in probes)
    assert 1 <= len(calls) <= 3  # one lookup for the host (requests asks twice in it), not 20 or 40


def test_requests_ca_bundle_is_trusted_when_verify_is_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    server = Recording()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    for running in serve(server):
        url = f"https://127.0.0.1:{running.server_address[1]}"
        with HttpClient(url, connect_timeout=2, read_timeout=5) as client:
            untrusted = client.probe("/health")
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
        with HttpClient(url, connect_timeout=2, read_timeout=5) as client:
            trusted = client.probe("/health")
    assert not untrusted.ok
    assert "certificate verify failed" in (untrusted.error or "")
    assert trusted.ok, trusted.error
