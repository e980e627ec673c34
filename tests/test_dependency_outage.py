"""A dependency down costs one timeout and is reported once, as the root cause, through the plugin.

Each run points the configured database (or app) at a REAL hanging listener: a socket that accepts and never
answers a byte, so the driver waits for its whole timeout. Bounds are counts (connections the listener saw,
checks blocked) and the checks' own reported durations against a number of timeouts, never a tight
wall-clock limit.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator

import pytest

from tests.aide_testing import SHIPPED_CHECKS, aide_run, junit_suite, latest_health, run_dirs, statuses
from tests.conftest import SilentListener, free_port

DB_TIMEOUT = 2.0  # libpq's floor: a shorter timeout is raised to 2 s
MARGIN_S = 3.0  # importing psycopg and connecting, on a loaded two-core machine
SECRET = "s3cret-pw"


@pytest.fixture
def hanging() -> Iterator[SilentListener]:
    listener = SilentListener()
    yield listener
    listener.close()


def _db_config(pytester: pytest.Pytester, port: int, extra: str = "") -> None:
    (pytester.path / "aide.toml").write_text(
        "[suite]\nenabled = false\n"
        f'[db]\nurl = "postgresql://monitor:{SECRET}@127.0.0.1:{port}/test"\ntimeout = {DB_TIMEOUT}\n{extra}'
    )


def _db_checks(pytester: pytest.Pytester, count: int = 19) -> list[str]:
    """A reachability check and ``count`` checks of the database over a few generated files; their node ids."""
    pytester.makepyfile(
        check_db_reach="""
import pytest

@pytest.mark.aide(reachability="db")
def check_reachable(aide_db, aide_health):
    aide_health.record("db_ping_s", aide_db.ping())
