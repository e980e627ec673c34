"""A real webhook receiver for the alert tests: a standard-library HTTP server on 127.0.0.1, in a thread of
the test, recording every POST. It answers ``status`` (204 by default; ``answers`` first, one per post), or
never answers while ``hang`` is set (until the test ends)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from quiet_http import QuietHTTPServer


@dataclass
class Receiver:
    """What the test controls and reads: the answer to give, and the posts received (path, headers, JSON)."""

    port: int = 0
    status: int = 204
    answers: list[int] = field(default_factory=list)  # given first, one per post, before ``status``
    hang: bool = False
    posts: list[dict[str, Any]] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [post["json"] for post in self.posts]

    @property
    def texts(self) -> list[str]:
        return [str(body.get("text", "")) for body in self.bodies]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            with receiver.lock:
                receiver.posts.append(
                    {"path": self.path, "headers": dict(self.headers), "raw": raw, "json": json.loads(raw or b"{}")}
                )
            if receiver.hang:
                receiver.released.wait(60)  # never answer while the test runs
                return
            with receiver.lock:
                status = receiver.answers.pop(0) if receiver.answers else receiver.status
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # quiet: the test reads the posts
            pass

    return Handler


@contextmanager
def receiving() -> Iterator[Receiver]:
    """A running receiver until the block ends (then stopped, its hanging requests released)."""
    receiver = Receiver()
    server = QuietHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.released.set()
        server.shutdown()
        server.server_close()
        thread.join(30)
