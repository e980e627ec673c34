"""A circuit breaker whose lock never spans the guarded call.

Why not pybreaker: in pybreaker 1.4.0 (``src/pybreaker/__init__.py``), ``CircuitBreaker.call`` is
``with self._lock: return self.state.call(func, ...)`` — an ``RLock`` held for the whole guarded call, so
concurrent probes of one host would run one at a time (the endpoint fan-out would become serial) — and the
open state reads ``datetime.now(UTC)`` directly, so recovery cannot be tested without real waiting. Its
listener hooks run inside that same lock, so a library used "only around the call" is not on offer either.

Here the lock guards only reading and updating the state: :meth:`CircuitBreaker.before_call` admits a call
(or raises :class:`CircuitOpenError`) and hands back a :class:`Permit`; the caller runs the call unlocked and
reports its outcome with :meth:`~CircuitBreaker.record_success` or :meth:`~CircuitBreaker.record_failure`.
:meth:`~CircuitBreaker.call` and :meth:`~CircuitBreaker.guard` wrap that protocol.

States: *closed* (calls pass; ``failure_threshold`` consecutive failures open it), *open* (calls fail fast
until ``recovery_timeout`` s have passed), *half-open* (at most ``half_open_max_calls`` trial calls at a time;
``success_threshold`` successes close it, one failure opens it again). An outcome that arrives after the
state it was admitted under has changed is counted but moves nothing: a slow call admitted while closed
cannot close a circuit that opened meanwhile.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, ParamSpec, TypeVar

from pytest_aide.errors import AideError
from pytest_aide.resilience._text import Redact, error_line
from pytest_aide.resilience.clock import Clock, system_clock

T = TypeVar("T")
P = ParamSpec("P")
_HISTORY = 100  # state changes kept per breaker (a flapping circuit must not grow without bound)


class State(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass(frozen=True)
class BreakerPolicy:
    """When a circuit opens and how it closes again."""

    failure_threshold: int = 5  # consecutive failures that open a closed circuit
    recovery_timeout: float = 30.0  # seconds open before trial calls are let through
    success_threshold: int = 1  # trial successes that close a half-open circuit
    half_open_max_calls: int = 1  # trial calls admitted at the same time while half-open

    def __post_init__(self) -> None:
        for key in ("failure_threshold", "success_threshold", "half_open_max_calls"):
            if getattr(self, key) < 1:
                raise ValueError(f"breaker {key} = {getattr(self, key)!r}: at least 1")
        if self.recovery_timeout < 0:
            raise ValueError(f"breaker recovery_timeout = {self.recovery_timeout!r}: seconds >= 0")


@dataclass(frozen=True)
class Permit:
    """An admitted call's ticket; give it back to exactly one of the ``record_*`` methods or :meth:`release`."""

    generation: int  # the breaker's state generation at admission
    trial: bool  # admitted as a half-open trial call


@dataclass(frozen=True)
class StateChange:
    old: State
    new: State
    at: float  # the breaker clock's reading
    reason: str


@dataclass(frozen=True)
class BreakerStats:
    """A consistent snapshot. ``calls == successes + failures + rejections`` always holds: a call is counted
    when its outcome is known (admitted calls still running are ``in_flight``)."""

    name: str
    state: str
    forced: bool
    calls: int
    successes: int
    failures: int
    rejections: int
    in_flight: int
    consecutive_failures: int
    last_error: str | None
    retry_in: float | None  # seconds until trial calls are admitted (open, not forced)
    state_change_count: int
    state_changes: list[dict[str, Any]]  # the latest, oldest first; "at" in seconds since the breaker was made

    @property
    def healthy(self) -> bool:
        return self.state == State.CLOSED

    def to_dict(self) -> dict[str, Any]:
        """Builtin types only: the snapshot crosses the xdist boundary and goes into ``health.json``."""
        return asdict(self)


class CircuitOpenError(AideError):
    """A call refused without being made: the circuit is open (or half-open with its trial slots taken)."""

    def __init__(self, name: str, state: State, *, retry_in: float | None, forced: bool, last_error: str | None):
        self.name = name
        self.state = state
        self.retry_in = retry_in
        self.forced = forced
        self.last_error = last_error
        super().__init__(self._message())

    def _message(self) -> str:
        if self.forced:
            return f"circuit {self.name!r} is forced open; calls fail fast until it is reset"
        if self.state is State.HALF_OPEN:
            return f"circuit {self.name!r} is half-open with its trial calls under way; try again when they end"
        last = f" (last error: {self.last_error})" if self.last_error else ""
        return f"circuit {self.name!r} is open{last}; next trial call in {self.retry_in or 0.0:.1f} s"