"""
    )
    nodeids = ["check_db_reach.py::check_reachable"]
    per_file = 5
    for first in range(0, count, per_file):
        body = "\n".join(
            f"def check_rows_{n}(aide_db, aide_health):\n"
            f"    aide_health.record('rows_{n}', float(aide_db.scalar('SELECT {n}')), 'rows')\n"
            for n in range(first, min(first + per_file, count))
        )
        pytester.makepyfile(**{f"check_db_{first}": body})
        nodeids += [f"check_db_{first}.py::check_rows_{n}" for n in range(first, min(first + per_file, count))]
    return nodeids


def _assert_one_root_cause(health: dict, nodeids: list[str]) -> None:
    (cause,) = health["root_causes"]
    assert cause["dependency"] == "db"
    assert cause["check"] == nodeids[0]
    assert cause["status"] == "UNKNOWN"
    assert "no answer within 2 s" in cause["message"]
    assert sorted(cause["blocked"]) == sorted(nodeids[1:])
    assert set(statuses(health).values()) == {"UNKNOWN"}  # counted: 20 unknown
    assert health["counts"]["UNKNOWN"] == len(nodeids)
    for check in health["checks"][1:]:
        if check["nodeid"] != nodeids[0]:
            assert check["blocked_by"] == nodeids[0]
            assert check["message"].startswith(f"blocked by {nodeids[0]}: ")
            assert check["depends_on"] == ["db"]


def test_a_hanging_database_costs_one_timeout_and_is_one_root_cause(
    pytester: pytest.Pytester, hanging: SilentListener
) -> None:
    _db_config(pytester, hanging.port)
    nodeids = _db_checks(pytester)
    result = aide_run(pytester, "-rN")
    assert hanging.connections() <= 2  # one per process: the first check pays, the circuit answers the rest
    health = latest_health(pytester.path)
    spent = sum(check["duration"] for check in health["checks"])
    assert spent <= 2 * DB_TIMEOUT + MARGIN_S, f"{spent:.1f} s spent on a hanging database by 20 checks"
    _assert_one_root_cause(health, nodeids)
    out = result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "checks: 0 ok, 0 warning, 0 critical, 20 unknown, 0 skipped",
            f"root cause: db is down: UNKNOWN {nodeids[0]}: could not run: cannot connect to *no answer within 2 s",
            "  blocked by it (19 UNKNOWN):",
            f"    {nodeids[1]}",
            "    ... and 9 more (health.json lists them all)",
        ]
    )
    assert out.count(f"UNKNOWN {nodeids[0]}") == 1  # named once: not again among the worst checks
    assert SECRET not in out
    run = run_dirs(pytester.path)[-1]
    assert SECRET not in (run / "health.json").read_text()
    page = (run / "health.html").read_text()
    assert "Root cause: db is down" in page
    assert "19 check(s) blocked by it" in page
    pytest_html = (run / "report.html").read_text()
    assert f"root cause: db is down: UNKNOWN {nodeids[0]}" in pytest_html
    assert SECRET not in pytest_html
    props = {p.get("name"): p.get("value") for p in junit_suite(run / "junit.xml").iter("property")}
    assert props["aide.count.unknown"] == "20"


@pytest.mark.slow  # two workers booting, each paying its own timeout: ~15 s on two shared cores
def test_under_xdist_each_worker_pays_at_most_its_threshold(
    pytester: pytest.Pytester, hanging: SilentListener, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("xdist")
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    _db_config(pytester, hanging.port)
    nodeids = _db_checks(pytester)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", timeout=120)
    workers, threshold = 2, 2
    assert hanging.connections() <= workers * threshold  # the per-worker registry's bound (one each, here)
    health = latest_health(pytester.path)
    spent = sum(check["duration"] for check in health["checks"])
    assert spent <= workers * threshold * DB_TIMEOUT + 2 * MARGIN_S
    _assert_one_root_cause(health, nodeids)
    result.stdout.fnmatch_lines_random(
        ["*2 workers*", f"root cause: db is down: UNKNOWN {nodeids[0]}: *", "  blocked by it (19 UNKNOWN):"]
    )
    # the workers' circuits reach the controller's report: one failed call per connection, from both workers
    circuit = health["resilience"]["circuits"][f"db:127.0.0.1:{hanging.port}"]
    assert circuit["failures"] == hanging.connections()


def test_the_shipped_database_checks_name_check_db_reachable_as_the_root_cause(
    pytester: pytest.Pytester, hanging: SilentListener
) -> None:
    _db_config(pytester, hanging.port, 'tables = ["orders", "users"]\n')
    aide_run(pytester, str(SHIPPED_CHECKS / "check_database.py"))
    assert hanging.connections() == 1
    health = latest_health(pytester.path)
    (cause,) = health["root_causes"]
    assert cause["check"].endswith("check_database.py::check_db_reachable")
    blocked = sorted(nodeid.rsplit("::", 1)[1] for nodeid in cause["blocked"])
    assert blocked == [
        "check_db_integrity",
        "check_db_role",
        "check_db_size",
        "check_table_rows[orders]",
        "check_table_rows[users]",
    ]
    assert health["status"] == "CRITICAL"  # check_db_reachable is essential


def test_a_hanging_app_costs_two_timeouts_not_twenty(pytester: pytest.Pytester, hanging: SilentListener) -> None:
    timeout = 0.5
    (pytester.path / "aide.toml").write_text(
        f'[suite]\nenabled = false\n[app]\nurl = "http://127.0.0.1:{hanging.port}"\n'
        f"timeout = {timeout}\nconnect_timeout = {timeout}\n"
    )
    pytester.makepyfile(
        check_app="""
import pytest

@pytest.mark.aide(reachability="app")
def check_health(aide_app, aide_health):
    probe = aide_app.probe("/health")
    assert probe.ok, probe.error
