"""The report shows resilience (issue 10, point 9): fallbacks, retried attempts and chaos experiments seen in the
run, in health.json (``resilience``), health.html and report.html's summary.

The summary and the page are tested directly from plain data; real runs (also under ``-n 2``, the workers'
fallbacks merged) show every report agrees.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aide_testing import ATTEMPT_COUNTER, activate, aide_run, junit_case_properties, latest_health, run_dirs
from test_health_html import Page

from pytest_aide import health_html
from pytest_aide.redact import Redactor
from pytest_aide.resilience_summary import resilience_lines, resilience_section
from pytest_aide.results import EXPERIMENTS, RETRY_CALLS, Attempt, CheckResult, ReportFacts, RunCollector
from pytest_aide.status import Status
from pytest_aide.summary import RunSummary

PHASES = ("steady", "inject", "degrade", "rollback", "recover")


def experiment(name: str, *, ok: bool = True) -> dict[str, Any]:
    """A record shaped like :class:`pytest_aide.faults.Experiment`'s."""
    phases = [
        {
            "phase": phase,
            "outcome": "ok" if ok or phase != "degrade" else "failed",
            "started_s": 0.5 * index,
            "duration_s": 0.5,
            "probes": 1 if phase in ("steady", "degrade", "recover") else 0,
            "observed": "'healthy'" if phase != "degrade" else ("'degraded'" if ok else "'healthy'"),
            "error": None,
        }
        for index, phase in enumerate(PHASES)
    ]
    message = None if ok else "did not degrade within 5 s: /api/health stayed 'healthy'"
    return {
        "name": name,
        "ok": ok,
        "failed_phase": None if ok else "degrade",
        "message": message,
        "bounds_s": {"degrade": 5.0, "recover": 10.0},
        "phases": phases,
        "duration_s": 2.5,
    }


def retried_call(passed: bool) -> dict[str, Any]:
    attempts = [
        {
            "number": 1,
            "outcome": "error",
            "error": "ConnectionError: dropped",
            "started": 0,
            "duration": 0.2,
            "waited": 0,
        },
        {"number": 2, "outcome": "ok" if passed else "error", "error": None if passed else "ConnectionError: dropped"},
    ]
    attempts[1].update(started=0.7, duration=0.1, waited=0.5)
    summary = "passed on attempt 2 of 3" if passed else "failed on attempt 2 of 2 (no attempt left): dropped"
    return {"passed": passed, "summary": summary, "max_attempts": 3, "waited": 0.5, "attempts": attempts}


def checks() -> list[CheckResult]:
    flaky = CheckResult("check_a.py::check_flaky", status=Status.WARNING, outcome="passed", max_attempts=3)
    flaky.attempts = [Attempt("failed", Status.CRITICAL, "boom", {}, 0.1, [], 1)]
    lost = CheckResult("check_a.py::check_lost", status=Status.CRITICAL, outcome="failed", max_attempts=2)
    lost.attempts = [Attempt("failed", Status.CRITICAL, "boom", {}, 0.1, [], 1)]
    calls = CheckResult("check_a.py::check_calls", status=Status.OK, outcome="passed")
    calls.retry_calls = {"calls": 5, "passed_first_try": 3, "attempts": 7, "retried": [retried_call(True)]}
    calls_failed = CheckResult("check_a.py::check_calls_failed", status=Status.CRITICAL, outcome="failed")
    calls_failed.retry_calls = {"calls": 1, "passed_first_try": 0, "attempts": 2, "retried": [retried_call(False)]}
    drill = CheckResult("check_a.py::check_drill", status=Status.CRITICAL, outcome="failed")
    drill.experiments = [experiment("upstream cut", ok=False), experiment("latency")]
    return [flaky, lost, calls, calls_failed, drill, CheckResult("check_a.py::check_plain", status=Status.OK)]


FALLBACKS = {
    "settings": {
        "name": "settings",
        "calls": 4,
        "served": 3,
        "failed": 1,
        "success_rate": 0.75,
        "served_by_primary": 1,
        "served_by_fallback": 2,
        "fallback_success_rate": 2 / 3,
        "options": {
            "live": {"attempts": 4, "successes": 1, "failures": 3, "success_rate": 0.25},
            "cached": {"attempts": 3, "successes": 2, "failures": 1, "success_rate": 2 / 3},
        },
    }
}


def summary(**fields: Any) -> RunSummary:
    return RunSummary.build(checks=checks(), run_id="r", started="s", finished="f", host="h", **fields)


# --- the summary: plain data in, health.json's resilience out ------------------------------------------------


