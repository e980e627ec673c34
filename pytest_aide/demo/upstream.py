"""The demo's upstream service: a small template catalogue over HTTP, and the client the demo calls it with.

The demo needs a real TCP dependency for drills to cut (its database is a file): this one runs in the demo's
process, on a port of its own (``--upstream-port``), and the demo reaches it at ``--upstream-url`` — its own
address by default, or a fault proxy's placed in front of it. Standard library only, like the rest of the demo.

The client opens a new connection for every call, with one timeout for connecting and reading, so a
blackholed or slow upstream costs one call at most that long and a proxy's per-connection faults apply to it.
"""

from __future__ import annotations

import http.client
import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Any
from urllib.parse import urlsplit

TEMPLATES_PATH = "/templates"
CATALOGUE = {
    "templates": [
        {"name": "corporate", "slides": 12, "colors": ["#003366", "#ffffff"]},
        {"name": "minimal", "slides": 8, "colors": ["#222222", "#fafafa"]},
        {"name": "pitch", "slides": 10, "colors": ["#8a0f3c", "#fff8f0"]},
    ],
    "version": 3,
}


class UpstreamError(Exception):
    """A call to the upstream that got no usable answer; ``category`` says how it failed."""

    def __init__(self, category: str, message: str) -> None:
        super().__init__(message)
        self.category = category  # "timeout", "connection" or "bad_answer"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pytest-aide-demo-upstream/0.1"
    timeout = 30

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:
        found = self.path.split("?", 1)[0] == TEMPLATES_PATH
        status = HTTPStatus.OK if found else HTTPStatus.NOT_FOUND
        data = json.dumps(CATALOGUE if found else {"error": "not found"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the demo logs what it asks of the upstream, not the upstream itself."""


class UpstreamServer(ThreadingHTTPServer):
    """The catalogue service, served from a daemon thread by :meth:`start` until :meth:`stop`."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _Handler)
        self._thread = threading.Thread(target=self.serve_forever, args=(0.2,), name="demo-upstream", daemon=True)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup, as the demo's own server does."""
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: a demo that gave up waiting (its upstream timeout) is no error of the upstream's."""

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> UpstreamServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self.shutdown()
        self.server_close()


def fetch_catalogue(url: str, timeout: float) -> dict[str, Any]:
    """GET the catalogue at ``url`` (the upstream's base URL) on a new connection; :class:`UpstreamError` if none."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout)
    try:
        conn.request("GET", parts.path.rstrip("/") + TEMPLATES_PATH)
        response = conn.getresponse()
        body = response.read()
    except TimeoutError as exc:
        raise UpstreamError("timeout", f"no answer from the upstream at {url} within {timeout:g} s") from exc
    except (OSError, http.client.HTTPException) as exc:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise UpstreamError("connection", f"upstream at {url}: {reason}") from exc
    finally:
        conn.close()
    if response.status != HTTPStatus.OK:
        raise UpstreamError("bad_answer", f"upstream at {url} answered {response.status}")
    try:
        catalogue = json.loads(body)
    except ValueError as exc:
        raise UpstreamError("bad_answer", f"upstream at {url} answered no JSON") from exc
    if not isinstance(catalogue, dict) or not isinstance(catalogue.get("templates"), list):
        raise UpstreamError("bad_answer", f"upstream at {url} answered JSON without templates")
    return catalogue
