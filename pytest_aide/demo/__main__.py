"""``python -m pytest_aide.demo``: serve the demo target until SIGTERM or SIGINT, then exit 0.

The first line printed once the socket listens (``demo serving on http://HOST:PORT (data in DIR)``) is the
contract with whoever starts the demo: with ``--port 0`` it is the only way to learn the port. A second line
names the upstream service started with it (``demo upstream on http://HOST:PORT, called at URL``).
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from pytest_aide.demo.data import ensure_demo_data
from pytest_aide.demo.nightly_backup import ensure_first_backup
from pytest_aide.demo.server import DemoServer
from pytest_aide.demo.upstream import UpstreamServer

_DESCRIPTION = "Serve pytest-aide's demo target (a slide-generator imitation) until SIGTERM or SIGINT."
_POLL_SECONDS = 0.2  # how often serve_forever notices a shutdown request: bounds the stop latency
NO_FALLBACK_ENV = "AIDE_DEMO_NO_FALLBACK"
_TRUE = ("1", "true", "yes", "on")


def _delay_ms(text: str) -> float:
    delay = float(text)
    if not delay >= 0:  # also rejects nan
        raise argparse.ArgumentTypeError(f"must be a number of milliseconds >= 0, got {text}")
    return delay


def _threads(text: str) -> int:
    threads = int(text)
    if threads < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 (0 starts one thread per connection), got {text}")
    return threads


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0-65535 (0 picks a free port), got {text}")
    return port


def build_parser() -> argparse.ArgumentParser:
    """The command line of the demo target."""
    parser = argparse.ArgumentParser(prog="python -m pytest_aide.demo", description=_DESCRIPTION)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=_port, default=5000, help="TCP port, 0 for a free one (default: %(default)s)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(".demo"),
        help="dataset folder, generated on first start (default: %(default)s)",
    )
    parser.add_argument(
        "--delay-ms",
        type=_delay_ms,
        default=0.0,
        help="extra wait before every response, in milliseconds (default: %(default)s)",
    )
    parser.add_argument(
        "--threads",
        type=_threads,
        default=0,
        help="handler threads; 0 starts one per connection (default: %(default)s)",
    )
    parser.add_argument(
        "--upstream-port",
        type=_port,
        default=0,
        help="TCP port of the demo's own upstream service, 0 for a free one (default: %(default)s)",
    )
    parser.add_argument(
        "--upstream-url",
        default=None,
        help="where the demo calls its upstream, e.g. a fault proxy in front of it (default: the upstream itself)",
    )
    parser.add_argument(
        "--no-fallback",
        action="store_true",
        default=os.environ.get(NO_FALLBACK_ENV, "").strip().lower() in _TRUE,
        help=f"broken mode for drills: no fallback to cached data when a dependency fails (or {NO_FALLBACK_ENV}=1)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; returns the exit status (0 after a signal, 1 when it cannot start, 2 on bad usage)."""
    args = build_parser().parse_args(argv)
    try:
        paths = ensure_demo_data(args.data_dir)
        ensure_first_backup(paths)
        upstream = UpstreamServer((args.host, args.upstream_port))
    except (OSError, sqlite3.Error) as exc:
        where = f"{args.host}:{args.upstream_port}"
        print(f"demo: cannot start on {where} with data in {args.data_dir}: {exc}", file=sys.stderr)
        return 1
    upstream_url = args.upstream_url or upstream.url
    try:
        server = DemoServer(
            (args.host, args.port),
            paths,
            delay_ms=args.delay_ms,
            threads=args.threads,
            upstream_url=upstream_url,
            fallback=not args.no_fallback,
        )
    except OSError as exc:
        upstream.server_close()
        print(f"demo: cannot start on {args.host}:{args.port} with data in {args.data_dir}: {exc}", file=sys.stderr)
        return 1
    _stop_on_signals(server)
    upstream.start()
    try:
        print(f"demo serving on {server.url} (data in {paths.root})", flush=True)
        print(f"demo upstream on {upstream.url}, called at {upstream_url}", flush=True)
        server.serve_forever(poll_interval=_POLL_SECONDS)
    finally:
        server.server_close()
        upstream.stop()
    return 0


def _stop_on_signals(server: DemoServer) -> None:
    """SIGTERM and SIGINT stop serve_forever; shutdown() blocks, so it runs outside the signal handler."""

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, name="demo-shutdown", daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


if __name__ == "__main__":
    sys.exit(main())
