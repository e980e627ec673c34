"""Deadlines: a check whose own code runs past its time limit ends UNKNOWN "timed out after N s" and the run
goes on — under xdist too; pytest-timeout's timeout ends a check UNKNOWN as well.

Subprocess runs: the watchdog interrupts the run's main thread with a signal.
"""

from __future__ import annotations

import inspect
import time

import pytest
from aide_testing import latest_health

from conftest import HANG_S
from pytest_aide.suite.aide import check_backups, check_performance, check_preflight

# Limits from the configured default, the marker, and a [resilience.checks] timeouts entry over the marker.
CHECKS = f"""
import time

import pytest

def check_default(aide_health):
    time.sleep({HANG_S})  # a blocking system call

@pytest.mark.aide(timeout=20)
def check_marked(aide_health):
    time.sleep(1.2)
    aide_health.record("disk_percent", 20.0)

@pytest.mark.aide(timeout=20)
def check_overridden(aide_health):
    end = time.monotonic() + {HANG_S}
    while time.monotonic() < end:  # Python code, not a system call
        pass

def check_after(aide_health):
    aide_health.record("disk_percent", 20.0)
"""

CONFIG = """
[suite]
enabled = false
[resilience.checks]
timeout = 1
timeouts = { check_overridden = 1 }
"""


def project(pytester: pytest.Pytester, config: str = CONFIG, **files: str) -> pytest.Pytester:
    pytester.makefile(".toml", aide=config)
    pytester.makepyfile(**files)
    return pytester


def outcomes(pytester: pytest.Pytester) -> dict[str, tuple[str, str, float]]:
    return {
        c["nodeid"].split("::")[-1]: (c["status"], c["message"], c["duration"])
        for c in latest_health(pytester.path)["checks"]
    }


def test_a_check_past_its_limit_is_unknown_and_the_run_goes_on(pytester: pytest.Pytester) -> None:
    began = time.monotonic()
    result = project(pytester, check_deadlines=CHECKS).runpytest_subprocess("-p", "no:cacheprovider")
    assert time.monotonic() - began < HANG_S  # interrupted, not slept out
    found = outcomes(pytester)
    assert {name: status[:2] for name, status in found.items()} == {
        "check_default": ("UNKNOWN", "timed out after 1 s"),
        "check_marked": ("OK", ""),  # its marker gives it 20 s
        "check_overridden": ("UNKNOWN", "timed out after 1 s"),  # the configured entry beats its marker
        "check_after": ("OK", ""),
    }
    assert all(duration < HANG_S for _, _, duration in found.values())
    result.stdout.fnmatch_lines(["check_deadlines.py E.E.*"])
    result.stdout.fnmatch_lines(
        ["  UNKNOWN  check_deadlines.py::check_default: timed out after 1 s"], consecutive=False
    )
    result.stdout.fnmatch_lines(["timed out after 1 s (stopped at check_deadlines.py:* in check_default)"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_pytest_timeouts_limit_ends_a_check_unknown_too(pytester: pytest.Pytester) -> None:
    pytest.importorskip("pytest_timeout")
    body = f"import time\n\ndef check_slow(aide_health):\n    time.sleep({HANG_S})\n\n"
    body += "def check_after(aide_health):\n    aide_health.record('disk_percent', 20.0)\n"
    project(pytester, "[suite]\nenabled = false\n", check_slow=body)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--timeout=1", "--timeout-method=signal")
    assert {name: found[:2] for name, found in outcomes(pytester).items()} == {
        "check_slow": ("UNKNOWN", "timed out after 1 s"),
        "check_after": ("OK", ""),
    }
    result.stdout.fnmatch_lines(["*UNKNOWN check_slow.py::check_slow - Timeout (>1.0s) from pytest-timeout.*"])


def test_an_unusable_timeout_keyword_is_unknown_naming_it(pytester: pytest.Pytester) -> None:
    body = "import pytest\n\n@pytest.mark.aide(timeout='soon')\ndef check_x(aide_health):\n    pass\n"
    project(pytester, "[suite]\nenabled = false\n", check_x=body)
    pytester.runpytest("-p", "no:cacheprovider")
    assert outcomes(pytester)["check_x"][:2] == (
        "UNKNOWN",
        "could not run: aide(timeout='soon') is not seconds >= 0 (0: no limit)",
    )


def test_no_limit_while_debugging(pytester: pytest.Pytester) -> None:
    body = "import time\n\nimport pytest\n\n@pytest.mark.aide(timeout=0.2)\ndef check_x(aide_health):\n"
    body += "    time.sleep(0.6)\n"
    project(pytester, "[suite]\nenabled = false\n", check_x=body)
    pytester.runpytest("-p", "no:cacheprovider", "--pdb")  # a person at the prompt is not a hung check
    assert outcomes(pytester)["check_x"][:2] == ("OK", "")


@pytest.mark.slow  # two xdist workers in a subprocess, each waiting out a limit: about 8 s
def test_deadlines_under_xdist(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("xdist")
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    retried = f"""
import time

import pytest

@pytest.mark.aide(retries=2, timeout=1)
def check_retried(aide_health):
    time.sleep({HANG_S})  # a time limit ends the check: it is not tried again

def check_fine(aide_health):
    aide_health.record("disk_percent", 20.0)
"""
    project(pytester, check_deadlines=CHECKS, check_retried=retried)
    began = time.monotonic()
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    assert time.monotonic() - began < HANG_S
    result.stdout.fnmatch_lines_random(["*2 workers*", "checks: 3 ok, 0 warning, 0 critical, 3 unknown, 0 skipped"])
    found = outcomes(pytester)
    timed_out = {name for name, (status, message, _) in found.items() if message == "timed out after 1 s"}
    assert timed_out == {"check_default", "check_overridden", "check_retried"}
    retried_check = next(c for c in latest_health(pytester.path)["checks"] if c["nodeid"].endswith("check_retried"))
    assert (retried_check["attempt"], "attempts" in retried_check) == (1, False)


@pytest.mark.parametrize(
    ("check", "at_least"),
    [
        (check_backups.check_backup_restore_drill, 600),
        (check_backups.check_backup_fresh_and_verified, 600),
        (check_preflight.check_dependencies_consistent, check_preflight.PIP_CHECK_TIMEOUT_S + 1),
        (check_performance.check_api_throughput, 300),
        (check_performance.check_api_load, 600 + 120),  # [load] deadline (at most 600 s) + one request's timeout
    ],
)
def test_the_long_shipped_checks_have_longer_limits_of_their_own(check: object, at_least: float) -> None:
    marks = [m for m in getattr(check, "pytestmark", []) if m.name == "aide" and "timeout" in m.kwargs]
    assert inspect.isfunction(check)
    assert [m.kwargs["timeout"] >= at_least for m in marks] == [True]
