"""Benchmark: N endpoints checked through the pytest-aide plugin, concurrently versus one at a time.

    .venv/bin/python bench/bench_endpoints.py [--endpoints 1000] [--delay-ms 100] [--bound 5]
        [--xdist] [--no-baseline] [--without-hypothesis]

A loopback server answers every request after ``--delay-ms``. A throw-away project (``aide.toml`` with one
``[[endpoints]]`` table per endpoint, and ``check_endpoints.py``) is run with ``python -m pytest`` twice:
at the default concurrency and with ``--aide-concurrency 1`` (the sequential baseline). The bound under
test: the concurrent run takes at most ``--bound`` seconds (5 s for 1,000 endpoints at 100 ms). Exit
status 0 when the bound holds and both runs pass, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CHECK_FILE = '''"""One check per [[endpoints]] table; the plugin probes them all at once, before the first check."""


def check_endpoint(aide_endpoint, aide_endpoint_probe):
    assert aide_endpoint_probe.ok, aide_endpoint_probe.error
'''
BODY = json.dumps({"status": "healthy"}).encode()


class DelayServer(ThreadingHTTPServer):
    """Answers every GET after ``delay`` seconds; a deep accept queue so a burst is never dropped."""

    daemon_threads = True
    request_queue_size = 2048

    def __init__(self, delay: float) -> None:
        super().__init__(("127.0.0.1", 0), DelayHandler)
        self.delay = delay
        self.served = 0
        self.lock = threading.Lock()


class DelayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client's pool reuses connections
    disable_nagle_algorithm = True  # TCP_NODELAY: small responses leave at once
    server: DelayServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        time.sleep(self.server.delay)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)
        with self.server.lock:
            self.server.served += 1


@dataclass(frozen=True)
class Run:
    label: str
    wall_s: float
    returncode: int
    served: int
    tail: str


@contextmanager
def delay_server(delay: float) -> Iterator[DelayServer]:
    server = DelayServer(delay)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def write_project(directory: Path, url: str, endpoints: int) -> None:
    width = max(4, len(str(endpoints)))
    tables = [f'[[endpoints]]\nname = "ep{i:0{width}d}"\npath = "/ep/{i:0{width}d}"\n' for i in range(1, endpoints + 1)]
    (directory / "aide.toml").write_text(f'[app]\nurl = "{url}"\n\n' + "\n".join(tables), encoding="utf-8")
    (directory / "check_endpoints.py").write_text(CHECK_FILE, encoding="utf-8")


def run_pytest(label: str, directory: Path, server: DelayServer, extra: Sequence[str], timeout: float) -> Run:
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *extra]
    env = {key: value for key, value in os.environ.items() if key != "PYTEST_DISABLE_PLUGIN_AUTOLOAD"}
    before = server.served
    print(f"[{label}] {' '.join(command[1:])}", flush=True)
    began = time.monotonic()
    try:
        done = subprocess.run(
            command, cwd=directory, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return Run(label, time.monotonic() - began, -1, server.served - before, f"timed out after {timeout:g} s")
    wall = time.monotonic() - began
    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
    return Run(label, wall, done.returncode, server.served - before, tail)


def report(run: Run, endpoints: int) -> None:
    print(
        f"[{run.label}] wall {run.wall_s:.2f} s, pytest exit {run.returncode}, requests served {run.served}"
        f" (endpoints {endpoints})"
    )
    if run.returncode != 0:
        print("  " + run.tail.replace("\n", "\n  "))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--endpoints", type=int, default=1000, help="number of endpoints (default 1000)")
    parser.add_argument("--delay-ms", type=float, default=100.0, help="server latency per request (default 100)")
    parser.add_argument("--bound", type=float, default=5.0, help="max seconds for the concurrent run (default 5)")
    parser.add_argument("--xdist", action="store_true", help="run pytest with -n 2")
    parser.add_argument("--no-baseline", action="store_true", help="skip the sequential --aide-concurrency 1 run")
    parser.add_argument(
        "--without-hypothesis",
        action="store_true",
        help="add -p no:hypothesispytest (a dev-only plugin that imports hypothesis at the end "
        "of every run, ~1.5 s here; operators' installs do not have it)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    delay = args.delay_ms / 1000.0
    extra = ["-n", "2"] if args.xdist else []
    if args.without_hypothesis:
        extra.extend(["-p", "no:hypothesispytest"])
    with delay_server(delay) as server, tempfile.TemporaryDirectory(prefix="aide-bench-") as tmp:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        write_project(Path(tmp), url, args.endpoints)
        print(f"{args.endpoints} endpoints at {args.delay_ms:g} ms on {url}; project in {tmp}", flush=True)
        concurrent = run_pytest("concurrent", Path(tmp), server, extra, timeout=120)
        report(concurrent, args.endpoints)
        ok = concurrent.returncode == 0
        if not args.no_baseline:
            timeout = args.endpoints * delay * 2 + 120
            sequential = run_pytest("sequential", Path(tmp), server, [*extra, "--aide-concurrency", "1"], timeout)
            report(sequential, args.endpoints)
            ok = ok and sequential.returncode == 0
            print(
                f"speed-up: {sequential.wall_s / concurrent.wall_s:.1f}x "
                f"(sequential {sequential.wall_s:.2f} s / concurrent {concurrent.wall_s:.2f} s)"
            )
    within = concurrent.wall_s <= args.bound
    print(f"{'PASS' if within else 'FAIL'}: concurrent run {concurrent.wall_s:.2f} s <= {args.bound:g} s")
    return 0 if ok and within else 1


if __name__ == "__main__":
    sys.exit(main())
