"""Retry on tenacity: every attempt recorded, backoff and deadline on an injected clock (no real waiting)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_aide.redact import Redactor
from pytest_aide.resilience import FakeClock, Retrier, RetryFailed, RetryLog, RetryPolicy, retry_call


def failing(times: int, clock: FakeClock, *, takes: float = 0.0, error: Exception | None = None) -> Callable[[], str]:
    """A call that fails ``times`` times (each taking ``takes`` s of the fake clock), then returns "ok"."""
    calls = 0

    def call() -> str:
        nonlocal calls
        calls += 1
        clock.advance(takes)
        if calls <= times:
            raise error or ConnectionError(f"refused #{calls}")
        return "ok"

    return call


def test_passed_on_the_third_attempt_is_flaky_with_every_attempt_recorded() -> None:
    clock = FakeClock()
    outcome = retry_call(failing(2, clock, takes=0.25), attempts=3, initial_wait=1, jitter=0, clock=clock)
    assert outcome.value == "ok"
    assert outcome.flaky
    assert outcome.summary == "passed on attempt 3 of 3"
    assert [(a.number, a.outcome, a.error) for a in outcome.attempts] == [
        (1, "error", "ConnectionError: refused #1"),
        (2, "error", "ConnectionError: refused #2"),
        (3, "ok", None),
    ]
    assert [a.duration for a in outcome.attempts] == [0.25, 0.25, 0.25]
    assert [a.waited for a in outcome.attempts] == [0.0, 1.0, 2.0]  # exponential: 1 * 2**(n-1)
    assert [a.started for a in outcome.attempts] == [0.0, 1.25, 3.5]
    assert clock.sleeps == [1.0, 2.0]  # tenacity slept through the injected clock
    assert outcome.waited == 3.0
    assert outcome.to_dict()["attempts"][2] == {
        "number": 3,
        "outcome": "ok",
        "error": None,
        "started": 3.5,
        "duration": 0.25,
        "waited": 2.0,
    }


def test_a_first_time_pass_is_not_flaky() -> None:
    outcome = retry_call(lambda: 42, clock=FakeClock())
    assert (outcome.value, outcome.flaky, outcome.summary) == (42, False, "passed on attempt 1 of 3")


def test_all_attempts_failing_raises_with_the_record_and_the_last_error_as_cause() -> None:
    clock = FakeClock()
    with pytest.raises(RetryFailed) as caught:
        retry_call(failing(5, clock), attempts=3, jitter=0, clock=clock)
    failed = caught.value
    assert failed.reason == "exhausted"
    assert str(failed) == "failed on attempt 3 of 3 (no attempt left): ConnectionError: refused #3"
    assert [a.outcome for a in failed.attempts] == ["error"] * 3
    assert isinstance(failed.__cause__, ConnectionError)
    assert str(failed.__cause__) == "refused #3"
    assert failed.to_dict()["passed"] is False


def test_the_overall_deadline_stops_before_a_wait_that_would_cross_it() -> None:
    """Waits 1, 2, 4, 8 s: attempts start at 0, 1, 3, 7; the wait after the 4th would end at 15 > 10."""
    clock = FakeClock()
    with pytest.raises(RetryFailed) as caught:
        retry_call(failing(99, clock), attempts=10, deadline=10, initial_wait=1, max_wait=60, jitter=0, clock=clock)
    failed = caught.value
    assert failed.reason == "deadline"
    assert [a.started for a in failed.attempts] == [0.0, 1.0, 3.0, 7.0]
    assert clock.monotonic() <= 10.0
    assert "failed on attempt 4 of 10 (deadline of 10 s reached)" in str(failed)


def test_an_attempt_that_overruns_the_deadline_is_the_last() -> None:
    clock = FakeClock()
    with pytest.raises(RetryFailed) as caught:
        retry_call(failing(99, clock, takes=12), attempts=5, deadline=10, jitter=0, clock=clock)
    assert caught.value.reason == "deadline"
    assert len(caught.value.attempts) == 1
    assert caught.value.attempts[0].duration == 12


def test_backoff_is_capped_by_max_wait_and_jitter_stays_within_its_bound() -> None:
    clock = FakeClock()
    retry_call(failing(5, clock), attempts=6, deadline=None, initial_wait=1, max_wait=3, jitter=0.5, clock=clock)
    exact = [1, 2, 3, 3, 3]
    assert len(clock.sleeps) == 5
    for slept, base in zip(clock.sleeps, exact, strict=True):
        assert min(base, 3) <= slept <= 3.0  # jitter is added below the cap, never above it
    assert clock.sleeps[0] <= 1.5


def test_only_the_chosen_errors_are_retried() -> None:
    clock = FakeClock()
    with pytest.raises(RetryFailed) as caught:
        retry_call(failing(1, clock, error=ValueError("bad input")), retry_on=ConnectionError, clock=clock)
    assert caught.value.reason == "not retried"
    assert len(caught.value.attempts) == 1
    assert isinstance(caught.value.__cause__, ValueError)
    assert clock.sleeps == []


def test_a_predicate_decides_among_the_chosen_errors() -> None:
    clock = FakeClock()
    transient = retry_call(
        failing(1, clock, error=OSError("timed out")), retry_if=lambda e: "timed out" in str(e), clock=clock
    )
    assert transient.flaky
    with pytest.raises(RetryFailed, match="not to retry"):
        retry_call(failing(1, clock, error=OSError("no route")), retry_if=lambda e: "timed out" in str(e), clock=clock)


def test_an_error_outside_the_call_is_not_reported_as_the_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIDE_RESILIENCE_INSTANT", "maybe")  # the real clock's sleep refuses it
    calls = 0

    def once_down() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("dropped")
        return "up"

    with pytest.raises(ValueError, match="AIDE_RESILIENCE_INSTANT='maybe'"):
        retry_call(once_down)
    assert calls == 1


def test_interrupts_and_pytest_outcomes_pass_through_unretried() -> None:
    calls = 0

    def interrupted() -> None:
        nonlocal calls
        calls += 1
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        retry_call(interrupted, clock=FakeClock())
    assert calls == 1

    def skipped() -> None:
        nonlocal calls
        calls += 1
        pytest.skip("not configured")

    with pytest.raises(pytest.skip.Exception):
        retry_call(skipped, clock=FakeClock())
    assert calls == 2


def test_secrets_in_errors_are_masked_in_the_record() -> None:
    clock = FakeClock()
    error = ConnectionError("cannot reach postgresql://app:hunter22@db/prod\n  (token s3cr3t-t0ken)")
    with pytest.raises(RetryFailed) as caught:
        retry_call(failing(9, clock, error=error), attempts=2, clock=clock, redact=Redactor(["s3cr3t-t0ken"]))
    line = caught.value.attempts[0].error
    assert line == "ConnectionError: cannot reach postgresql://app:***@db/prod (token ***)"
    assert "hunter22" not in str(caught.value)


def test_retrier_binds_defaults_and_changes_them_per_call() -> None:
    clock = FakeClock()
    retrier = Retrier(RetryPolicy(attempts=2, initial_wait=1, jitter=0), clock=clock)
    with pytest.raises(RetryFailed, match="attempt 2 of 2"):
        retrier(failing(2, clock))
    assert retrier(failing(2, clock), attempts=3).summary == "passed on attempt 3 of 3"
    with pytest.raises(TypeError, match="attmpts"):
        retrier(failing(0, clock), attmpts=3)


def test_a_retrier_with_a_log_counts_every_call_and_keeps_each_retried_or_failed_one() -> None:
    clock, log = FakeClock(), RetryLog()
    retrier = Retrier(RetryPolicy(attempts=3, initial_wait=1, jitter=0), clock=clock, log=log)
    for _ in range(5):
        retrier(failing(0, clock))  # passed at once: counted, not kept
    retrier(failing(1, clock))
    with pytest.raises(RetryFailed):
        retrier(failing(9, clock), attempts=2)
    found = log.to_dict()
    assert (found["calls"], found["passed_first_try"], found["attempts"]) == (7, 5, 5 + 2 + 2)
    passed, failed = found["retried"]
    assert (passed["passed"], passed["summary"]) == (True, "passed on attempt 2 of 3")
    assert [a["outcome"] for a in passed["attempts"]] == ["error", "ok"]
    assert passed["attempts"][1]["waited"] == 1
    assert (failed["passed"], failed["reason"], failed["summary"]) == (
        False,
        "exhausted",
        "failed on attempt 2 of 2 (no attempt left): ConnectionError: refused #2",
    )
    assert json.loads(json.dumps(found)) == found  # builtin types: it travels in user_properties


def test_a_log_shared_by_threads_loses_no_call() -> None:
    log = RetryLog()
    retrier = Retrier(RetryPolicy(attempts=2, initial_wait=0, jitter=0), clock=FakeClock(), log=log)

    def work() -> None:
        for _ in range(100):
            retrier(lambda: "ok")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (log.calls, log.to_dict()["passed_first_try"]) == (800, 800)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("attempts", 0, "retry attempts = 0: at least 1"),
        ("deadline", 0, "retry deadline = 0: seconds > 0"),
        ("max_wait", -1, "retry max_wait = -1: seconds >= 0"),
    ],
)
def test_a_bad_policy_is_refused_in_one_line(field: str, value: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**{field: value})


@given(
    failures=st.integers(min_value=0, max_value=8),
    attempts=st.integers(min_value=1, max_value=8),
    takes=st.floats(min_value=0, max_value=5),
    deadline=st.one_of(st.none(), st.floats(min_value=0.5, max_value=60)),
)
def test_records_are_complete_and_ordered_for_any_run(
    failures: int, attempts: int, takes: float, deadline: float | None
) -> None:
    clock = FakeClock()
    call = failing(failures, clock, takes=takes)
    try:
        outcome = retry_call(call, attempts=attempts, deadline=deadline, initial_wait=0.5, clock=clock)
        records, passed = outcome.attempts, True
    except RetryFailed as failed:
        records, passed = failed.attempts, False
    assert [a.number for a in records] == list(range(1, len(records) + 1))
    assert 1 <= len(records) <= attempts
    assert [a.outcome for a in records[:-1]] == ["error"] * (len(records) - 1)
    assert passed == (records[-1].outcome == "ok") == (len(records) > failures)
    starts = [a.started for a in records]
    assert starts == sorted(starts)
    if deadline is not None:
        assert all(start < deadline for start in starts)  # no attempt starts at or after the deadline
    assert sum(a.waited for a in records) == pytest.approx(sum(clock.sleeps))