"""
        + "".join(
            f"\ndef check_page_{n}(aide_app):\n    probe = aide_app.probe('/page/{n}')\n"
            "    assert probe.ok, probe.error\n"
            for n in range(19)
        )
    )
    result = aide_run(pytester)
    assert hanging.connections() == 2  # [resilience.dependencies] failure_threshold: then the circuit is open
    health = latest_health(pytester.path)
    spent = sum(check["duration"] for check in health["checks"])
    assert spent <= 2 * 2 * timeout + MARGIN_S
    (cause,) = health["root_causes"]
    assert (cause["dependency"], cause["check"], cause["status"]) == ("app", "check_app.py::check_health", "CRITICAL")
    assert len(cause["blocked"]) == 19
    refused = [c for c in health["checks"] if "is open" in c["message"]]
    assert len(refused) == 18  # the second check paid the second timeout; the rest never sent a request
    assert all(f"circuit 'app:127.0.0.1:{hanging.port}' is open" in c["message"] for c in refused)
    result.stdout.fnmatch_lines(["root cause: app is down: CRITICAL check_app.py::check_health: *"])
    name = f"app:127.0.0.1:{hanging.port}"
    circuit = health["resilience"]["circuits"][name]
    assert (circuit["state"], circuit["failures"], circuit["rejections"]) == ("open", 2, 18)
    assert health["resilience"]["open_circuits"] == [name]
    result.stdout.fnmatch_lines([f"circuits: 1 of 1 not closed at the end: {name} (*timed out*)"])
    page = (run_dirs(pytester.path)[-1] / "health.html").read_text()
    assert "<h2>Circuits (1)</h2>" in page
    assert f"<code>{name}</code></td><td>open</td>" in page


def test_a_declared_dependency_is_blocked_and_an_undeclared_failure_is_not(
    pytester: pytest.Pytester, hanging: SilentListener
) -> None:
    _db_config(pytester, hanging.port)
    pytester.makepyfile(
        check_orders="""
import pytest

@pytest.mark.aide(reachability="db")
def check_reachable(aide_db):
    aide_db.ping()

@pytest.mark.aide(depends_on=["db"])
def check_orders_page(aide_health):
    assert False, "the orders page lists no orders"  # the app shows the database's outage its own way

def check_disk(aide_health):
    assert False, "disk full"

@pytest.mark.aide(depends_on="db")
def check_passes_anyway(aide_health):
    aide_health.record("x", 1.0)
"""
    )
    result = aide_run(pytester)
    health = latest_health(pytester.path)
    (cause,) = health["root_causes"]
    assert cause["blocked"] == ["check_orders.py::check_orders_page"]
    found = statuses(health)
    assert found == {
        "check_reachable": "UNKNOWN",
        "check_orders_page": "UNKNOWN",
        "check_disk": "CRITICAL",
        "check_passes_anyway": "OK",
    }
    by_id = {c["nodeid"]: c for c in health["checks"]}
    assert by_id["check_orders.py::check_orders_page"]["message"] == (
        "blocked by check_orders.py::check_reachable: the orders page lists no orders"
    )
    assert by_id["check_orders.py::check_passes_anyway"]["depends_on"] == ["db"]
    result.stdout.fnmatch_lines(["  CRITICAL check_orders.py::check_disk: disk full"])  # its own failure


def test_no_root_cause_when_every_dependency_answers(pytester: pytest.Pytester) -> None:
    with sqlite3.connect(pytester.path / "app.db") as conn:
        conn.execute("CREATE TABLE orders (id INTEGER)")
    (pytester.path / "aide.toml").write_text('[suite]\nenabled = false\n[db]\nurl = "sqlite:///app.db"\n')
    pytester.makepyfile(
        check_fine="""
def check_rows(aide_db, aide_health):
    aide_health.record("rows", float(aide_db.scalar("SELECT count(*) FROM orders")), "rows")

def check_value(aide_db):
    assert aide_db.scalar("SELECT count(*) FROM orders") == 1, "no orders"  # a value, not an outage
