"""The watchdog behind check deadlines: it interrupts the check's thread, never fires after disarm, leaves
SIGALRM and a foreign handler of its signal alone, and reads pytest-timeout's failure message."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import HANG_S
from pytest_aide import deadline
from pytest_aide.deadline import CheckTimedOut, Watchdog


@pytest.fixture
def watchdog() -> Iterator[Watchdog]:
    dog = Watchdog()
    yield dog
    dog.close()


def test_a_blocking_sleep_on_the_main_thread_ends_at_the_deadline(watchdog: Watchdog) -> None:
    began = time.monotonic()
    with pytest.raises(CheckTimedOut, match=r"^timed out after 0.2 s \(stopped at test_deadline.py:\d+ in sleep_"):
        guarded(watchdog, 0.2, sleep_long)
    assert time.monotonic() - began < HANG_S  # interrupted, not slept out


def guarded(watchdog: Watchdog, seconds: float, body: Callable[[], None]) -> None:
    arming = watchdog.arm(seconds)
    try:
        body()
    finally:
        watchdog.disarm(arming)


def sleep_long() -> None:
    time.sleep(HANG_S)  # a system call: only a real signal ends it early


def spin_long() -> None:
    end = time.monotonic() + HANG_S
    while time.monotonic() < end:  # Python code: an asynchronous exception lands between bytecodes
        pass


def test_a_check_that_ends_in_time_is_never_interrupted_later(watchdog: Watchdog) -> None:
    for _ in range(20):
        arming = watchdog.arm(0.05)
        watchdog.disarm(arming)
    time.sleep(0.3)  # every deadline has passed: none may fire now


def test_quick_checks_one_after_another_do_not_wake_the_watching_thread(watchdog: Watchdog) -> None:
    """Each arming of a later deadline than the thread waits for leaves it asleep, even when every check ended
    before the thread ran (it used to go back to "wake me at the next arming" then: a thread switch per check)."""
    for _ in range(200):
        watchdog.disarm(watchdog.arm(60))
        time.sleep(0.001)  # the watching thread gets its turn between two checks
    assert watchdog.wakeups < 20


def test_another_thread_is_interrupted_at_its_next_bytecode(watchdog: Watchdog) -> None:
    outcome: list[str] = []

    def body() -> None:
        try:
            guarded(watchdog, 0.2, spin_long)
            outcome.append("ran out")
        except CheckTimedOut:
            outcome.append("interrupted")

    thread = threading.Thread(target=body)
    thread.start()
    thread.join(HANG_S + 5)
    assert outcome == ["interrupted"]


def test_the_signal_is_given_back_and_sigalrm_never_taken() -> None:
    alarm = signal.getsignal(signal.SIGALRM)
    dog = Watchdog()
    dog.disarm(dog.arm(5))
    assert signal.getsignal(deadline.WAKE_SIGNAL) not in (signal.SIG_DFL, None)  # ours while the run lasts
    dog.close()
    assert signal.getsignal(deadline.WAKE_SIGNAL) == signal.SIG_DFL
    assert signal.getsignal(signal.SIGALRM) == alarm


def test_a_foreign_handler_of_the_signal_is_left_alone(watchdog: Watchdog) -> None:
    seen: list[int] = []
    previous = signal.signal(deadline.WAKE_SIGNAL, lambda signum, frame: seen.append(signum))
    try:
        with pytest.raises(CheckTimedOut):
            guarded(watchdog, 0.2, spin_long)
        assert signal.getsignal(deadline.WAKE_SIGNAL) is not watchdog._on_signal
        assert seen == []  # interrupted without the signal
    finally:
        signal.signal(deadline.WAKE_SIGNAL, previous)


@given(st.floats(min_value=0.001, max_value=1e6, allow_nan=False).map(lambda x: round(x, 3)))
def test_pytest_timeouts_failure_message_gives_its_limit(seconds: float) -> None:
    assert deadline.pytest_timeout_seconds(f"Timeout (>{seconds}s) from pytest-timeout.") == seconds


def test_other_failures_are_not_taken_for_a_timeout() -> None:
    assert deadline.pytest_timeout_seconds("Timeout talking to db") is None
    assert deadline.pytest_timeout_seconds("AssertionError: 500 != 200") is None
