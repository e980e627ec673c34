"""Benchmark: many endpoints checked through the pytest-aide plugin, against plain pytest and the ideal.

    .venv/bin/python bench/bench_endpoints.py [--small 1000] [--large 10000] [--delay-ms 100] [--rounds 3]
        [--bound 5] [--ratio 1.3] [--sequential] [--python PATH]

A loopback server answers every request after ``--delay-ms``. For each size N a throw-away project holds an
``aide.toml`` with one ``[[endpoints]]`` table per endpoint and ``check_endpoints.py`` (one check per endpoint,
``assert aide_endpoint_probe.ok``); a second project holds N trivial tests and no aide configuration. In an
operator's install (see ``operator_env.py``) these run in turns, archiving on:

- **plain**: ``pytest -p no:aide --junitxml --html --self-contained-html`` on the N trivial tests;
- **aide**: ``pytest check_endpoints.py`` (default ``[run] concurrency`` 64, archive written);
- **aide -n 2** and **plain -n 2** (small size only): the same under pytest-xdist with two workers (the plain
  figure shows what xdist itself costs on the machine).

Bounds (issue 7, bullet 12), all must hold for exit 0:

- small (1,000): aide's median at most ``--bound`` seconds (5), and ``-n 2`` no slower than serial (median of
  the per-round ratios at most 1);
- large (10,000): aide's median at most ``--ratio`` (1.3) x (plain's median + ceil(N / 64) x delay), the
  plain-pytest figure plus the ideal time to probe N endpoints 64 at a time.

Every aide run must pass and the server must have answered each endpoint exactly once (under ``-n 2`` too:
a child process of the xdist controller probes for both). ``--sequential`` adds one ``--aide-concurrency 1``
run of the small size (about N x delay) to show the speed-up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import shutil
import statistics
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import operator_env as ops  # the benchmarks' shared helpers, beside this script

CHECK_FILE = '''"""One check per [[endpoints]] table; the plugin probes them all at once, before the first check."""


def check_endpoint(aide_endpoint, aide_endpoint_probe):
    assert aide_endpoint_probe.ok, aide_endpoint_probe.error
'''
TEST_FILE = """import pytest


@pytest.mark.parametrize("i", range({count}))
def test_trivial(i):
    assert i >= 0
"""
BODY = json.dumps({"status": "healthy"}).encode()
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(BODY)) + BODY
PLAIN_REPORTS = ("--junitxml=junit.xml", "--html=report.html", "--self-contained-html")  # what aide archives
CONCURRENCY = 64  # aide's default [run] concurrency, the "64" of the bound


class DelayServer:
    """An HTTP/1.1 keep-alive server on 127.0.0.1 that answers every request after ``delay`` seconds.

    asyncio in a thread of its own: a request costs a few microseconds of CPU here, so on a 2-core machine the
    server takes next to nothing from the pytest run it serves (a thread-per-connection ``http.server`` costs
    about as much CPU per request as the client, and that would be charged to aide).
    """

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.served = 0
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=2048))
        self.port = server.sockets[0].getsockname()[1]
        self._started.set()
        self._loop.run_forever()
        server.close()
        self._loop.run_until_complete(server.wait_closed())

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if not head.startswith(b"GET "):
                    writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                    continue
                await asyncio.sleep(self.delay)
                writer.write(RESPONSE)
                self.served += 1  # only the loop's thread writes it
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    def __enter__(self) -> DelayServer:
        self._thread.start()
        if not self._started.wait(10):
            raise SystemExit("bench: the delay server did not start")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def write_aide_project(directory: Path, url: str, endpoints: int) -> None:
    directory.mkdir()
    width = max(4, len(str(endpoints)))
    tables = [f'[[endpoints]]\nname = "ep{i:0{width}d}"\npath = "/ep/{i:0{width}d}"\n' for i in range(1, endpoints + 1)]
    (directory / "aide.toml").write_text(f'[app]\nurl = "{url}"\n\n' + "\n".join(tables), encoding="utf-8")
    (directory / "check_endpoints.py").write_text(CHECK_FILE, encoding="utf-8")


def write_plain_project(directory: Path, tests: int) -> None:
    directory.mkdir()
    (directory / "test_trivial.py").write_text(TEST_FILE.format(count=tests), encoding="utf-8")


@dataclass
class Size:
    """The commands of one size N and the server requests each aide run must cause."""

    endpoints: int
    commands: dict[str, tuple[list[str], Path]]


def prepare(root: Path, python: str, url: str, endpoints: int, *, xdist: bool) -> Size:
    aide, plain = root / f"aide-{endpoints}", root / f"plain-{endpoints}"
    write_aide_project(aide, url, endpoints)
    write_plain_project(plain, endpoints)
    pytest = [python, "-m", "pytest"]
    commands = {
        "plain": ([*pytest, "-p", "no:aide", *PLAIN_REPORTS, "test_trivial.py"], plain),
        "aide": ([*pytest, "check_endpoints.py"], aide),
    }
    if xdist:
        commands["aide -n 2"] = ([*pytest, "-n", "2", "check_endpoints.py"], aide)
        # What xdist itself costs on this machine, for the same number of trivial tests.
        commands["plain -n 2"] = ([*pytest, "-p", "no:aide", "-n", "2", *PLAIN_REPORTS, "test_trivial.py"], plain)
    return Size(endpoints, commands)


def measure(size: Size, server: DelayServer, rounds: int, timeout: float) -> dict[str, ops.Series]:
    """Run the size's commands in turns; every aide run must pass and probe each endpoint once."""
    served_before = {"n": 0}

    def runner(label: str) -> ops.Sample:
        command, cwd = size.commands[label]
        reports = cwd / "reports"
        before = set(reports.iterdir()) if reports.is_dir() else set()
        served_before["n"] = server.served
        sample = ops.run_timed(command, cwd, timeout=timeout)
        for added in (set(reports.iterdir()) if reports.is_dir() else set()) - before:
            if added.is_dir():
                shutil.rmtree(added)  # every round archives into the same (empty) history
        return sample

    def check(label: str, sample: ops.Sample) -> str | None:
        served = server.served - served_before["n"]
        if label.startswith("aide"):
            if "verdict" not in sample.output:
                return "no pytest-aide verdict in the output"
            if served != size.endpoints:
                return f"the server answered {served} requests, expected one per endpoint ({size.endpoints})"
        return None

    return ops.interleave({label: (lambda lb=label: runner(lb)) for label in size.commands}, rounds, check=check)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--small", type=int, default=1000, help="endpoints of the small size (default 1000)")
    parser.add_argument("--large", type=int, default=10000, help="endpoints of the large size; 0 skips it")
    parser.add_argument("--delay-ms", type=float, default=100.0, help="server latency per request (default 100)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per size, after a warm-up (default 3)")
    parser.add_argument("--bound", type=float, default=5.0, help="max seconds of aide at the small size (5)")
    parser.add_argument("--ratio", type=float, default=1.3, help="max aide/(plain + ideal probing), large size")
    parser.add_argument("--sequential", action="store_true", help="also time --aide-concurrency 1 once (slow)")
    parser.add_argument("--python", help="interpreter of an existing install to measure instead of building one")
    return parser.parse_args(argv)


