"""The load probe against a real local HTTP server: percentiles, throughput, error rate, the deadline, and the
shipped weekly check that runs it only when ``[load]`` is configured."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from aide_testing import SHIPPED_CHECKS
from hypothesis import given
from hypothesis import strategies as st
from quiet_http import QuietHTTPServer

from pytest_aide.probes.http import HttpClient
from pytest_aide.probes.load import LoadResult, run_load

OUTER_BOUND_S = 60  # only proves "does not hang": never a speed bound (the machine is shared)


class _Server(QuietHTTPServer):
    daemon_threads = True
    counter = 0
    in_flight = 0
    most_in_flight = 0
    lock = threading.Lock()
    release = threading.Event()  # ends the hanging handlers when the test is done


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive: the probe's pooled connections are reused

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        server = self.server
        with server.lock:
            server.counter += 1
            number = server.counter
            server.in_flight += 1
            server.most_in_flight = max(server.most_in_flight, server.in_flight)
        try:
            if self.path.startswith("/hang"):
                server.release.wait(30)  # a server that accepts and never answers (bounded for the test's end)
                return
            if self.path.startswith("/slow"):
                time.sleep(0.02)
            status = 500 if self.path.startswith("/flaky") and number % 4 == 0 else 200
            body = json.dumps({"n": number}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        finally:
            with server.lock:
                server.in_flight -= 1


@pytest.fixture
def server() -> Iterator[_Server]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.release = threading.Event()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


def _url(server: _Server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_latency_percentiles_throughput_and_concurrency(server: _Server) -> None:
    with HttpClient(_url(server), read_timeout=5, pool_size=4) as client:
        result = run_load(client, "/slow", concurrency=4, requests=40, deadline=OUTER_BOUND_S)
    assert (result.sent, result.failed, result.error_rate_percent, len(result.latencies_s)) == (40, 0, 0.0, 40)
    assert server.counter == 40
    p50, p95, p99 = (result.percentile(f) or 0.0 for f in (0.5, 0.95, 0.99))
    assert 0.02 <= p50 <= p95 <= p99 <= max(result.latencies_s)  # every request slept 20 ms on the server
    assert result.throughput_ops == pytest.approx(40 / result.elapsed_s)
    assert 2 <= server.most_in_flight <= 4  # several at a time, never more than the concurrency
    assert not result.deadline_reached
    assert result.bound_ops == pytest.approx(4 / p50)


def test_error_rate_counts_the_server_errors(server: _Server) -> None:
    with HttpClient(_url(server), read_timeout=5, pool_size=2) as client:
        result = run_load(client, "/flaky", concurrency=2, requests=40, deadline=OUTER_BOUND_S)
    assert (result.sent, result.failed, result.error_rate_percent) == (40, 10, 25.0)  # every 4th answers 500
    assert result.errors == {"expected status 200, got 500": 10}
    assert len(result.latencies_s) == 40  # a 500 is still a whole response, with a response time
    assert result.throughput_ops == pytest.approx(30 / result.elapsed_s)  # only successes count


def test_a_hanging_server_ends_at_the_deadline_every_request_failed(server: _Server) -> None:
    began = time.monotonic()
    with HttpClient(_url(server), connect_timeout=1, read_timeout=0.5, pool_size=2) as client:
        result = run_load(client, "/hang", concurrency=2, requests=100_000, deadline=1.0)
    assert time.monotonic() - began < OUTER_BOUND_S
    assert result.deadline_reached
    assert 2 <= result.sent < 100_000
    assert result.error_rate_percent == 100.0
    assert result.throughput_ops == 0.0
    assert result.percentile(0.5) is None  # no whole response: no latency to speak of
    assert all("timed out" in text for text in result.errors)
    assert "deadline reached" in result.summary()


def test_bad_arguments_are_refused() -> None:
    with HttpClient("http://127.0.0.1:9") as client, pytest.raises(ValueError, match="concurrency"):
        run_load(client, "/", concurrency=0, requests=1, deadline=1)


@given(st.lists(st.floats(min_value=0, max_value=1e4, allow_nan=False), min_size=1, max_size=300))
def test_percentiles_are_ordered_and_within_the_data(latencies: list[float]) -> None:
    result = LoadResult("u", 1, len(latencies), len(latencies), 0, 1.0, tuple(latencies))
    values = [result.percentile(f) for f in (0.5, 0.95, 0.99)]
    assert all(v is not None for v in values)
    p50, p95, p99 = (float(v) for v in values if v is not None)
    assert min(latencies) <= p50 <= p95 <= p99 <= max(latencies)


# --- the shipped weekly check, through pytest ----------------------------------------------------------------


def _load_check(pytester: pytest.Pytester, server: _Server, load: str, *args: str) -> tuple[dict[str, Any], str]:
    config = pytester.path / "aide.toml"
    config.write_text(
        f'[app]\nurl = "{_url(server)}"\ntimeout = 0.5\n{load}\n'
        '[thresholds.load_throughput_ops]\nwarning = "1:"\ncritical = false  # a shared machine: no speed bound\n'
    )
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        str(SHIPPED_CHECKS / "check_performance.py"),
        "-k",
        "check_api_load",
        f"--aide-config={config}",
        *args,
        timeout=OUTER_BOUND_S * 2,
    )
    run = sorted((pytester.path / "reports").glob("2*/health.json"))[-1]
    (check,) = [c for c in json.loads(run.read_text())["checks"] if c["nodeid"].endswith("check_api_load")]
    return check, result.stdout.str()


def test_the_weekly_load_check_is_skipped_without_a_load_table(pytester: pytest.Pytester, server: _Server) -> None:
    check, _ = _load_check(pytester, server, "")
    assert check["status"] == "SKIPPED"
    assert check["skip_reason"].startswith("not configured: [load]")
    assert server.counter == 0  # no load on a target that did not ask for it


def test_the_weekly_load_check_judges_percentiles_throughput_and_errors(
    pytester: pytest.Pytester, server: _Server
) -> None:
    check, _ = _load_check(pytester, server, '[load]\npath = "/slow"\nconcurrency = 3\nrequests = 30\n')
    assert check["status"] == "OK", check
    measured = check["measurements"]
    assert set(measured) == {
        "load_p50_s",
        "load_p95_s",
        "load_p99_s",
        "load_throughput_ops",
        "load_error_rate_percent",
    }
    assert measured["load_error_rate_percent"]["value"] == 0
    assert measured["load_p95_s"]["warning"] == "1"  # the seeds' response-time figures
    assert "30 of 30 requests, 3 at a time" in check["message"]
    assert server.counter == 30


def test_the_weekly_load_check_is_critical_on_server_errors(pytester: pytest.Pytester, server: _Server) -> None:
    check, out = _load_check(pytester, server, '[load]\npath = "/flaky"\nconcurrency = 2\nrequests = 20\n')
    assert check["status"] == "CRITICAL"
    assert check["measurements"]["load_error_rate_percent"]["value"] == 25.0
    assert "load_error_rate_percent = 25 % (critical > 5" in check["message"]
    assert "UNHEALTHY" in out or "CRITICAL" in out


def test_the_weekly_load_check_ends_against_a_hanging_server(pytester: pytest.Pytester, server: _Server) -> None:
    check, _ = _load_check(
        pytester, server, '[load]\npath = "/hang"\nconcurrency = 2\nrequests = 10000\ndeadline = 1\ntimeout = 0.5\n'
    )
    assert check["status"] == "CRITICAL"  # every request timed out: a fact about the app, not a hung check
    assert check["measurements"]["load_error_rate_percent"]["value"] == 100
    assert "deadline reached" in check["message"]
