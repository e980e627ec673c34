"""HttpClient and pick() against real HTTP(S) servers on 127.0.0.1."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import trustme
from hypothesis import given
from hypothesis import strategies as st
from quiet_http import QuietHTTPServer

from conftest import HANG_S, free_port, timed
from pytest_aide.errors import ProbeError
from pytest_aide.probes.http import EXCERPT_CHARS, MAX_BODY_BYTES, HttpClient, pick
from pytest_aide.redact import Redactor

TRICKLE_BYTES = 1200  # one byte every 50 ms: the whole body takes a minute

HEALTH = {"status": "healthy", "cache": {"hit_rate_percent": 87.5}, "items": [{"id": 7}, {"id": 8}]}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    release: threading.Event

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        route = {
            "/health": lambda: self.reply(200, json.dumps(HEALTH).encode(), "application/json"),
            "/down": lambda: self.reply(503, b"maintenance", "text/plain"),
            "/echo": lambda: self.reply(200, self.echo(), "application/json"),
            "/big": lambda: self.reply(200, b"x" * (2 * MAX_BODY_BYTES), "text/plain"),
            "/trickle": self.trickle,
        }.get(self.path.split("?")[0])
        if route is None:
            self.reply(404, b"not found", "text/plain")
        else:
            route()

    def do_POST(self) -> None:
        self.reply(201, b'{"method": "POST"}', "application/json")

    def echo(self) -> bytes:
        return json.dumps({"seen": self.headers.get("Authorization"), "path": self.path}).encode()

    def reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def trickle(self) -> None:
        """Headers at once, then one byte every 50 ms for a minute: each read is quick, the whole body is not."""
        self.send_response(200)
        self.send_header("Content-Length", str(TRICKLE_BYTES))
        self.end_headers()
        for _ in range(TRICKLE_BYTES):
            if self.release.wait(0.05):
                return
            self.wfile.write(b"x")
            self.wfile.flush()


class Server(QuietHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def serve(tls: ssl.SSLContext | None = None) -> tuple[Server, threading.Thread]:
    release = threading.Event()
    handler = type("BoundHandler", (Handler,), {"release": release})
    server = Server(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return server, thread


def stop(server: Server, thread: threading.Thread) -> None:
    server.RequestHandlerClass.release.set()  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def base_url() -> Iterator[str]:
    server, thread = serve()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    stop(server, thread)


@pytest.fixture
def client(base_url: str) -> Iterator[HttpClient]:
    with HttpClient(base_url, connect_timeout=1.0, read_timeout=2.0) as http:
        yield http


def test_probe_of_a_healthy_json_endpoint(client: HttpClient, base_url: str) -> None:
    probe, took = timed(lambda: client.probe("/health"))
    assert probe.ok
    assert probe.error is None
    assert probe.status_code == 200
    assert probe.name == "/health"
    assert probe.url == f"{base_url}/health"
    assert probe.method == "GET"
    assert probe.json == HEALTH
    assert json.loads(probe.body_excerpt) == HEALTH
    assert 0 < probe.elapsed_s <= took  # seconds, measured around the request
    as_dict = probe.to_dict()
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert as_dict["json"]["cache"]["hit_rate_percent"] == 87.5


def test_unexpected_status_is_an_error_but_still_measured(client: HttpClient) -> None:
    probe = client.probe("down", name="maintenance page")
    assert not probe.ok
    assert probe.status_code == 503
    assert probe.error == "expected status 200, got 503"
    assert probe.body_excerpt == "maintenance"
    assert probe.json is None
    assert probe.name == "maintenance page"
    assert client.probe("/down", expect_status=503).ok
    assert client.probe("/down", expect_status=None).ok


def test_method_is_sent(client: HttpClient) -> None:
    probe = client.probe("/health", method="post", expect_status=201)
    assert probe.ok
    assert probe.method == "POST"
    assert probe.json == {"method": "POST"}


def test_connection_refused_is_reported_not_raised() -> None:
    with HttpClient(f"http://127.0.0.1:{free_port()}") as client:
        probe, took = timed(lambda: client.probe("/health"))
    assert not probe.ok
    assert probe.status_code is None
    assert probe.error == "connection refused"
    assert 0 < probe.elapsed_s <= took


def test_read_timeout_bounds_a_server_that_never_answers(silent_port: int) -> None:
    with HttpClient(f"http://127.0.0.1:{silent_port}", connect_timeout=1.0, read_timeout=0.3) as client:
        probe = client.probe("/health")
    assert probe.error == "timed out after 0.3 s"
    assert probe.status_code is None
    assert 0.3 <= probe.elapsed_s < HANG_S


def test_whole_response_is_bounded_even_when_every_read_is_quick(base_url: str) -> None:
    with HttpClient(base_url, connect_timeout=0.2, read_timeout=0.5) as client:
        probe = client.probe("/trickle")
    assert probe.error == "response not complete within 0.7 s"
    assert probe.status_code == 200
    assert not probe.ok
    assert probe.elapsed_s < HANG_S  # the whole body takes a minute


def test_unknown_host_is_named() -> None:
    with HttpClient("http://example.invalid") as client:
        probe = client.probe("/health")
    assert probe.error == "cannot resolve host example.invalid"


def test_big_body_is_cut_and_not_parsed(client: HttpClient) -> None:
    probe = client.probe("/big")
    assert probe.ok
    assert probe.json is None
    assert probe.body_excerpt == "x" * EXCERPT_CHARS


def test_secrets_never_come_back(base_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    headers = {"Authorization": "Bearer sekrit-token-1"}
    redactor = Redactor(["query-secret-42"])
    with HttpClient(base_url, headers=headers, redactor=redactor) as client:
        probe = client.probe("/echo?user=query-secret-42")
        with_password = client.probe(f"http://ops:hunter2@{base_url.split('//')[1]}/echo")
    assert probe.ok
    assert "sekrit-token-1" not in json.dumps(probe.to_dict())
    assert "query-secret-42" not in json.dumps(probe.to_dict())
    assert probe.json == {"seen": "***", "path": "/echo?user=***"}
    assert with_password.url.startswith("http://ops:***@127.0.0.1")
    assert "hunter2" not in json.dumps(with_password.to_dict())


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_base_url(ca: trustme.CA) -> Iterator[str]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server, thread = serve(context)
    yield f"https://127.0.0.1:{server.server_address[1]}"
    stop(server, thread)


def test_untrusted_certificate_is_a_tls_error(tls_base_url: str) -> None:
    with HttpClient(tls_base_url) as client:
        probe = client.probe("/health")
    assert probe.status_code is None
    assert probe.error is not None
    assert probe.error.startswith("TLS error: certificate verify failed: ")


def test_verify_accepts_a_ca_bundle_path(tls_base_url: str, ca: trustme.CA, tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    with HttpClient(tls_base_url, verify=str(bundle)) as client:
        probe = client.probe("/health")
    assert probe.ok, probe.error
    assert probe.json == HEALTH


def test_verification_off_probes_without_warnings(tls_base_url: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with HttpClient(tls_base_url, verify=False) as client:
            probe = client.probe("/health")
    assert probe.ok, probe.error


def test_plain_http_against_tls_port_is_a_tls_error_or_closed(tls_base_url: str) -> None:
    with HttpClient(tls_base_url.replace("https", "http"), read_timeout=1.0) as client:
        probe = client.probe("/health")
    assert not probe.ok
    # the server drops the connection when the TLS handshake fails; which of the two we see is timing
    assert probe.error in ("connection closed by the server without a response", "connection reset by the server")
    assert probe.elapsed_s < HANG_S


def test_url_for_keeps_base_path_and_passes_absolute_urls() -> None:
    with HttpClient("http://app.example/prefix/") as client:
        assert client.url_for("/api/health") == "http://app.example/prefix/api/health"
        assert client.url_for("api/health") == "http://app.example/prefix/api/health"
        assert client.url_for("https://other.example/x") == "https://other.example/x"


def test_pick_walks_objects_and_arrays() -> None:
    assert pick(HEALTH, "cache.hit_rate_percent") == 87.5
    assert pick(HEALTH, "items.1.id") == 8
    assert pick(HEALTH, "items.-1.id") == 8
    assert pick(HEALTH, "status") == "healthy"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("cache.misses", "no key 'misses' in 'cache'"),
        ("uptime", "no key 'uptime' in the response"),
        ("items.5.id", "index 5 is out of range in 'items' (2 items)"),
        ("items.first", "'first' is not an index of the array 'items'"),
        ("status.code", "no 'code' in 'status': it is string, not an object or array"),
        ("cache..x", "empty segment in path 'cache..x'"),
    ],
)
def test_pick_names_the_missing_segment(path: str, message: str) -> None:
    with pytest.raises(ProbeError) as caught:
        pick(HEALTH, path)
    assert str(caught.value) == message


KEY = st.text(st.characters(blacklist_characters=".", blacklist_categories=("Cs",)), min_size=1, max_size=8)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEY, inner, max_size=3),
    max_leaves=10,
)


@given(keys=st.lists(KEY, min_size=1, max_size=5), leaf=JSON)
def test_pick_finds_what_was_put_at_a_path(keys: list[str], leaf: Any) -> None:
    data: Any = leaf
    for key in reversed(keys):
        data = {key: data}
    assert pick(data, ".".join(keys)) == leaf


@given(data=JSON, path=st.text(max_size=20))
def test_pick_fails_only_with_one_line_probe_errors(data: Any, path: str) -> None:
    message = ""
    try:
        pick(data, path)
    except ProbeError as exc:
        message = str(exc)
    assert "\n" not in message


def test_concurrent_probes_share_one_client(client: HttpClient) -> None:
    results: list[bool] = []

    def work() -> None:
        results.extend(client.probe("/health").ok for _ in range(5))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(HANG_S)
    assert results == [True] * 40


LAZY_TRANSPORT = """
import json, sys
from pytest_aide.probes.feed import ProbeFeed  # what an xdist worker fed by its controller imports
from pytest_aide.probes.http import HttpClient

client = HttpClient(sys.argv[1])
steps = {"built": "requests" in sys.modules}
steps["probed"] = client.probe("/health").ok and "requests" in sys.modules
client.close()
print(json.dumps(steps))
"""


def test_requests_is_imported_by_the_first_request_only(base_url: str) -> None:
    """A worker that reads its probes from the controller's feed never pays for importing requests (~0.15 s)."""
    done = subprocess.run(
        [sys.executable, "-c", LAZY_TRANSPORT, base_url], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"built": False, "probed": True}
