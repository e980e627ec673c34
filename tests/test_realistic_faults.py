"""The realistic tier, one fault at a time: the shipped daily suite against real nginx, gunicorn, Redis and
PostgreSQL (tests/realistic_stack.py), each fault asserting the check's status, the verdict's severity and the
cause in the check's message.

Each test starts its own stack (free ports, its own folder; stopped by pid in teardown) and writes the operator's
``aide.toml`` for it, with one change: the host-condition checks (``check_cpu``, ``check_load``,
``check_memory``, ``check_swap``) are left out with ``[suite] exclude``, and the warning level of the CPU and
memory trends is removed (``[thresholds.trend_cpu_percent] warning = false``). They measure the shared 2-core
machine, whose load no test controls, and would otherwise decide the verdict of a fault that is only WARNING;
the healthy runs (test_realistic_healthy.py) keep them. Database faults, the volume, the PostgreSQL log's error
burst and the unprivileged run are in test_realistic_db.py. With ``AIDE_FAULT_MATRIX=FILE`` each test appends
its row to FILE (tests/fault_matrix.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from realistic_pg import PgCluster, pg_cluster_fixture, running
from realistic_stack import (
    HEALTH_PATH,
    Run,
    Stack,
    db_env,
    record_fault,
    run_daily,
    running_stack,
)
from realistic_volume import Volume, tmpfs_volume

from conftest import HANG_S

pytestmark = [pytest.mark.slow, pytest.mark.realistic]

SEVERITY = ["HEALTHY", "DEGRADED", "UNHEALTHY", "CRITICAL"]


pg_cluster = pg_cluster_fixture("module")  # one cluster per xdist worker: initdb takes seconds


@pytest.fixture(scope="module")
def volume() -> Iterator[Volume]:
    with tmpfs_volume() as mounted:
        yield mounted


@pytest.fixture
def pg(pg_cluster: PgCluster) -> PgCluster:
    """The module's cluster, running, with a log of its own for this test."""
    running(pg_cluster).fresh_log()
    return pg_cluster


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with running_stack(tmp_path / "stack") as started:
        yield started


@pytest.fixture
def config(stack: Stack, pg: PgCluster, volume: Volume, tmp_path: Path) -> Path:
    return stack.write_config(tmp_path / "aide", db=pg, volume=volume.path, without_host=True)


@pytest.fixture
def daily(config: Path, pg: PgCluster) -> Callable[[], Run]:
    """``pytest -m daily`` as the operator runs it, the database URL in the environment."""
    return lambda: run_daily(config, db_env(pg))


def assert_fault(run: Run, fault: str, check: str, status: str, verdict: str, *causes: str) -> None:
    """The check's status and message, the verdict; the row of the fault matrix."""
    record_fault(fault, check, run)
    entry = run.check(check)
    assert entry["status"] == status, entry
    for cause in causes:
        assert cause in entry["message"], entry["message"]
    assert run.verdict == verdict, (run.health.get("verdict_rule"), run.not_ok().keys())
    assert run.returncode == (1 if status in ("CRITICAL", "UNKNOWN") else 0), run.output[-2000:]


# --- the app ----------------------------------------------------------------------------------------------------


def test_app_stopped_behind_nginx_is_a_502_and_an_emergency(stack: Stack, daily: Callable[[], Run]) -> None:
    stack.stop_part("app")
    run = daily()
    assert_fault(
        run, "app stopped behind nginx", "check_api_health", "CRITICAL", "CRITICAL", "expected status 200, got 502"
    )
    assert run.check(f"check_port_listening[{stack.app_port}]")["status"] == "CRITICAL"


def test_app_refusing_connections_is_an_emergency(stack: Stack, daily: Callable[[], Run]) -> None:
    stack.stop_part("nginx")  # nothing listens at [app] url any more
    run = daily()
    assert_fault(run, "app refusing (connection refused)", "check_api_health", "CRITICAL", "CRITICAL", "refused")
    assert "response_time_s" not in run.check("check_api_health")["measurements"]  # no passing 0.003 s


def test_app_hanging_times_out_without_hanging_the_run(stack: Stack, daily: Callable[[], Run]) -> None:
    stack.health_mode("hang")
    try:
        run = daily()
    finally:
        stack.health_mode("healthy")  # releases the hanging request
    assert_fault(run, "app hanging", "check_api_health", "CRITICAL", "CRITICAL", "timed out after 8")
    assert run.check("check_api_health")["duration"] < HANG_S


def test_app_answering_5xx_is_an_emergency(stack: Stack, daily: Callable[[], Run]) -> None:
    stack.health_mode("error")
    run = daily()
    assert_fault(run, "app answers 5xx", "check_api_health", "CRITICAL", "CRITICAL", "expected status 200, got 500")


