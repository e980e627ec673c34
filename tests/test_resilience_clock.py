"""The injectable clock and the test switch that makes real-clock waits instant."""

from __future__ import annotations

import threading
import time

import pytest

from pytest_aide.resilience import FakeClock, SystemClock, instant, is_instant, retry_call
from pytest_aide.resilience.clock import INSTANT_ENV


def test_fake_clock_sleep_advances_at_once_and_is_recorded() -> None:
    clock = FakeClock(start=100.0)
    clock.sleep(2.5)
    clock.advance(0.5)
    clock.sleep(0)
    assert clock.monotonic() == 103.0
    assert clock.sleeps == [2.5, 0]


def test_fake_clock_refuses_to_go_back() -> None:
    with pytest.raises(ValueError, match=r"advance\(-1"):
        FakeClock().advance(-1)


def test_instant_block_turns_real_sleeps_into_clock_jumps() -> None:
    clock = SystemClock()
    before = clock.monotonic()
    began = time.monotonic()
    with instant():
        assert is_instant()
        clock.sleep(3600.0)
    spent = time.monotonic() - began
    assert clock.monotonic() - before >= 3600.0  # the deadline a caller waited for has come
    assert spent < 60.0  # the hour was not slept (any load finishes in far less)
    assert not is_instant()


def test_instant_blocks_nest_and_count_across_threads() -> None:
    inside = threading.Event()
    leave = threading.Event()

    def hold() -> None:
        with instant():
            inside.set()
            leave.wait(30)

    worker = threading.Thread(target=hold)
    worker.start()
    assert inside.wait(30)
    with instant():
        assert is_instant()
    assert is_instant()  # the other thread's block is still open
    leave.set()
    worker.join(30)
    assert not is_instant()


@pytest.mark.parametrize(("value", "on"), [("1", True), ("yes", True), ("0", False), ("", False), ("off", False)])
def test_environment_switch(monkeypatch: pytest.MonkeyPatch, value: str, on: bool) -> None:
    monkeypatch.setenv(INSTANT_ENV, value)
    assert is_instant() is on


def test_environment_switch_rejects_an_unknown_word(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(INSTANT_ENV, "sometimes")
    with pytest.raises(ValueError, match=r"^AIDE_RESILIENCE_INSTANT='sometimes': expected 1/0"):
        is_instant()


def test_the_switch_makes_a_real_clock_retry_instant(monkeypatch: pytest.MonkeyPatch) -> None:
    """Four waits of 10, 20, 40 and 80 s would take 150 s; with the switch they cost nothing."""
    monkeypatch.setenv(INSTANT_ENV, "1")
    calls = 0

    def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 5:
            raise ConnectionError("dropped")
        return "up"

    began = time.monotonic()
    outcome = retry_call(flaky, attempts=5, deadline=None, initial_wait=10, max_wait=100, jitter=0)
    assert time.monotonic() - began < 60.0
    assert outcome.value == "up"
    assert [a.waited for a in outcome.attempts] == [0, 10, 20, 40, 80]
    assert outcome.attempts[-1].started >= 150.0  # measured on the real clock, which jumped