def test_retried_checks_and_calls_are_counted_and_each_listed_with_its_attempts() -> None:
    retries = resilience_section(checks(), {}, {})["retries"]
    assert retries["checks"] == {"retried": 2, "passed": 1, "failed": 1, "attempts": 4}
    assert retries["calls"] == {"calls": 6, "passed_first_try": 3, "passed_after_retry": 1, "failed": 1, "attempts": 9}
    assert [(c["nodeid"], c["status"], c["attempts"], c["outcomes"]) for c in retries["retried_checks"]] == [
        ("check_a.py::check_flaky", "WARNING", 2, ["failed", "passed"]),
        ("check_a.py::check_lost", "CRITICAL", 2, ["failed", "failed"]),
    ]
    assert [(c["nodeid"], c["passed"]) for c in retries["retried_calls"]] == [
        ("check_a.py::check_calls", True),
        ("check_a.py::check_calls_failed", False),
    ]


def test_experiments_are_listed_with_the_check_that_ran_them_and_fallbacks_as_given() -> None:
    section = resilience_section(checks(), {}, FALLBACKS)
    assert [(e["nodeid"], e["name"], e["ok"]) for e in section["experiments"]] == [
        ("check_a.py::check_drill", "upstream cut", False),
        ("check_a.py::check_drill", "latency", True),
    ]
    assert [p["phase"] for p in section["experiments"][0]["phases"]] == list(PHASES)
    assert section["fallbacks"] == FALLBACKS
    assert section["flaky"] == ["check_a.py::check_flaky"]
    data = summary(fallbacks=FALLBACKS).to_dict()
    assert data["resilience"] == json.loads(json.dumps(section))


def test_a_run_that_used_none_of_it_has_zero_counts_empty_lists_and_no_lines() -> None:
    section = resilience_section([CheckResult("c.py::check", status=Status.OK)], {}, {})
    assert section["fallbacks"] == {}
    assert section["experiments"] == []
    assert section["flaky"] == []
    assert section["retries"]["checks"]["retried"] == 0
    assert section["retries"]["calls"]["calls"] == 0
    assert resilience_lines(section) == []
    assert resilience_lines({}) == []  # a health.json older than the section


def test_the_lines_name_fallbacks_retries_and_each_experiment() -> None:
    lines = resilience_lines(resilience_section(checks(), {}, FALLBACKS))
    assert lines == [
        "fallback settings: 4 call(s), 2 served by an alternative, 1 failed (successes/attempts: live 1/4, cached 2/3)",
        "retried checks: 2 (1 passed on a later attempt, 1 failed), 4 attempts",
        "aide_retry calls: 6 (3 passed at once, 1 after a retry, 1 failed), 9 attempts",
        "experiment 'upstream cut' (check_a.py::check_drill): failed at degrade: "
        "did not degrade within 5 s: /api/health stayed 'healthy'",
        "experiment 'latency' (check_a.py::check_drill): ok in 2.5 s",
    ]


def test_the_collector_takes_a_checks_retry_calls_and_experiments_from_its_call_report() -> None:
    collector = RunCollector()
    place = [("aide.component", "app"), ("aide.weight", 1.0)]
    calls = {"calls": 2, "passed_first_try": 1, "attempts": 3, "retried": [retried_call(True)]}
    records = [(RETRY_CALLS, json.dumps(calls)), (EXPERIMENTS, json.dumps([experiment("cut")]))]
    collector.add(ReportFacts("c.py::check", "setup", "passed", place, 0.0))
    collector.add(ReportFacts("c.py::check", "call", "passed", [*place, ("aide.status", "OK"), *records], 0.1))
    collector.add(ReportFacts("c.py::check", "teardown", "failed", [*place, *records], 0.0, "boom"))
    [result] = collector.results()
    assert result.retry_calls == calls
    assert [e["name"] for e in result.experiments] == ["cut"]  # the teardown's copy replaces, never doubles
    data = result.to_dict()
    assert data["retry_calls"] == calls
    assert data["experiments"][0]["name"] == "cut"
    assert "retry_calls" not in CheckResult("c.py::other").to_dict()


# --- health.html ---------------------------------------------------------------------------------------------


