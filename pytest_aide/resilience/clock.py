"""Time, injectable: every wait of the resilience helpers goes through a :class:`Clock`.

Backoff, recovery timeouts and deadlines are only testable when time is an argument. :class:`SystemClock`
reads ``time.monotonic`` and sleeps for real; :class:`FakeClock` returns a number a test moves, and its
``sleep`` advances that number at once. For code that builds its own clock (a fixture, a probe), the test
switch — :func:`instant` or ``AIDE_RESILIENCE_INSTANT=1`` — turns the real clock's sleeps into jumps of a
virtual offset, as stamina's ``set_testing`` does: waits cost nothing, deadlines still arrive. The offset
stays after the block ends (a monotonic clock never goes back).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, runtime_checkable

INSTANT_ENV = "AIDE_RESILIENCE_INSTANT"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


@runtime_checkable
class Clock(Protocol):
    """A source of monotonic seconds and a way to wait; all the helpers need of time."""

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class _InstantSwitch:
    """Process-wide count of open :func:`instant` blocks (nested and threaded use both work)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0

    def enter(self) -> None:
        with self._lock:
            self._depth += 1

    def leave(self) -> None:
        with self._lock:
            self._depth -= 1

    @property
    def on(self) -> bool:
        return self._depth > 0


_SWITCH = _InstantSwitch()


@contextmanager
def instant() -> Iterator[None]:
    """Within the block, every real-clock wait is instant (the clock jumps instead): for tests.

    Example::

        with resilience.instant():
            outcome = retry_call(flaky, attempts=5, initial_wait=2)  # no real second is spent waiting
    """
    _SWITCH.enter()
    try:
        yield
    finally:
        _SWITCH.leave()


def is_instant() -> bool:
    """Whether real-clock waits are skipped now (:func:`instant` block open or ``AIDE_RESILIENCE_INSTANT``)."""
    return _SWITCH.on or _env_instant()


def _env_instant() -> bool:
    raw = os.environ.get(INSTANT_ENV)
    if raw is None:
        return False
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{INSTANT_ENV}={raw!r}: expected 1/0, true/false, yes/no or on/off")


class SystemClock:
    """The real clock. Under the test switch a sleep adds to a virtual offset instead of blocking, so
    ``monotonic()`` still moves past every deadline a retry or breaker waits for."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._skipped = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self._skipped

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if is_instant():
            with self._lock:
                self._skipped += seconds
            return
        time.sleep(seconds)


class FakeClock:
    """A clock a test drives: ``sleep`` and :meth:`advance` move it at once; ``sleeps`` lists every wait."""

    def __init__(self, start: float = 0.0) -> None:
        self._lock = threading.Lock()
        self._now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._now += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass (as the guarded call itself would take them)."""
        if seconds < 0:
            raise ValueError(f"a clock only moves forward: advance({seconds!r})")
        with self._lock:
            self._now += seconds


SYSTEM_CLOCK = SystemClock()
"""The process's real clock, shared so the test switch's offset is one for every helper."""


def system_clock() -> Clock:
    """The default clock of every helper that is given none."""
    return SYSTEM_CLOCK
