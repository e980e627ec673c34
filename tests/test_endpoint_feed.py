"""Under xdist the controller probes the endpoints (from before its workers have collected, when the run surely
checks them all) and streams each result to the workers, which wait for their own endpoint only.

A loopback server logs every request (path, time) and can hold an endpoint until the test's check of another
one has run, or trickle an endpoint's headers without end (a probe that hangs despite its timeouts). Orders of
events are asserted, never durations: the machine is shared and loaded.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import psutil
import pytest
from aide_testing import activate
from quiet_http import QuietHTTPServer

from conftest import HANG_S, free_port
from pytest_aide.config import load_config
from pytest_aide.endpointfeed import RunScope, may_check, may_guess
from pytest_aide.errors import ProbeError
from pytest_aide.probes import feed_process
from pytest_aide.probes.endpoints import EndpointSpec
from pytest_aide.probes.feed import FeedWriter, ProbeFeed, end_feed
from pytest_aide.probes.feed_process import Circuits, ProbeJob, ProbeProcess
from pytest_aide.probes.http import HttpClient

BODY = json.dumps({"status": "healthy"}).encode()
CHECK_FILE = """
import time
from pathlib import Path


def check_endpoint(aide_endpoint, aide_endpoint_probe):
    Path("checked-" + aide_endpoint.name).write_text(repr(time.time()))
    assert aide_endpoint_probe.ok, aide_endpoint_probe.error
"""


class LogServer(QuietHTTPServer):
    """``/hold/<x>`` answers once the file ``release`` exists (or after HANG_S); ``/trickle/<x>`` sends one byte
    of a header line every 0.2 s for HANG_S (each read comes within the client's read timeout, so the probe
    hangs); anything else answers at once. Every request is logged with its time."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), LogHandler)
        self.lock = threading.Lock()
        self.log: list[tuple[str, float]] = []
        self.answered: dict[str, float] = {}
        self.clients: dict[str, tuple[list[str], list[str]]] = {}  # /whois/ path: the client's and its parent's argv
        self.pids: dict[str, int] = {}  # /whois/ path: the client's process id
        self.auth: dict[str, str | None] = {}
        self.release: Path | None = None
        self.closing = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def paths(self) -> list[str]:
        with self.lock:
            return [path for path, _ in self.log]


class LogHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: LogServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.log.append((self.path, time.time()))
            self.server.auth[self.path] = self.headers.get("Authorization")
        if self.path.startswith("/whois/"):
            *found, pid = client_process(self.client_address[1], self.server.server_address[1])
            with self.server.lock:
                self.server.clients[self.path] = (found[0], found[1])
                self.server.pids[self.path] = pid
        if self.path.startswith("/trickle/"):
            self._trickle()
            return
        if self.path.startswith("/hold/"):
            deadline = time.monotonic() + HANG_S
            while not (self.server.release and self.server.release.exists()) and time.monotonic() < deadline:
                time.sleep(0.01)
        with self.server.lock:
            self.server.answered[self.path] = time.time()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def _trickle(self) -> None:
        self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Still: ")  # then one byte of the line at a time
        deadline = time.monotonic() + HANG_S
        try:
            while time.monotonic() < deadline and not self.server.closing.is_set():
                self.wfile.write(b".")
                self.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass
        self.close_connection = True


def client_process(client_port: int, server_port: int) -> tuple[list[str], list[str], int]:
    """The command lines of the process holding the client end of a connection to this server and its parent's,
    and its process id (what went wrong, instead, when they cannot be read: the test then says so)."""
    try:
        for conn in psutil.net_connections(kind="tcp"):
            ends = conn.laddr and conn.raddr and (conn.laddr.port, conn.raddr.port) == (client_port, server_port)
            if conn.pid and ends:
                process = psutil.Process(conn.pid)
                parent = process.parent()
                return process.cmdline(), parent.cmdline() if parent else [], conn.pid
    except (psutil.Error, OSError) as exc:
        return [f"lookup failed: {exc!r}"], [], 0
    return [f"no process holds 127.0.0.1:{client_port}"], [], 0


@pytest.fixture
def server() -> Iterator[LogServer]:
    server = LogServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.closing.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


def project(pytester: pytest.Pytester, url: str, endpoints: dict[str, str], app: str = "") -> None:
    tables = "".join(f'[[endpoints]]\nname = "{name}"\npath = "{path}"\n\n' for name, path in endpoints.items())
    pytester.makefile(".toml", aide=f'[app]\nurl = "{url}"\n{app}\n{tables}')
    pytester.makepyfile(check_endpoints=CHECK_FILE)
    activate(pytester)


def run_xdist(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *args: str) -> pytest.RunResult:
    pytest.importorskip("xdist")
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", *args, timeout=HANG_S * 3)


def statuses(pytester: pytest.Pytester) -> dict[str, dict[str, Any]]:
    [health] = (pytester.path / "reports").glob("2*/health.json")
    return {c["nodeid"].split("[")[-1].rstrip("]"): c for c in json.loads(health.read_text())["checks"]}


