"""Retry a call with tenacity, keeping a record of every attempt.

The record is the point: a check that passed only on its third try is news for an operator (issue 10: "flaky:
passed on attempt 3 of 3"), so :class:`RetryOutcome` and :class:`RetryFailed` carry each attempt's outcome,
one-line error, start offset, duration and the backoff waited before it.

Backoff, stop and retry rules are tenacity's (``wait_exponential_jitter``, ``stop_after_attempt``,
``retry_if_exception_type`` / ``retry_if_exception``); its ``sleep`` hook is the injected :class:`Clock`'s.
tenacity's own ``stop_after_delay`` reads ``time.monotonic`` directly (``RetryCallState.outcome_timestamp``),
which a fake clock cannot move, so the overall deadline is a small tenacity stop strategy reading the
injected clock, with ``stop_before_delay``'s meaning: no attempt starts at or past the deadline, and a backoff
that would end there ends the retries instead. A running attempt is never interrupted: bounding one attempt
is the caller's timeout's job.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Generic, Literal, TypeVar

import tenacity
from tenacity.stop import stop_base

from pytest_aide.errors import AideError
from pytest_aide.resilience._text import Redact, error_line
from pytest_aide.resilience.clock import Clock, system_clock

T = TypeVar("T")
ExceptionTypes = type[BaseException] | tuple[type[BaseException], ...]
Reason = Literal["exhausted", "deadline", "not retried"]


@dataclass(frozen=True)
class Attempt:
    """One try: its number (from 1), outcome, error line (None when ok) and its times in seconds."""

    number: int
    outcome: Literal["ok", "error"]
    error: str | None
    started: float  # since the first attempt started
    duration: float
    waited: float  # backoff slept just before it (0 for the first)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Defaults suit a probe of a live system: three tries within 30 s, 0.5 s then 1 s apart
    (plus up to ``jitter`` s at random, so many checks retrying at once do not march in step)."""

    attempts: int = 3
    deadline: float | None = 30.0  # seconds from the first attempt; None: attempts alone decide
    initial_wait: float = 0.5
    max_wait: float = 5.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"retry attempts = {self.attempts!r}: at least 1")
        if self.deadline is not None and self.deadline <= 0:
            raise ValueError(f"retry deadline = {self.deadline!r}: seconds > 0, or None for no deadline")
        for key in ("initial_wait", "max_wait", "jitter"):
            if getattr(self, key) < 0:
                raise ValueError(f"retry {key} = {getattr(self, key)!r}: seconds >= 0")

    def run(
        self,
        fn: Callable[[], T],
        *,
        retry_on: ExceptionTypes = Exception,
        retry_if: Callable[[BaseException], bool] | None = None,
        clock: Clock | None = None,
        redact: Redact | None = None,
    ) -> RetryOutcome[T]:
        """Call ``fn`` until it returns, or raise :class:`RetryFailed` (see :func:`retry_call`)."""
        run = _Run(clock or system_clock(), redact)
        retrying = tenacity.Retrying(
            stop=self._stop(run),
            wait=tenacity.wait_exponential_jitter(multiplier=self.initial_wait, max=self.max_wait, jitter=self.jitter),
            retry=_retry_rule(retry_on, retry_if),
            sleep=run.clock.sleep,
            before_sleep=run.note_wait,
        )
        try:
            value = retrying(run.attempt, fn)
        except tenacity.RetryError:
            reason: Reason = "exhausted" if len(run.records) >= self.attempts else "deadline"
            raise self._failed(run, reason, retrying) from run.last_error
        except Exception as exc:
            if exc is not run.last_error:
                raise  # not the call's error (the clock's sleep, say): no attempt to report
            raise self._failed(run, "not retried", retrying) from exc  # retry_on / retry_if said no
        return RetryOutcome(value, tuple(run.records), self.attempts, _idle_for(retrying))

    def _stop(self, run: _Run) -> stop_base:
        stop: stop_base = tenacity.stop_after_attempt(self.attempts)
        if self.deadline is not None:
            stop = stop | _StopAtDeadline(run.clock, run.began + self.deadline)
        return stop

    def _failed(self, run: _Run, reason: Reason, retrying: tenacity.Retrying) -> RetryFailed:
        return RetryFailed(tuple(run.records), self.attempts, reason, _idle_for(retrying), self.deadline)