def test_health_html_shows_fallbacks_retries_and_experiments_with_their_phases() -> None:
    page = Page(health_html.render_summary(summary(fallbacks=FALLBACKS), Redactor()))
    assert {"fallbacks", "retries", "experiments", "aide-experiment-1", "aide-experiment-2"} <= set(page.ids)
    fallbacks = page.words("fallbacks")
    assert "settings 4 1 2 1 75 % 67 %" in fallbacks
    assert "primary live 4 tried 1 served 25 %" in fallbacks
    assert "alternative cached 3 tried 2 served 67 %" in fallbacks
    assert page.words("aide-retried-checks") == "2 (1 passed on a later attempt, 1 failed), 4 attempts"
    assert page.words("aide-retry-calls") == "6 (3 passed at once, 1 after a retry, 1 failed), 9 attempts"
    retries = page.words("retries")
    assert "check_a.py::check_flaky WARNING 2 of 3 failed, passed" in retries
    assert "#1 error: ConnectionError: dropped (0.2 s, after 0 s) #2 ok (0.1 s, after 0.5 s)" in retries
    assert "Flaky (passed only after a retry or rerun): check_a.py::check_flaky" in retries
    failed = page.words("aide-experiment-1")
    assert failed.startswith("failed upstream cut — check_a.py::check_drill 2.5 s")
    assert "did not degrade within 5 s: /api/health stayed 'healthy'" in failed
    assert "degrade failed 1 s 0.5 s 1 'healthy'" in failed
    assert page.words("aide-experiment-2").startswith("held latency")


def test_a_page_without_any_of_it_has_none_of_the_sections() -> None:
    plain = RunSummary.build(
        checks=[CheckResult("c.py::check", status=Status.OK)], run_id="r", started="s", finished="f", host="h"
    )
    page = Page(health_html.render_summary(plain, Redactor()))
    assert not {"fallbacks", "retries", "experiments"} & set(page.ids)
    older = Page(health_html.render({"status": "HEALTHY", "checks": [], "resilience": {"flaky": []}}))
    assert "retries" not in older.ids


def test_an_experiments_observations_reach_the_page_as_text_and_redacted() -> None:
    plain = summary()
    plain.checks[4].experiments[0]["phases"][2]["observed"] = "'<b>key=hunter22</b>'"
    page = health_html.render_summary(plain, Redactor(secrets=["hunter22"]))
    assert "hunter22" not in page
    assert "&lt;b&gt;key=***&lt;/b&gt;" in page


# --- real runs -----------------------------------------------------------------------------------------------

CHECKS = (
    ATTEMPT_COUNTER
    + """
import os

from pytest_aide.resilience import RetryFailed

SECRET = os.environ["SERVICE_API_TOKEN"]


def down():
    raise ConnectionError("live settings refused")


def failing_first(times):
    calls = []

    def call():
        calls.append(1)
        if len(calls) <= times:
            raise ConnectionError("dropped")
        return "up"

    return call


@pytest.mark.parametrize("n", range(6))
def check_settings(n, aide_fallback, aide_health):
    served = aide_fallback("settings", {"live": down if n % 2 else (lambda: 0), "cached": lambda: 3}).call()
    aide_health.record("settings_age_s", served.value, "s")
    pathlib.Path(f"worker-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}").touch()


def check_queue(aide_retry):
    assert aide_retry(failing_first(1)).value == "up"
    aide_retry(lambda: "up")
    with pytest.raises(RetryFailed):
        aide_retry(failing_first(9), attempts=2)


@pytest.mark.aide(retries=2)
def check_flaky():
    assert attempt() >= 2


def check_drill(aide_experiment):
    state = {"status": "healthy"}
    aide_experiment(
        "upstream cut",
        probe=lambda: state["status"],
        steady=lambda status: status == "healthy",
        inject=lambda: None,  # a target without a fallback: it never degrades
        degraded=lambda status: status == "degraded",
        rollback=lambda: state.update(status="healthy " + SECRET),
        recovered=lambda status: status.startswith("healthy"),
        degrade_within=0.2,
        poll_interval=0.05,
        what="/api/health",
    )
"""
)
CONFIG = "[resilience.retry]\ninitial_wait = 0\njitter = 0\n\n[resilience.checks]\nretry_wait = 0\n"


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("SERVICE_API_TOKEN", "tok-4242-secret")
    pytester.makefile(".toml", aide=CONFIG)
    pytester.makepyfile(check_resilience=CHECKS)
    return pytester


