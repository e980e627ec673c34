"""A failed check reads like health facts (message, measurements, action, evidence) in the terminal, JUnit
and pytest-html alike; pytest's traceback is kept for bugs in a check and for an explicit ``--tb`` style."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from aide_testing import aide_run, latest_health, run_dirs
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_aide import evidence
from pytest_aide.health import HealthRecorder
from pytest_aide.metrics import DEFAULT_METRICS

SECRET = "evidence-secret-4242"

CHECKS = """
import os

import pytest

from pytest_aide.errors import ProbeError


@pytest.fixture
def big_fixture():
    return {"rows": list(range(100))}


def check_assertion(aide_health, big_fixture):
    aide_health.record("response_time_s", 0.5)
    aide_health.attach("response of /api/health", "HTTP 500 token " + os.environ["PROBE_TOKEN"])
    assert 1 + 1 == 3, "the sum is wrong"


def check_probe(aide_health):
    aide_health.record("db_ping_s", 0.25)
    raise ProbeError("database 127.0.0.1:5432: connection refused")


def check_disk(aide_health):
    aide_health.record("disk_percent", 95.5)
    aide_health.record("memory_percent", 12.0)


def check_bug(aide_health):
    return {}["missing"]


@pytest.fixture
def unreachable_target():
    raise ConnectionError("target 127.0.0.1:9 unreachable")


def check_unreachable(unreachable_target, aide_health):
    pass
