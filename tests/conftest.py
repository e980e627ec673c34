"""Shared fixtures for pytest-aide's own tests: real services on 127.0.0.1, each test with its own data.

Where a service does not run, tests that need it skip with a reason; with ``AIDE_REQUIRE_SERVICES=1`` (set
by ``.ci/run``) that skip becomes a failure, so CI cannot pass without the real servers.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator

import pytest
import pytest_html.extras  # noqa: F401

# pytester's in-process runs restore sys.modules afterwards; modules that the plugin imports lazily (psutil
# keeps a reference to itself in sys.modules) must therefore be imported before any inner run starts.
import pytest_aide.evidence
import pytest_aide.reporter  # noqa: F401

PG_ADMIN_URL = os.environ.get("AIDE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_HOST = os.environ.get("AIDE_TEST_MYSQL_HOST", "127.0.0.1")
REDIS_URL = os.environ.get("AIDE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


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


def free_port() -> int:
    """A port nothing listens on (bound then released), for 'connection refused'."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that accepts connections and never sends a byte."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept_forever() -> None:
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept_forever, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join(timeout=2)
    for conn in accepted:
        conn.close()
    listener.close()


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
    conn = pymysql.connect(host=MYSQL_HOST, port=3306, user="root", password="", connect_timeout=5, autocommit=True)
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
