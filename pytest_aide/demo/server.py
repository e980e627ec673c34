"""The demo target's HTTP server: health, cache and task endpoints over a generated dataset.

Built on ``http.server`` so that the demo needs nothing beyond the standard library, with the settings a
stdlib server lacks for honest measurements: TCP_NODELAY on every connection (otherwise Nagle's algorithm and
delayed ACKs add ~40 ms to each keep-alive response on Linux), HTTP/1.1 keep-alive, and a listen backlog
deep enough for 1,000 simultaneous clients.
"""

from __future__ import annotations

import json
import queue
import socket
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socketserver import TCPServer
from typing import Any, cast
from urllib.parse import urlsplit

from pytest_aide.demo.data import TABLES, DemoPaths, format_log_line
from pytest_aide.demo.guard import Dependencies, Reading
from pytest_aide.demo.upstream import UpstreamError, fetch_catalogue

JSON = dict[str, Any]
Route = Callable[[], tuple[int, JSON]]
UPSTREAM_TIMEOUT_S = 0.5  # one call to the upstream: well inside the 1 s response-time warning of the health path
STATS_PATH = "/api/components/stats"
_CONTROL_CHARS = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F)}
_MAX_LOGGED_PATH = 200


class AppLog:
    """Appends lines to ``app.log`` (and WARNING/ERROR ones to ``app_error.log``) from many threads.

    Each write reopens the file, so a log rotated or removed by an operator is recreated rather than lost.
    """

    def __init__(self, paths: DemoPaths) -> None:
        self._paths = paths
        self._lock = threading.Lock()

    def write(self, level: str, logger: str, message: str) -> None:
        line = format_log_line(datetime.now(), level, logger, message.translate(_CONTROL_CHARS)) + "\n"
        with self._lock:
            self._append(self._paths.app_log, line)
            if level in ("WARNING", "ERROR"):
                self._append(self._paths.error_log, line)

    @staticmethod
    def _append(path: Path, line: str) -> None:
        try:
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(line)
        except OSError:
            pass  # a missing log folder must not fail the request that is being logged


