"""Conditions (parser and evaluation) and probe_all against a real loopback server that counts requests."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from quiet_http import QuietHTTPServer

from conftest import HANG_S, free_port
from pytest_aide.probes.endpoints import Condition, EndpointSpec, parse_condition, probe_all
from pytest_aide.probes.http import HttpClient

STATS = {
    "status": "healthy",
    "cache": {"hit_rate_percent": 12.0, "memory_cache_size": 40},
    "tasks": {"queue_size": 3},
    "maintenance": False,
    "items": [{"id": 7}],
}


# --- conditions -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cache.hit_rate_percent >= 50", Condition("cache.hit_rate_percent", ">=", 50)),
        ("status == healthy", Condition("status", "==", "healthy")),
        ('status == "healthy"', Condition("status", "==", "healthy")),
        ("  tasks.queue_size<10 ", Condition("tasks.queue_size", "<", 10)),
        ("maintenance != true", Condition("maintenance", "!=", True)),
        ('version == "true"', Condition("version", "==", "true")),
        ("error == null", Condition("error", "==", None)),
        ("items.0.id == 7", Condition("items.0.id", "==", 7)),
        ("latency <= 0.25", Condition("latency", "<=", 0.25)),
        ("region == eu west", Condition("region", "==", "eu west")),
        ("tags == [1, 2]", Condition("tags", "==", [1, 2])),
    ],
)
def test_parse_condition(text: str, expected: Condition) -> None:
    assert parse_condition(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not a condition: ''"),
        ("status healthy", "not a condition: 'status healthy'"),
        ("status ==", "missing value after the operator in 'status =='"),
        ("== 5", "not a condition: '== 5'"),
        ("a..b == 1", "empty segment in path 'a..b'"),
        ('status == "healthy', "bad JSON value '\"healthy'"),
        ("tags == [1, 2", "bad JSON value '[1, 2'"),
        ("x >= null", ">= needs a number or a string, not null"),
        ("x < true", "< needs a number or a string, not boolean"),
        ("x > 1e999", "number out of range '1e999'"),
        ("x =< 5", "not a condition: 'x =< 5'"),
    ],
)
def test_parse_condition_rejects_bad_input_in_one_line(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_condition(text)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "outcome"),
    [
        ("cache.hit_rate_percent >= 10", None),
        ("cache.hit_rate_percent >= 50", "cache.hit_rate_percent = 12.0, expected >= 50"),
        ("cache.hit_rate_percent == 12", None),
        ("status == healthy", None),
        ("status != healthy", 'status = "healthy", expected != "healthy"'),
        ("maintenance == false", None),
        ("maintenance == 0", "maintenance = false, expected == 0"),
        ("tasks.queue_size < 10", None),
        ("items.0.id > 7", "items.0.id = 7, expected > 7"),
        ("status > 5", 'status = "healthy", expected > 5 (cannot compare string with number)'),
        ("maintenance < 5", "maintenance = false, expected < 5 (cannot compare boolean with number)"),
        ("cache.misses == 0", "cache.misses: no key 'misses' in 'cache'"),
        ("status >= health", None),
    ],
)
def test_condition_evaluation(text: str, outcome: str | None) -> None:
    assert parse_condition(text).evaluate(STATS) == outcome


PATH = st.lists(
    st.text(st.characters(blacklist_characters=".=!<>", blacklist_categories=("Z", "C")), min_size=1, max_size=6),
    min_size=1,
    max_size=4,
).map(".".join)
ORDERED = st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=10)
EQUATABLE = ORDERED | st.booleans() | st.none() | st.lists(st.integers(), max_size=3)


@given(path=PATH, op=st.sampled_from(["<", "<=", ">", ">="]), value=ORDERED)
def test_ordering_conditions_round_trip(path: str, op: str, value: Any) -> None:
    condition = Condition(path, op, value)
    assert parse_condition(str(condition)) == condition


@given(path=PATH, op=st.sampled_from(["==", "!="]), value=EQUATABLE)
def test_equality_conditions_round_trip(path: str, op: str, value: Any) -> None:
    condition = Condition(path, op, value)
    assert parse_condition(str(condition)) == condition


@given(path=PATH, value=ORDERED | st.booleans() | st.none())
def test_a_value_equals_itself(path: str, value: Any) -> None:
    data: Any = value
    for key in reversed(path.split(".")):
        data = {key: data}
    assert Condition(path, "==", value).evaluate(data) is None
    assert Condition(path, "!=", value).evaluate(data) is not None


@given(text=st.text(max_size=40))
def test_garbage_raises_nothing_but_one_line_value_errors(text: str) -> None:
    try:
        condition = parse_condition(text)
    except ValueError as exc:
        message = str(exc)
    else:
        message = ""
        assert condition.op in ("==", "!=", "<", "<=", ">", ">=")
    assert "\n" not in message


@given(text=st.text(alphabet=' .=!<>"[]{}0123456789-eE+abtrufnl', max_size=30))
def test_operator_heavy_garbage_raises_nothing_but_value_errors(text: str) -> None:
    with contextlib.suppress(ValueError):
        assert isinstance(parse_condition(text), Condition)


def test_endpoint_spec_rejects_a_bad_condition_early() -> None:
    with pytest.raises(ValueError, match=r"endpoint 'cache': not a condition: 'hit_rate high'"):
        EndpointSpec("cache", "/api/cache/stats", conditions=("hit_rate high",))
    spec = EndpointSpec("cache", "/api/cache/stats", conditions=["hit_rate >= 50"])  # type: ignore[arg-type]
    assert spec.conditions == ("hit_rate >= 50",)
    assert spec.parsed_conditions == (Condition("hit_rate", ">=", 50),)


# --- probe_all against a real server ----------------------------------------------------------------------


class CountingServer(QuietHTTPServer):
    """Answers after ``delay`` seconds and records how many requests were in flight at most.

    With ``gather``, requests are also held until that many are in flight at once (or HANG_S passed): a client
    that really overlaps its requests reaches it however slow a busy machine makes it, one that does not never.
    """

    daemon_threads = True
    request_queue_size = 256

    def __init__(self, delay: float, gather: int = 0) -> None:
        super().__init__(("127.0.0.1", 0), CountingHandler)
        self.delay = delay
        self.gathered = threading.Event()
        self.gather = gather
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        self.paths: list[str] = []


class CountingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: CountingServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        server = self.server
        with server.lock:
            server.active += 1
            server.max_active = max(server.max_active, server.active)
            server.paths.append(self.path)
            if server.active >= server.gather:
                server.gathered.set()
        try:
            server.gathered.wait(HANG_S)
            time.sleep(server.delay)
            status = 503 if self.path == "/down" else 200
            body = json.dumps(STATS).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        finally:
            with server.lock:
                server.active -= 1


def run(server: CountingServer) -> Iterator[CountingServer]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def slow_server() -> Iterator[CountingServer]:
    yield from run(CountingServer(delay=0.2))


@pytest.fixture
def gathering_server() -> Iterator[CountingServer]:
    yield from run(CountingServer(delay=0.0, gather=32))


@pytest.fixture
def fast_server() -> Iterator[CountingServer]:
    yield from run(CountingServer(delay=0.0))


def url_of(server: CountingServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_64_endpoints_at_concurrency_32_are_32_in_flight_at_once(gathering_server: CountingServer) -> None:
    specs = [EndpointSpec(f"ep{i:02d}", f"/ep/{i:02d}") for i in range(64)]
    with HttpClient(url_of(gathering_server), pool_size=32) as client:
        probes = probe_all(client, specs, concurrency=32)
    assert all(probe.ok for probe in probes.values())
    assert list(probes) == [spec.name for spec in specs]
    assert sorted(gathering_server.paths) == sorted(spec.path for spec in specs)
    assert gathering_server.max_active == 32


def test_concurrency_limit_holds_and_costs_time(slow_server: CountingServer) -> None:
    specs = [EndpointSpec(f"ep{i}", f"/ep/{i}") for i in range(8)]
    with HttpClient(url_of(slow_server)) as client:
        began = time.monotonic()
        probes = probe_all(client, specs, concurrency=3)
        elapsed = time.monotonic() - began
    assert len(probes) == 8
    assert slow_server.max_active <= 3
    assert elapsed >= 0.6  # ceil(8 / 3) rounds of 0.2 s


def test_each_endpoint_is_judged_on_its_own(fast_server: CountingServer) -> None:
    refused = f"http://127.0.0.1:{free_port()}/health"
    specs = [
        EndpointSpec("health", "/api/health", conditions=("status == healthy",)),
        EndpointSpec(
            "cache", "/api/cache/stats", conditions=("cache.hit_rate_percent >= 50", "cache.memory_cache_size < 10")
        ),
        EndpointSpec("tasks", "/api/tasks/stats", conditions=("tasks.queue_size <= 100",)),
        EndpointSpec("down", "/down", conditions=("status == healthy",)),
        EndpointSpec("maintenance", "/down", expect_status=503),
        EndpointSpec("other", refused),
    ]
    with HttpClient(url_of(fast_server), connect_timeout=1.0, read_timeout=2.0) as client:
        probes = probe_all(client, specs, concurrency=4)
    assert {name: probe.ok for name, probe in probes.items()} == {
        "health": True,
        "cache": False,
        "tasks": True,
        "down": False,
        "maintenance": True,
        "other": False,
    }
    assert probes["cache"].error == (
        "cache.hit_rate_percent = 12.0, expected >= 50; cache.memory_cache_size = 40, expected < 10"
    )
    assert probes["cache"].status_code == 200
    assert probes["down"].error == "expected status 200, got 503"
    assert probes["other"].error == "connection refused"
    assert probes["health"].name == "health"


def test_probe_all_rejects_duplicates_and_bad_concurrency(fast_server: CountingServer) -> None:
    with HttpClient(url_of(fast_server)) as client:
        assert probe_all(client, []) == {}
        with pytest.raises(ValueError, match="concurrency must be at least 1, got 0"):
            probe_all(client, [EndpointSpec("a", "/")], concurrency=0)
        with pytest.raises(ValueError, match="endpoint name 'a' is used twice"):
            probe_all(client, [EndpointSpec("a", "/"), EndpointSpec("a", "/x")])
    assert fast_server.paths == []