# --- end to end, under xdist -------------------------------------------------------------------------------


def test_each_endpoint_is_probed_once_and_before_the_workers_have_collected(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, server: LogServer
) -> None:
    endpoints = {f"ep{i:02d}": f"/ep/{i:02d}" for i in range(24)}
    project(pytester, server.url, endpoints)
    pytester.makeconftest(
        """
        import os, time
        from pathlib import Path

        def pytest_collection_finish(session):
            if os.environ.get("PYTEST_XDIST_WORKER"):
                Path("collected-" + os.environ["PYTEST_XDIST_WORKER"]).write_text(repr(time.time()))
        """
    )
    result = run_xdist(pytester, monkeypatch, "check_endpoints.py")
    result.assert_outcomes(passed=24)
    assert sorted(server.paths()) == sorted(endpoints.values())  # each once, none twice across both workers
    first_probe = min(when for _, when in server.log)
    collected = [float(p.read_text()) for p in pytester.path.glob("collected-gw*")]
    assert len(collected) == 2
    assert first_probe < min(collected)  # the controller started while the workers were still collecting
    [run] = (pytester.path / "reports").glob("2*")
    assert not list(run.glob("endpoint-*"))  # the feed is not archived


def test_a_run_without_endpoints_never_loads_the_feed(pytester: pytest.Pytester) -> None:
    # every module an aide run imports costs every run its loading (pytest reads a plugin's modules through its
    # assertion-rewriting importer): the feed's is left to the runs that probe endpoints
    pytester.makefile(".toml", aide="")
    pytester.makepyfile(check_plain="def check_plain():\n    assert True\n")
    activate(pytester)
    pytester.makeconftest(
        """
        import sys
        from pathlib import Path

        def pytest_sessionfinish(session):
            Path("loaded").write_text(" ".join(sorted(m for m in sys.modules if m.startswith("pytest_aide."))))
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "check_plain.py", timeout=HANG_S * 3)
    result.assert_outcomes(passed=1)
    loaded = (pytester.path / "loaded").read_text().split()
    assert "pytest_aide.wiring" in loaded  # an aide run, as the conftest saw it
    assert "pytest_aide.endpointfeed" not in loaded


def test_a_check_waits_for_its_own_endpoint_only(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, server: LogServer
) -> None:
    # "zeta" answers only after the check of "alpha" has run: if alpha's check waited for all probes (as a
    # worker did that read the probes of the whole run at once), zeta would answer after HANG_S and the order
    # below would be the other way round.
    server.release = pytester.path / "checked-alpha"
    endpoints = {"alpha": "/ep/alpha", "zeta": "/hold/zeta", **{f"ep{i}": f"/ep/{i}" for i in range(6)}}
    project(pytester, server.url, endpoints, app="timeout = 60")
    result = run_xdist(pytester, monkeypatch, "check_endpoints.py")
    result.assert_outcomes(passed=8)
    alpha_checked = float((pytester.path / "checked-alpha").read_text())
    assert alpha_checked < server.answered["/hold/zeta"]
    assert sorted(server.paths()) == sorted(endpoints.values())


def test_a_narrowed_run_probes_only_what_it_checks(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, server: LogServer
) -> None:
    endpoints = {"orders": "/orders", "users": "/users", **{f"ep{i}": f"/ep/{i}" for i in range(10)}}
    project(pytester, server.url, endpoints)
    result = run_xdist(pytester, monkeypatch, "check_endpoints.py", "-k", "orders or users")
    result.assert_outcomes(passed=2)
    assert sorted(server.paths()) == ["/orders", "/users"]


def test_a_probe_that_hangs_in_the_controller_makes_only_its_check_unknown(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, server: LogServer
) -> None:
    endpoints = {"stuck": "/trickle/stuck", **{f"ep{i}": f"/ep/{i}" for i in range(5)}}
    project(pytester, server.url, endpoints, app="connect_timeout = 0.5\ntimeout = 1")
    result = run_xdist(pytester, monkeypatch, "check_endpoints.py")
    result.assert_outcomes(passed=5, errors=1)
    stuck = statuses(pytester)["stuck"]
    assert stuck["status"] == "UNKNOWN"
    assert "endpoint 'stuck': no result from the xdist controller" in stuck["message"]
    assert server.paths().count("/trickle/stuck") == 1  # the workers did not probe it again


def test_the_probes_come_from_a_child_of_the_controller_not_from_the_controller(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, server: LogServer
) -> None:
    """Probe threads in the controller took its interpreter lock from the reports its workers wait on."""
    endpoints = {"who": "/whois/who", **{f"ep{i}": f"/ep/{i}" for i in range(4)}}
    project(pytester, server.url, endpoints)
    result = run_xdist(pytester, monkeypatch, "check_endpoints.py")
    result.assert_outcomes(passed=5)
    command, parent = server.clients["/whois/who"]
    assert command[1:3] == ["-m", "pytest_aide.probes.feed_process"]
    assert "-n" in parent  # the controller (the workers are execnet bootstraps: python -c ...)
    assert sorted(server.paths()) == sorted(endpoints.values())
    [run] = (pytester.path / "reports").glob("2*")
    assert not list(run.glob("endpoint-*"))  # the feed is not archived


def test_the_probe_process_circuits_are_in_the_run_report(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()  # nothing listens: every probe is refused
    project(pytester, f"http://127.0.0.1:{port}", {f"ep{i}": f"/ep/{i}" for i in range(3)})
    result = run_xdist(pytester, monkeypatch, "check_endpoints.py")
    result.assert_outcomes(failed=3)  # the probes are the checks' measurement: a refused app fails them
    [health] = (pytester.path / "reports").glob("2*/health.json")
    circuit = json.loads(health.read_text())["resilience"]["circuits"][f"app:127.0.0.1:{port}"]
    assert circuit["calls"] == 3  # the probe process's own: the workers made no call
    assert circuit["failures"] + circuit["rejections"] == 3


CHILD_AT_CONFIGURE = """
import json, os, sys
from pathlib import Path

import psutil
import pytest

@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        children = [(p.pid, p.cmdline()) for p in psutil.Process().children()]
        Path("children-at-configure.json").write_text(json.dumps(children))

def pytest_sessionfinish(session):
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        client = [name for name in ("requests", "pytest_aide.probes.http") if name in sys.modules]
        Path("controller-imported.json").write_text(json.dumps(client))
"""


def test_the_controller_starts_its_probe_process_at_configure_before_any_worker(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, server: LogServer
) -> None:
    """Started once the controller had loaded its configuration, the child booted beside the workers and
    probed last of all processes (measured: bench/bench_endpoints.py, -n 2 against serial)."""
    endpoints = {"who": "/whois/who", **{f"ep{i}": f"/ep/{i}" for i in range(3)}}
    project(pytester, server.url, endpoints)
    pytester.makeconftest(CHILD_AT_CONFIGURE)
    result = run_xdist(pytester, monkeypatch, "check_endpoints.py")
    result.assert_outcomes(passed=4)
    [(pid, command)] = json.loads((pytester.path / "children-at-configure.json").read_text())
    assert command[1:3] == ["-m", "pytest_aide.probes.feed_process"]
    assert server.pids["/whois/who"] == pid  # that child probed, each endpoint once
    assert sorted(server.paths()) == sorted(endpoints.values())
    # the controller described the endpoints to it as data: the HTTP client is the child's and the workers'
    assert json.loads((pytester.path / "controller-imported.json").read_text()) == []


def test_a_probe_process_started_before_the_environment_changed_is_not_used(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, server: LogServer
) -> None:
    """requests takes proxies (and CA bundles) from the probing process's environment: a conftest that sets
    NO_PROXY at configure must reach the probes, as it reaches a serial run's and the workers'."""
    endpoints = {"who": "/whois/who", "ep0": "/ep/0"}
    project(pytester, server.url, endpoints)
    pytester.makeconftest(
        CHILD_AT_CONFIGURE.replace(
            "def pytest_configure(config):", "def pytest_configure(config):\n    os.environ['NO_PROXY'] = '127.0.0.1'"
        )
    )
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    result = run_xdist(pytester, monkeypatch, "check_endpoints.py")
    result.assert_outcomes(passed=2)
    [(pid, _)] = json.loads((pytester.path / "children-at-configure.json").read_text())
    assert server.pids["/whois/who"] not in (pid, 0)  # a child started with the changed environment probed
    command, parent = server.clients["/whois/who"]
    assert command[1:3] == ["-m", "pytest_aide.probes.feed_process"]
    assert "-n" in parent  # the controller's (not a worker probing for itself)
    assert sorted(server.paths()) == sorted(endpoints.values())


@pytest.mark.parametrize("config", ["no_endpoints", "bad_config"])
def test_a_probe_process_started_early_and_not_needed_is_reaped(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, server: LogServer, config: str
) -> None:
    """Started before the configuration is read, it may find no endpoint to probe, or no valid configuration:
    the run's cleanup waits for it (the conftest looks at the end of the run's own cleanup, when the
    controller is still there)."""
    project(pytester, server.url, {})
    if config == "bad_config":
        pytester.makefile(".toml", aide=f'[app]\nurl = "{server.url}"\nlatency = 3\n')
    pytester.makeconftest(
        """
        import json, os
        from pathlib import Path

        import psutil
        import pytest

        seen = set()

        def look():
            for child in psutil.Process().children():
                try:
                    if "pytest_aide.probes.feed_process" in child.cmdline():
                        seen.add(child.pid)
                except psutil.Error:
                    pass  # a child that has exited already (a zombie until it is waited for)

        def report():
            left = [pid for pid in sorted(seen) if psutil.pid_exists(pid)]
            Path("children.json").write_text(json.dumps({"seen": len(seen), "left": left}))

        @pytest.hookimpl(tryfirst=True)
        def pytest_configure(config):
            if not os.environ.get("PYTEST_XDIST_WORKER"):
                config.add_cleanup(report)  # runs after aide's cleanup, which is added later

        @pytest.hookimpl(tryfirst=True)
        def pytest_sessionstart(session):  # before xdist's: the child is not released yet
            if not os.environ.get("PYTEST_XDIST_WORKER"):
                look()

        def pytest_unconfigure(config):  # also after a configure that failed; before the cleanup
            if not os.environ.get("PYTEST_XDIST_WORKER"):
                look()
        """
    )
    result = run_xdist(pytester, monkeypatch, "check_endpoints.py")
    if config == "bad_config":
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["*latency*"])
    else:
        assert result.ret == pytest.ExitCode.OK
    children = json.loads((pytester.path / "children.json").read_text())
    assert children == {"seen": 1, "left": []}
    assert server.paths() == []


@pytest.mark.parametrize("listing", ["--fixtures", "--fixtures-per-test"])
def test_a_distributed_fixtures_listing_probes_nothing(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, server: LogServer, listing: str
) -> None:
    """``--fixtures`` runs a session (xdist starts its workers) but no check."""
    project(pytester, server.url, {f"ep{i}": f"/ep/{i}" for i in range(3)})
    result = run_xdist(pytester, monkeypatch, listing, "check_endpoints.py")  # named: probed ahead
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*aide_endpoint*"])
    assert server.paths() == []


def test_an_interrupted_run_leaves_no_probe_process(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, server: LogServer
) -> None:
    project(pytester, server.url, {"ep0": "/ep/0", **{f"held{i}": f"/hold/{i}" for i in range(3)}})
    pytester.makeconftest(
        """
        import os

        def pytest_runtest_logreport(report):
            if not os.environ.get("PYTEST_XDIST_WORKER") and report.when == "call":
                raise KeyboardInterrupt  # Ctrl-C in the controller while the held probes are in flight
        """
    )
    result = run_xdist(pytester, monkeypatch, "check_endpoints.py")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert "/hold/0" in server.paths()  # the probe process was busy when the run was interrupted
    left = [p for p in psutil.process_iter(["cmdline", "cwd"]) if p.info["cwd"] == str(pytester.path)]
    assert [p.info["cmdline"] for p in left if "pytest_aide.probes.feed_process" in (p.info["cmdline"] or [])] == []


def test_an_interrupted_run_tells_the_workers_no_probe_will_come(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, server: LogServer
) -> None:
    """Ctrl-C in the controller while probes are held: the workers' waiting checks end at once with the reason,
    so the workers finish; before, they waited until xdist killed them at its shutdown timeout (10 s)."""
    project(pytester, server.url, {"ep0": "/ep/0", **{f"held{i}": f"/hold/{i}" for i in range(3)}})
    pytester.makeconftest(
        """
        import os
        from pathlib import Path

        def pytest_runtest_logreport(report):
            worker = os.environ.get("PYTEST_XDIST_WORKER")
            if worker and "held" in report.nodeid:
                with (Path(__file__).parent / f"told-{worker}.txt").open("a") as out:
                    out.write(f"{report.nodeid} {report.when} {report.longreprtext!r}\\n")
            if not worker and report.when == "call":
                raise KeyboardInterrupt  # Ctrl-C in the controller while the held probes are in flight
        """
    )
    result = run_xdist(pytester, monkeypatch, "check_endpoints.py")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    told = "".join(path.read_text() for path in sorted(pytester.path.glob("told-*.txt")))
    assert "the run stopped before this endpoint's probe arrived" in told, told


def demo_target_project(pytester: pytest.Pytester) -> int:
    """An aide.toml whose ``[app] command`` starts the demo on a free port (returned), with one endpoint."""
    port = free_port()
    pytester.makefile(
        ".toml",
        aide=f'[app]\nurl = "http://127.0.0.1:{port}"\nstop_grace = 5\n'
        f'command = ["{{python}}", "-m", "pytest_aide.demo", "--port", "{port}", "--data-dir", "demo"]\n'
        '\n[[endpoints]]\nname = "health"\npath = "/api/health"\n',
    )
    return port


def test_the_controller_starts_the_target_while_the_workers_boot(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo_target_project(pytester)
    pytester.makepyfile(
        check_target="""
        import json, os
        import psutil

        def check_started_by_the_controller(aide_config, aide_endpoint_probe, aide_endpoint):
            assert aide_endpoint_probe.ok, aide_endpoint_probe.error
            [pidfile] = aide_config.path("reports").glob("2*/target.pid")
            pid = json.loads(pidfile.read_text())["pid"]
            assert psutil.Process(pid).ppid() == os.getppid()  # the controller's child, not a worker's
        """
    )
    activate(pytester)
    result = run_xdist(pytester, monkeypatch)
    result.assert_outcomes(passed=1)
    [run] = (pytester.path / "reports").glob("2*")
    assert (run / "target-output.log").read_text().count("demo serving on") == 1


def test_tests_that_are_no_checks_do_not_start_the_target_under_xdist(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``pytest tests -n 4`` in a project whose aide.toml starts an app: the controller started it (and took its
    port from another run of the same project) although no check was collected."""
    port = demo_target_project(pytester)
    pytester.mkdir("tests")
    pytester.path.joinpath("tests", "test_plain.py").write_text(
        f"""
import socket, time

def test_nothing_serves_the_apps_port():
    time.sleep(1.0)  # the controller's start would be under way by now
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", {port})) != 0
"""
    )
    activate(pytester)
    result = run_xdist(pytester, monkeypatch, "tests")
    result.assert_outcomes(passed=1)
    assert not list(pytester.path.glob("reports/2*/target-output.log"))
    assert not list(pytester.path.glob("demo"))


