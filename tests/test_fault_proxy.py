"""The fault-injection proxy on real sockets: each mode as a client sees it, against a real echo server, an HTTP
server and the machine's Redis; shutdown closes every socket and joins every thread.

Timing is asserted only from below (a latency of 0.3 s cannot make a reply come sooner) or against HANG_S (a
timeout that worked, told from a hang): the machine is busy.
"""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
import requests
from quiet_http import QuietHTTPServer, QuietTCPServer

from conftest import HANG_S, free_port, require_service, unavailable, unique_name
from pytest_aide.faults import FaultError, FaultProxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server = self.server
        assert isinstance(server, EchoServer)
        with server.lock:
            server.connections += 1
        self.request.settimeout(HANG_S)
        try:
            while data := self.request.recv(65536):
                self.request.sendall(data)
        except OSError:
            pass


class EchoServer(QuietTCPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Echo)
        self.lock = threading.Lock()
        self.connections = 0
        self.port = int(self.server_address[1])


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(HANG_S)


@pytest.fixture
def proxy(echo: EchoServer) -> Iterator[FaultProxy]:
    with FaultProxy("127.0.0.1", echo.port) as proxy:
        yield proxy


def connect(proxy: FaultProxy, timeout: float = HANG_S) -> socket.socket:
    return socket.create_connection(proxy.address, timeout=timeout)


def roundtrip(sock: socket.socket, data: bytes = b"ping") -> bytes:
    sock.sendall(data)
    received = b""
    while len(received) < len(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


def settled(proxy: FaultProxy) -> dict[str, Any]:
    """The proxy's statistics once its connections have ended (a relay counts a chunk after sending it)."""
    deadline = time.monotonic() + HANG_S
    while (stats := proxy.stats())["open"] and time.monotonic() < deadline:
        time.sleep(0.01)
    return stats


def first_read(proxy: FaultProxy) -> bytes:
    with connect(proxy) as sock:
        return sock.recv(1024)


def proxy_threads(proxy: FaultProxy) -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(f"aide-proxy-{proxy.port}")]


def test_pass_relays_both_ways_and_counts(proxy: FaultProxy, echo: EchoServer) -> None:
    with connect(proxy) as sock:
        assert roundtrip(sock, b"x" * 200_000) == b"x" * 200_000
    stats = settled(proxy)
    assert stats["connections"]["pass"] == 1
    assert stats["bytes_up"] == stats["bytes_down"] == 200_000
    assert echo.connections == 1


SIZE, BLOCK = 64 * 1024 * 1024, b"x" * (1024 * 1024)  # far more than the kernel buffers on the way