def retry_call(
    fn: Callable[[], T],
    *,
    attempts: int = 3,
    deadline: float | None = 30.0,
    initial_wait: float = 0.5,
    max_wait: float = 5.0,
    jitter: float = 0.5,
    retry_on: ExceptionTypes = Exception,
    retry_if: Callable[[BaseException], bool] | None = None,
    clock: Clock | None = None,
    redact: Redact | None = None,
) -> RetryOutcome[T]:
    """Call ``fn`` until it returns; the value comes back with the record of every attempt.

    An exception of a ``retry_on`` type for which ``retry_if`` (when given) says yes is tried again, after
    ``initial_wait * 2**(n-1)`` s plus up to ``jitter`` s (at most ``max_wait``), while attempts remain and
    the ``deadline`` allows. Otherwise :class:`RetryFailed` is raised from the last error, carrying the
    record. Exceptions that are not ``Exception`` (``KeyboardInterrupt``, pytest's skip and fail) pass
    through unchanged and are never retried.

    Example::

        outcome = retry_call(lambda: probe(url), attempts=3, retry_on=ConnectionError)
        if outcome.flaky:
            warn(outcome.summary)  # "passed on attempt 3 of 3"
    """
    policy = RetryPolicy(attempts, deadline, initial_wait, max_wait, jitter)
    return policy.run(fn, retry_on=retry_on, retry_if=retry_if, clock=clock, redact=redact)


@dataclass(frozen=True)
class Retrier:
    """:func:`retry_call` with defaults bound (what the ``aide_retry`` fixture hands a check).

    Call it with the function and any :class:`RetryPolicy` field to change for that call::

        outcome = aide_retry(lambda: aide_app.probe("/api/health"), attempts=5, retry_on=ConnectionError)
    """

    policy: RetryPolicy = field(default_factory=RetryPolicy)
    clock: Clock | None = None
    redact: Redact | None = None
    log: RetryLog | None = None  # where every call's outcome is kept (the ``aide_retry`` fixture: the check's)

    def __call__(
        self,
        fn: Callable[[], T],
        /,
        *,
        retry_on: ExceptionTypes = Exception,
        retry_if: Callable[[BaseException], bool] | None = None,
        **changes: Any,
    ) -> RetryOutcome[T]:
        policy = replace(self.policy, **changes) if changes else self.policy
        try:
            outcome = policy.run(fn, retry_on=retry_on, retry_if=retry_if, clock=self.clock, redact=self.redact)
        except RetryFailed as exc:
            if self.log is not None:
                self.log.add(exc)
            raise
        if self.log is not None:
            self.log.add(outcome)
        return outcome


class RetryLog:
    """The retried calls of one check, for its report: every call counted, and the full record (each attempt)
    of every call that took more than one attempt or failed. A call that passed at once is only counted, so a
    check looping over a thousand healthy calls adds three numbers, not a thousand records. Thread-safe.

    Example::

        log = RetryLog()
        Retrier(log=log)(probe)
        log.to_dict()   # {"calls": 1, "passed_first_try": 1, "attempts": 1, "retried": []}
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls = self._first_try = self._attempts = 0
        self._retried: list[dict[str, Any]] = []

    def add(self, result: RetryOutcome[Any] | RetryFailed) -> None:
        """Count one call's outcome; keep its record when it was retried or failed."""
        retried = isinstance(result, RetryFailed) or len(result.attempts) > 1
        with self._lock:
            self._calls += 1
            self._attempts += len(result.attempts)
            if retried:
                self._retried.append(result.to_dict())
            else:
                self._first_try += 1

    @property
    def calls(self) -> int:
        with self._lock:
            return self._calls

    def to_dict(self) -> dict[str, Any]:
        """Builtin types only: it travels in the check's ``user_properties``."""
        with self._lock:
            return {
                "calls": self._calls,
                "passed_first_try": self._first_try,
                "attempts": self._attempts,
                "retried": list(self._retried),
            }


