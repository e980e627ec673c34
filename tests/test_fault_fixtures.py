"""The fault fixtures through real pytest runs: every fault is undone at teardown, also when the check fails or
the run is interrupted (subprocess runs: signals and process-wide state are involved)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from aide_testing import activate, aide_run, latest_health

from conftest import HANG_S

CHECKS = """
import json
import pathlib

import pytest

UPSTREAM, CHILD, DATA, STATE = {upstream}, {child}, {data!r}, {state!r}


def check_outage(aide_proxy, aide_file_faults, aide_process_faults):
    proxy = aide_proxy("127.0.0.1", UPSTREAM)
    proxy.blackhole()
    aide_file_faults.make_unavailable(DATA)
    aide_process_faults.pause(aide_process_faults.declare(CHILD))
    pathlib.Path(STATE).write_text(json.dumps({{"port": proxy.port}}))
    {ending}


def check_drill(aide_experiment, aide_proxy):
    proxy = aide_proxy("127.0.0.1", UPSTREAM)

    def rollback():
        proxy.pass_through()
        pathlib.Path(STATE).write_text(json.dumps({{"rolled_back_to": proxy.mode}}))

    aide_experiment(
        "upstream cut",
        probe=lambda: "healthy",  # a target without a fallback: it never degrades
        steady=lambda status: status == "healthy",
        inject=proxy.blackhole,
        degraded=lambda status: status == "degraded",
        rollback=rollback,
        degrade_within=0.5,
        poll_interval=0.1,
        what="/api/health",
    )
"""


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc
    proc.kill()
    proc.wait(HANG_S)


@pytest.fixture
def project(pytester: pytest.Pytester, child: subprocess.Popen[bytes], silent_port: int) -> pytest.Pytester:
    (pytester.path / "data").mkdir()
    (pytester.path / "data" / "app.db").write_text("orders")
    activate(pytester)
    return pytester


def write_checks(project: pytest.Pytester, child: int, upstream: int, ending: str) -> Path:
    state = project.path / "state.json"
    source = CHECKS.format(
        upstream=upstream, child=child, data=str(project.path / "data" / "app.db"), state=str(state), ending=ending
    )
    project.makepyfile(check_faults=source)
    return state


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def assert_undone(project: pytest.Pytester, child: subprocess.Popen[bytes], state: Path) -> None:
    assert refused(json.loads(state.read_text())["port"])  # the proxy is closed
    assert (project.path / "data" / "app.db").read_text() == "orders"
    assert sorted(p.name for p in (project.path / "data").iterdir()) == ["app.db"]
    assert psutil.Process(child.pid).status() != psutil.STATUS_STOPPED


def test_every_fault_is_undone_after_a_failing_check(
    project: pytest.Pytester, child: subprocess.Popen[bytes], silent_port: int
) -> None:
    state = write_checks(project, child.pid, silent_port, "assert False, 'the API did not degrade'")
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "-k", "outage", timeout=120)
    result.assert_outcomes(failed=1)  # the check's own failure; no teardown error
    assert_undone(project, child, state)


def test_a_failed_experiment_fails_its_check_with_one_line_after_rolling_back(
    project: pytest.Pytester, child: subprocess.Popen[bytes], silent_port: int
) -> None:
    state = write_checks(project, child.pid, silent_port, "pass")
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "-k", "drill", timeout=120)
    result.assert_outcomes(failed=1)
    assert json.loads(state.read_text()) == {"rolled_back_to": "pass"}
    [check] = latest_health(project.path)["checks"]
    assert check["message"] == "upstream cut: did not degrade within 0.5 s: /api/health stayed 'healthy'"
    assert "Traceback" not in result.stdout.str()


def test_every_fault_is_undone_when_the_run_is_interrupted(
    project: pytest.Pytester, child: subprocess.Popen[bytes], silent_port: int
) -> None:
    state = write_checks(project, child.pid, silent_port, "raise KeyboardInterrupt")
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "-k", "outage", timeout=120)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert_undone(project, child, state)


def test_the_fixtures_are_listed_with_their_examples(project: pytest.Pytester) -> None:
    result = aide_run(project, "--fixtures", "-v")
    for name in ("aide_proxy", "aide_process_faults", "aide_file_faults", "aide_experiment"):
        result.stdout.fnmatch_lines([f"{name} -- *pytest_aide/fault_fixtures.py:*", "    *", "", "    Example::"])
    for name in ("aide_drill_target", "aide_drill_upstream", "aide_drill_proxy"):
        result.stdout.fnmatch_lines(
            [f"{name} [[]session scope] -- *pytest_aide/fault_fixtures.py:*", "    *", "", "    Example::"]
        )