"""
    )
    result = aide_run(pytester)
    health = latest_health(pytester.path)
    assert health["root_causes"] == []
    assert statuses(health) == {"check_rows": "OK", "check_value": "CRITICAL"}
    assert all("blocked_by" not in c for c in health["checks"])
    assert "root cause" not in result.stdout.str()
    assert "Root cause" not in (run_dirs(pytester.path)[-1] / "health.html").read_text()


def test_a_bad_depends_on_marker_is_unknown_with_its_reason(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        check_bad="""
import pytest

@pytest.mark.aide(depends_on=5)
def check_it(aide_health):
    aide_health.record("x", 1.0)
"""
    )
    aide_run(pytester)
    (check,) = latest_health(pytester.path)["checks"]
    assert check["status"] == "UNKNOWN"
    assert "aide(depends_on=5) is not a list of dependency names" in check["message"]


def test_the_circuits_can_be_switched_off(pytester: pytest.Pytester, hanging: SilentListener) -> None:
    (pytester.path / "aide.toml").write_text(
        f'[suite]\nenabled = false\n[app]\nurl = "http://127.0.0.1:{hanging.port}"\ntimeout = 0.3\n'
        "connect_timeout = 0.3\n[resilience.dependencies]\nenabled = false\n"
    )
    pytester.makepyfile(
        check_app="".join(f"\ndef check_page_{n}(aide_app):\n    assert aide_app.probe('/{n}').ok\n" for n in range(4))
    )
    aide_run(pytester)
    assert hanging.connections() == 4  # every check paid its own timeout, as before
    health = json.loads((run_dirs(pytester.path)[-1] / "health.json").read_text())
    assert health["root_causes"] == []  # outages are recognised by the circuits: none, no root cause


def test_endpoint_checks_of_an_app_that_is_down_are_blocked_by_its_health_check(pytester: pytest.Pytester) -> None:
    port = free_port()  # nothing listens: every request is refused at once
    endpoints = "".join(f'[[endpoints]]\nname = "page{n}"\npath = "/page/{n}"\n' for n in range(4))
    (pytester.path / "aide.toml").write_text(
        f'[suite]\nenabled = false\n[app]\nurl = "http://127.0.0.1:{port}"\ntimeout = 1\n{endpoints}'
    )
    aide_run(
        pytester,
        str(SHIPPED_CHECKS / "check_api.py"),
        str(SHIPPED_CHECKS / "check_endpoints.py"),
        "-k",
        "check_api_health or check_endpoint",
    )
    health = latest_health(pytester.path)
    (cause,) = health["root_causes"]
    assert (cause["dependency"], cause["status"]) == ("app", "CRITICAL")
    assert cause["check"].endswith("check_api.py::check_api_health")
    assert sorted(n.rsplit("::", 1)[1] for n in cause["blocked"]) == [f"check_endpoint[page{n}]" for n in range(4)]
    assert health["counts"] == {"OK": 0, "WARNING": 0, "CRITICAL": 1, "UNKNOWN": 4, "SKIPPED": 0}


def test_the_tls_check_of_an_app_that_is_down_goes_through_its_circuit(pytester: pytest.Pytester) -> None:
    port = free_port()
    (pytester.path / "aide.toml").write_text(
        f'[suite]\nenabled = false\n[app]\nurl = "https://127.0.0.1:{port}"\ntimeout = 1\n'
        "[resilience.dependencies]\nfailure_threshold = 1\n"
    )
    aide_run(
        pytester,
        str(SHIPPED_CHECKS / "check_api.py"),
        str(SHIPPED_CHECKS / "check_tls.py"),
        "-k",
        "check_api_health or check_tls_certificate",
    )
    health = latest_health(pytester.path)
    (cause,) = health["root_causes"]
    assert cause["check"].endswith("check_api.py::check_api_health")
    (blocked,) = cause["blocked"]
    assert blocked.endswith("check_tls.py::check_tls_certificate")
    tls = next(c for c in health["checks"] if c["nodeid"] == blocked)
    assert f"circuit 'app:127.0.0.1:{port}' is open" in tls["message"]  # refused at once: one timeout in all
