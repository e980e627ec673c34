"""A loopback TCP proxy in front of a dependency, switched at run time to inject network faults.

Point the target at ``127.0.0.1:<proxy.port>`` instead of the dependency, then change the proxy's mode while the
target runs. Modes (each method returns at once; the change holds for the next byte relayed):

``pass``
    relay both ways.
``latency``
    ``per="connection"``: wait before connecting upstream (a slow handshake); ``per="chunk"``: wait before every
    chunk relayed, either way, also on connections already open (a slow link: a request and its answer wait
    twice).
``drop``
    accept and close at once (the client reads EOF); open connections are closed the same way.
``reset``
    accept and reset (RST, through ``SO_LINGER`` 0: the client gets ``ConnectionResetError``); open connections
    are reset too.
``blackhole``
    accept and read, never answer (the client's own timeout is the only way out). Open connections are held:
    nothing moves and nothing is lost, like a network partition, and they flow again on ``pass``.
``refuse``
    stop listening (connecting is refused); open connections are closed, as by a stopped service. Any other mode
    listens again on the same port.

One thread accepts (and owns the listening socket); two threads serve each connection, one per direction, and
the first of them closes both sockets once both are done. Every blocking step is bounded: reads poll every 50 ms
for a mode change or shutdown, writes and the upstream connect have timeouts, and :meth:`FaultProxy.close` joins
every thread within ``join_timeout``.
"""

from __future__ import annotations

import contextlib
import math
import select
import socket
import struct
import threading
import time
from typing import Any, Literal

from pytest_aide.faults.errors import FaultError

Mode = Literal["pass", "latency", "drop", "reset", "blackhole", "refuse"]
MODES: tuple[Mode, ...] = ("pass", "latency", "drop", "reset", "blackhole", "refuse")
Cut = Literal["drop", "reset"]

_POLL_S = 0.05  # how soon a waiting thread notices a mode change or shutdown
_CHUNK = 65_536
_DRAIN_READS = 64  # reads of what a client sent before it is closed (unread data would turn our FIN into an RST)


class _Link:
    """One client connection and, once connected, its upstream; closed exactly once, by the thread that serves it,
    after both directions ended."""

    def __init__(self, client: socket.socket, *, blackhole: bool, delay: float) -> None:
        self.client = client
        self.upstream: socket.socket | None = None
        self.blackhole = blackhole
        self.delay = delay
        self.cut_request: Cut | None = None
        self.broken = False  # one direction failed (reset, timeout): the other one ends too
        self.wake = threading.Event()  # set by a cut or by shutdown: ends any wait of this link's threads
        self.done = threading.Event()
        self._lock = threading.Lock()
        self._closed = False

    def attach(self, upstream: socket.socket) -> bool:
        with self._lock:
            if self._closed:
                upstream.close()
                return False
            self.upstream = upstream
            return True

    def cut(self, how: Cut) -> None:
        self.cut_request = how
        self.wake.set()

    def interrupt(self) -> None:
        """Wake a thread blocked in a write (shutdown, unlike close, never frees a descriptor another uses)."""
        with self._lock:
            if self._closed:
                return
            for sock in (self.client, self.upstream):
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self.cut_request == "reset":
                reset(self.client)
            else:
                close_gracefully(self.client)
            if self.upstream is not None:
                self.upstream.close()
        self.done.set()


def _readable(socks: list[socket.socket]) -> list[socket.socket]:
    """The sockets with data, EOF or an error to read within one poll interval (``poll``, not ``select``: a
    process with more than 1024 descriptors is no problem)."""
    poller = select.poll()
    for sock in socks:
        poller.register(sock, select.POLLIN)
    ready = {fd for fd, _ in poller.poll(_POLL_S * 1000)}  # POLLHUP and POLLERR come without asking
    return [sock for sock in socks if sock.fileno() in ready]