# --- the feed itself ---------------------------------------------------------------------------------------


def test_the_exact_plan_drops_queued_guesses_and_keeps_its_order(tmp_path: Path, server: LogServer) -> None:
    held = tmp_path / "go"
    server.release = held
    guess = [EndpointSpec("first", "/hold/first"), *(EndpointSpec(f"g{i}", f"/ep/g{i}") for i in range(4))]
    with HttpClient(server.url, pool_size=2) as client:
        writer = FeedWriter(tmp_path / "feed.jsonl", client, concurrency=1)
        writer.plan(guess)
        deadline = time.monotonic() + HANG_S
        while not server.paths() and time.monotonic() < deadline:
            time.sleep(0.01)
        exact = [EndpointSpec("g3", "/ep/g3"), EndpointSpec("first", "/hold/first"), EndpointSpec("new", "/n")]
        writer.plan(exact, exact=True)
        writer.plan(guess)  # ignored: the exact plan decides
        held.touch()
        feed = ProbeFeed(tmp_path / "feed.jsonl", ["first", "g3", "new"], idle_limit=HANG_S)
        assert all(feed[name].ok for name in ("first", "g3", "new"))
        writer.close()
    assert server.paths() == ["/hold/first", "/ep/g3", "/n"]


def test_planning_leaves_the_probing_threads_to_the_background(tmp_path: Path, server: LogServer) -> None:
    """The xdist controller plans just before it starts its workers: it must not wait for a pool of thread starts
    (64 by default) first. The pool starts once ``before`` is done."""
    started = threading.Event()
    go = threading.Event()

    def before() -> None:
        started.set()
        go.wait(HANG_S)

    def probing_threads() -> list[threading.Thread]:
        return [thread for thread in threading.enumerate() if thread.name == "aide-feed-probe"]

    with HttpClient(server.url) as client:
        writer = FeedWriter(tmp_path / "feed.jsonl", client, concurrency=4, before=before)
        writer.plan(EndpointSpec(f"e{i}", f"/ep/e{i}") for i in range(6))
        assert started.wait(HANG_S)
        assert probing_threads() == []
        go.set()
        feed = ProbeFeed(tmp_path / "feed.jsonl", [f"e{i}" for i in range(6)], idle_limit=HANG_S)
        assert all(feed[f"e{i}"].ok for i in range(6))
        assert 1 <= len(probing_threads()) <= 4
        writer.close()
    assert sorted(server.paths()) == sorted(f"/ep/e{i}" for i in range(6))


