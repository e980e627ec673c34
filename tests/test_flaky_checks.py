"""Flaky is news: a check that passed only after a failed attempt — a retry of its own (marker or
``[resilience.checks] retries``) or a rerun of pytest-rerunfailures — is WARNING "flaky: passed on attempt N
of M", with every attempt's outcome and values in health.json and JUnit."""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree

import pytest
from aide_testing import ATTEMPT_COUNTER, aide_run, junit_case_properties, latest_health, run_dirs

from pytest_aide.metrics import DEFAULT_METRICS

DISK_ACTION = DEFAULT_METRICS["disk_percent"].action

COUNTER = ATTEMPT_COUNTER + "\nfrom pytest_aide.errors import ProbeError\n"

# Attempt 1: a critical value; attempt 2: its own assertion fails; attempt 3: healthy. Each records a value of
# its own, so an attempt's values cannot hide in another's.
FAILS_TWICE = """
def check_flaky(aide_health):
    number = attempt()
    aide_health.record(f"only_in_attempt_{number}", 1.0, "x")
    aide_health.record("disk_percent", {1: 99.0, 2: 50.0}.get(number, 20.0))
    assert number != 2, "attempt 2 failed its own assertion"
"""

ALWAYS_FAILS = """
def check_flaky(aide_health):
    aide_health.record("disk_percent", 90.0 + attempt())
"""

PASSES = """
def check_flaky(aide_health):
    attempt()
    aide_health.record("disk_percent", 20.0)
"""


def project(pytester: pytest.Pytester, body: str, *, marker: str = "", config: str = "") -> pytest.Pytester:
    pytester.makefile(".toml", aide=f"[suite]\nenabled = false\n[resilience.checks]\nretry_wait = 0\n{config}")
    decorated = body.replace("def check_flaky", f"{marker}\ndef check_flaky") if marker else body
    pytester.makepyfile(check_flaky=COUNTER + decorated)
    return pytester


def disk(value: float, status: str) -> dict[str, Any]:
    return {"value": value, "unit": "%", "status": status, "warning": "80", "critical": "90"}


def disk_message(value: int) -> str:
    return f"disk_percent = {value} % (critical > 90, range 90): {DISK_ACTION}"


ONLY = {"value": 1.0, "unit": "x", "status": "OK", "warning": None, "critical": None}


def attempt_facts(check: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(a["number"], a["outcome"], a["status"], a["message"], a["measurements"]) for a in check["attempts"]]


EARLIER_TWO = [
    (1, "failed", "CRITICAL", disk_message(99), {"only_in_attempt_1": ONLY, "disk_percent": disk(99.0, "CRITICAL")}),
    (
        2,
        "failed",
        "CRITICAL",
        "attempt 2 failed its own assertion",
        {"only_in_attempt_2": ONLY, "disk_percent": disk(50.0, "OK")},
    ),
]


def test_a_check_that_passes_on_its_third_try_is_a_flaky_warning(pytester: pytest.Pytester) -> None:
    result = aide_run(project(pytester, FAILS_TWICE, marker="@pytest.mark.aide(retries=2)"))
    result.stdout.fnmatch_lines(
        ["check_flaky.py W*", "  WARNING  check_flaky.py::check_flaky: flaky: passed on attempt 3 of 3"]
    )
    result.stdout.fnmatch_lines(["checks: 0 ok, 1 warning, 0 critical, 0 unknown, 0 skipped"])
    [check] = latest_health(pytester.path)["checks"]
    assert (check["status"], check["message"]) == ("WARNING", "flaky: passed on attempt 3 of 3")
    assert (check["attempt"], check["max_attempts"]) == (3, 3)
    assert check["measurements"] == {"only_in_attempt_3": ONLY, "disk_percent": disk(20.0, "OK")}
    assert attempt_facts(check) == EARLIER_TWO
    assert check["duration"] >= sum(a["duration"] for a in check["attempts"])


def test_junit_keeps_every_try_of_the_check(pytester: pytest.Pytester) -> None:
    aide_run(project(pytester, FAILS_TWICE, marker="@pytest.mark.aide(retries=2)"))
    [run] = run_dirs(pytester.path)
    props = junit_case_properties(run / "junit.xml")["check_flaky"]
    assert (props["aide.attempt"], props["aide.max_attempts"]) == ("3", "3")
    tries = json.loads(props["aide.tries"])
    assert [(t["recorded"], t["message"], sorted(t["measurements"])) for t in tries] == [
        ("CRITICAL", disk_message(99), ["disk_percent", "only_in_attempt_1"]),
        ("OK", "attempt 2 failed its own assertion", ["disk_percent", "only_in_attempt_2"]),
    ]
    assert json.loads(props["aide.m.only_in_attempt_3"])["value"] == 1.0


def test_the_configured_default_gives_every_check_its_retries(pytester: pytest.Pytester) -> None:
    aide_run(project(pytester, FAILS_TWICE, config="retries = 2\n"))
    [check] = latest_health(pytester.path)["checks"]
    assert (check["status"], check["message"], len(check["attempts"])) == (
        "WARNING",
        "flaky: passed on attempt 3 of 3",
        2,
    )


def test_a_check_failing_every_try_is_critical_with_all_of_them(pytester: pytest.Pytester) -> None:
    result = aide_run(project(pytester, ALWAYS_FAILS, marker="@pytest.mark.aide(retries=2)"))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    [check] = latest_health(pytester.path)["checks"]
    assert (check["status"], check["message"]) == ("CRITICAL", disk_message(93))  # the last attempt's words
    assert (check["attempt"], check["max_attempts"]) == (3, 3)
    assert check["measurements"] == {"disk_percent": disk(93.0, "CRITICAL")}
    assert [(a["number"], a["status"], a["message"]) for a in check["attempts"]] == [
        (1, "CRITICAL", disk_message(91)),
        (2, "CRITICAL", disk_message(92)),
    ]