def reset(sock: socket.socket) -> None:
    """Close with an RST instead of a FIN (``SO_LINGER`` on, 0 s)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def close_gracefully(sock: socket.socket) -> None:
    """Close with a FIN: read what the client already sent first, as unread data makes the kernel send an RST."""
    try:
        sock.setblocking(False)
        for _ in range(_DRAIN_READS):
            if not sock.recv(_CHUNK):
                break
    except OSError:
        pass
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)
    sock.close()


class FaultProxy:
    """A TCP proxy on 127.0.0.1 (``port``, by default an ephemeral one) in front of ``upstream_host:upstream_port``.

    A fixed ``port`` is for a target configured to reach its dependency there (the drills' upstream proxy).

    Example::

        with FaultProxy("127.0.0.1", 6379) as proxy:
            client = redis.Redis(port=proxy.port, socket_timeout=2)
            proxy.blackhole()   # the client's next command times out
            proxy.pass_through()  # and the one after works again
    """

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        connect_timeout: float = 5.0,
        io_timeout: float = 10.0,
        join_timeout: float = 5.0,
        port: int = 0,
    ) -> None:
        if not isinstance(upstream_port, int) or not 0 < upstream_port < 65536:
            raise FaultError(f"proxy upstream port must be 1-65535, got {upstream_port!r}")
        if not isinstance(port, int) or not 0 <= port < 65536:
            raise FaultError(f"proxy port must be 0-65535 (0: a free one), got {port!r}")
        self.upstream = (upstream_host, upstream_port)
        self._connect_timeout = connect_timeout
        self._io_timeout = io_timeout
        self._join_timeout = join_timeout
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._mode: Mode = "pass"
        self._delay = 0.0
        self._per_chunk = False
        self._want_listening = True
        self._listening = True
        self._bind_error: str | None = None
        self._counts = dict.fromkeys(MODES, 0)
        self._upstream_errors = 0
        self._bytes = {"up": 0, "down": 0}
        self._links: set[_Link] = set()
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._closed = False
        try:
            self._listener: socket.socket | None = self._listen(port)
        except OSError as exc:
            raise FaultError(f"proxy cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
        self.port: int = self._listener.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept_loop, name=f"aide-proxy-{self.port}", daemon=True)
        self._acceptor.start()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        host, port = self.upstream
        return f"FaultProxy(127.0.0.1:{self.port} -> {host}:{port}, mode={self.mode})"

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    @property
    def mode(self) -> Mode:
        with self._lock:
            return self._mode

    # Modes

    def pass_through(self) -> None:
        """Relay both ways (heals every other mode)."""
        self._set("pass")

    def latency(self, seconds: float, *, per: Literal["connection", "chunk"] = "connection") -> None:
        """Wait ``seconds`` before connecting upstream (``per="connection"``) or before every chunk (``"chunk"``)."""
        if not isinstance(seconds, int | float) or not math.isfinite(seconds) or seconds < 0:
            raise FaultError(f"proxy latency must be a number of seconds >= 0, got {seconds!r}")
        if per not in ("connection", "chunk"):
            raise FaultError(f"proxy latency per= must be 'connection' or 'chunk', got {per!r}")
        self._set("latency", delay=float(seconds), per_chunk=per == "chunk")

    def drop(self) -> None:
        """Close every connection at once (the client reads EOF), new and open ones."""
        self._set("drop")

    def reset(self) -> None:
        """Reset every connection (RST: ``ConnectionResetError``), new and open ones."""
        self._set("reset")

    def blackhole(self) -> None:
        """Accept and read, never answer; hold open connections until the mode changes."""
        self._set("blackhole")

    def refuse(self) -> None:
        """Stop listening (connections are refused) and close open connections."""
        self._set("refuse")

    def _set(self, mode: Mode, *, delay: float = 0.0, per_chunk: bool = False) -> None:
        if self._closed:
            raise FaultError(f"proxy 127.0.0.1:{self.port} is closed: create a new one")
        with self._lock:
            self._mode, self._delay, self._per_chunk = mode, delay, per_chunk
            self._want_listening = mode != "refuse"
            self._bind_error = None
            links = list(self._links)
            self._changed.notify_all()
        if mode in ("drop", "reset", "refuse"):
            self._cut(links, "reset" if mode == "reset" else "drop")
        self._await_listening(mode != "refuse")

    def _cut(self, links: list[_Link], how: Cut) -> None:
        """End open connections within ``join_timeout``: their threads notice at once, unless blocked writing."""
        for link in links:
            link.cut(how)
        half = time.monotonic() + self._join_timeout / 2
        for link in links:
            if not link.done.wait(max(0.0, half - time.monotonic())):
                link.interrupt()  # a write blocked on a peer that does not read
        for link in links:
            link.done.wait(max(0.0, half + self._join_timeout / 2 - time.monotonic()))

    def _await_listening(self, want: bool) -> None:
        with self._changed:
            self._changed.wait_for(
                lambda: self._listening == want or self._bind_error is not None, timeout=self._join_timeout
            )
            if self._bind_error is not None:
                raise FaultError(self._bind_error)
            if self._listening != want:
                state = "listen again" if want else "stop listening"
                raise FaultError(f"proxy 127.0.0.1:{self.port} did not {state} within {self._join_timeout:g} s")

    # Statistics and shutdown

    def stats(self) -> dict[str, Any]:
        """Plain data: connections accepted per mode, open connections, upstream failures and bytes relayed."""
        host, port = self.upstream
        with self._lock:
            return {
                "listen": f"127.0.0.1:{self.port}",
                "upstream": f"{host}:{port}",
                "mode": self._mode,
                "connections": dict(self._counts),
                "open": len(self._links),
                "upstream_errors": self._upstream_errors,
                "bytes_up": self._bytes["up"],
                "bytes_down": self._bytes["down"],
            }

    def close(self) -> None:
        """Close every socket and join every thread within ``join_timeout``; idempotent.

        Raises :class:`FaultError` naming the threads still alive after that (a bug: every wait is bounded).
        """
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        with self._lock:
            links = list(self._links)
            threads = [self._acceptor, *self._threads]
        for link in links:
            link.wake.set()
        deadline = time.monotonic() + self._join_timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()) / 2)
        for link in links:
            if not link.done.is_set():
                link.interrupt()  # a write blocked on a peer that does not read
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [thread.name for thread in threads if thread.is_alive()]
        if alive:
            raise FaultError(
                f"proxy 127.0.0.1:{self.port}: {len(alive)} thread(s) still running "
                f"{self._join_timeout:g} s after close: {', '.join(alive)}"
            )

    # The accepting thread

    def _listen(self, port: int) -> socket.socket:
        listener = socket.create_server(("127.0.0.1", port))  # SO_REUSEADDR: the port is taken again after refuse
        listener.settimeout(_POLL_S)
        return listener

    def _accept_loop(self) -> None:
        try:
            while not self._stop.is_set():
                self._reconcile_listener()
                if self._listener is None:
                    self._stop.wait(_POLL_S)
                    continue
                try:
                    conn, _ = self._listener.accept()
                except OSError:  # TimeoutError included: poll again
                    continue
                self._admit(conn)
        finally:
            if self._listener is not None:
                self._listener.close()
                self._listener = None

    def _reconcile_listener(self) -> None:
        """Open or close the listening socket to match the mode; only this thread touches it."""
        with self._lock:
            want = self._want_listening
        if want == (self._listener is not None):
            return
        error = None
        if want:
            try:
                self._listener = self._listen(self.port)
            except OSError as exc:
                error = f"proxy could not listen again on 127.0.0.1:{self.port}: {exc.strerror or exc}"
        else:
            assert self._listener is not None
            self._listener.close()
            self._listener = None
        with self._changed:
            self._listening = self._listener is not None
            self._bind_error = error
            self._changed.notify_all()
        if error:
            self._stop.wait(_POLL_S)

    def _admit(self, conn: socket.socket) -> None:
        with self._lock:
            mode, delay, per_chunk = self._mode, self._delay, self._per_chunk
            self._counts[mode] += 1
        conn.settimeout(self._io_timeout)
        if mode in ("drop", "refuse"):  # refuse: accepted just before the listener closed
            close_gracefully(conn)
            return
        if mode == "reset":
            reset(conn)
            return
        link = _Link(conn, blackhole=mode == "blackhole", delay=delay if mode == "latency" and not per_chunk else 0.0)
        thread = threading.Thread(target=self._serve, args=(link,), name=f"aide-proxy-{self.port}-link", daemon=True)
        with self._lock:
            self._links.add(link)
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    # One thread per connection

    def _serve(self, link: _Link) -> None:
        try:
            if link.blackhole:
                self._swallow(link)
            elif not (link.delay and link.wake.wait(link.delay)) and self._connect(link):
                self._relay(link)
        except OSError:
            pass  # a peer reset or timed out: the connection ends, as it would without the proxy
        finally:
            link.close()
            with self._lock:
                self._links.discard(link)

    def _connect(self, link: _Link) -> bool:
        try:
            upstream = socket.create_connection(self.upstream, timeout=self._connect_timeout)
        except OSError:
            with self._lock:
                self._upstream_errors += 1
            return False
        upstream.settimeout(self._io_timeout)
        return link.attach(upstream)

    def _swallow(self, link: _Link) -> None:
        while not self._ended(link):
            if _readable([link.client]) and not link.client.recv(_CHUNK):
                return

    def _relay(self, link: _Link) -> None:
        """Client to upstream on this thread, upstream to client on a second one: a peer that writes while it is
        being written to (a bulk upload echoed back, a streamed COPY) never waits on the other direction."""
        assert link.upstream is not None
        back = threading.Thread(
            target=self._pump, args=(link, link.upstream, link.client), name=f"aide-proxy-{self.port}-down"
        )
        with self._lock:
            self._threads.append(back)  # close() joins it too
        back.start()
        self._pump(link, link.client, link.upstream)
        back.join()  # it ends with its own EOF, a peer's error, a cut or shutdown; its writes have io_timeout

    def _pump(self, link: _Link, source: socket.socket, target: socket.socket) -> None:
        """Relay one direction until EOF (passed on as a half-close); an error ends both directions."""
        try:
            while not self._ended(link):
                if self._settings()[0] == "blackhole":
                    link.wake.wait(_POLL_S)  # hold: nothing moves, nothing is lost
                    continue
                if not _readable([source]):
                    continue
                data = source.recv(_CHUNK)
                if not data:
                    target.shutdown(socket.SHUT_WR)  # pass the half-close on
                    return
                if not self._forward(link, data, target, up=source is link.client):
                    return
        except OSError:
            link.broken = True

    def _forward(self, link: _Link, data: bytes, target: socket.socket, *, up: bool) -> bool:
        """Send one chunk under the mode of this moment (it may have changed while the chunk was read)."""
        mode, delay, per_chunk = self._settings()
        while mode == "blackhole":  # read just before the blackhole began: hold it
            if link.wake.wait(_POLL_S) or self._ended(link):
                return False
            mode, delay, per_chunk = self._settings()
        if mode == "latency" and per_chunk and link.wake.wait(delay):
            return False
        target.sendall(data)
        with self._lock:
            self._bytes["up" if up else "down"] += len(data)
        return True

    def _settings(self) -> tuple[Mode, float, bool]:
        with self._lock:
            return self._mode, self._delay, self._per_chunk

    def _ended(self, link: _Link) -> bool:
        return self._stop.is_set() or link.cut_request is not None or link.broken
