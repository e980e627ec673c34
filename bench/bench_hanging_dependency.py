"""Benchmark: one dependency, one timeout. Twenty checks against a hanging database (and a hanging app).

    .venv/bin/python bench/bench_hanging_dependency.py [--timeout 5] [--checks 20] [--rounds 3] [--slack 2]
        [--xdist] [--without-circuits] [--only db|app] [--python PATH]

A hanging dependency is a REAL listener on 127.0.0.1 that accepts every connection and never sends a byte, so
the driver waits for its whole timeout. A throw-away project holds ``--checks`` checks (one reachability
check, the rest reading the dependency through ``aide_db`` / ``aide_app``), run in turns with the dependency:

- **answering** (the baseline, the run's fixed overhead): the database is an SQLite file, the app a loopback
  server that answers at once;
- **hanging**: the database URL (``--timeout`` s) or the app URL (``--timeout`` s to read) points at the
  silent listener.

Without circuits every check would pay the timeout: ``checks x timeout`` (100 s for 20 checks at 5 s). The
bound, for each dependency (and under ``-n 2`` with ``--xdist``, where each worker has its own circuits and
they pay in parallel): the hanging run's median at most the answering run's median + 2 x timeout +
``--slack`` s (importing the driver, connecting), and the listener saw at most 2 connections per process.
``--without-circuits`` adds one run of the hanging side with ``[resilience.dependencies] enabled = false``
(no bound: the figure the circuits save). Exit 0 only when every bound holds.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import operator_env as ops  # the benchmarks' shared helpers, beside this script

REPO = Path(__file__).resolve().parent.parent


class SilentListener:
    """Accepts connections on 127.0.0.1 and never answers; counts them."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.05)
        self.port = int(self._socket.getsockname()[1])
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.accepted.append(self._socket.accept()[0])
            except TimeoutError:
                continue

    def take_count(self) -> int:
        """Connections since the last call (closing them, so the next run starts afresh)."""
        count = len(self.accepted)
        for conn in self.accepted[:count]:
            conn.close()
        del self.accepted[:count]
        return count

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.take_count()
        self._socket.close()


class _Fast(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"status": "healthy"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def fast_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Fast)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def db_checks(count: int) -> str:
    reach = (
        "import pytest\n\n\n@pytest.mark.aide(reachability='db')\ndef check_reachable(aide_db, aide_health):\n"
        "    aide_health.record('db_ping_s', aide_db.ping())\n"
    )
    return reach + "".join(
        f"\n\ndef check_rows_{n}(aide_db, aide_health):\n"
        f"    aide_health.record('rows_{n}', float(aide_db.scalar('SELECT {n}')), 'rows')\n"
        for n in range(count - 1)
    )


def app_checks(count: int) -> str:
    reach = (
        "import pytest\n\n\n@pytest.mark.aide(reachability='app')\ndef check_health(aide_app):\n"
        "    assert aide_app.probe('/health').ok\n"
    )
    return reach + "".join(
        f"\n\ndef check_page_{n}(aide_app):\n    assert aide_app.probe('/page/{n}').ok\n" for n in range(count - 1)
    )


def project(root: Path, name: str, config: str, checks: str) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "aide.toml").write_text("[suite]\nenabled = false\n[reports]\narchive = true\n" + config)
    (folder / "check_dependency.py").write_text(checks)
    return folder


def health_of(folder: Path) -> dict:
    runs = sorted((folder / "reports").glob("2*/health.json"))
    return json.loads(runs[-1].read_text()) if runs else {}


