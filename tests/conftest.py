"""Shared fixtures for pytest-aide's own tests: real services on 127.0.0.1, each test with its own data.

Where a service does not run, tests that need it skip with a reason; with ``AIDE_REQUIRE_SERVICES=1`` (set
by ``.ci/run``) that skip becomes a failure, so CI cannot pass without the real servers.

Tiers: tests marked ``slow`` (a wheel build, a browser) are deselected unless ``--run-slow`` is given or a
``-m`` expression chooses for itself (``-m slow`` runs only them). Every test is isolated (its own temp dir,
database, key prefix and ports), so the default tier runs under pytest-xdist: ``pytest tests -n 4``.

Timing: tests assert behaviour, never speed. A wall-clock bound in a test only tells a timeout that worked from
a hang (``HANG_S``, or the time the cut-short operation itself would take); speed is measured in ``bench/``.
"""

from __future__ import annotations

import ast
import atexit
import importlib.metadata
import itertools
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

# pytester's in-process runs restore sys.modules afterwards; modules that the plugin imports lazily (psutil
# keeps a reference to itself in sys.modules; pydantic, whose validator of the settings pytest_aide.config builds
# once a process; requests, whose sessions check cookie jars against the http.cookiejar they were imported with:
# a jar of one inner run's import and the module of another's fail "You can only merge into CookieJar") must
# therefore be imported before any inner run starts.
import pydantic  # noqa: F401
import pytest
import pytest_html.extras  # noqa: F401
import requests  # noqa: F401
from hypothesis import HealthCheck, settings

import pytest_aide.evidence
import pytest_aide.probes.http
import pytest_aide.reporter  # noqa: F401

T = TypeVar("T")

# The configurations these tests load are remembered as validated (pytest_aide.validated): in a folder of this
# test session, not the user's cache, which thousands of throw-away configurations would only churn.
_CACHE_DIR = tempfile.mkdtemp(prefix="aide-test-cache-")
os.environ["AIDE_CACHE_DIR"] = _CACHE_DIR
atexit.register(shutil.rmtree, _CACHE_DIR, ignore_errors=True)

_THREAD_PARSES: list[str] = []


def _note_a_parse_outside_the_main_thread(event: str, args: tuple[Any, ...]) -> None:
    """Audit hook: ``ast.parse`` (or compiling an AST) in a thread other than the main one.

    On Python 3.11 before 3.11.8 two of them at once fail one with ``SystemError: AST constructor recursion depth
    mismatch`` (CPython gh-106905), and pytest parses source whenever it shows a failure: a test server's thread
    printing a traceback (3.11 parses each line for its carets) once failed another test with an INTERNALERROR.
    ``quiet_http`` servers keep such errors instead; this keeps it so, on every Python (a test server that prints
    from a thread is noise on any of them). It sees ``ast.parse`` with its default file name and compiled ASTs:
    pytest_aide is installed editable here, so its lazy imports in threads are not assertion-rewritten."""
    if event != "compile" or threading.current_thread() is threading.main_thread():
        return
    source, filename = args[0], args[1]
    if filename == "<unknown>" or isinstance(source, ast.AST):  # ast.parse's default name, or an AST compiled
        _THREAD_PARSES.append(f"{threading.current_thread().name} (handling {sys.exc_info()[1]!r})")


sys.addaudithook(_note_a_parse_outside_the_main_thread)


@pytest.fixture(autouse=True)
def _no_parse_outside_the_main_thread() -> Iterator[None]:
    """Fail the test during which a thread parsed Python source (the culprit may be a thread an earlier test on
    this worker left running: the message names it)."""
    yield
    if _THREAD_PARSES:
        found = sorted(set(_THREAD_PARSES))
        _THREAD_PARSES.clear()
        pytest.fail("a thread other than the main one parsed Python source (a traceback?): " + "; ".join(found))


HANG_S = 30.0
"""Upper bound for an operation cut short by a timeout of a few seconds at most: only a hang exceeds it."""