class CircuitBreaker:
    """Fail fast on a dependency that keeps failing; see the module docstring for the states.

    ``failure_on``: exceptions that count as the dependency failing; any other ``Exception`` counts as a
    success (the dependency answered), and a ``BaseException`` that is not an ``Exception`` (interrupt,
    pytest's skip) releases the call uncounted.

    Example::

        db = CircuitBreaker("db", failure_threshold=3, recovery_timeout=10)
        rows = db.call(count_rows, "orders")   # or: with db.guard(): rows = count_rows("orders")
    """

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        recovery_timeout: float = 30.0,
        success_threshold: int = 1,
        half_open_max_calls: int = 1,
        failure_on: type[BaseException] | tuple[type[BaseException], ...] = Exception,
        clock: Clock | None = None,
        redact: Redact | None = None,
    ) -> None:
        self.name = name
        self.policy = BreakerPolicy(failure_threshold, recovery_timeout, success_threshold, half_open_max_calls)
        self._failure_on = failure_on
        self._clock = clock or system_clock()
        self._redact = redact
        self._lock = threading.Lock()
        self._created = self._clock.monotonic()
        self._state = State.CLOSED
        self._generation = 0
        self._forced = False
        self._opened_at = 0.0
        self._consecutive_failures = 0
        self._trial_successes = 0
        self._trials = 0
        self._calls = self._successes = self._failures = self._rejections = self._in_flight = 0
        self._last_error: str | None = None
        self._changes: deque[StateChange] = deque(maxlen=_HISTORY)
        self._change_count = 0

    @property
    def state(self) -> State:
        with self._lock:
            return self._state

    def before_call(self) -> Permit:
        """Admit one call, or raise :class:`CircuitOpenError` (counted as a rejection)."""
        with self._lock:
            now = self._clock.monotonic()
            if self._state is State.OPEN and not self._forced and now >= self._retry_at():
                self._change(State.HALF_OPEN, now, f"{self.policy.recovery_timeout:g} s recovery timeout passed")
            trial = self._state is State.HALF_OPEN
            if self._state is State.OPEN or (trial and self._trials >= self.policy.half_open_max_calls):
                self._calls += 1
                self._rejections += 1
                raise self._open_error(now)
            if trial:
                self._trials += 1
            self._in_flight += 1
            return Permit(self._generation, trial)

    def record_success(self, permit: Permit) -> None:
        """The admitted call worked."""
        with self._lock:
            current = self._settle(permit)
            self._calls += 1
            self._successes += 1
            if not current:
                return
            if self._state is State.CLOSED:
                self._consecutive_failures = 0
            elif self._state is State.HALF_OPEN:
                self._trial_successes += 1
                if self._trial_successes >= self.policy.success_threshold:
                    self._change(State.CLOSED, self._clock.monotonic(), f"{self._trial_successes} trial call(s) passed")

    def record_failure(self, permit: Permit, error: BaseException | None = None) -> None:
        """The admitted call failed (``error``, when given, is kept as the last error's line)."""
        line = error_line(error, self._redact) if error is not None else None  # outside the lock: redaction
        with self._lock:
            current = self._settle(permit)
            self._calls += 1
            self._failures += 1
            self._last_error = line or self._last_error
            if not current:
                return
            if self._state is State.CLOSED:
                self._consecutive_failures += 1
                if self._consecutive_failures >= self.policy.failure_threshold:
                    reason = f"{self._consecutive_failures} consecutive failures"
                    self._change(State.OPEN, self._clock.monotonic(), reason)
            elif self._state is State.HALF_OPEN:
                self._change(State.OPEN, self._clock.monotonic(), "trial call failed")

    def release(self, permit: Permit) -> None:
        """The admitted call ended without an outcome for the dependency (interrupted): count nothing."""
        with self._lock:
            self._settle(permit)

    def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` through the breaker (the lock is not held while it runs)."""
        with self.guard():
            return fn(*args, **kwargs)

    @contextmanager
    def guard(self) -> Iterator[Permit]:
        """The block is one guarded call: admitted on entry, its outcome recorded on exit."""
        permit = self.before_call()
        try:
            yield permit
        except BaseException as exc:
            self._record_exception(permit, exc)
            raise
        self.record_success(permit)

    def force_open(self, reason: str = "forced open") -> None:
        """Open the circuit and keep it open (no trial calls) until :meth:`reset`: the emergency stop."""
        with self._lock:
            self._forced = True
            if self._state is not State.OPEN:
                self._change(State.OPEN, self._clock.monotonic(), reason)

    def reset(self, reason: str = "reset") -> None:
        """Close the circuit and forget its failure streak (statistics are kept)."""
        with self._lock:
            self._forced = False
            if self._state is not State.CLOSED:
                self._change(State.CLOSED, self._clock.monotonic(), reason)
            self._consecutive_failures = 0

    def stats(self) -> BreakerStats:
        with self._lock:
            now = self._clock.monotonic()
            retry_in = max(0.0, self._retry_at() - now) if self._state is State.OPEN and not self._forced else None
            changes = [
                {"from": c.old.value, "to": c.new.value, "at": c.at - self._created, "reason": c.reason}
                for c in self._changes
            ]
            return BreakerStats(
                name=self.name,
                state=self._state.value,
                forced=self._forced,
                calls=self._calls,
                successes=self._successes,
                failures=self._failures,
                rejections=self._rejections,
                in_flight=self._in_flight,
                consecutive_failures=self._consecutive_failures,
                last_error=self._last_error,
                retry_in=retry_in,
                state_change_count=self._change_count,
                state_changes=changes,
            )

    def _record_exception(self, permit: Permit, exc: BaseException) -> None:
        if isinstance(exc, self._failure_on):
            self.record_failure(permit, exc)
        elif isinstance(exc, Exception):
            self.record_success(permit)
        else:
            self.release(permit)

    # The methods below run with the lock held.

    def _settle(self, permit: Permit) -> bool:
        """The call is no longer in flight; whether it was admitted under the current state."""
        self._in_flight -= 1
        current = permit.generation == self._generation
        if current and permit.trial:
            self._trials -= 1
        return current

    def _retry_at(self) -> float:
        return self._opened_at + self.policy.recovery_timeout

    def _change(self, new: State, now: float, reason: str) -> None:
        self._changes.append(StateChange(self._state, new, now, reason))
        self._change_count += 1
        self._state = new
        self._generation += 1
        self._trials = 0
        self._trial_successes = 0
        if new is State.OPEN:
            self._opened_at = now
        elif new is State.CLOSED:
            self._consecutive_failures = 0

    def _open_error(self, now: float) -> CircuitOpenError:
        retry_in = None if self._forced or self._state is State.HALF_OPEN else max(0.0, self._retry_at() - now)
        return CircuitOpenError(
            self.name, self._state, retry_in=retry_in, forced=self._forced, last_error=self._last_error
        )
