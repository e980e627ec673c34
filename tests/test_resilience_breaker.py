"""The circuit breaker: transitions on a fake clock, counters under any sequence of outcomes, and concurrent
callers whose guarded calls really run at the same time (the lock never spans a call)."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from pytest_aide.resilience import CircuitBreaker, CircuitOpenError, FakeClock, State

WAIT_S = 30.0  # bound of a wait on an event that another thread sets at once: only a deadlock reaches it


def boom() -> None:
    raise ConnectionError("refused")


def fail(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        with pytest.raises(ConnectionError):
            breaker.call(boom)


def test_opens_after_threshold_consecutive_failures_and_then_fails_fast() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("db", failure_threshold=3, recovery_timeout=10, clock=clock)
    fail(breaker, 2)
    assert breaker.call(lambda: "ok") == "ok"  # a success ends the streak
    fail(breaker, 2)
    assert breaker.state is State.CLOSED
    fail(breaker)
    assert breaker.state is State.OPEN
    clock.advance(4)
    ran = []
    with pytest.raises(CircuitOpenError) as caught:
        breaker.call(lambda: ran.append(1))
    assert ran == []  # refused without calling
    assert str(caught.value) == (
        "circuit 'db' is open (last error: ConnectionError: refused); next trial call in 6.0 s"
    )
    assert (caught.value.name, caught.value.retry_in) == ("db", 6.0)


def test_half_open_after_the_recovery_timeout_closes_on_success() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("app", failure_threshold=1, recovery_timeout=10, clock=clock)
    fail(breaker)
    clock.advance(10)
    assert breaker.call(lambda: "back") == "back"
    assert breaker.state is State.CLOSED
    stats = breaker.stats()
    assert [(c["from"], c["to"], c["at"]) for c in stats.state_changes] == [
        ("closed", "open", 0.0),
        ("open", "half-open", 10.0),
        ("half-open", "closed", 10.0),
    ]
    assert stats.state_changes[0]["reason"] == "1 consecutive failures"


def test_a_failed_trial_opens_again_for_a_full_recovery_timeout() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("cache", failure_threshold=1, recovery_timeout=5, clock=clock)
    fail(breaker)
    clock.advance(5)
    fail(breaker)  # the trial call
    assert breaker.state is State.OPEN
    clock.advance(4.5)
    with pytest.raises(CircuitOpenError):
        breaker.call(lambda: None)
    clock.advance(0.5)
    breaker.call(lambda: None)
    assert breaker.state is State.CLOSED


def test_success_threshold_needs_that_many_trial_successes() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("api", failure_threshold=1, recovery_timeout=1, success_threshold=3, clock=clock)
    fail(breaker)
    clock.advance(1)
    breaker.call(lambda: None)
    breaker.call(lambda: None)
    assert breaker.state is State.HALF_OPEN
    breaker.call(lambda: None)
    assert breaker.state is State.CLOSED


def test_half_open_admits_only_its_trial_slots() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("host", failure_threshold=1, recovery_timeout=1, half_open_max_calls=2, clock=clock)
    fail(breaker)
    clock.advance(1)
    first, second = breaker.before_call(), breaker.before_call()
    with pytest.raises(CircuitOpenError, match="half-open with its trial calls under way"):
        breaker.before_call()
    breaker.record_success(first)  # closes (success_threshold 1)
    breaker.record_failure(second, ConnectionError("late"))  # a trial of the previous state: moves nothing
    assert breaker.state is State.CLOSED
    assert breaker.stats().consecutive_failures == 0


def test_a_late_success_from_before_the_opening_does_not_close_the_circuit() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("db", failure_threshold=1, recovery_timeout=60, clock=clock)
    slow = breaker.before_call()
    fail(breaker)
    assert breaker.state is State.OPEN
    breaker.record_success(slow)
    assert breaker.state is State.OPEN
    assert breaker.stats().successes == 1  # counted all the same


def test_errors_outside_failure_on_count_as_answers_and_interrupts_count_nothing() -> None:
    breaker = CircuitBreaker("db", failure_threshold=1, failure_on=ConnectionError, clock=FakeClock())
    with pytest.raises(KeyError):
        breaker.call(lambda: {}["missing"])  # the dependency answered: the caller asked for the wrong thing
    with pytest.raises(KeyboardInterrupt), breaker.guard():
        raise KeyboardInterrupt
    stats = breaker.stats()
    assert (stats.state, stats.calls, stats.successes, stats.failures, stats.in_flight) == ("closed", 1, 1, 0, 0)


def test_guard_context_records_the_block_outcome() -> None:
    breaker = CircuitBreaker("db", failure_threshold=2, clock=FakeClock())
    with breaker.guard():
        pass
    for _ in range(2):
        with pytest.raises(TimeoutError), breaker.guard():
            raise TimeoutError("read timed out")
    assert breaker.state is State.OPEN
    assert breaker.stats().last_error == "TimeoutError: read timed out"


def test_force_open_holds_until_reset() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("db", recovery_timeout=1, clock=clock)
    breaker.force_open("emergency")
    clock.advance(3600)
    with pytest.raises(CircuitOpenError, match="forced open; calls fail fast until it is reset") as caught:
        breaker.call(lambda: None)
    assert caught.value.retry_in is None
    breaker.reset()
    assert breaker.call(lambda: "ok") == "ok"
    stats = breaker.stats()
    assert [(c["to"], c["reason"]) for c in stats.state_changes] == [("open", "emergency"), ("closed", "reset")]
    assert not stats.forced


def test_statistics_are_builtin_data() -> None:
    breaker = CircuitBreaker("db", failure_threshold=1, recovery_timeout=7, clock=FakeClock())
    fail(breaker)
    with pytest.raises(CircuitOpenError):
        breaker.call(lambda: None)
    data = breaker.stats().to_dict()
    assert data["state"] == "open"
    assert type(data["state"]) is str  # not the enum: it crosses the xdist boundary
    assert (data["calls"], data["failures"], data["rejections"], data["retry_in"]) == (2, 1, 1, 7.0)

    def builtin(value: object) -> bool:
        if isinstance(value, dict):
            return all(type(k) is str and builtin(v) for k, v in value.items())
        if isinstance(value, list):
            return all(builtin(v) for v in value)
        return value is None or type(value) in (str, int, float, bool)

    assert builtin(data)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("failure_threshold", 0, "breaker failure_threshold = 0: at least 1"),
        ("recovery_timeout", -1.0, "breaker recovery_timeout = -1.0: seconds >= 0"),
        ("half_open_max_calls", 0, "breaker half_open_max_calls = 0: at least 1"),
    ],
)
def test_a_bad_policy_is_refused_in_one_line(key: str, value: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CircuitBreaker("db", **{key: value})  # type: ignore[arg-type]


class BreakerMachine(RuleBasedStateMachine):
    """Any sequence of outcomes, clock moves, forced openings and resets keeps the breaker's books straight,
    and a closed circuit opens exactly when the threshold of consecutive failures is reached."""

    THRESHOLD = 3
    RECOVERY = 5.0

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.breaker = CircuitBreaker(
            "prop", failure_threshold=self.THRESHOLD, recovery_timeout=self.RECOVERY, clock=self.clock
        )
        self.streak = 0  # consecutive failures seen while closed
        self.forced = False

    def _call(self, fn: Callable[[], object]) -> str:
        before = self.breaker.state
        try:
            self.breaker.call(fn)
        except CircuitOpenError:
            assert before is not State.CLOSED  # only an open or half-open circuit refuses
            return "rejected"
        except ConnectionError:
            return "failed"
        return "passed"

    @rule()
    def success(self) -> None:
        was_closed = self.breaker.state is State.CLOSED
        if self._call(lambda: None) == "passed" and was_closed:
            self.streak = 0
        self._sync_streak()

    @rule()
    def failure(self) -> None:
        was_closed = self.breaker.state is State.CLOSED
        outcome = self._call(boom)
        if was_closed and outcome == "failed":
            self.streak += 1
            assert (self.breaker.state is State.OPEN) == (self.streak >= self.THRESHOLD)
        self._sync_streak()

    @rule(seconds=st.floats(min_value=0, max_value=10))
    def time_passes(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @precondition(lambda self: not self.forced)
    @rule()
    def recovery_window_rejects(self) -> None:
        stats = self.breaker.stats()
        if stats.state == "open" and stats.retry_in:
            assert self._call(lambda: None) == "rejected"

    @rule()
    def force_open(self) -> None:
        self.breaker.force_open()
        self.forced = True

    @rule()
    def reset(self) -> None:
        self.breaker.reset()
        self.forced = False
        self.streak = 0

    def _sync_streak(self) -> None:
        if self.breaker.state is not State.CLOSED:
            self.streak = 0

    @invariant()
    def books_balance(self) -> None:
        s = self.breaker.stats()
        assert s.calls == s.successes + s.failures + s.rejections
        assert s.in_flight == 0
        assert s.state_change_count == len(s.state_changes)  # fewer than the kept history here
        if s.state == "closed":
            assert s.consecutive_failures < self.THRESHOLD
        if self.forced:
            assert s.state == "open"


TestBreakerMachine = BreakerMachine.TestCase


# Concurrency: real threads, synchronised by barriers and events only.


def test_the_lock_is_not_held_while_a_guarded_call_runs() -> None:
    """Two calls through one breaker must be inside their functions at the same moment: with a lock around
    the call (as in pybreaker) the second would wait for the first and the barrier would break."""
    breaker = CircuitBreaker("host", clock=FakeClock())
    both_inside = threading.Barrier(2, timeout=WAIT_S)
    results: list[str] = []

    def probe(name: str) -> None:
        results.append(breaker.call(lambda: (both_inside.wait(), name)[1]))

    threads = [threading.Thread(target=probe, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)
    assert sorted(results) == ["a", "b"]
    assert not both_inside.broken


def test_state_is_readable_and_other_calls_complete_while_one_call_hangs() -> None:
    breaker = CircuitBreaker("db", failure_threshold=2, clock=FakeClock())
    entered, release = threading.Event(), threading.Event()

    def hanging() -> str:
        entered.set()
        release.wait(WAIT_S)
        return "late"

    slow = threading.Thread(target=breaker.call, args=(hanging,))
    slow.start()
    assert entered.wait(WAIT_S)
    assert breaker.call(lambda: "quick") == "quick"  # not queued behind the hanging call
    assert breaker.stats().in_flight == 1
    fail(breaker, 2)
    assert breaker.state is State.OPEN  # failures seen meanwhile open it while the slow call still runs
    release.set()
    slow.join(WAIT_S)
    stats = breaker.stats()
    assert (stats.state, stats.in_flight, stats.successes) == ("open", 0, 2)


def test_eight_threads_hammering_keep_the_books_and_the_trial_limit() -> None:
    threads_n, rounds = 8, 300
    clock = FakeClock()
    breaker = CircuitBreaker("hammered", failure_threshold=3, recovery_timeout=0.5, half_open_max_calls=2, clock=clock)
    start = threading.Barrier(threads_n, timeout=WAIT_S)
    # trial permits held right now, per half-open period (the permit's generation): the limit is per period,
    # and a permit counts from before_call's return until just before its outcome is recorded, so the count
    # never runs ahead of the breaker's own (counting after record_* would race the next admission)
    trials_now: collections.Counter[int] = collections.Counter()
    most_trials = 0
    count_lock = threading.Lock()
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        nonlocal most_trials
        start.wait()
        for i in range(rounds):
            try:
                permit = breaker.before_call()
            except CircuitOpenError:
                clock.advance(0.01)
                continue
            if permit.trial:
                with count_lock:
                    trials_now[permit.generation] += 1
                    most_trials = max(most_trials, trials_now[permit.generation])
            time.sleep(0)  # the guarded call: let the other threads in while this permit is held
            if permit.trial:
                with count_lock:
                    trials_now[permit.generation] -= 1
            # bursts of failures and successes; the last 50 rounds all fail, so the circuit surely opens
            if (i // 25 + seed) % 3 == 0 or i >= rounds - 50:
                breaker.record_failure(permit, ConnectionError("x"))
            else:
                breaker.record_success(permit)

    def guarded(seed: int) -> None:
        try:
            work(seed)
        except BaseException as exc:  # surfaced below: an assertion in a thread would be lost
            errors.append(exc)

    workers = [threading.Thread(target=guarded, args=(n,)) for n in range(threads_n)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(WAIT_S * 2)
    assert errors == []
    stats = breaker.stats()
    assert stats.calls == threads_n * rounds
    assert stats.calls == stats.successes + stats.failures + stats.rejections
    assert stats.in_flight == 0
    assert stats.rejections > 0  # the circuit really opened...
    assert stats.state_change_count > 0  # ...and changed state
    assert most_trials <= 2