# No per-example deadline and no "too slow" health check: a busy 2-core machine must not fail a property test.
settings.register_profile("aide", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("aide")

PG_ADMIN_URL = os.environ.get("AIDE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_HOST = os.environ.get("AIDE_TEST_MYSQL_HOST", "127.0.0.1")
REDIS_URL = os.environ.get("AIDE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def timed(call: Callable[[], T]) -> tuple[T, float]:
    """The result of ``call`` and the wall time around it: a duration the probe measured must fit inside it.

    Not a speed bound (those live in bench/): it holds under any load. The probes' own clock, so a clock's
    resolution cannot make the inner time exceed the outer one.
    """
    began = time.perf_counter()
    result = call()
    return result, time.perf_counter() - began


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-slow",
        action="store_true",
        help="also run the tests marked slow (wheel build, browser), which are deselected by default",
    )


def _slow_tier_chosen(config: pytest.Config) -> bool:
    """--run-slow, or a -m expression, which then decides alone (``-m slow`` runs only the slow tier)."""
    return bool(config.getoption("--run-slow") or config.getoption("markexpr"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _slow_tier_chosen(config):
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        items[:] = [item for item in items if not item.get_closest_marker("slow")]
        config.hook.pytest_deselected(items=slow)


def pytest_report_header(config: pytest.Config) -> str | None:
    if _slow_tier_chosen(config):
        return None
    return "slow tier (marked slow) deselected: add --run-slow, or -m slow for it alone"


INNER_ADDOPTS = "-p no:hypothesispytest -p no:benchmark"
"""For every pytest run a test starts (pytester, ``aide check``, subprocesses): hypothesis's pytest plugin imports
the whole of hypothesis at the end of each run (about 0.8 s of CPU a subprocess run), and no inner run uses it;
pytest-benchmark starts four programs in every process of every run (``git``, ``hg``, ``uname``, ``file``: about
75 ms of CPU each time), and only the pytester runs of tests marked ``benchmark_plugin`` get it back (a run
started otherwise, ``aide check`` or a subprocess, goes without it even there)."""

INNER_ADDOPTS_WITH_BENCHMARK = "-p no:hypothesispytest"

XDIST_WORKER_ENV = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID")


@pytest.fixture(scope="session", autouse=True)
def _inner_runs_are_plain_runs() -> Iterator[None]:
    """A pytest run started by a test is never an xdist worker, even when this session runs under ``-n 2``.

    xdist tells its workers who they are in the environment, which every child process and in-process pytester
    run inherits: pytest-benchmark then takes an inner run for a worker (and warns, an error here).
    """
    with pytest.MonkeyPatch.context() as patch:
        for name in XDIST_WORKER_ENV:
            patch.delenv(name, raising=False)
        patch.setenv("PYTEST_ADDOPTS", f"{os.environ.get('PYTEST_ADDOPTS', '')} {INNER_ADDOPTS}".strip())
        yield


PARSED_ONCE = ("metadata", "entry_points", "files")  # the PathDistribution properties read once a session


@pytest.fixture(scope="session", autouse=True)
def _installed_metadata_read_once() -> Iterator[None]:
    """Each in-process pytest run reads the metadata of every installed distribution again: its headers four times
    (pytest's "plugins:" header line and pytest-metadata's table, for names and versions), its entry points (the
    plugins to load) and its RECORD (which plugin modules to assert-rewrite): ~170 ms of parsing a run with this
    environment's ~60 distributions, and the tests start hundreds of such runs. Nothing is installed or removed in
    this process while the tests run (the wheel test installs into a virtualenv of its own), so each
    distribution's metadata, entry points and file list are read once."""
    originals = {name: getattr(importlib.metadata.PathDistribution, name).fget for name in PARSED_ONCE}
    parsed: dict[tuple[str, str], Any] = {}

    def read_once(name: str) -> property:
        read = originals[name]
        assert read is not None

        def get(dist: importlib.metadata.PathDistribution) -> Any:
            key = (name, str(dist._path))  # the distribution's own metadata folder (no public name for it)
            if key not in parsed:
                parsed[key] = read(dist)
            return parsed[key]

        return property(get)

    with pytest.MonkeyPatch.context() as patch:
        for name in PARSED_ONCE:
            patch.setattr(importlib.metadata.PathDistribution, name, read_once(name))
        yield


@pytest.fixture
def pytester(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> pytest.Pytester:
    """pytest's pytester, whose set-up clears PYTEST_ADDOPTS: its inner runs get INNER_ADDOPTS back (with
    pytest-benchmark for a test marked ``benchmark_plugin``).

    Under ``-n 2`` the outer run is an xdist worker; its inner runs are not. pytest-benchmark reads
    PYTEST_XDIST_WORKER and would warn at the end of an inner run that uses ``benchmark`` — an error there.
    """
    with_benchmark = request.node.get_closest_marker("benchmark_plugin") is not None
    monkeypatch.setenv("PYTEST_ADDOPTS", INNER_ADDOPTS_WITH_BENCHMARK if with_benchmark else INNER_ADDOPTS)
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    return pytester


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip (or fail under AIDE_REQUIRE_SERVICES=1) when ``name`` does not listen on host:port."""
    if not _reachable(host, port):
        unavailable(f"{name} is not running on {host}:{port}")


def unavailable(reason: str) -> None:
    """Skip for a missing facility of this machine; under AIDE_REQUIRE_SERVICES=1 (CI) fail instead."""
    if os.environ.get("AIDE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}, and AIDE_REQUIRE_SERVICES=1 requires it")
    pytest.skip(reason)


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _own_ports() -> range:
    """This process's share of the ports below the kernel's ephemeral range, one slice per xdist worker.

    ``bind(0)`` and outgoing connections take ports from the ephemeral range, so a port handed out here is never
    taken by another test's listener in the meantime, and two workers never get the same one.
    """
    low, high = 20000, max(20000 + 512, _ephemeral_low())
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    size = (high - low) // max(1, workers)
    return range(low + size * worker, low + size * (worker + 1))


_PORTS = _own_ports()
_next_port = itertools.count(os.getpid() % len(_PORTS))  # another session running beside this one starts elsewhere


def free_port() -> int:
    """A port nothing listens on (checked by binding it), for 'connection refused' or a server to start on.

    Ports are handed out in turn from this worker's own slice, so one is not handed out again soon after.
    """
    for _ in range(len(_PORTS)):
        port = _PORTS[next(_next_port) % len(_PORTS)]
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port in {_PORTS.start}-{_PORTS.stop - 1}")


class SilentListener:
    """A TCP port on 127.0.0.1 that accepts connections and never sends a byte; counts the connections made."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.05)
        self.port = int(self._socket.getsockname()[1])
        self._accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept_forever, daemon=True)
        self._thread.start()

    def _accept_forever(self) -> None:
        while not self._stop.is_set():
            try:
                self._accepted.append(self._socket.accept()[0])
            except TimeoutError:
                continue

    def connections(self) -> int:
        """How many connections were made so far: a retrying client makes one per attempt.

        Stops accepting, then takes what waits in the backlog: a client's connect returns only once the kernel
        has queued it, so the count is exact without waiting for the accepting thread.
        """
        self.close_listener()
        self._socket.setblocking(False)
        while True:
            try:
                self._accepted.append(self._socket.accept()[0])
            except BlockingIOError:
                return len(self._accepted)

    def close_listener(self) -> None:
        self._stop.set()
        self._thread.join(timeout=HANG_S)

    def close(self) -> None:
        self.close_listener()
        for conn in self._accepted:
            conn.close()
        self._socket.close()


@pytest.fixture
def silent_listener() -> Iterator[SilentListener]:
    listener = SilentListener()
    yield listener
    listener.close()


@pytest.fixture
def silent_port(silent_listener: SilentListener) -> int:
    """A TCP port on 127.0.0.1 that accepts connections and never sends a byte."""
    return silent_listener.port


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one test; yields its URL and drops it afterwards."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    psycopg = pytest.importorskip("psycopg")
    name = unique_name("aide_test")
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def mysql_database() -> Iterator[str]:
    """A fresh MariaDB/MySQL database for one test; yields its URL and drops it afterwards."""
    require_service("MariaDB", MYSQL_HOST, 3306)
    pymysql = pytest.importorskip("pymysql")
    name = unique_name("aide_test")
    # ssl_disabled: PyMySQL 1.2 builds a TLS context from the system CA bundle for every connection ("preferred"
    # mode), ~20 ms each; the tests' own admin connections to the local server do without
    conn = pymysql.connect(
        host=MYSQL_HOST, port=3306, user="root", password="", connect_timeout=5, autocommit=True, ssl_disabled=True
    )
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}`")
        yield f"mysql://root@{MYSQL_HOST}:3306/{name}"
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        conn.close()


@pytest.fixture
def redis_url() -> str:
    """The Redis URL; the test's keys should start with the ``redis_prefix`` fixture's value."""
    require_service("Redis", "127.0.0.1", 6379)
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix owned by one test; every key under it is deleted afterwards."""
    redis = pytest.importorskip("redis")
    prefix = unique_name("aide_test") + ":"
    yield prefix
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def running_demo(tmp_path: Path) -> Iterator[int]:
    """A demo app this test started (not the aide run): the port it answers on; stopped by pid afterwards."""
    import subprocess
    import sys
    import urllib.request

    def answers(port: int) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2):
                return True
        except OSError:
            return False

    port = free_port()
    command = [sys.executable, "-m", "pytest_aide.demo", "--port", str(port), "--data-dir", str(tmp_path / "own-demo")]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + HANG_S
        while not answers(port):
            assert time.monotonic() < deadline, "the demo did not start"
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)