class MemoryCache:
    """A small LRU cache with a time-to-live, counting hits, misses, expiries and evictions."""

    def __init__(
        self, max_entries: int = 128, ttl_seconds: float = 300.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._entries: OrderedDict[str, tuple[float, object]] = OrderedDict()
        self._max, self._ttl, self._clock = max_entries, ttl_seconds, clock
        self._lock = threading.Lock()
        self.hits = self.misses = self.expired = self.evictions = 0

    def get_or_load(self, key: str, load: Callable[[], object]) -> object:
        """The cached value of ``key``, or ``load()``'s result, cached from now on."""
        with self._lock:
            found = self._entries.get(key)
            if found is not None and found[0] > self._clock():
                self.hits += 1
                self._entries.move_to_end(key)
                return found[1]
            self.misses += 1
            self.expired += found is not None
            value = load()
            self._entries[key] = (self._clock() + self._ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
                self.evictions += 1
            return value

    def stats(self) -> JSON:
        with self._lock:
            lookups = self.hits + self.misses
            rate = round(100.0 * self.hits / lookups, 2) if lookups else 0.0
            return {
                "hit_rate_percent": rate,
                "memory_cache_size": len(self._entries),
                "hits": self.hits,
                "misses": self.misses,
                "expired": self.expired,
                "evictions": self.evictions,
                "max_entries": self._max,
                "ttl_seconds": self._ttl,
            }


class TaskQueue:
    """A background job queue with one worker thread, like the app's task runner."""

    def __init__(self) -> None:
        self._queue: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._lock = threading.Lock()
        self.total = self.completed = self.failed = 0
        self._worker = threading.Thread(target=self._run, name="demo-tasks", daemon=True)
        self._worker.start()

    def submit(self, task: Callable[[], None]) -> None:
        with self._lock:
            self.total += 1
        self._queue.put(task)

    def stop(self, timeout: float = 2.0) -> None:
        """Let queued tasks finish (up to ``timeout`` seconds), then end the worker."""
        self._queue.put(None)
        self._worker.join(timeout)

    def stats(self) -> JSON:
        with self._lock:
            return {
                "queue_size": self._queue.qsize(),
                "total_tasks": self.total,
                "completed_tasks": self.completed,
                "failed_tasks": self.failed,
                "workers": 1,
                "worker_alive": self._worker.is_alive(),
            }

    def _run(self) -> None:
        while (task := self._queue.get()) is not None:
            try:
                task()
            except Exception:  # a failing job is counted, never fatal to the worker
                with self._lock:
                    self.failed += 1
            else:
                with self._lock:
                    self.completed += 1


class DemoApp:
    """The application behind the HTTP layer: routes, their state and the request log.

    Its dependencies — the SQLite database and, when ``upstream_url`` is given, the upstream catalogue service —
    are read through circuit breakers with a fallback to the last good answer (:mod:`pytest_aide.demo.guard`);
    ``fallback=False`` is the broken mode drills must catch.
    """

    def __init__(self, paths: DemoPaths, *, upstream_url: str | None = None, fallback: bool = True) -> None:
        self.paths = paths
        self.log = AppLog(paths)
        self.cache = MemoryCache()
        self.tasks = TaskQueue()
        self.dependencies = Dependencies(fallback=fallback)
        self._database = self.dependencies.guard("database", lambda: count_rows(paths), category=_db_category)
        self._upstream = None
        if upstream_url:
            from pytest_aide.resilience import RetryPolicy

            self._upstream = self.dependencies.guard(
                "upstream",
                lambda: fetch_catalogue(upstream_url, UPSTREAM_TIMEOUT_S),
                retry=RetryPolicy(attempts=2, deadline=1.0, initial_wait=0.05, max_wait=0.1, jitter=0.05),
                retry_if=_refused_or_reset,
                category=_upstream_category,
            )
        self._by_status: dict[int, int] = {}
        self._by_status_lock = threading.Lock()
        self._routes: dict[str, Route] = {
            "/api/health": self.health,
            "/api/cache/stats": self.cache_stats,
            "/api/tasks/stats": self.task_stats,
            STATS_PATH: self.component_stats,
        }

    def dispatch(self, path: str) -> tuple[int, JSON]:
        """Status and JSON body for a GET of ``path`` (the route lookup goes through the memory cache)."""
        route = cast("Route | None", self.cache.get_or_load(f"route:{path}", lambda: self._routes.get(path)))
        status, body = route() if route else (HTTPStatus.NOT_FOUND, {"error": "not found", "path": path})
        self.tasks.submit(lambda: self._count(status))
        return status, body

    def health(self) -> tuple[int, JSON]:
        """``healthy`` when every dependency answered; ``degraded`` (200) while one is served from the last good
        answer; ``unhealthy`` (503) when one has nothing to serve."""
        stamp = datetime.now().astimezone().isoformat(timespec="seconds")
        readings = {"database": self._database.read()}
        if self._upstream is not None:
            readings["upstream"] = self._upstream.read()
        body: JSON = {name: reading.word for name, reading in readings.items()}
        body["timestamp"] = stamp
        body["circuits"] = {name: reading.circuit for name, reading in readings.items()}
        database = readings["database"]
        if database.value is not None:
            body["tables"] = database.value
        failed = {name: r for name, r in readings.items() if r.error is not None}
        for name, reading in failed.items():
            self.log.write("ERROR", f"app.{name}", f"{name} check failed: {self._reason(name, reading)}")
        if any(r.value is None for r in readings.values()):
            reason = "; ".join(self._reason(n, r) for n, r in failed.items() if r.value is None)
            return HTTPStatus.SERVICE_UNAVAILABLE, {"status": "unhealthy", **body, "reason": reason}
        if any(r.source == "cache" for r in readings.values()):
            reason = "; ".join(
                f"{n} unavailable, serving its last good answer ({self._reason(n, r)})"
                for n, r in readings.items()
                if r.source == "cache"
            )
            return HTTPStatus.OK, {"status": "degraded", **body, "reason": reason}
        return HTTPStatus.OK, {"status": "healthy", **body}

    def component_stats(self) -> tuple[int, JSON]:
        return HTTPStatus.OK, self.dependencies.stats()

    def cache_stats(self) -> tuple[int, JSON]:
        return HTTPStatus.OK, self.cache.stats()

    def task_stats(self) -> tuple[int, JSON]:
        with self._by_status_lock:
            by_status = {str(code): count for code, count in sorted(self._by_status.items())}
        return HTTPStatus.OK, {**self.tasks.stats(), "requests_by_status": by_status}

    def close(self) -> None:
        self.tasks.stop()

    def _count(self, status: int) -> None:
        with self._by_status_lock:
            self._by_status[int(status)] = self._by_status.get(int(status), 0) + 1

    def _relative(self, path: Path) -> str:
        return str(path.relative_to(self.paths.root))

    def _reason(self, name: str, reading: Reading) -> str:
        error = (reading.error or "").replace("\n", " ")
        if name == "database":
            return f"cannot read {self._relative(self.paths.database)}: {error}"
        return error


def _refused_or_reset(exc: BaseException) -> bool:
    """Worth one quick retry: the connection was refused or reset (a restart, a dropped connection), not a
    timeout, whose retry would double the wait of the request being served."""
    return isinstance(exc, UpstreamError) and isinstance(exc.__cause__, ConnectionRefusedError | ConnectionResetError)


def _upstream_category(exc: Exception) -> str:
    return f"upstream_{exc.category}" if isinstance(exc, UpstreamError) else "upstream_error"


def _db_category(exc: Exception) -> str:
    if isinstance(exc, sqlite3.OperationalError) and "unable to open" in str(exc):
        return "database_unavailable"
    return "database_error" if isinstance(exc, sqlite3.Error) else "database_other"


def count_rows(paths: DemoPaths, timeout: float = 2.0) -> dict[str, int]:
    """Row counts of the demo tables; opens the file read-write but never creates it (``mode=rw``)."""
    conn = sqlite3.connect(f"{paths.database.as_uri()}?mode=rw", uri=True, timeout=timeout)
    try:
        return {table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in TABLES}
    finally:
        conn.close()


class DemoHandler(BaseHTTPRequestHandler):
    """JSON over HTTP/1.1 keep-alive; every request is logged to app.log, nothing to stderr."""

    server: DemoServer
    protocol_version = "HTTP/1.1"
    server_version = "pytest-aide-demo/0.1"
    timeout = 60  # an idle keep-alive connection gives its thread back after a minute
    _started = 0.0

    def version_string(self) -> str:
        return self.server_version

    def parse_request(self) -> bool:
        self._started = time.perf_counter()
        return super().parse_request()

    def do_GET(self) -> None:
        self._respond(include_body=True)

    def do_HEAD(self) -> None:
        self._respond(include_body=False)

    def do_POST(self) -> None:
        self.close_connection = True  # the request body is not read, so the connection cannot be reused
        self._send_json(
            HTTPStatus.METHOD_NOT_ALLOWED,
            {"error": "method not allowed", "allow": "GET, HEAD"},
            include_body=True,
            extra={"Allow": "GET, HEAD", "Connection": "close"},
        )

    do_PUT = do_PATCH = do_DELETE = do_POST

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Malformed requests get a JSON body too, and the connection is closed as the stdlib does."""
        self.close_connection = True
        body = {"error": HTTPStatus(code).phrase if message is None else message}
        include_body = getattr(self, "command", None) != "HEAD" and code >= 200 and code not in (204, 304)
        self._send_json(code, body, include_body=include_body, extra={"Connection": "close"})

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        status = int(code) if isinstance(code, int) else 0
        elapsed_ms = (time.perf_counter() - self._started) * 1000 if self._started else 0.0
        self._started = 0.0  # a later error before parse_request must not reuse this start time
        command = getattr(self, "command", None) or "-"
        path = (getattr(self, "path", "") or "-")[:_MAX_LOGGED_PATH]
        level = "ERROR" if status >= 500 else "INFO"
        self.server.app.log.write(level, "app.request", f"{command} {path} {status} {elapsed_ms:.1f}ms")

    def log_message(self, format: str, *args: Any) -> None:
        self.server.app.log.write("WARNING", "app.http", format % args)

    def _respond(self, include_body: bool) -> None:
        status, body = self.server.app.dispatch(urlsplit(self.path).path)
        self._send_json(status, body, include_body=include_body)

    def _send_json(self, status: int, body: JSON, *, include_body: bool, extra: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        if self.server.delay_seconds:  # --delay-ms: every response, errors included, waits
            time.sleep(self.server.delay_seconds)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if include_body:
            self.wfile.write(data)


class DemoServer(ThreadingHTTPServer):
    """A threading HTTP server tuned for load tests; ``threads > 0`` bounds the handler threads."""

    daemon_threads = True  # idle keep-alive connections must not delay shutdown
    request_queue_size = 2048  # listen backlog: 1,000 clients connecting at once are all accepted

    def __init__(
        self,
        address: tuple[str, int],
        paths: DemoPaths,
        *,
        delay_ms: float = 0.0,
        threads: int = 0,
        upstream_url: str | None = None,
        fallback: bool = True,
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.app = DemoApp(paths, upstream_url=upstream_url, fallback=fallback)
        self.delay_seconds = delay_ms / 1000.0
        self._pool = _HandlerPool(self, threads) if threads > 0 else None
        super().__init__(address, DemoHandler)  # on a bind error it calls server_close(), ending workers

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup (``getfqdn``), which can stall start-up."""
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, addr

    def process_request(self, request: Any, client_address: Any) -> None:
        if self._pool is None:
            super().process_request(request, client_address)
        else:
            self._pool.put(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One ERROR line in the app log instead of a traceback on stderr."""
        self.app.log.write("ERROR", "app.server", f"unhandled exception serving {client_address[0]}")

    def server_close(self) -> None:
        super().server_close()
        self._close_workers()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://[{name}]:{port}" if ":" in name else f"http://{name}:{port}"

    def _close_workers(self) -> None:
        if self._pool is not None:
            self._pool.stop()
        self.app.close()


class _HandlerPool:
    """``threads`` daemon threads serving accepted connections in arrival order."""

    def __init__(self, server: DemoServer, threads: int) -> None:
        self._server = server
        self._queue: queue.SimpleQueue[tuple[Any, Any] | None] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._run, name=f"demo-http-{n}", daemon=True) for n in range(threads)]
        for thread in self._threads:
            thread.start()

    def put(self, request: Any, client_address: Any) -> None:
        self._queue.put((request, client_address))

    def stop(self) -> None:
        """Close connections still waiting for a worker, then end the workers."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                self._server.shutdown_request(item[0])
        for _ in self._threads:
            self._queue.put(None)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            self._server.process_request_thread(*item)
