"""RunCollector folds setup/call/teardown facts into check results; RunSummary counts and serialises them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_aide import results  # not `import check_properties`: the plugin would collect check_* names
from pytest_aide.results import CheckResult, ReportFacts, RunCollector, property_status
from pytest_aide.status import Status, Verdict
from pytest_aide.summary import COUNT_KEYS, SCHEMA, RunSummary

NODE = "checks/check_api.py::test_health"


def facts(
    when: str,
    outcome: str,
    props: list[tuple[str, Any]] | None = None,
    reason: str = "",
    nodeid: str = NODE,
    duration: float = 0.1,
) -> ReportFacts:
    return ReportFacts(nodeid, when, outcome, props or [], duration, reason)


def run(*reports: ReportFacts) -> list[CheckResult]:
    collector = RunCollector()
    for report in reports:
        collector.add(report)
    return collector.results()


def props(status: Status, message: str = "", **measurements: dict[str, Any]) -> list[tuple[str, Any]]:
    return results.check_properties(
        component="api", weight=2.0, status=status, message=message, measurements=measurements
    )


def test_passed_check_is_ok_with_its_component_weight_and_duration() -> None:
    [result] = run(facts("setup", "passed"), facts("call", "passed", props(Status.OK)), facts("teardown", "passed"))
    assert (result.status, result.component, result.weight, result.message) == (Status.OK, "api", 2.0, "")
    assert result.duration == pytest.approx(0.3)


def test_setup_failure_is_unknown_could_not_run() -> None:
    [result] = run(facts("setup", "failed", reason="ConnectionRefusedError: db down"), facts("teardown", "passed"))
    assert result.status is Status.UNKNOWN
    assert result.message == "could not run: ConnectionRefusedError: db down"


def test_call_failure_is_critical_with_the_failure_reason() -> None:
    [result] = run(facts("setup", "passed"), facts("call", "failed", reason="AssertionError: 500 != 200"))
    assert result.status is Status.CRITICAL
    assert result.message == "AssertionError: 500 != 200"


def test_call_failure_with_critical_status_keeps_the_check_message() -> None:
    call = facts("call", "failed", props(Status.CRITICAL, "memory_percent = 95 %"), reason="AssertionError: x")
    [result] = run(facts("setup", "passed"), call)
    assert (result.status, result.message) == (Status.CRITICAL, "memory_percent = 95 %")


def test_passed_with_warning_status_is_warning() -> None:
    call = facts("call", "passed", props(Status.WARNING, "cpu_percent = 75 %"))
    [result] = run(facts("setup", "passed"), call, facts("teardown", "passed"))
    assert (result.status, result.message) == (Status.WARNING, "cpu_percent = 75 %")


def test_skipped_check_is_not_scored() -> None:
    [result] = run(facts("setup", "skipped", reason="no database configured"), facts("teardown", "passed"))
    assert result.skipped
    assert result.status is None
    assert result.skip_reason == "no database configured"
    assert result.to_dict()["status"] == "SKIPPED"
    assert result.to_dict()["skip_reason"] == "no database configured"


def test_skip_inside_the_call_is_not_scored() -> None:
    [result] = run(facts("setup", "passed"), facts("call", "skipped", reason="no cache"), facts("teardown", "passed"))
    assert result.skipped
    assert result.skip_reason == "no cache"


def test_teardown_failure_is_appended_as_unknown() -> None:
    [ok] = run(
        facts("setup", "passed"),
        facts("call", "passed", props(Status.OK)),
        facts("teardown", "failed", reason="OSError: cleanup"),
    )
    assert ok.status is Status.UNKNOWN
    assert ok.message == "teardown failed: OSError: cleanup"

    [warn] = run(facts("call", "passed", props(Status.WARNING, "slow")), facts("teardown", "failed", reason="boom"))
    assert (warn.status, warn.message) == (Status.UNKNOWN, "slow; teardown failed: boom")


def test_teardown_failure_never_improves_a_critical_check() -> None:
    [result] = run(facts("call", "failed", reason="down"), facts("teardown", "failed", reason="boom"))
    assert (result.status, result.message) == (Status.CRITICAL, "down; teardown failed: boom")


def test_checks_keep_the_order_they_first_report() -> None:
    found = run(
        facts("setup", "passed", nodeid="b"),
        facts("setup", "passed", nodeid="a"),
        facts("call", "passed", nodeid="b"),
        facts("call", "passed", nodeid="a"),
    )
    assert [r.nodeid for r in found] == ["b", "a"]
    assert [r.status for r in found] == [Status.OK, Status.OK]


def test_defaults_apply_without_properties() -> None:
    collector = RunCollector()
    collector.add(facts("call", "passed"), default_component="db", default_weight=3.0)
    [result] = collector.results()
    assert (result.component, result.weight, result.status) == ("db", 3.0, Status.OK)


def test_properties_are_builtin_and_json_serialisable() -> None:
    properties = props(Status.WARNING, "m", cpu_percent={"value": 75.0, "unit": "%", "status": "WARNING"})
    assert json.loads(json.dumps(properties)) == [list(p) for p in properties]
    assert property_status(properties) is Status.WARNING
    assert property_status([]) is None


measurement_data = st.dictionaries(
    st.sampled_from(["value", "unit", "status", "warning", "critical"]),
    st.one_of(st.none(), st.text(max_size=5), st.floats(allow_nan=False), st.integers(-10, 10)),
)


@settings(deadline=None)  # a busy 2-core machine: no wall-clock bound per example
@given(
    component=st.text(min_size=1, max_size=10),
    weight=st.floats(min_value=0, max_value=100),
    status=st.sampled_from(list(Status)),
    message=st.text(max_size=20),
    measurements=st.dictionaries(st.text(min_size=1, max_size=10), measurement_data, max_size=4),
)
def test_properties_round_trip_through_the_collector(
    component: str, weight: float, status: Status, message: str, measurements: dict[str, dict[str, Any]]
) -> None:
    properties = results.check_properties(
        component=component, weight=weight, status=status, message=message, measurements=measurements
    )
    [result] = run(facts("call", "passed", properties))
    assert (result.component, result.weight, result.status, result.message) == (component, weight, status, message)
    assert result.measurements == measurements


def attempt(
    call_outcome: str, status: Status, message: str, value: float, *, setup: str = "passed"
) -> list[ReportFacts]:
    """One attempt's reports, as pytest-rerunfailures logs them (a failed attempt's failure is "rerun")."""
    if setup != "passed":
        return [facts("setup", setup, reason="ConnectionError: down"), facts("teardown", "passed")]
    measured = props(status, message, disk_percent={"value": value, "unit": "%", "status": status.value})
    return [
        facts("setup", "passed"),
        facts("call", call_outcome, measured, reason=message),
        facts("teardown", "passed"),
    ]


def test_a_rerun_check_is_its_last_attempt_and_keeps_the_earlier_ones_apart() -> None:
    [result] = run(
        *attempt("rerun", Status.CRITICAL, "disk 95", 95.0),
        *attempt("rerun", Status.CRITICAL, "disk 96", 96.0, setup="rerun"),
        *attempt("passed", Status.OK, "", 20.0),
    )
    assert (result.status, result.message) == (Status.WARNING, "flaky: passed on attempt 3 of 3")
    assert result.measurements == {"disk_percent": {"value": 20.0, "unit": "%", "status": "OK"}}
    assert [(a.outcome, a.status, a.message, a.measurements) for a in result.attempts] == [
        ("failed", Status.CRITICAL, "disk 95", {"disk_percent": {"value": 95.0, "unit": "%", "status": "CRITICAL"}}),
        ("error", Status.UNKNOWN, "could not run: ConnectionError: down", {}),
    ]
    assert [a.duration for a in result.attempts] == pytest.approx([0.3, 0.2])
    assert result.duration == pytest.approx(0.8)  # the check's time is that of all its attempts
    data = result.to_dict()
    assert [a["outcome"] for a in data["attempts"]] == ["failed", "error"]
    assert data["attempts"][1]["status"] == "UNKNOWN"
    assert json.loads(json.dumps(data)) == data


def test_a_check_run_once_has_no_attempts() -> None:
    [result] = run(*attempt("passed", Status.OK, "", 10.0))
    assert result.attempts == []
    assert "attempts" not in result.to_dict()


_attempt_strategy = st.tuples(
    st.sampled_from(["passed", "failed"]), st.sampled_from(list(Status)), st.text(max_size=8), st.floats(0, 100)
)


@settings(deadline=None)  # a busy 2-core machine: no wall-clock bound per example
@given(earlier=st.lists(_attempt_strategy, max_size=4), last=_attempt_strategy)
def test_the_last_attempt_decides_the_result_and_a_pass_after_a_rerun_is_flaky(
    earlier: list[tuple[str, Status, str, float]], last: tuple[str, Status, str, float]
) -> None:
    rerun = [report for spec in earlier for report in attempt("rerun", *spec[1:])]
    [result] = run(*rerun, *attempt(*last))
    [alone] = run(*attempt(*last))
    assert result.measurements == alone.measurements
    assert alone.status is not None
    if earlier and last[0] == "passed":  # never silently OK: at least WARNING, and the message says why first
        flaky = f"flaky: passed on attempt {len(earlier) + 1} of {len(earlier) + 1}"
        assert result.status is Status.worst([alone.status, Status.WARNING])
        assert result.message == (f"{flaky}; {alone.message}" if alone.message else flaky)
    else:
        assert (result.status, result.message) == (alone.status, alone.message)
    assert [(a.status, a.measurements["disk_percent"]["value"]) for a in result.attempts] == [
        (Status.CRITICAL, value) for _, _, _, value in earlier
    ]


def summary(*checks: CheckResult) -> RunSummary:
    return RunSummary.build(
        checks=list(checks),
        run_id="20260101-000000-000000",
        started="s",
        finished="f",
        host="h",
        target={"app": "http://127.0.0.1"},
        selection="-m daily",
    )


def test_summary_scores_only_run_checks_and_counts_everything() -> None:
    result = summary(
        CheckResult("a", status=Status.OK),
        CheckResult("b", status=Status.WARNING, weight=2),
        CheckResult("c", status=None, skip_reason="off"),
        CheckResult("d", status=Status.OK),
    )
    assert result.score == 75.0  # (100 + 2*50 + 100) / 4
    assert result.verdict is Verdict.DEGRADED
    assert result.counts == {"OK": 2, "WARNING": 1, "CRITICAL": 0, "UNKNOWN": 0, "SKIPPED": 1}
    assert result.counts_line() == "2 ok, 1 warning, 0 critical, 0 unknown, 1 skipped"
    assert result.headline() == "DEGRADED  score 75/100  (watch closely)"
    assert result.has(Status.WARNING)
    assert not result.has(Status.CRITICAL)


def test_summary_without_checks_is_healthy_n_a() -> None:
    result = summary()
    assert (result.verdict, result.score) == (Verdict.HEALTHY, None)
    assert result.headline() == "HEALTHY  score n/a  (normal watch)"


def test_worst_orders_by_severity_then_nodeid_and_limits() -> None:
    result = summary(
        CheckResult("z_warn", status=Status.WARNING),
        CheckResult("ok", status=Status.OK),
        CheckResult("b_crit", status=Status.CRITICAL),
        CheckResult("unknown", status=Status.UNKNOWN),
        CheckResult("a_crit", status=Status.CRITICAL),
        CheckResult("skipped", status=None),
    )
    assert [c.nodeid for c in result.worst()] == ["a_crit", "b_crit", "unknown", "z_warn"]
    assert [c.nodeid for c in result.worst(limit=2)] == ["a_crit", "b_crit"]


checks_strategy = st.lists(
    st.builds(
        CheckResult,
        nodeid=st.text(min_size=1, max_size=8),
        status=st.one_of(st.none(), st.sampled_from(list(Status))),
        weight=st.floats(min_value=0.1, max_value=10),
        message=st.text(max_size=10),
        duration=st.floats(min_value=0, max_value=100),
    ),
    max_size=12,
)


@settings(deadline=None)  # a busy 2-core machine: no wall-clock bound per example
@given(checks=checks_strategy)
def test_summary_dict_is_json_and_consistent(checks: list[CheckResult]) -> None:
    result = summary(*checks)
    data = result.to_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert data["schema"] == SCHEMA
    assert set(data["counts"]) == set(COUNT_KEYS)
    assert sum(data["counts"].values()) == len(data["checks"]) == len(checks)
    assert data["counts"]["SKIPPED"] == sum(c.status is None for c in checks)
    assert data["status"] == result.verdict.value
    assert (data["score"] is None) == (not result.scored_checks)
    worst = result.worst(limit=len(checks))
    assert [c.status.rank for c in worst if c.status] == sorted(
        (c.status.rank for c in worst if c.status), reverse=True
    )
    assert all(c.status not in (None, Status.OK) for c in worst)


def test_a_call_past_its_time_limit_is_unknown_timed_out() -> None:
    timed_out = [*props(Status.OK), (results.TIMEOUT, 5.0)]
    [result] = run(facts("setup", "passed"), facts("call", "failed", timed_out, reason="CheckTimedOut: …"))
    assert (result.status, result.message) == (Status.UNKNOWN, "timed out after 5 s")
    assert not result.measured


def test_a_setup_past_pytest_timeouts_limit_could_not_run() -> None:
    [result] = run(
        facts("setup", "failed", [(results.TIMEOUT, 1.0)], reason="Failed: Timeout (>1.0s) from pytest-timeout.")
    )
    assert (result.status, result.message) == (Status.UNKNOWN, "could not run: timed out after 1 s")


def tries(*specs: tuple[str | None, bool, str]) -> tuple[str, str]:
    return (
        results.TRIES,
        json.dumps(
            [
                {
                    "outcome": "failed",
                    "recorded": recorded,
                    "unmeasured": unmeasured,
                    "message": message,
                    "measurements": {},
                    "duration": 0.01,
                    "evidence": [],
                }
                for recorded, unmeasured, message in specs
            ]
        ),
    )


def test_a_pass_after_the_checks_own_tries_is_flaky_with_every_try_kept() -> None:
    call = [
        *props(Status.OK),
        tries(("OK", True, "db: refused"), ("CRITICAL", False, "disk 95")),
        (results.MAX_ATTEMPTS, 3),
    ]
    [result] = run(facts("setup", "passed", [(results.MAX_ATTEMPTS, 3)]), facts("call", "passed", call))
    assert (result.status, result.message) == (Status.WARNING, "flaky: passed on attempt 3 of 3")
    assert [(a.number, a.outcome, a.status, a.message) for a in result.attempts] == [
        (1, "failed", Status.UNKNOWN, "db: refused"),  # a ProbeError try: its target was not read
        (2, "failed", Status.CRITICAL, "disk 95"),
    ]
    data = result.to_dict()
    assert (data["attempt"], data["max_attempts"], [a["number"] for a in data["attempts"]]) == (3, 3, [1, 2])


def test_a_warning_pass_after_a_try_says_flaky_first_then_what_it_measured() -> None:
    call = [*props(Status.WARNING, "disk 85"), tries(("CRITICAL", False, "disk 95")), (results.MAX_ATTEMPTS, 4)]
    [result] = run(facts("setup", "passed"), facts("call", "passed", call))
    assert (result.status, result.message) == (Status.WARNING, "flaky: passed on attempt 2 of 4; disk 85")


def test_a_check_allowed_several_attempts_that_passed_at_once_is_ok_at_attempt_one() -> None:
    [result] = run(facts("setup", "passed"), facts("call", "passed", [*props(Status.OK), (results.MAX_ATTEMPTS, 3)]))
    assert (result.status, result.to_dict()["attempt"], result.to_dict()["max_attempts"]) == (Status.OK, 1, 3)
    assert "attempts" not in result.to_dict()


@given(recorded=st.sampled_from([None, *Status]), retried=st.booleans())
def test_a_retried_pass_is_never_ok_and_never_better_than_recorded(recorded: Status | None, retried: bool) -> None:
    status = results.status_of("call", "passed", recorded=recorded, retried=retried)
    assert status is not None
    assert status.rank >= (recorded or Status.OK).rank
    assert (status is Status.OK) == (not retried and recorded in (None, Status.OK))