def test_a_reader_gives_up_once_the_feed_stops_growing(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_text('{"plan":["a"],"exact":true}\n')
    feed = ProbeFeed(path, ["a"], idle_limit=0.3)
    with pytest.raises(ProbeError, match=r"endpoint 'a': no result from the xdist controller"):
        feed["a"]
    assert "a" in feed
    assert list(feed) == ["a"]


def test_an_ended_feed_fails_the_waiting_readers_at_once_and_keeps_what_arrived(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_text(json.dumps({"name": "a", "probe": _probe_dict("a")}) + "\n")
    end_feed(path, "the run stopped")
    feed = ProbeFeed(path, ["a", "b"], idle_limit=HANG_S)  # without the end, "b" would wait HANG_S
    assert feed["a"].url == "http://target/a"
    with pytest.raises(ProbeError, match=r"^the run stopped$"):
        feed["b"]
    end_feed(tmp_path / "never-fed.jsonl", "the run stopped")
    assert not (tmp_path / "never-fed.jsonl").exists()  # a run that fed nothing has no file to end


def test_a_probe_already_read_is_served_without_the_file(tmp_path: Path) -> None:
    """Each check asks for its own endpoint; a probe that arrived with an earlier read costs no file access."""
    path = tmp_path / "feed.jsonl"
    lines = [{"name": name, "probe": _probe_dict(name)} for name in ("a", "b")]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    feed = ProbeFeed(path, ["a", "b"], idle_limit=HANG_S)
    assert feed["a"].url == "http://target/a"
    path.unlink()  # had "b" been looked for in the file, the feed would be gone
    assert feed["b"].url == "http://target/b"


def _probe_dict(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "url": f"http://target/{name}",
        "method": "GET",
        "status_code": 200,
        "elapsed_s": 0.1,
        "ok": True,
        "body_excerpt": "",
        "json": None,
        "error": None,
    }


def test_a_failed_start_reaches_every_reader(tmp_path: Path, server: LogServer) -> None:
    def fail() -> None:
        raise ProbeError("could not start the target: boom")

    with HttpClient(server.url) as client:
        writer = FeedWriter(tmp_path / "feed.jsonl", client, concurrency=4, before=fail)
        writer.plan([EndpointSpec("a", "/a")])
        with pytest.raises(ProbeError, match="boom"):
            ProbeFeed(tmp_path / "feed.jsonl", ["a"], idle_limit=HANG_S)["a"]
        writer.close()
    assert server.paths() == []


# --- the probe process ---------------------------------------------------------------------------------------


def job(tmp_path: Path, url: str, names: list[str], **fields: Any) -> ProbeJob:
    endpoints = [EndpointSpec(name, f"/whois/{name}" if name == "who" else f"/ep/{name}") for name in names]
    client = {"base_url": url, "connect_timeout": 2.0, "read_timeout": 5.0, "pool_size": 4, **fields.pop("client", {})}
    data = [{f.name: getattr(spec, f.name) for f in dataclasses.fields(spec) if f.init} for spec in endpoints]
    return ProbeJob(path=tmp_path / "feed.jsonl", client=client, endpoints=data, concurrency=4, **fields)


def test_a_probe_process_probes_in_a_child_and_hands_each_result_over(tmp_path: Path, server: LogServer) -> None:
    token = "Bearer s3cr3t-t0ken-value"
    names = ["who", "a", "b", "c"]
    probes = ProbeProcess(job(tmp_path, server.url, names, client={"headers": {"Authorization": token}}))
    try:
        probes.plan(["who", "a", "b", "c", "unknown"])
        feed = ProbeFeed(tmp_path / "feed.jsonl", names, idle_limit=HANG_S)
        assert all(feed[name].ok for name in names)
        command, _ = server.clients["/whois/who"]
        assert command[1:3] == ["-m", "pytest_aide.probes.feed_process"]
        assert psutil.Process(probes.pid).ppid() == os.getpid()
        assert token not in " ".join(command)  # the headers went over the pipe
        assert server.auth["/ep/a"] == token
    finally:
        assert probes.close() == {}  # no circuits asked for
    assert not probes.running
    assert sorted(server.paths()) == ["/ep/a", "/ep/b", "/ep/c", "/whois/who"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["feed.jsonl"]  # nothing else left behind


def test_a_probe_process_returns_the_statistics_of_its_circuits(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens: refused at once
    circuits = Circuits(app_url=url, failure_threshold=2, policy={"recovery_timeout": 60.0})
    probes = ProbeProcess(job(tmp_path, url, ["a", "b", "c"], circuits=circuits))
    try:
        probes.plan(["a", "b", "c"])
        feed = ProbeFeed(tmp_path / "feed.jsonl", ["a", "b", "c"], idle_limit=HANG_S)
        assert [feed[name].outage for name in "abc"] == [f"app:127.0.0.1:{url.rsplit(':', 1)[1]}"] * 3
    finally:
        statistics = probes.stop()
        assert probes.close() == {}  # handed over once
    [(name, circuit)] = statistics.items()
    assert name.startswith("app:127.0.0.1:")
    assert (circuit["state"], circuit["calls"]) == ("open", 3)
    assert circuit["failures"] + circuit["rejections"] == 3


def test_stopping_a_probe_process_takes_its_statistics_without_waiting_for_its_exit(
    tmp_path: Path, server: LogServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The controller writes the run's reports while the child's interpreter shuts down; close() reaps it."""
    lingering = tmp_path / "lingering-python"
    report = json.dumps({"circuits": {"app:127.0.0.1:1": {"state": "closed", "calls": 1}}})
    lingering.write_text(f"#!/bin/sh\nread job\necho '{report}'\nexec sleep 600\n")  # reports, then lingers
    lingering.chmod(0o755)
    monkeypatch.setattr(feed_process, "STOP_GRACE_S", 0.5)
    probes = ProbeProcess(job(tmp_path, server.url, ["a"]), python=str(lingering))
    try:
        assert probes.stop(wait=HANG_S) == {"app:127.0.0.1:1": {"state": "closed", "calls": 1}}
        assert probes.running  # stop() did not wait the child out
        assert probes.stop() == {}  # handed over once
    finally:
        assert probes.close() == {}
    assert not probes.running  # close() killed the child that did not exit


def test_a_probe_process_adopts_a_child_started_before_its_job(tmp_path: Path, server: LogServer) -> None:
    """The xdist controller starts the child before it has loaded its configuration (see earlyprobes)."""
    child = feed_process.ProbeChild()
    probes = ProbeProcess(job(tmp_path, server.url, ["who", "a"]), child=child)
    try:
        assert probes.pid == child.process.pid
        probes.plan(["who", "a"])
        feed = ProbeFeed(tmp_path / "feed.jsonl", ["who", "a"], idle_limit=HANG_S)
        assert [feed[name].ok for name in ("who", "a")] == [True, True]
        child.reap()  # adopted: reap() leaves it to its ProbeProcess
        assert probes.running
    finally:
        probes.close()
    assert not probes.running
    assert sorted(server.paths()) == ["/ep/a", "/whois/who"]


def test_a_released_child_exits_without_probing_and_is_not_adopted(tmp_path: Path, server: LogServer) -> None:
    child = feed_process.ProbeChild()
    child.release()  # no job will come (a run without endpoints)
    child.reap()
    assert child.process.returncode == 0
    probes = ProbeProcess(job(tmp_path, server.url, ["a"]), child=child)  # too late: a child of its own
    try:
        assert probes.pid != child.process.pid
        probes.plan(["a"])
        assert ProbeFeed(tmp_path / "feed.jsonl", ["a"], idle_limit=HANG_S)["a"].ok
    finally:
        probes.close()
    assert server.paths() == ["/ep/a"]


def test_a_child_started_before_the_environment_changed_is_released_not_adopted(
    tmp_path: Path, server: LogServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    child = feed_process.ProbeChild()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # a conftest's configure, after the child started
    probes = ProbeProcess(job(tmp_path, server.url, ["who"]), child=child)
    try:
        assert probes.pid != child.process.pid
        probes.plan(["who"])
        assert ProbeFeed(tmp_path / "feed.jsonl", ["who"], idle_limit=HANG_S)["who"].ok
    finally:
        probes.close()
    child.reap()
    assert child.process.returncode == 0  # released: it exited without a job
    assert server.pids["/whois/who"] == probes.pid


def test_a_probe_process_that_fails_to_start_ends_the_child_it_adopted(
    tmp_path: Path, server: LogServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nobody would close() it: the child, waiting for a job on its input, would outlive the run's cleanup."""
    child = feed_process.ProbeChild()

    def no_thread(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", no_thread)
    with pytest.raises(RuntimeError, match="can't start new thread"):
        ProbeProcess(job(tmp_path, server.url, ["a"]), child=child)
    monkeypatch.undo()
    assert child.process.poll() is not None
    assert child.errors.closed
    assert child.process.stdout is not None
    assert child.process.stdout.closed
    assert server.paths() == []


def test_the_child_imports_what_it_probes_with_before_its_job_comes() -> None:
    """Started early, it boots while the controller loads its configuration; its first probe waits for nothing."""
    code = (
        "import io, sys\n"
        "from pytest_aide.probes import feed_process\n"
        "assert 'requests' not in sys.modules\n"
        "feed_process.main(io.StringIO(''), io.StringIO())\n"  # the parent closed at once: no job
        "print(sorted(m for m in ('requests', 'pytest_aide.probes.feed') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=HANG_S)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["['pytest_aide.probes.feed',", "'requests']"]


def test_the_child_sends_its_statistics_before_it_closes_its_connections(
    tmp_path: Path, server: LogServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The controller waits for that line before it writes the run's reports; closing a pool of connections
    is not what it waits for."""
    events: list[str] = []
    close = HttpClient.close

    def recorded_close(self: HttpClient) -> None:
        events.append("client closed")
        close(self)

    monkeypatch.setattr(HttpClient, "close", recorded_close)
    feed = tmp_path / "feed.jsonl"
    circuits = Circuits(app_url=server.url, failure_threshold=3)

    class Input(io.StringIO):
        """The parent's lines; ``stop`` only once the probe's result is in the feed."""

        def __iter__(self) -> Iterator[str]:
            yield json.dumps({"plan": ["a"], "exact": True}) + "\n"
            yield json.dumps({"go": True}) + "\n"
            assert ProbeFeed(feed, ["a"], idle_limit=HANG_S)["a"].ok
            yield json.dumps({"stop": HANG_S}) + "\n"

    class Output(io.StringIO):
        def write(self, text: str) -> int:
            events.append("statistics sent")
            return super().write(text)

    output = Output()
    assert feed_process.main(Input(job(tmp_path, server.url, ["a"], circuits=circuits).to_line() + "\n"), output) == 0
    assert events == ["statistics sent", "client closed"]
    [(name, circuit)] = json.loads(output.getvalue())["circuits"].items()
    assert (name, circuit["calls"], circuit["successes"]) == (f"app:127.0.0.1:{server.server_address[1]}", 1, 1)
    assert server.paths() == ["/ep/a"]


def test_a_probe_process_that_dies_leaves_its_reason_for_every_reader(tmp_path: Path, server: LogServer) -> None:
    broken = Circuits(app_url=server.url, failure_threshold=1, policy={"success_threshold": 0})
    probes = ProbeProcess(job(tmp_path, server.url, ["a"], circuits=broken))
    try:
        probes.plan(["a"])
        with pytest.raises(ProbeError, match=r"probe process ended early \(exit status 1\): ValueError: breaker"):
            ProbeFeed(tmp_path / "feed.jsonl", ["a"], idle_limit=HANG_S)["a"]
    finally:
        probes.close()
    assert server.paths() == []


def test_a_probe_process_that_hangs_is_killed_on_close(tmp_path: Path, server: LogServer) -> None:
    stuck = tmp_path / "stuck-python"
    stuck.write_text("#!/bin/sh\nexec sleep 600\n")  # reads nothing and never exits
    stuck.chmod(0o755)
    probes = ProbeProcess(job(tmp_path, server.url, ["a"]), python=str(stuck))
    probes.plan(["a"])
    assert probes.close(wait=0.1) == {}
    assert not probes.running


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (ProbeError("could not start the target: boom"), "could not start the target: boom"),
        (RuntimeError("a bug in the start"), "could not start the target: RuntimeError: a bug in the start"),
    ],
)
def test_a_failed_start_reaches_every_reader_of_a_probe_process(
    tmp_path: Path, server: LogServer, failure: Exception, reason: str
) -> None:
    def start() -> None:
        raise failure

    probes = ProbeProcess(job(tmp_path, server.url, ["a"]), before=start)
    try:
        probes.plan(["a"])
        with pytest.raises(ProbeError, match=re.escape(reason)):
            ProbeFeed(tmp_path / "feed.jsonl", ["a"], idle_limit=HANG_S)["a"]
    finally:
        probes.close()
    assert server.paths() == []  # nothing is probed on a target that did not come up


# --- when the controller may probe before the workers have collected ---------------------------------------


@pytest.fixture
def endpoints_config(tmp_path: Path) -> Any:
    path = tmp_path / "aide.toml"
    path.write_text(f'[app]\nurl = "http://127.0.0.1:{free_port()}"\n\n[[endpoints]]\nname = "a"\npath = "/a"\n')
    return load_config(path, rootdir=tmp_path)


def scope(tmp_path: Path, **fields: Any) -> RunScope:
    values: dict[str, Any] = {"narrowing": (), "markexpr": "", "args": (), "suite_added": True}
    return RunScope(invocation_dir=tmp_path, **{**values, **fields})


@pytest.mark.parametrize(
    ("fields", "guess"),
    [
        ({}, True),
        ({"markexpr": "daily"}, True),
        ({"markexpr": "gate"}, False),  # the endpoint check is not a gate check
        ({"markexpr": "daily and not slow"}, False),
        ({"narrowing": ("keyword",)}, False),
        ({"narrowing": ("lf",)}, False),
        ({"args": ("aide/check_endpoints.py::check_endpoint[a]",)}, False),
        ({"suite_added": False}, False),
    ],
)
def test_the_shipped_suite_is_guessed_only_when_nothing_narrows_it(
    tmp_path: Path, endpoints_config: Any, fields: dict[str, Any], guess: bool
) -> None:
    assert may_guess(scope(tmp_path, **fields), endpoints_config) is guess


def test_named_files_are_guessed_only_when_they_take_endpoints(tmp_path: Path, endpoints_config: Any) -> None:
    (tmp_path / "check_mine.py").write_text("def check_x(aide_endpoint_probe):\n    pass\n")
    (tmp_path / "check_disk.py").write_text("def check_disk(aide_health):\n    pass\n")
    assert may_guess(scope(tmp_path, suite_added=False, args=("check_mine.py",)), endpoints_config)
    assert not may_guess(scope(tmp_path, suite_added=False, args=("check_disk.py",)), endpoints_config)
    ignored = scope(tmp_path, suite_added=False, args=("check_mine.py",), ignored=("check_mine.py",))
    assert not may_guess(ignored, endpoints_config)


def test_only_a_run_that_may_collect_a_check_starts_the_target_ahead(tmp_path: Path) -> None:
    (tmp_path / "tests" / "deep").mkdir(parents=True)
    (tmp_path / "tests" / "test_plain.py").write_text("def test_a():\n    pass\n")
    (tmp_path / "ops" / "deep").mkdir(parents=True)
    (tmp_path / "ops" / "deep" / "check_mine.py").write_text("def check_a():\n    pass\n")
    venv = tmp_path / "tests" / ".venv-like"
    (tmp_path / "tests" / "venv" / "lib").mkdir(parents=True)
    (tmp_path / "tests" / "venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (tmp_path / "tests" / "venv" / "lib" / "check_vendored.py").write_text("")  # inside a virtualenv: not walked
    venv.mkdir()
    (venv / "check_hidden.py").write_text("")  # hidden folders are not collected either
    assert may_check(scope(tmp_path))  # the shipped suite is added
    assert may_check(scope(tmp_path, suite_added=False))  # no path named: pytest chooses, anything may be there
    assert not may_check(scope(tmp_path, suite_added=False, args=("tests",)))
    assert not may_check(scope(tmp_path, suite_added=False, args=("tests/test_plain.py::test_a",)))
    assert may_check(scope(tmp_path, suite_added=False, args=("tests", "ops")))
    assert may_check(scope(tmp_path, suite_added=False, args=("ops/deep/check_mine.py::check_a",)))