def ideal_probing(endpoints: int, delay: float) -> float:
    return math.ceil(endpoints / CONCURRENCY) * delay


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    delay = args.delay_ms / 1000.0
    python = str(ops.operator_python(python=args.python))
    results: list[tuple[bool, str]] = []
    with DelayServer(delay) as server, tempfile.TemporaryDirectory(prefix="bench-endpoints-") as tmp:
        url = f"http://127.0.0.1:{server.port}"
        print(f"server {url}, {args.delay_ms:g} ms per request; {python}")
        for endpoints, small in ((args.small, True), (args.large, False)):
            if endpoints <= 0:
                continue
            size = prepare(Path(tmp), python, url, endpoints, xdist=small)
            timeout = endpoints * 0.02 + ideal_probing(endpoints, delay) * 3 + 120
            print(f"\n{endpoints} endpoints, {args.rounds} rounds in turns ({ops.load_line()})", flush=True)
            for label, (command, cwd) in size.commands.items():
                print(f"  {label}: {' '.join(command[1:])}  (in {cwd.name})")
            series = measure(size, server, args.rounds, timeout)
            for s in series.values():
                print(s.line())
            plain, aide = series["plain"], series["aide"]
            ideal = ideal_probing(endpoints, delay)
            relative = aide.median / (plain.median + ideal)
            print(
                f"aide / (plain + ceil({endpoints}/{CONCURRENCY}) x {delay:g} s = {plain.median:.2f} + {ideal:.1f} s):"
                f" {relative:.2f}; aide - plain = {aide.median - plain.median:.2f} s (ideal probing {ideal:.1f} s)"
            )
            if small:
                results.append(
                    (aide.median <= args.bound, f"{endpoints} endpoints: aide {aide.median:.2f} s <= {args.bound:g} s")
                )
                ratios = ops.paired_ratios(series["aide -n 2"], aide)
                xdist = statistics.median(ratios)
                plain_xdist = series["plain -n 2"].median - plain.median
                aide_xdist = series["aide -n 2"].median - aide.median
                print(
                    f"-n 2 minus serial: plain {plain_xdist:+.2f} s (xdist's own cost here), aide {aide_xdist:+.2f} s"
                )
                results.append(
                    (xdist <= 1.0, f"{endpoints} endpoints: -n 2 / serial {xdist:.2f} <= 1 (median of rounds)")
                )
            else:
                results.append(
                    (
                        relative <= args.ratio,
                        f"{endpoints} endpoints: aide/(plain + ideal) {relative:.2f} <= {args.ratio:g}",
                    )
                )
        if args.sequential and args.small > 0:
            command, cwd = prepare_sequential(Path(tmp), python, url, args.small)
            sample = ops.run_timed(command, cwd, timeout=args.small * delay * 2 + 120)
            print(f"\nsequential (--aide-concurrency 1), {args.small} endpoints: {sample.wall:.2f} s", end="")
            print(f", exit {sample.returncode}")
    print()
    for ok, text in results:
        print(ops.verdict(ok, text))
    return 0 if all(ok for ok, _ in results) else 1


def prepare_sequential(root: Path, python: str, url: str, endpoints: int) -> tuple[list[str], Path]:
    folder = root / "sequential"
    write_aide_project(folder, url, endpoints)
    return [python, "-m", "pytest", "--aide-concurrency", "1", "check_endpoints.py"], folder


if __name__ == "__main__":
    sys.exit(main())