def download_then_upload(conn: socket.socket, uploaded: list[int]) -> None:
    """A server that sends its whole answer before it reads the request (as a streamed COPY does)."""
    conn.settimeout(HANG_S)
    for _ in range(SIZE // len(BLOCK)):
        conn.sendall(BLOCK)
    total = 0
    while chunk := conn.recv(1 << 20):
        total += len(chunk)
    uploaded.append(total)


def test_both_directions_flow_at_once() -> None:
    """One thread for both directions would deadlock here: blocked writing the upload to a server that writes
    before it reads, it no longer reads the download that would let the server go on."""
    uploaded: list[int] = []
    downloaded = 0
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(HANG_S)

        def serve() -> None:
            conn, _ = listener.accept()
            with conn:
                download_then_upload(conn, uploaded)

        server = threading.Thread(target=serve)
        server.start()
        with FaultProxy("127.0.0.1", listener.getsockname()[1], io_timeout=2) as proxy, connect(proxy) as sock:

            def read() -> None:
                nonlocal downloaded
                while chunk := sock.recv(1 << 20):
                    downloaded += len(chunk)

            reader = threading.Thread(target=read)
            reader.start()
            with contextlib.suppress(OSError):  # the old single-thread relay resets the connection
                for _ in range(SIZE // len(BLOCK)):
                    sock.sendall(BLOCK)
                sock.shutdown(socket.SHUT_WR)
            reader.join(HANG_S)
        server.join(HANG_S)
    assert downloaded == SIZE
    assert uploaded == [SIZE]


def test_half_close_is_passed_on(proxy: FaultProxy) -> None:
    with connect(proxy) as sock:
        sock.sendall(b"last words")
        sock.shutdown(socket.SHUT_WR)  # the echo server reads EOF, answers what it had, closes
        received = b""
        while chunk := sock.recv(1024):
            received += chunk
    assert received == b"last words"


def test_latency_per_connection_delays_the_connection_not_each_chunk(proxy: FaultProxy) -> None:
    proxy.latency(0.3)
    began = time.monotonic()
    with connect(proxy) as sock:
        assert roundtrip(sock) == b"ping"
        first = time.monotonic() - began
        assert first >= 0.3  # from below only: load can only add to it
        assert roundtrip(sock) == b"ping"
    assert proxy.stats()["connections"]["latency"] == 1


def test_latency_per_chunk_delays_every_chunk_also_on_open_connections(proxy: FaultProxy) -> None:
    with connect(proxy) as sock:
        assert roundtrip(sock) == b"ping"  # opened in pass mode
        proxy.latency(0.2, per="chunk")
        began = time.monotonic()
        assert roundtrip(sock) == b"ping"
        assert time.monotonic() - began >= 0.4  # one wait each way
        proxy.pass_through()
        assert roundtrip(sock) == b"ping"


def test_drop_gives_eof_to_new_and_open_connections(proxy: FaultProxy, echo: EchoServer) -> None:
    with connect(proxy) as open_before:
        assert roundtrip(open_before) == b"ping"
        proxy.drop()
        assert open_before.recv(1024) == b""
    with connect(proxy) as sock:
        assert sock.recv(1024) == b""
    assert proxy.stats()["connections"]["drop"] == 1
    assert echo.connections == 1  # the dropped connection never reached the dependency


def test_reset_gives_connection_reset_to_new_and_open_connections(proxy: FaultProxy) -> None:
    with connect(proxy) as open_before:
        assert roundtrip(open_before) == b"ping"
        proxy.reset()
        with pytest.raises(ConnectionResetError):
            open_before.recv(1024)
    with pytest.raises(ConnectionResetError):  # at connect or at the first read, as the RST races the handshake
        first_read(proxy)


def test_blackhole_accepts_reads_and_never_answers(proxy: FaultProxy, echo: EchoServer) -> None:
    proxy.blackhole()
    with connect(proxy, timeout=0.5) as sock:
        sock.sendall(b"anyone there?")  # accepted and read: the write succeeds
        began = time.monotonic()
        with pytest.raises(TimeoutError):
            sock.recv(1024)
        assert time.monotonic() - began < HANG_S
    assert echo.connections == 0
    assert settled(proxy)["connections"]["blackhole"] == 1


def test_blackhole_holds_open_connections_and_loses_nothing(proxy: FaultProxy) -> None:
    with connect(proxy, timeout=0.5) as sock:
        assert roundtrip(sock) == b"ping"
        proxy.blackhole()
        sock.sendall(b"held")
        with pytest.raises(TimeoutError):
            sock.recv(1024)
        proxy.pass_through()  # the partition heals: what was sent arrives
        sock.settimeout(HANG_S)
        assert sock.recv(1024) == b"held"


def stalled(proxy: FaultProxy) -> int:
    """Bytes relayed to the client once they stop growing for 0.3 s: the buffers are full, the relay blocked."""
    deadline, last = time.monotonic() + HANG_S, -1
    while (now := proxy.stats()["bytes_down"]) != last and time.monotonic() < deadline:
        last = now
        time.sleep(0.3)
    return last


def test_drop_ends_a_connection_whose_client_does_not_read() -> None:
    """The relay is blocked writing to the client, for up to io_timeout: the cut interrupts it."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(HANG_S)

        def flood() -> None:
            conn, _ = listener.accept()
            with conn, contextlib.suppress(OSError):  # until the proxy closes its side
                conn.settimeout(HANG_S)
                for _ in range(SIZE // len(BLOCK)):
                    conn.sendall(BLOCK)

        server = threading.Thread(target=flood)
        server.start()
        upstream = listener.getsockname()[1]
        with FaultProxy("127.0.0.1", upstream, io_timeout=HANG_S * 2, join_timeout=2) as slow, connect(slow):
            blocked_at = stalled(slow)
            began = time.monotonic()
            slow.drop()
            assert time.monotonic() - began < HANG_S
            assert blocked_at > 0
            assert settled(slow)["open"] == 0
        server.join(HANG_S)


def test_refuse_stops_listening_and_pass_listens_again_on_the_same_port(proxy: FaultProxy) -> None:
    port = proxy.port
    with connect(proxy) as open_before:
        proxy.refuse()
        assert open_before.recv(1024) == b""  # closed, as by a stopped service
    with pytest.raises(ConnectionRefusedError):
        connect(proxy)
    proxy.pass_through()
    assert proxy.port == port
    with connect(proxy) as sock:
        assert roundtrip(sock) == b"ping"


def test_a_dependency_that_is_down_closes_the_client_and_is_counted() -> None:
    with FaultProxy("127.0.0.1", free_port()) as proxy, connect(proxy) as sock:
        assert sock.recv(1024) == b""
        assert proxy.stats()["upstream_errors"] == 1


def test_the_upstream_connect_has_a_timeout() -> None:
    """A dependency whose accept queue is full drops SYNs: only the proxy's connect timeout ends the wait."""
    full = socket.socket()
    full.bind(("127.0.0.1", 0))
    full.listen(0)
    fillers = []
    for _ in range(2):  # fill the queue (listen(0) queues one); a filler that itself hangs is cut short
        filler = socket.socket()
        filler.settimeout(0.3)
        with contextlib.suppress(OSError):
            filler.connect(full.getsockname())
        fillers.append(filler)
    try:
        with FaultProxy("127.0.0.1", full.getsockname()[1], connect_timeout=0.5) as proxy, connect(proxy) as sock:
            began = time.monotonic()
            assert sock.recv(1024) == b""
            assert 0.5 <= time.monotonic() - began + 0.05 < HANG_S  # the proxy's poll may have started it sooner
            assert proxy.stats()["upstream_errors"] == 1
    finally:
        for filler in fillers:
            filler.close()
        full.close()


def test_close_closes_every_socket_and_joins_every_thread(proxy: FaultProxy, silent_port: int) -> None:
    clients = [connect(proxy) for _ in range(3)]
    for client in clients:
        assert roundtrip(client) == b"ping"
    proxy.blackhole()
    held = connect(proxy)
    held.sendall(b"x")
    hanging = FaultProxy("127.0.0.1", silent_port)  # a dependency that never answers
    waiting = connect(hanging)
    waiting.sendall(b"hello?")
    try:
        for one in (proxy, hanging):
            began = time.monotonic()
            one.close()
            assert time.monotonic() - began < HANG_S
            assert proxy_threads(one) == []
            with pytest.raises(ConnectionRefusedError):
                connect(one)
        for client in [*clients, held, waiting]:
            assert client.recv(1024) == b""
        proxy.close()  # idempotent
        with pytest.raises(FaultError, match="is closed"):
            proxy.drop()
    finally:
        for client in [*clients, held, waiting]:
            client.close()


def fill(sock: socket.socket) -> None:
    """Write until the write times out: the kernel buffers between here and a peer that does not read are full."""
    for _ in range(8192):  # 512 MiB: far more than any buffer
        sock.send(b"x" * 65536)


def test_close_interrupts_a_write_to_a_dependency_that_does_not_read(silent_port: int) -> None:
    """The relay blocks in sendall once the kernel buffers fill; close must still end within its bound."""
    proxy = FaultProxy("127.0.0.1", silent_port, join_timeout=2)
    sock = connect(proxy)
    sock.settimeout(0.5)
    try:
        with pytest.raises(TimeoutError):
            fill(sock)
        began = time.monotonic()
        proxy.close()
        assert time.monotonic() - began < HANG_S
        assert proxy_threads(proxy) == []
    finally:
        sock.close()


def test_relays_in_a_process_with_more_than_1024_descriptors(echo: EchoServer) -> None:
    """select() fails on descriptors above 1023; a long run with many connections and files reaches them."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        unavailable(f"the descriptor limit ({hard}) is below 1200")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200) if hard == resource.RLIM_INFINITY else hard, hard))
    padding = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        with FaultProxy("127.0.0.1", echo.port) as proxy, connect(proxy) as sock:
            assert sock.fileno() > 1024
            assert roundtrip(sock) == b"ping"
    finally:
        for fd in padding:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.parametrize(("seconds", "per"), [(-1, "connection"), (float("nan"), "connection"), (1, "request")])
def test_bad_latency_is_one_line(proxy: FaultProxy, seconds: float, per: str) -> None:
    with pytest.raises(FaultError) as caught:
        proxy.latency(seconds, per=per)  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)
    assert proxy.mode == "pass"


def test_bad_upstream_port_is_one_line() -> None:
    with pytest.raises(FaultError, match="port must be 1-65535, got 70000"):
        FaultProxy("127.0.0.1", 70000)


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"status": "healthy"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_port() -> Iterator[int]:
    server = QuietHTTPServer(("127.0.0.1", 0), _Hello)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()
    thread.join(HANG_S)


def test_an_http_client_sees_each_fault_and_recovers(http_port: int) -> None:
    with FaultProxy("127.0.0.1", http_port) as proxy, requests.Session() as http:
        url = f"http://127.0.0.1:{proxy.port}/api/health"
        assert http.get(url, timeout=5).json() == {"status": "healthy"}
        proxy.blackhole()
        with pytest.raises(requests.exceptions.ReadTimeout):
            http.get(url, timeout=0.5)
        proxy.refuse()
        with pytest.raises(requests.exceptions.ConnectionError):
            http.get(url, timeout=5)
        proxy.pass_through()
        assert http.get(url, timeout=5).json() == {"status": "healthy"}


def test_a_real_redis_client_sees_the_blackhole_as_a_timeout_and_recovers_on_pass() -> None:
    require_service("Redis", "127.0.0.1", 6379)
    redis = pytest.importorskip("redis")
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    key = unique_name("aide_test_proxy")
    with FaultProxy("127.0.0.1", 6379) as proxy:
        client = redis.Redis(  # no retry: one command, one timeout
            port=proxy.port, socket_timeout=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
        )
        try:
            client.set(key, "before", ex=60)
            proxy.blackhole()
            began = time.monotonic()
            with pytest.raises(redis.exceptions.TimeoutError):
                client.get(key)
            assert 1 <= time.monotonic() - began + 0.05 < HANG_S
            proxy.pass_through()
            assert client.get(key) == b"before"
            assert proxy.stats()["connections"]["pass"] == 2  # the timed-out connection was replaced
        finally:
            client.delete(key)
            client.close()


def test_a_real_postgresql_client_times_out_connecting_through_the_blackhole_and_recovers() -> None:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    psycopg = pytest.importorskip("psycopg")
    with FaultProxy("127.0.0.1", 5432) as proxy:
        url = f"postgresql://postgres@127.0.0.1:{proxy.port}/test"
        with psycopg.connect(url, connect_timeout=5) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        proxy.blackhole()
        began = time.monotonic()
        with pytest.raises(psycopg.OperationalError, match="timeout"):
            psycopg.connect(url, connect_timeout=2)
        assert time.monotonic() - began < HANG_S
        proxy.pass_through()
        with psycopg.connect(url, connect_timeout=5) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_fixed_port_is_listened_on_and_a_taken_one_refused_in_one_line(echo: EchoServer) -> None:
    port = free_port()
    with FaultProxy("127.0.0.1", echo.port, port=port) as proxy:
        assert proxy.address == ("127.0.0.1", port)
        with connect(proxy) as sock:
            assert roundtrip(sock) == b"ping"
        proxy.refuse()
        proxy.pass_through()  # listens again on the same fixed port
        with connect(proxy) as sock:
            assert roundtrip(sock) == b"ping"
        with pytest.raises(FaultError, match=rf"^proxy cannot listen on 127\.0\.0\.1:{port}: Address already in use"):
            FaultProxy("127.0.0.1", echo.port, port=port)
    with pytest.raises(FaultError, match="proxy port must be 0-65535"):
        FaultProxy("127.0.0.1", echo.port, port=70000)
