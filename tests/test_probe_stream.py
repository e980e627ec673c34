"""ProbeStream: endpoints probed in the background, each result readable as soon as its own probe is done.

A loopback server holds the requests of "gated" endpoints until the test opens their gate, so what the
stream returns, and when, is decided by the test and not by the speed of the machine.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from quiet_http import QuietHTTPServer

from conftest import HANG_S
from pytest_aide.errors import ProbeError
from pytest_aide.probes.endpoints import EndpointSpec, ProbeStream, probe_all
from pytest_aide.probes.http import HttpClient

BODY = json.dumps({"status": "healthy"}).encode()


class GateServer(QuietHTTPServer):
    """``/gate/<name>`` answers once the test opens ``gates[name]``; anything else answers at once."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), GateHandler)
        self.lock = threading.Lock()
        self.gates: dict[str, threading.Event] = {}
        self.arrived: list[str] = []
        self.arrival = threading.Condition(self.lock)

    def gate(self, name: str) -> threading.Event:
        with self.lock:
            return self.gates.setdefault(name, threading.Event())

    def wait_for_arrivals(self, count: int) -> list[str]:
        with self.arrival:
            assert self.arrival.wait_for(lambda: len(self.arrived) >= count, HANG_S), self.arrived
            return list(self.arrived)


class GateHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: GateServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        with self.server.arrival:
            self.server.arrived.append(self.path)
            self.server.arrival.notify_all()
        if self.path.startswith("/gate/"):
            self.server.gate(self.path.removeprefix("/gate/")).wait(HANG_S)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)


@pytest.fixture
def server() -> Iterator[GateServer]:
    server = GateServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    for gate in list(server.gates.values()):
        gate.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def client(server: GateServer) -> Iterator[HttpClient]:
    with HttpClient(f"http://127.0.0.1:{server.server_address[1]}", pool_size=8) as client:
        yield client


def test_a_result_is_there_while_later_endpoints_are_still_in_flight(server: GateServer, client: HttpClient) -> None:
    specs = [EndpointSpec("first", "/ok"), EndpointSpec("held", "/gate/held")]
    with ProbeStream(client, specs, concurrency=2, wait=HANG_S) as stream:
        assert stream["first"].ok  # returns although "held" has no answer yet
        assert not server.gate("held").is_set()
        server.gate("held").set()
        assert stream["held"].ok
    assert sorted(server.arrived) == ["/gate/held", "/ok"]


def test_probes_start_in_the_given_order_and_never_more_than_concurrency_at_once(
    server: GateServer, client: HttpClient
) -> None:
    specs = [EndpointSpec(f"ep{i}", f"/gate/ep{i}") for i in range(6)]
    with ProbeStream(client, specs, concurrency=2, wait=HANG_S) as stream:
        assert sorted(server.wait_for_arrivals(2)) == ["/gate/ep0", "/gate/ep1"]  # the first two race each other
        for i in range(6):
            server.gate(f"ep{i}").set()
            assert stream[f"ep{i}"].ok
            if i < 4:  # a slot freed: the next in line (and only it) starts
                assert server.wait_for_arrivals(i + 3)[i + 2] == f"/gate/ep{i + 2}"
    assert sorted(server.arrived[:2]) == ["/gate/ep0", "/gate/ep1"]
    assert server.arrived[2:] == [f"/gate/ep{i}" for i in range(2, 6)]  # one freed slot at a time: in order


def test_reading_a_probe_that_outlasts_wait_is_a_probe_error_naming_it(server: GateServer, client: HttpClient) -> None:
    with ProbeStream(client, [EndpointSpec("stuck", "/gate/stuck")], wait=0.2) as stream:
        with pytest.raises(ProbeError, match=r"endpoint 'stuck': no result after 0.2 s"):
            stream["stuck"]
        assert "stuck" in stream  # membership never waits
        server.gate("stuck").set()


def test_closing_cancels_the_probes_not_started(server: GateServer, client: HttpClient) -> None:
    specs = [EndpointSpec("running", "/gate/running"), EndpointSpec("queued1", "/ok"), EndpointSpec("queued2", "/ok")]
    stream = ProbeStream(client, specs, concurrency=1)
    server.wait_for_arrivals(1)
    # Opened a second later: close() has long cancelled the queued probes by then (it does so before it waits).
    threading.Timer(1.0, server.gate("running").set).start()
    stream.close()  # waits for the running probe, drops the others
    assert server.arrived == ["/gate/running"]


def test_probe_all_still_returns_every_result_in_order(server: GateServer, client: HttpClient) -> None:
    specs = [EndpointSpec(f"ep{i}", "/ok") for i in range(5)]
    probes = probe_all(client, specs, concurrency=3)
    assert list(probes) == [f"ep{i}" for i in range(5)]
    assert all(p.ok for p in probes.values())


def test_bad_input_is_refused_before_any_request(server: GateServer, client: HttpClient) -> None:
    with pytest.raises(ValueError, match="concurrency must be at least 1, got 0"):
        ProbeStream(client, [EndpointSpec("a", "/ok")], concurrency=0)
    with pytest.raises(ValueError, match="endpoint name 'a' is used twice"):
        ProbeStream(client, [EndpointSpec("a", "/ok"), EndpointSpec("a", "/x")])
    assert server.arrived == []