@dataclass(frozen=True)
class RetryOutcome(Generic[T]):
    """A call that succeeded: its value and how it got there."""

    value: T
    attempts: tuple[Attempt, ...]
    max_attempts: int
    waited: float  # total backoff slept (tenacity's ``statistics["idle_for"]``)

    @property
    def flaky(self) -> bool:
        """It failed at least once before passing: worth a WARNING, not an OK."""
        return len(self.attempts) > 1

    @property
    def summary(self) -> str:
        return f"passed on attempt {len(self.attempts)} of {self.max_attempts}"

    def to_dict(self) -> dict[str, Any]:
        """Builtin types only (the value is left out: it need not be)."""
        return {
            "passed": True,
            "summary": self.summary,
            "max_attempts": self.max_attempts,
            "waited": self.waited,
            "attempts": [a.to_dict() for a in self.attempts],
        }


class RetryFailed(AideError):
    """Every allowed attempt failed, the deadline came, or the error was not one to retry.

    ``attempts`` holds the record; the last error is ``__cause__`` (and :attr:`last_error`, as a line).
    """

    def __init__(
        self,
        attempts: tuple[Attempt, ...],
        max_attempts: int,
        reason: Reason,
        waited: float = 0.0,
        deadline: float | None = None,
    ) -> None:
        self.attempts = attempts
        self.max_attempts = max_attempts
        self.reason = reason
        self.waited = waited
        self.deadline = deadline
        super().__init__(self.summary)

    @property
    def last_error(self) -> str | None:
        return self.attempts[-1].error if self.attempts else None

    @property
    def summary(self) -> str:
        why = {
            "exhausted": "no attempt left",
            "deadline": f"deadline of {self.deadline:g} s reached" if self.deadline else "deadline reached",
            "not retried": "an error not to retry",
        }[self.reason]
        return f"failed on attempt {len(self.attempts)} of {self.max_attempts} ({why}): {self.last_error}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": False,
            "summary": self.summary,
            "reason": self.reason,
            "max_attempts": self.max_attempts,
            "waited": self.waited,
            "attempts": [a.to_dict() for a in self.attempts],
        }


class _StopAtDeadline(stop_base):
    """tenacity's ``stop_before_delay``, reading the injected clock instead of ``time.monotonic``."""

    def __init__(self, clock: Clock, at: float) -> None:
        self._clock = clock
        self._at = at

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        return self._clock.monotonic() + retry_state.upcoming_sleep >= self._at


class _Run:
    """The attempts of one :meth:`RetryPolicy.run`, timed on its clock."""

    def __init__(self, clock: Clock, redact: Redact | None) -> None:
        self.clock = clock
        self.redact = redact
        self.began = clock.monotonic()
        self.records: list[Attempt] = []
        self.last_error: BaseException | None = None
        self._next_wait = 0.0

    def attempt(self, fn: Callable[[], T]) -> T:
        started = self.clock.monotonic()
        try:
            value = fn()
        except BaseException as exc:
            self.last_error = exc
            self._record(started, error_line(exc, self.redact))
            raise
        self._record(started, None)
        return value

    def note_wait(self, retry_state: tenacity.RetryCallState) -> None:
        self._next_wait = retry_state.upcoming_sleep

    def _record(self, started: float, error: str | None) -> None:
        outcome: Literal["ok", "error"] = "ok" if error is None else "error"
        duration = self.clock.monotonic() - started
        number = len(self.records) + 1
        self.records.append(Attempt(number, outcome, error, started - self.began, duration, self._next_wait))


def _retry_rule(retry_on: ExceptionTypes, retry_if: Callable[[BaseException], bool] | None) -> tenacity.retry_base:
    rule: tenacity.retry_base = tenacity.retry_if_exception_type(retry_on)
    if retry_if is not None:
        rule = rule & tenacity.retry_if_exception(retry_if)
    return rule


def _idle_for(retrying: tenacity.Retrying) -> float:
    return float(retrying.statistics.get("idle_for", 0.0))