def test_a_check_passing_at_once_is_ok_after_one_attempt(pytester: pytest.Pytester) -> None:
    result = aide_run(project(pytester, PASSES, marker="@pytest.mark.aide(retries=2)"))
    result.stdout.fnmatch_lines(["check_flaky.py .*"])
    [check] = latest_health(pytester.path)["checks"]
    assert (check["status"], check["message"], check["attempt"], check["max_attempts"]) == ("OK", "", 1, 3)
    assert "attempts" not in check
    assert (pytester.path / "attempts.txt").read_text() == "1"


def test_a_check_without_retries_runs_once_and_says_nothing_of_attempts(pytester: pytest.Pytester) -> None:
    aide_run(project(pytester, ALWAYS_FAILS))
    [check] = latest_health(pytester.path)["checks"]
    assert check["status"] == "CRITICAL"
    assert not {"attempt", "max_attempts", "attempts"} & set(check)


def test_a_probe_error_try_is_unknown_and_a_skip_is_never_retried(pytester: pytest.Pytester) -> None:
    body = """
def check_flaky(aide_health):
    if attempt() == 1:
        raise ProbeError("cache 127.0.0.1:9: connection refused")
    aide_health.record("disk_percent", 20.0)

@pytest.mark.aide(retries=3)
def check_skips():
    pytest.skip("nothing to measure yet")
"""
    aide_run(project(pytester, body, marker="@pytest.mark.aide(retries=1)"))
    flaky, skips = latest_health(pytester.path)["checks"]
    assert (flaky["status"], flaky["message"]) == ("WARNING", "flaky: passed on attempt 2 of 2")
    assert [(a["status"], a["message"]) for a in flaky["attempts"]] == [
        ("UNKNOWN", "cache 127.0.0.1:9: connection refused")
    ]
    assert (skips["status"], "attempts" in skips) == ("SKIPPED", False)


def test_an_unusable_retries_keyword_is_unknown_naming_it(pytester: pytest.Pytester) -> None:
    aide_run(project(pytester, PASSES, marker="@pytest.mark.aide(retries=-1)"))
    [check] = latest_health(pytester.path)["checks"]
    assert (check["status"], check["message"]) == (
        "UNKNOWN",
        "could not run: aide(retries=-1) is not a whole number >= 0",
    )


def test_a_bad_configured_default_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = aide_run(project(pytester, PASSES, config="retries = -1\n"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: *resilience*checks*retries*"])


def test_a_pass_after_reruns_of_pytest_rerunfailures_is_flaky_too(pytester: pytest.Pytester) -> None:
    result = aide_run(project(pytester, FAILS_TWICE), "--reruns", "2")
    result.stdout.fnmatch_lines(["check_flaky.py RRW*", "*2 rerun, 1 warned*"])
    [check] = latest_health(pytester.path)["checks"]
    assert (check["status"], check["message"]) == ("WARNING", "flaky: passed on attempt 3 of 3")
    assert (check["attempt"], check["max_attempts"]) == (3, 3)
    assert attempt_facts(check) == EARLIER_TWO
    [run] = run_dirs(pytester.path)
    cases = ElementTree.parse(run / "junit.xml").getroot().iter("testcase")
    attempts = [{p.get("name"): p.get("value") for p in case.iter("property")} for case in cases]
    assert [(a["aide.attempt"], a["aide.max_attempts"]) for a in attempts] == [("1", "3"), ("2", "3"), ("3", "3")]


def test_retries_and_reruns_multiply_and_every_attempt_is_numbered(pytester: pytest.Pytester) -> None:
    body = """
def check_flaky(aide_health):
    number = attempt()
    aide_health.record("disk_percent", 20.0 if number == 4 else 99.0)
"""
    aide_run(project(pytester, body, marker="@pytest.mark.aide(retries=1)"), "--reruns", "2")
    [check] = latest_health(pytester.path)["checks"]
    assert (check["status"], check["message"]) == ("WARNING", "flaky: passed on attempt 4 of 6")
    assert [(a["number"], a["status"]) for a in check["attempts"]] == [(n, "CRITICAL") for n in (1, 2, 3)]
    [run] = run_dirs(pytester.path)
    cases = ElementTree.parse(run / "junit.xml").getroot().iter("testcase")
    numbers = [{p.get("name"): p.get("value") for p in case.iter("property")}["aide.attempt"] for case in cases]
    assert numbers == ["2", "4"]  # one test case per rerun, each numbered by the last try it made


def test_flaky_checks_under_xdist(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("xdist")
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    project(pytester, FAILS_TWICE, marker="@pytest.mark.aide(retries=2)")
    pytester.makepyfile(
        check_other=COUNTER.replace("attempts.txt", "other.txt") + ALWAYS_FAILS.replace("flaky", "other")
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "--reruns", "1")
    result.stdout.fnmatch_lines_random(["*2 workers*", "checks: 0 ok, 1 warning, 1 critical, 0 unknown, 0 skipped"])
    result.stdout.re_match_lines([r".* 1 failed, .*1 rerun.*"])
    checks = {c["nodeid"]: c for c in latest_health(pytester.path)["checks"]}
    flaky, other = checks["check_flaky.py::check_flaky"], checks["check_other.py::check_other"]
    assert (flaky["status"], flaky["message"], flaky["max_attempts"]) == (
        "WARNING",
        "flaky: passed on attempt 3 of 6",
        6,
    )
    assert attempt_facts(flaky) == EARLIER_TWO
    assert (other["status"], other["message"], len(other["attempts"])) == ("CRITICAL", disk_message(92), 1)