"""

DISK_ACTION = DEFAULT_METRICS["disk_percent"].action


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PROBE_TOKEN", SECRET)  # a secret-looking variable: the redactor masks its value
    pytester.makefile(".toml", aide="[suite]\nenabled = false\n")
    pytester.makepyfile(check_sample=CHECKS)
    return pytester


def junit_failures(run: Path) -> dict[str, ElementTree.Element]:
    """The <failure>/<error> element of each test case, by test name."""
    cases = ElementTree.parse(run / "junit.xml").getroot().iter("testcase")
    found = {}
    for case in cases:
        for child in case:
            if child.tag in ("failure", "error"):
                found[case.get("name", "")] = child
    return found


def html_logs(run: Path) -> dict[str, list[tuple[str, str]]]:
    """pytest-html's rows per node id: (result, log text), read from the report's JSON data."""
    blob = re.search(r'data-jsonblob="([^"]*)"', (run / "report.html").read_text())
    assert blob is not None
    tests: dict[str, list[dict[str, Any]]] = json.loads(html.unescape(blob.group(1)))["tests"]
    return {nodeid: [(row["result"], html.unescape(row["log"])) for row in rows] for nodeid, rows in tests.items()}


def failure_block(run: Path, name: str) -> str:
    text = junit_failures(run)[name].text
    assert text is not None
    return text


def test_an_assertion_shows_its_message_measurements_and_evidence_not_the_traceback(project: pytest.Pytester) -> None:
    result = aide_run(project, "-k", "assertion")
    result.stdout.fnmatch_lines(
        [
            "*_ check_assertion _*",
            "the sum is wrong",
            "measurements:",
            "  response_time_s = 0.5 s  OK  (warning 1, critical 3)",
            "evidence: response of /api/health",
            "    HTTP 500 token ***",
            "evidence: top processes by memory",
            "*pid*rss MB*",
        ]
    )
    for noise in ("*big_fixture = *", "*HealthRecorder(*", "*def check_assertion*", "*assert 1 + 1 == 3*"):
        result.stdout.no_fnmatch_line(noise)
    result.stdout.no_fnmatch_line("action:*")  # every measurement is OK: no action is called for
    result.stdout.fnmatch_lines(["CRITICAL check_sample.py::check_assertion - the sum is wrong"])


def test_a_critical_measurement_shows_every_measurement_with_its_ranges_and_the_action(
    project: pytest.Pytester,
) -> None:
    result = aide_run(project, "-k", "disk")
    result.stdout.fnmatch_lines(
        [
            "*_ check_disk _*",
            f"disk_percent = 95.5 % (critical > 90, range 90): {DISK_ACTION}",
            "measurements:",
            "  disk_percent = 95.5 %  CRITICAL  (warning 80, critical 90)",
            "  memory_percent = 12 %  OK  (warning 80, critical 90)",
            f"action: {DISK_ACTION}",
            "evidence: top processes by memory",
        ]
    )


def test_a_probe_failure_shows_what_was_measured_before_it(project: pytest.Pytester) -> None:
    result = aide_run(project, "-k", "probe")
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at call of check_probe _*",  # a probe that could not measure: UNKNOWN, shown as an error
            "database 127.0.0.1:5432: connection refused",
            "measurements:",
            "  db_ping_s = 0.25 s  OK  (warning 1, critical 3)",
            "evidence: top processes by memory",
            "evidence: top processes by CPU",
        ]
    )
    result.stdout.no_fnmatch_line("*raise ProbeError*")


def test_terminal_junit_and_html_show_the_same_block_without_secrets(project: pytest.Pytester) -> None:
    result = aide_run(project)
    [run] = run_dirs(project.path)
    failures = junit_failures(run)
    logs = html_logs(run)
    for name, first_line in (
        ("check_assertion", "the sum is wrong"),
        ("check_probe", "database 127.0.0.1:5432: connection refused"),
        ("check_disk", f"disk_percent = 95.5 % (critical > 90, range 90): {DISK_ACTION}"),
    ):
        block = failure_block(run, name)
        assert block.splitlines()[0] == first_line
        assert "measurements:" in block
        assert "evidence: top processes by memory" in block
        assert failures[name].get("message", "").startswith(first_line)  # junit's one-line attribute
        assert block in result.stdout.str()
        [(outcome, log)] = logs[f"check_sample.py::{name}"]
        assert outcome == "Failed"
        assert log.startswith(block)
    assert "HTTP 500 token ***" in failure_block(run, "check_assertion")
    for text in (result.stdout.str(), (run / "junit.xml").read_text(), (run / "report.html").read_text()):
        assert SECRET not in text
    assert SECRET not in (run / "health.json").read_text()


def test_only_facts_lose_the_traceback_a_bug_in_the_check_keeps_it(project: pytest.Pytester) -> None:
    result = aide_run(project, "-k", "bug or assertion")
    result.stdout.fnmatch_lines(
        [
            "*_ check_bug _*",
            "    def check_bug(aide_health):",
            '>       return {}["missing"]',
            "E       KeyError: 'missing'",
            "*aide evidence: top processes by memory*",  # the evidence still follows the traceback
        ]
    )
    result.stdout.no_fnmatch_line("*def check_assertion*")
    assert latest_health(project.path)["checks"][0]["message"] == "the sum is wrong"
    bug = failure_block(run_dirs(project.path)[-1], "check_bug")
    assert "KeyError: 'missing'" in bug
    assert "measurements:" not in bug


def test_a_setup_failure_gives_its_one_line_reason(project: pytest.Pytester) -> None:
    result = aide_run(project, "-k", "unreachable")
    result.stdout.fnmatch_lines(
        ["*ERROR at setup of check_unreachable*", "ConnectionError: target 127.0.0.1:9 unreachable", "*verdict*"]
    )
    result.stdout.no_fnmatch_line("*def unreachable_target*")
    [run] = run_dirs(project.path)
    assert failure_block(run, "check_unreachable") == "ConnectionError: target 127.0.0.1:9 unreachable"
    check = latest_health(project.path)["checks"][0]
    assert (check["status"], check["message"]) == (
        "UNKNOWN",
        "could not run: ConnectionError: target 127.0.0.1:9 unreachable",
    )


@pytest.mark.parametrize(
    ("style", "shows"),
    [
        ("long", [">       raise ProbeError(*", "E       pytest_aide.errors.ProbeError: database *"]),
        ("short", ["check_sample.py:*: in check_probe", "E   pytest_aide.errors.ProbeError: database *"]),
        ("native", ["Traceback (most recent call last):", "pytest_aide.errors.ProbeError: database *"]),
        ("line", ["*ProbeError: database 127.0.0.1:5432: connection refused"]),
    ],
)
def test_an_explicit_tb_style_is_honoured(project: pytest.Pytester, style: str, shows: list[str]) -> None:
    result = aide_run(project, "-k", "probe", f"--tb={style}")
    result.stdout.fnmatch_lines(shows)
    result.stdout.no_fnmatch_line("measurements:")


def test_a_critical_measurement_has_no_traceback_worth_asking_for(project: pytest.Pytester) -> None:
    result = aide_run(project, "-k", "disk", "--tb=long")
    result.stdout.fnmatch_lines(["measurements:", "  disk_percent = 95.5 %  CRITICAL  (warning 80, critical 90)"])
    result.stdout.no_fnmatch_line("*checkitem.py*")  # the plugin's own frames are no help to anyone


def test_tb_no_leaves_the_terminal_quiet_and_junit_gets_the_block(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("CI", "BUILD_NUMBER"):  # on CI pytest's short summary prints whole messages, block and all
        monkeypatch.delenv(variable, raising=False)
    result = aide_run(project, "-k", "assertion", "--tb=no")
    result.stdout.no_fnmatch_line("measurements:")
    block = failure_block(run_dirs(project.path)[-1], "check_assertion")
    assert block.startswith("the sum is wrong\nmeasurements:\n")


def test_failures_under_xdist_carry_the_same_block(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "-k", "disk or unreachable")
    result.stdout.fnmatch_lines_random(["*2 workers*", "  memory_percent = 12 %  OK  (warning 80, critical 90)"])
    [run] = run_dirs(project.path)
    assert failure_block(run, "check_disk").splitlines()[:5] == [
        f"disk_percent = 95.5 % (critical > 90, range 90): {DISK_ACTION}",
        "measurements:",
        "  disk_percent = 95.5 %  CRITICAL  (warning 80, critical 90)",
        "  memory_percent = 12 %  OK  (warning 80, critical 90)",
        f"action: {DISK_ACTION}",
    ]
    assert failure_block(run, "check_unreachable") == "ConnectionError: target 127.0.0.1:9 unreachable"


# The block itself, without pytest.


def test_one_action_shared_by_several_measurements_is_said_once() -> None:
    health = HealthRecorder()
    health.record("memory_percent", 95.0)
    health.record("trend_memory_percent", 90.0)  # same action as memory_percent
    health.record("cpu_percent", 10.0)
    text = evidence.failure_text("memory", health.measurements, [])
    assert [line for line in text.splitlines() if line.startswith("action")] == [
        "action: clear caches or restart the app"
    ]


def test_different_actions_name_their_measurements_worst_first() -> None:
    health = HealthRecorder()
    health.record("cpu_percent", 75.0)  # warning
    health.record("disk_percent", 95.0)  # critical
    text = evidence.failure_text("two problems", health.measurements, [])
    assert [line for line in text.splitlines() if line.startswith("action")] == [
        f"action (disk_percent): {DISK_ACTION}",
        f"action (cpu_percent): {DEFAULT_METRICS['cpu_percent'].action}",
    ]


def test_a_measurement_without_ranges_says_so() -> None:
    health = HealthRecorder()
    health.record("queue_depth", 12.0, "jobs")
    assert evidence.failure_text("x", health.measurements, []).splitlines() == [
        "x",
        "measurements:",
        "  queue_depth = 12 jobs  OK  (no thresholds)",
    ]


_text = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=40)


@settings(deadline=None)  # a busy 2-core machine: no wall-clock bound per example
@given(
    message=_text,
    values=st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), max_size=5),
    items=st.lists(st.tuples(_text, st.lists(_text, min_size=1, max_size=4)), max_size=3),
)
def test_the_block_keeps_message_every_measurement_and_every_evidence_line(
    message: str, values: list[float], items: list[tuple[str, list[str]]]
) -> None:
    health = HealthRecorder()
    for index, value in enumerate(values):
        health.record(f"m{index}", value, "u")
    evidence_items = [(title, "\n".join(lines)) for title, lines in items]
    text = evidence.failure_text(message, health.measurements, evidence_items)
    lines = text.splitlines()
    assert lines[0] == message
    for index in range(len(values)):
        assert any(line.startswith(f"  m{index} = ") and line.endswith("  OK  (no thresholds)") for line in lines)
    for title, body in items:
        assert f"evidence: {title}" in lines
        assert all(f"    {line}" in lines for line in body)