@pytest.mark.parametrize(
    ("delay", "status", "verdict", "level"),
    [(1.6, "WARNING", "DEGRADED", "warning > 1"), (4.0, "CRITICAL", "CRITICAL", "critical > 3")],
    ids=["1-3s", "over-3s"],
)
def test_slow_app_is_judged_by_the_shipped_response_time_levels(
    stack: Stack, daily: Callable[[], Run], delay: float, status: str, verdict: str, level: str
) -> None:
    stack.health_mode("slow", delay)
    run = daily()
    assert_fault(run, f"app slow ({delay:g} s)", "check_api_health", status, verdict, "response_time_s = ", level)
    assert run.check("check_api_health")["measurements"]["response_time_s"]["value"] >= delay


def test_html_page_at_the_health_path_is_an_emergency(stack: Stack, daily: Callable[[], Run]) -> None:
    stack.health_mode("html")
    assert stack.get(HEALTH_PATH) == [200]  # what a status-code check would take for healthy
    run = daily()
    assert_fault(
        run, "HTML page at the health path", "check_api_health", "CRITICAL", "CRITICAL",
        "answered 200 with an HTML page", "login or maintenance page?",
    )  # fmt: skip


# --- the cache --------------------------------------------------------------------------------------------------


def test_redis_stopped_is_at_least_unhealthy(stack: Stack, daily: Callable[[], Run]) -> None:
    stack.stop_part("redis")
    run = daily()
    assert_fault(run, "Redis stopped", "check_cache_server", "UNKNOWN", "UNHEALTHY", "cannot connect", "refused")
    assert run.check(f"check_port_listening[{stack.redis_port}]")["status"] == "CRITICAL"


# --- logs -------------------------------------------------------------------------------------------------------


def test_nginx_error_burst_from_a_gone_upstream_warns(stack: Stack, daily: Callable[[], Run]) -> None:
    assert set(stack.get("/legacy/orders", 12)) == {502}  # nginx: connect() failed (111: Connection refused)
    assert set(stack.get("/static/missing.png", 20)) == {404}  # a client's fault, logged at [error] too: not counted
    run = daily()
    assert_fault(run, "error burst: nginx error log", "check_log_errors[nginx-error.log]", "WARNING", "DEGRADED",
                 "log_errors = 12")  # fmt: skip
    assert_fault(run, "error burst: nginx access log (502)", "check_log_errors[nginx-access.log]", "WARNING",
                 "DEGRADED", "log_errors = 12")  # fmt: skip


def test_gunicorn_error_burst_warns_and_counts_each_traceback_once(stack: Stack, daily: Callable[[], Run]) -> None:
    assert set(stack.get("/boom/", 12)) == {500}  # the app raises: [ERROR] Error handling request + traceback
    run = daily()
    assert_fault(run, "error burst: gunicorn error log", "check_log_errors[gunicorn-error.log]", "WARNING",
                 "DEGRADED", "log_errors = 12")  # fmt: skip


def test_python_app_log_error_burst_warns(stack: Stack, daily: Callable[[], Run]) -> None:
    assert set(stack.get("/jobs/", 12)) == {202}  # the app logs logger.exception(...) and carries on
    run = daily()
    assert_fault(run, "error burst: Python logging app log", "check_log_errors[app.log]", "WARNING", "DEGRADED",
                 "log_errors = 12")  # fmt: skip
    assert run.check("check_log_errors[gunicorn-error.log]")["status"] == "OK"


def test_errors_just_before_a_log_rotation_are_counted_once(stack: Stack, daily: Callable[[], Run]) -> None:
    first = daily()
    assert first.check("check_new_log_errors[nginx-error.log]")["status"] == "SKIPPED"  # the position is saved
    assert set(stack.get("/legacy/a", 11)) == {502}
    stack.rotate_nginx_logs()  # logrotate: rename to nginx-error.log.1, USR1
    assert stack.get("/legacy/b") == [502]
    run = daily()
    assert_fault(run, "log rotation between runs (11 errors before, 1 after)",
                 "check_new_log_errors[nginx-error.log]", "WARNING", "DEGRADED", "new_log_errors = 12")  # fmt: skip
    assert run.check("check_log_errors[nginx-error.log]")["measurements"]["log_errors"]["value"] == 1  # the new file
    again = daily()
    assert again.check("check_new_log_errors[nginx-error.log]")["measurements"]["new_log_errors"]["value"] == 0
    assert again.check("check_new_log_errors[nginx-error.log]")["status"] == "OK"


# --- TLS --------------------------------------------------------------------------------------------------------


def test_certificate_five_days_from_expiry_is_critical(stack: Stack, daily: Callable[[], Run]) -> None:
    stack.use_certificate(days_left=5)
    run = daily()
    check = f"check_tls_host[shop.test@127.0.0.1:{stack.tls_port}]"
    assert_fault(run, "certificate 5 days from expiry", check, "CRITICAL", "UNHEALTHY", "tls_days_left = 5 days",
                 "critical < 7", "presents the leaf certificate CN=shop.test")  # fmt: skip