def assert_reported(project: pytest.Pytester) -> dict[str, Any]:
    """What both runs (in one process and under xdist) must show; health.json for further looks."""
    health = latest_health(project.path)
    section = health["resilience"]
    settings = section["fallbacks"]["settings"]
    assert (settings["calls"], settings["served_by_primary"], settings["served_by_fallback"]) == (6, 3, 3)
    assert settings["options"]["live"] == {"attempts": 6, "successes": 3, "failures": 3, "success_rate": 0.5}
    assert settings["options"]["cached"] == {"attempts": 3, "successes": 3, "failures": 0, "success_rate": 1.0}
    retries = section["retries"]
    assert retries["calls"] == {"calls": 3, "passed_first_try": 1, "passed_after_retry": 1, "failed": 1, "attempts": 5}
    assert [c["nodeid"] for c in retries["retried_calls"]] == ["check_resilience.py::check_queue"] * 2
    assert retries["checks"] == {"retried": 1, "passed": 1, "failed": 0, "attempts": 2}
    [drill] = section["experiments"]
    assert (drill["nodeid"], drill["name"], drill["failed_phase"]) == (
        "check_resilience.py::check_drill",
        "upstream cut",
        "degrade",
    )
    assert [(p["phase"], p["outcome"]) for p in drill["phases"]] == [
        ("steady", "ok"),
        ("inject", "ok"),
        ("degrade", "failed"),
        ("rollback", "ok"),
        ("recover", "ok"),
    ]
    assert all(isinstance(p["duration_s"], float) for p in drill["phases"])
    checks = {c["nodeid"].split("::")[-1]: c for c in health["checks"]}
    assert checks["check_drill"]["status"] == "CRITICAL"
    assert checks["check_drill"]["experiments"] == [{k: v for k, v in drill.items() if k != "nodeid"}]
    assert checks["check_queue"]["retry_calls"]["calls"] == 3
    [run] = run_dirs(project.path)
    for name in ("health.json", "health.html", "report.html", "junit.xml"):
        assert "tok-4242-secret" not in (run / name).read_text(), name
    page = Page((run / "health.html").read_text())
    assert "settings 6 3 3 0 100 % 100 %" in page.words("fallbacks")
    assert page.words("aide-retry-calls") == "3 (1 passed at once, 1 after a retry, 1 failed), 5 attempts"
    assert "did not degrade within 0.2 s: /api/health stayed 'healthy'" in page.words("aide-experiment-1")
    report = Page((run / "report.html").read_text())
    summary = report.words("aide-resilience")
    assert "fallback settings: 6 call(s), 3 served by an alternative, 0 failed (successes/attempts: live 3/6" in summary
    assert "aide_retry calls: 3 (1 passed at once, 1 after a retry, 1 failed), 5 attempts" in summary
    assert "retried checks: 1 (1 passed on a later attempt, 0 failed), 2 attempts" in summary
    assert "experiment 'upstream cut' (check_resilience.py::check_drill): failed at degrade" in summary
    junit = junit_case_properties(run / "junit.xml")
    assert json.loads(junit["check_drill"][EXPERIMENTS])[0]["failed_phase"] == "degrade"
    return health


def test_a_run_shows_its_fallbacks_retries_and_experiments_in_every_report(project: pytest.Pytester) -> None:
    result = aide_run(project)
    assert result.parseoutcomes() | {"seconds": 0} == {"passed": 7, "warned": 1, "failed": 1, "seconds": 0}
    assert_reported(project)


def test_under_xdist_the_workers_fallbacks_are_merged_and_the_checks_records_travel(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("xdist")
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    activate(project)
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    assert result.parseoutcomes() | {"seconds": 0} == {"passed": 7, "warned": 1, "failed": 1, "seconds": 0}
    # both workers used the fallback: the counts above add up only if each worker's statistics were merged
    assert sorted(p.name for p in project.path.glob("worker-*")) == ["worker-gw0", "worker-gw1"]
    assert_reported(project)


def test_the_page_is_the_same_whatever_reads_it(project: pytest.Pytester) -> None:
    """health.html renders from health.json alone (what the index and a later reader have)."""
    aide_run(project)
    [run] = run_dirs(project.path)
    again = health_html.render(json.loads((run / "health.json").read_text()))
    page, written = Page(again), Page((run / "health.html").read_text())
    for section in ("fallbacks", "retries", "experiments"):
        assert page.words(section) == written.words(section)


RERUN = (
    ATTEMPT_COUNTER
    + """
def check_recovers(aide_retry, aide_experiment):
    number = attempt()
    assert aide_retry(lambda: number).value == number
    aide_experiment(
        f"drill {number}",
        probe=lambda: "healthy",
        steady=lambda status: status == "healthy",
        inject=lambda: None,
        degraded=lambda status: True,
        rollback=lambda: None,
    )
    assert number >= 2, "first attempt fails"
"""
)


def test_each_rerun_attempt_keeps_its_own_retry_calls_and_experiments(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(check_recovers=RERUN)
    result = aide_run(pytester, "--reruns", "1")
    result.stdout.fnmatch_lines(["*1 rerun, 1 warned*"])
    health = latest_health(pytester.path)
    [check] = health["checks"]
    [first] = check["attempts"]
    assert (first["retry_calls"]["calls"], first["experiments"][0]["name"]) == (1, "drill 1")
    assert (check["retry_calls"]["calls"], check["experiments"][0]["name"]) == (1, "drill 2")
    section = health["resilience"]
    assert section["retries"]["calls"]["calls"] == 2  # neither attempt's call is dropped
    assert [e["name"] for e in section["experiments"]] == ["drill 1", "drill 2"]
    assert section["retries"]["retried_checks"][0]["outcomes"] == ["failed", "passed"]