def measure(args: argparse.Namespace, kind: str, root: Path, listener: SilentListener, app_port: int) -> bool:
    timeout = args.timeout
    checks = db_checks(args.checks) if kind == "db" else app_checks(args.checks)
    if kind == "db":
        (root / "app.db").touch()
        answering_config = f'[db]\nurl = "sqlite:///{root / "app.db"}"\ntimeout = {timeout}\n'
        hanging_config = (
            f'[db]\nurl = "postgresql://monitor:secret@127.0.0.1:{listener.port}/test"\ntimeout = {timeout}\n'
        )
    else:
        answering_config = f'[app]\nurl = "http://127.0.0.1:{app_port}"\ntimeout = {timeout}\nconnect_timeout = 1\n'
        hanging_config = f'[app]\nurl = "http://127.0.0.1:{listener.port}"\ntimeout = {timeout}\nconnect_timeout = 1\n'
    answering = project(root, f"{kind}-answering", answering_config, checks)
    hanging = project(root, f"{kind}-hanging", hanging_config, checks)
    python = str(args.python or sys.executable)
    env = ops.operator_environ({"PYTHONPATH": str(REPO)}) if not args.python else ops.operator_environ()
    extra = ["-n", "2"] if args.xdist else []
    command = [python, "-m", "pytest", "-p", "no:cacheprovider", "-q", *extra]
    walls: dict[str, list[float]] = {"answering": [], "hanging": []}
    connections: list[int] = []
    listener.take_count()
    for number in range(-1, args.rounds):  # one untimed warm-up round
        for label in ("answering", "hanging") if number % 2 == 0 else ("hanging", "answering"):
            folder = answering if label == "answering" else hanging
            sample = ops.run_timed(command, folder, env=env, timeout=args.checks * timeout * 3 + 120)
            health = health_of(folder)
            expected_exit = 0 if label == "answering" else 1
            if sample.returncode != expected_exit or not health:
                tail = "\n  ".join(sample.output.strip().splitlines()[-25:])
                raise SystemExit(f"bench: {kind} {label} run ended {sample.returncode}:\n  {tail}")
            if label == "hanging":
                connections.append(listener.take_count())
            if number >= 0:
                walls[label].append(sample.wall)
        if number >= 0:
            print(
                f"  {kind} round {number + 1}/{args.rounds}: answering {walls['answering'][-1]:.2f} s, "
                f"hanging {walls['hanging'][-1]:.2f} s",
                flush=True,
            )
    base, hung = statistics.median(walls["answering"]), statistics.median(walls["hanging"])
    causes = health_of(hanging).get("root_causes", [])
    blocked = len(causes[0]["blocked"]) if causes else 0
    processes = 2 if args.xdist else 1
    without = args.checks * timeout
    print(
        f"{kind}: answering median {base:.2f} s, hanging median {hung:.2f} s: the outage cost "
        f"{hung - base:.2f} s = {(hung - base) / timeout:.2f} timeouts, against {without:g} s "
        f"({args.checks} x {timeout:g} s) without circuits; connections per run {connections}; "
        f"root cause {causes[0]['check'] if causes else None} with {blocked} blocked"
    )
    if args.without_circuits:  # once, untimed against a bound: what the circuits save
        off = project(root, f"{kind}-off", hanging_config + "[resilience.dependencies]\nenabled = false\n", checks)
        sample = ops.run_timed(command, off, env=env, timeout=args.checks * timeout * 3 + 120)
        print(
            f"{kind}: with the circuits off the hanging run took {sample.wall:.2f} s "
            f"({listener.take_count()} connections)"
        )
    bound = base + 2 * timeout + args.slack
    ok_time = hung <= bound
    ok_count = max(connections) <= 2 * processes
    ok_cause = len(causes) == 1 and blocked == args.checks - 1
    print(
        ops.verdict(
            ok_time,
            f"{kind}: hanging {hung:.2f} s <= answering {base:.2f} s + 2 x {timeout:g} s + "
            f"{args.slack:g} s = {bound:.2f} s",
        )
    )
    print(ops.verdict(ok_count, f"{kind}: at most {2 * processes} connections a run (saw {max(connections)})"))
    print(ops.verdict(ok_cause, f"{kind}: one root cause, {args.checks - 1} checks blocked (saw {blocked})"))
    return ok_time and ok_count and ok_cause


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timeout", type=float, default=5.0, help="the dependency's timeout, seconds (5)")
    parser.add_argument("--checks", type=int, default=20, help="checks of the dependency (20)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds after one warm-up (3)")
    parser.add_argument("--slack", type=float, default=2.0, help="fixed extra seconds allowed (2)")
    parser.add_argument("--xdist", action="store_true", help="run both sides under -n 2")
    parser.add_argument("--python", help="the interpreter to run (default: this one, with this tree on PYTHONPATH)")
    parser.add_argument("--only", choices=("db", "app"), help="measure one dependency only")
    parser.add_argument(
        "--without-circuits", action="store_true", help="also run the hanging side once with the circuits off"
    )
    args = parser.parse_args()
    print(ops.load_line())
    listener = SilentListener()
    try:
        with tempfile.TemporaryDirectory(prefix="aide-bench-hang-") as scratch, fast_server() as app_port:
            kinds = [args.only] if args.only else ["db", "app"]
            results = [measure(args, kind, Path(scratch), listener, app_port) for kind in kinds]
    finally:
        listener.close()
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
