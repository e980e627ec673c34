"""One circuit per dependency (pytest_aide.dependencies) and one root cause per outage (pytest_aide.rootcause).

Unit level: circuit names never carry a secret, what counts as an outage (and what does not), the breaker
opening after the threshold and refusing without calling, HTTP, PostgreSQL and Redis probes through their
circuits against real listeners and servers, and the root-cause rules on plain results. The plugin-level
runs (hanging database, -n 2, markers) are in test_dependency_outage.py.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_aide.dependencies import (
    Dependency,
    DependencyDown,
    Outage,
    circuit_name,
    is_outage,
    note,
    watching,
)
from pytest_aide.errors import ProbeError, ProbeUnreachable
from pytest_aide.resilience import CircuitBreaker, FakeClock, State
from pytest_aide.results import CheckResult, ReportFacts, RunCollector
from pytest_aide.rootcause import root_causes
from pytest_aide.status import Status
from tests.conftest import SilentListener, require_service


def _dependency(kind: str = "db", threshold: int = 2) -> Dependency:
    return Dependency(kind, CircuitBreaker(f"{kind}:127.0.0.1:1", failure_threshold=threshold, clock=FakeClock()))


# -- circuit names -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "url", "name"),
    [
        ("db", "postgresql://monitor:s3cret@127.0.0.1:5432/test", "db:127.0.0.1:5432"),
        ("db", "postgres://db.example.org/app", "db:db.example.org:5432"),
        ("db", "mysql://root@127.0.0.1/test", "db:127.0.0.1:3306"),
        ("db", "sqlite:///data/app.db", "db:local"),
        ("db", "host=127.0.0.1 password=s3cret", "db:local"),
        ("cache", "redis://:s3cret@cache.internal/0", "cache:cache.internal:6379"),
        ("cache", "unix:///run/redis.sock", "cache:local"),
        ("app", "https://[::1]:8443/api", "app:[::1]:8443"),
        ("app", "http://user:pw@127.0.0.1/", "app:127.0.0.1:80"),
    ],
)
def test_a_circuit_is_named_by_its_kind_and_host_port(kind: str, url: str, name: str) -> None:
    assert circuit_name(kind, url) == name


@given(
    secret=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=20),
    user=st.text(alphabet="abcdefgh", min_size=1, max_size=8),
)
def test_a_circuit_name_never_holds_the_password(secret: str, user: str) -> None:
    password = "Zq" + secret
    for url in (
        f"postgresql://{user}:{quote(password, safe='')}@127.0.0.1:5432/test",
        f"postgresql://{user}:{password}@127.0.0.1:5432/test",  # unencoded: "/", "#", "@" and all
    ):
        name = circuit_name("db", url)
        assert "Zq" not in name
        assert name.startswith("db:")


# -- what an outage is ---------------------------------------------------------------------------------------


def _wrapped(cause: BaseException) -> ProbeError:
    """A probe's one-line ProbeError raised ``from None`` while handling the driver's error, as probes do."""
    try:
        try:
            raise cause
        except BaseException:
            raise ProbeError("cannot connect to postgresql://***@127.0.0.1/test") from None
    except ProbeError as exc:
        return exc


def test_no_answer_is_an_outage_and_an_answer_is_not() -> None:
    import psycopg
    import pymysql
    import redis

    outages = [
        ConnectionRefusedError(111, "refused"),
        TimeoutError("timed out"),
        ProbeUnreachable("the connection is closed"),
        _wrapped(psycopg.OperationalError("connection timeout expired")),
        _wrapped(pymysql.err.OperationalError(2003, "Can't connect to MySQL server")),
        _wrapped(pymysql.err.OperationalError(3024, "maximum statement execution time exceeded")),
        _wrapped(redis.ConnectionError("Error 111 connecting")),
        _wrapped(redis.TimeoutError("Timeout reading from socket")),
    ]
    answers = [
        AssertionError("rows = 0"),
        ProbeError("query failed (SELECT nope): column nope does not exist"),
        _wrapped(psycopg.errors.UndefinedColumn("column nope does not exist")),
        _wrapped(pymysql.err.OperationalError(1142, "SELECT command denied to user")),
        _wrapped(redis.ResponseError("unknown command")),
        ValueError("bad value"),
    ]
    assert [is_outage(e) for e in outages] == [True] * len(outages)
    assert [is_outage(e) for e in answers] == [False] * len(answers)


# -- the circuit of one dependency ---------------------------------------------------------------------------


def test_the_first_outages_pay_and_the_rest_are_refused_without_a_call() -> None:
    db = _dependency(threshold=2)
    calls = []

    def hang() -> None:
        calls.append(1)
        raise TimeoutError("no answer within 2 s")

    with watching() as notes:
        for _ in range(5):
            with pytest.raises(DependencyDown) as caught:
                db.call(hang)
    assert len(calls) == 2  # the threshold; three refused at once
    assert caught.value.rejected
    assert caught.value.kind == "db"
    assert "circuit 'db:127.0.0.1:1' is open" in str(caught.value)
    assert "no answer within 2 s" in str(caught.value)  # the cause travels in the refusal
    assert notes == [
        Outage("db", "db:127.0.0.1:1", "no answer within 2 s"),
        Outage("db", "db:127.0.0.1:1", str(caught.value)),
    ]
    assert db.breaker.stats().rejections == 3


def test_answers_the_check_dislikes_never_open_the_circuit() -> None:
    db = _dependency(threshold=2)

    def bad_sql() -> None:
        raise ProbeError("query failed: syntax error")

    with watching() as notes:
        for _ in range(10):
            with pytest.raises(ProbeError, match="syntax error") as caught:
                db.call(bad_sql)
            assert not isinstance(caught.value, DependencyDown)
    assert db.breaker.state is State.CLOSED
    assert notes == []
    assert db.call(lambda: 42) == 42


def test_a_skip_or_interrupt_releases_the_call_uncounted() -> None:
    db = _dependency(threshold=1)
    with pytest.raises(pytest.skip.Exception):
        db.call(pytest.skip, "nothing to measure")
    assert db.breaker.state is State.CLOSED
    assert db.breaker.stats().in_flight == 0


def test_outages_outside_a_check_are_not_noted() -> None:
    note(Outage("db", "db:x:1", "gone"))  # no check running: nowhere to note it, and no error
    with watching() as outer:
        with watching() as inner:
            note(Outage("db", "db:x:1", "gone"))
        note(Outage("app", "app:x:1", "gone"))
    assert [o.kind for o in inner] == ["db"]
    assert [o.kind for o in outer] == ["app"]


# -- probes through their circuits ---------------------------------------------------------------------------


@pytest.fixture
def listener() -> Iterator[SilentListener]:
    silent = SilentListener()
    yield silent
    silent.close()


def test_http_probes_of_a_hanging_host_pay_two_timeouts_then_fail_at_once(listener: SilentListener) -> None:
    from pytest_aide.probes.http import HttpClient

    app = Dependency("app", CircuitBreaker(f"app:127.0.0.1:{listener.port}", failure_threshold=2))
    with HttpClient(
        f"http://127.0.0.1:{listener.port}", connect_timeout=0.5, read_timeout=0.5, dependency_for=lambda _url: app
    ) as client:
        probes = [client.probe(f"/check/{n}") for n in range(6)]
    assert listener.connections() == 2
    assert [p.outage for p in probes] == [app.circuit] * 6
    assert all(not p.ok for p in probes)
    assert all("is open" in (p.error or "") for p in probes[2:])
    assert sum(p.elapsed_s for p in probes[2:]) < 0.5  # refused without a request: well under one timeout


def test_an_http_error_status_is_an_answer_not_an_outage() -> None:
    from tests.aide_testing import serve

    def answer_500(conn: socket.socket) -> None:
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno")

    from pytest_aide.probes.http import HttpClient

    for port in serve(answer_500):
        app = Dependency("app", CircuitBreaker(f"app:127.0.0.1:{port}", failure_threshold=1))
        with HttpClient(f"http://127.0.0.1:{port}", read_timeout=2, dependency_for=lambda _url, app=app: app) as client:
            probes = [client.probe("/") for _ in range(3)]
        assert [(p.status_code, p.ok, p.outage) for p in probes] == [(500, False, "")] * 3
        assert app.breaker.state is State.CLOSED


def test_postgres_statements_count_only_lost_connections() -> None:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    from pytest_aide.probes.database import open_database

    db = _dependency(threshold=2)
    database = open_database("postgresql://postgres@127.0.0.1:5432/test", timeout=2)
    database.dependency = db
    with database:
        for _ in range(3):
            with pytest.raises(ProbeError, match="no_such_column"):
                database.scalar("SELECT no_such_column")
        assert database.scalar("SELECT 1") == 1
        assert db.breaker.state is State.CLOSED
    for _ in range(2):  # closed under the checks' feet: the dependency is gone for them
        with pytest.raises(DependencyDown, match="the connection is closed"):
            database.scalar("SELECT 1")
    with pytest.raises(DependencyDown, match="is open"):
        database.scalar("SELECT 1")


def test_a_silent_cache_costs_its_timeout_once_then_fails_at_once(listener: SilentListener) -> None:
    pytest.importorskip("redis")
    from pytest_aide.probes.cache import open_cache

    cache = _dependency("cache", threshold=1)
    with pytest.raises(DependencyDown, match=r"no answer within 0\.5 s"):
        open_cache(f"redis://:s3cret@127.0.0.1:{listener.port}/0", timeout=0.5, dependency=cache)
    with pytest.raises(DependencyDown, match="is open"):
        open_cache(f"redis://:s3cret@127.0.0.1:{listener.port}/0", timeout=0.5, dependency=cache)
    assert listener.connections() == 1
    assert "s3cret" not in str(cache.breaker.stats().last_error)


# -- root causes ---------------------------------------------------------------------------------------------


def _check(nodeid: str, status: Status | None, **fields: object) -> CheckResult:
    return CheckResult(nodeid, status=status, message=f"{nodeid} failed" if status else "", **fields)  # type: ignore[arg-type]


def test_the_reachability_check_is_the_root_cause_and_the_rest_are_blocked() -> None:
    checks = [
        _check("rows", Status.UNKNOWN, down=["db"], depends_on=["db"]),
        _check("reachable", Status.UNKNOWN, down=["db"], reachability="db", depends_on=["db"]),
        _check("orders_api", Status.CRITICAL, depends_on=["db"]),  # declared: blocked without meeting it
        _check("disk", Status.CRITICAL),  # its own failure: not blocked
        _check("size", Status.OK, depends_on=["db"]),  # passed: nothing to block
        _check("table", None, depends_on=["db"]),  # skipped
    ]
    (cause,) = root_causes(checks)
    assert (cause.dependency, cause.root.nodeid) == ("db", "reachable")
    assert [c.nodeid for c in cause.blocked] == ["rows", "orders_api"]
    assert cause.to_dict()["blocked"] == ["rows", "orders_api"]


def test_without_its_reachability_check_the_first_witness_is_the_root_cause() -> None:
    checks = [
        _check("a", Status.CRITICAL, down=["app"]),
        _check("b", Status.UNKNOWN, down=["app"]),
        _check("c", Status.UNKNOWN, down=["cache"]),
    ]
    causes = root_causes(checks)
    assert [(c.dependency, c.root.nodeid, [b.nodeid for b in c.blocked]) for c in causes] == [
        ("app", "a", ["b"]),
        ("cache", "c", []),
    ]


def test_no_outage_no_root_cause() -> None:
    checks = [_check("a", Status.CRITICAL, depends_on=["db"]), _check("b", Status.OK, depends_on=["db"])]
    assert root_causes(checks) == []


def test_the_collector_blocks_once_with_the_status_rule() -> None:
    collector = RunCollector()
    for nodeid, down, reach in (("reach", "db", "db"), ("rows", "db", "")):
        props = [("aide.component", "database"), ("aide.depends_on", "db")] + (
            [("aide.reachability", reach)] if reach else []
        )
        collector.add(ReportFacts(nodeid, "setup", "failed", [*props, ("aide.down", down)], 2.0, "cannot connect"))
    collector.results()
    first, second = collector.results()  # asked twice: still one "blocked by"
    assert (first.status, first.root_of, first.blocked_by) == (Status.UNKNOWN, "db", "")
    assert (second.status, second.blocked_by) == (Status.UNKNOWN, "reach")
    assert second.message == "blocked by reach: could not run: cannot connect"
    assert second.to_dict()["blocked_by"] == "reach"
    assert first.to_dict()["root_cause_of"] == "db"


_kinds = st.lists(st.sampled_from(["db", "cache", "app"]), max_size=2, unique=True)


@given(
    st.lists(
        st.tuples(st.sampled_from([Status.OK, Status.WARNING, Status.CRITICAL, Status.UNKNOWN, None]), _kinds, _kinds),
        max_size=12,
    )
)
def test_root_causes_hold_for_any_run(rows: list[tuple[Status | None, list[str], list[str]]]) -> None:
    checks = [_check(f"c{n}", status, down=down, depends_on=deps) for n, (status, down, deps) in enumerate(rows)]
    causes = root_causes(checks)
    roots = [cause.root.nodeid for cause in causes]
    blocked = [check.nodeid for cause in causes for check in cause.blocked]
    assert len(blocked) == len(set(blocked))  # under one root cause each
    assert not set(roots) & set(blocked)  # a root cause is never blocked
    for cause in causes:
        assert cause.root.status in (Status.CRITICAL, Status.UNKNOWN)
        for check in cause.blocked:
            assert check.status in (Status.CRITICAL, Status.UNKNOWN)
            assert cause.dependency in check.down or cause.dependency in check.depends_on
    witnessed = {kind for check in checks if check.status in (Status.CRITICAL, Status.UNKNOWN) for kind in check.down}
    assert {cause.dependency for cause in causes} == witnessed
