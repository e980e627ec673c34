"""Under pytest-rerunfailures each attempt of a check keeps its own outcome and values; the check counts once
and its message and measurements describe its last attempt."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from aide_testing import ATTEMPT_COUNTER, aide_run, latest_health, run_dirs

from pytest_aide.metrics import DEFAULT_METRICS

DISK_ACTION = DEFAULT_METRICS["disk_percent"].action

# Each attempt records a measurement of its own name and a disk value of its own (91, 92, 93 %).
FLAKY = (
    ATTEMPT_COUNTER
    + """
def check_flaky(aide_health):
    number = attempt()
    aide_health.record(f"only_in_attempt_{number}", 1.0, "x")
    aide_health.record("disk_percent", 90.0 + number)
"""
)

RECOVERS = (
    ATTEMPT_COUNTER
    + """
@pytest.fixture
def target():
    if attempt() == 1:
        raise ConnectionError("target 127.0.0.1:9 unreachable")

def check_recovers(target, aide_health):
    disk = {2: 95.0, 3: 20.0}[int(pathlib.Path("attempts.txt").read_text())]
    aide_health.record("disk_percent", disk)
"""
)


def aide_project(pytester: pytest.Pytester, **files: str) -> pytest.Pytester:
    pytester.makefile(".toml", aide="[suite]\nenabled = false\n")
    pytester.makepyfile(**files)
    return pytester


def disk(value: float, status: str) -> dict[str, Any]:
    return {"value": value, "unit": "%", "status": status, "warning": "80", "critical": "90"}


def disk_message(value: int) -> str:
    return f"disk_percent = {value} % (critical > 90, range 90): {DISK_ACTION}"


def test_the_terminal_shows_rerun_letters_and_counts_the_check_once(pytester: pytest.Pytester) -> None:
    result = aide_run(aide_project(pytester, check_flaky=FLAKY), "--reruns", "2")
    result.stdout.fnmatch_lines(["check_flaky.py RRF*"])
    result.stdout.fnmatch_lines(["checks: 0 ok, 0 warning, 1 critical, 0 unknown, 0 skipped", "*1 failed, 2 rerun*"])
    result.stdout.no_fnmatch_line("*3 failed*")
    result.stdout.fnmatch_lines([f"  CRITICAL check_flaky.py::check_flaky: {disk_message(93)}"])  # nothing of 91, 92
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_health_json_keeps_each_attempt_apart(pytester: pytest.Pytester) -> None:
    aide_run(aide_project(pytester, check_flaky=FLAKY), "--reruns", "2")
    health = latest_health(pytester.path)
    assert health["counts"]["CRITICAL"] == 1
    [check] = health["checks"]
    assert check["status"] == "CRITICAL"
    assert check["message"] == disk_message(93)  # custom metrics without thresholds never alert
    only_3 = {"value": 1.0, "unit": "x", "status": "OK", "warning": None, "critical": None}
    assert check["measurements"] == {"only_in_attempt_3": only_3, "disk_percent": disk(93.0, "CRITICAL")}
    earlier = [
        {key: attempt[key] for key in ("outcome", "status", "message", "measurements")} for attempt in check["attempts"]
    ]
    assert earlier == [
        {
            "outcome": "failed",
            "status": "CRITICAL",
            "message": disk_message(90 + number),
            "measurements": {f"only_in_attempt_{number}": only_3, "disk_percent": disk(90.0 + number, "CRITICAL")},
        }
        for number in (1, 2)
    ]
    assert all(attempt["duration"] >= 0 for attempt in check["attempts"])
    assert check["duration"] >= sum(attempt["duration"] for attempt in check["attempts"])  # the time of them all


def test_a_setup_error_and_a_failure_before_the_last_attempt_are_kept_apart(pytester: pytest.Pytester) -> None:
    result = aide_run(aide_project(pytester, check_recovers=RECOVERS), "--reruns", "2")
    result.stdout.fnmatch_lines(["check_recovers.py RRW*", "*2 rerun, 1 warned*"])  # a pass after reruns: flaky
    [check] = latest_health(pytester.path)["checks"]
    assert check["measurements"] == {"disk_percent": disk(20.0, "OK")}
    assert [(a["outcome"], a["status"], a["message"], a["measurements"]) for a in check["attempts"]] == [
        ("error", "UNKNOWN", "could not run: ConnectionError: target 127.0.0.1:9 unreachable", {}),
        ("failed", "CRITICAL", disk_message(95), {"disk_percent": disk(95.0, "CRITICAL")}),
    ]


def test_junit_and_html_describe_the_last_attempt(pytester: pytest.Pytester) -> None:
    aide_run(aide_project(pytester, check_flaky=FLAKY), "--reruns", "2")
    [run] = run_dirs(pytester.path)
    [failed] = [
        c for c in ElementTree.parse(run / "junit.xml").getroot().iter("testcase") if c.find("failure") is not None
    ]
    properties = {p.get("name"): p.get("value") for p in failed.iter("property")}
    assert properties["aide.message"] == disk_message(93)
    assert sorted(name for name in properties if name.startswith("aide.m.")) == [
        "aide.m.disk_percent",
        "aide.m.only_in_attempt_3",
    ]
    failure = failed.find("failure")
    assert failure is not None
    assert failure.text is not None
    assert failure.text.startswith(f"{disk_message(93)}\nmeasurements:\n  only_in_attempt_3 = 1 x  OK")
    assert "only_in_attempt_1" not in failure.text
    assert "only_in_attempt_2" not in failure.text
    [final_log] = [log for outcome, log in html_rows(run)["check_flaky.py::check_flaky"] if outcome == "Failed"]
    assert final_log.startswith(failure.text)


def test_reruns_under_xdist_keep_attempts_apart_too(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    aide_project(pytester, check_flaky=FLAKY)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "--reruns", "2")
    result.stdout.fnmatch_lines_random(["*2 workers*", "*1 failed, 2 rerun*"])
    [check] = latest_health(pytester.path)["checks"]
    assert (check["message"], [a["message"] for a in check["attempts"]]) == (
        disk_message(93),
        [disk_message(91), disk_message(92)],
    )


def html_rows(run: Path) -> dict[str, list[tuple[str, str]]]:
    """pytest-html's rows per node id: (result, log text), read from the report's JSON data."""
    blob = re.search(r'data-jsonblob="([^"]*)"', (run / "report.html").read_text())
    assert blob is not None
    tests: dict[str, list[dict[str, Any]]] = json.loads(html.unescape(blob.group(1)))["tests"]
    return {nodeid: [(row["result"], html.unescape(row["log"])) for row in rows] for nodeid, rows in tests.items()}
