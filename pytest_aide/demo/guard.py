"""How the demo reads its dependencies: through a circuit breaker, with a fallback to the last good answer.

This is what the drills exercise: each read of the upstream or the database goes through that dependency's
circuit (``pytest_aide.resilience``); when the live read fails or the circuit is open, the last value read
successfully is served instead and the app reports itself ``degraded``. A later live success closes the
circuit again and marks the errors seen meanwhile as auto-resolved. Without fallback (the demo's broken mode,
``--no-fallback``) a failed read leaves the app with nothing to serve: ``unhealthy``.

Every error is counted by component and category, and the circuits, retries and fallbacks keep their own
statistics: ``/api/components/stats`` returns all of them (:meth:`Dependencies.stats`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pytest_aide.resilience import (
    BreakerRegistry,
    CircuitOpenError,
    Fallback,
    FallbackFailed,
    RetryFailed,
    RetryPolicy,
)

FAILURE_THRESHOLD = 2  # failed live reads in a row that open a dependency's circuit
RECOVERY_TIMEOUT_S = 1.0  # seconds an open circuit waits before one trial read: recovery shows within seconds
_UNCATEGORISED = "error"


@dataclass(frozen=True)
class Reading:
    """One read of a dependency: the value (None when nothing could be served), where it came from
    (``live``, ``cache`` or None) and the error of the live read when it failed."""

    value: Any
    source: str | None
    error: str | None
    circuit: str

    @property
    def word(self) -> str:
        """``ok`` (live), ``cached`` (fallback) or ``error`` (nothing to serve)."""
        return {"live": "ok", "cache": "cached"}.get(self.source or "", "error")


class ErrorStats:
    """Errors by component and category; a component's errors are auto-resolved when it works again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], list[int]] = {}  # (component, category) -> [total, auto_resolved]
        self._open: dict[str, list[str]] = {}  # component -> categories of errors not yet resolved

    def record(self, component: str, category: str) -> None:
        with self._lock:
            self._counts.setdefault((component, category), [0, 0])[0] += 1
            self._open.setdefault(component, []).append(category)

    def resolve(self, component: str) -> int:
        """The component works again: its open errors count as auto-resolved; how many there were."""
        with self._lock:
            categories = self._open.pop(component, [])
            for category in categories:
                self._counts[(component, category)][1] += 1
            return len(categories)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            counts = dict(self._counts)
        by_category: dict[str, dict[str, int]] = {}
        by_component: dict[str, dict[str, int]] = {}
        for (component, category), (total, resolved) in sorted(counts.items()):
            for key, table in ((category, by_category), (component, by_component)):
                entry = table.setdefault(key, {"total": 0, "auto_resolved": 0})
                entry["total"] += total
                entry["auto_resolved"] += resolved
        total = sum(c[0] for c in counts.values())
        resolved = sum(c[1] for c in counts.values())
        return {
            "total": total,
            "auto_resolved": resolved,
            "unresolved": total - resolved,
            "by_category": by_category,
            "by_component": by_component,
        }


class RetryStats:
    """Calls made through a retry: how many needed another attempt, and how many of those then worked."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls = self.retried = self.recovered = 0

    def count(self, attempts: int, ok: bool) -> None:
        with self._lock:
            self.calls += 1
            if attempts > 1:
                self.retried += 1
                self.recovered += ok

    def stats(self) -> dict[str, Any]:
        with self._lock:
            rate = self.recovered / self.retried if self.retried else None
            return {"calls": self.calls, "retried": self.retried, "recovered": self.recovered, "success_rate": rate}


class Guarded:
    """Reads of one dependency: live through its circuit (and retries, when given), else the last good value."""

    def __init__(
        self,
        name: str,
        read: Callable[[], Any],
        deps: Dependencies,
        *,
        retry: RetryPolicy | None = None,
        retry_if: Callable[[BaseException], bool] | None = None,
        category: Callable[[Exception], str] | None = None,
    ) -> None:
        self.name = name
        self._read = read
        self._deps = deps
        self._breaker = deps.breakers.get(name)
        self._retry = retry
        self._retry_if = retry_if
        self._category = category or (lambda exc: _UNCATEGORISED)
        self._lock = threading.Lock()
        self._last: Any = None
        self._has_last = False
        options: dict[str, Callable[[], Any]] = {"live": self._live}
        if deps.fallback:
            options["cache"] = self._cached
        self._fallback = Fallback(options, name=name)

    def read(self) -> Reading:
        try:
            served = self._fallback.call()
        except FallbackFailed as exc:
            live_error = exc.errors[0][1] if exc.errors else str(exc)
            return Reading(None, None, live_error, self._breaker.state.value)
        error = served.errors[0][1] if served.errors else None
        return Reading(served.value, "live" if served.index == 0 else "cache", error, self._breaker.state.value)

    def fallback_stats(self) -> dict[str, Any]:
        return self._fallback.stats()

    def _live(self) -> Any:
        try:
            value = self._breaker.call(self._attempts)
        except CircuitOpenError:
            raise  # no call was made: nothing new to count as an error
        except Exception as exc:
            self._deps.errors.record(self.name, self._category(_cause(exc)))
            raise
        with self._lock:
            self._last, self._has_last = value, True
        self._deps.errors.resolve(self.name)
        return value

    def _attempts(self) -> Any:
        if self._retry is None:
            return self._read()
        try:
            outcome = self._retry.run(self._read, retry_if=self._retry_if)
        except RetryFailed as exc:
            self._deps.retries.count(len(exc.attempts), ok=False)
            raise
        self._deps.retries.count(len(outcome.attempts), ok=True)
        return outcome.value

    def _cached(self) -> Any:
        with self._lock:
            if not self._has_last:
                raise LookupError(f"no cached {self.name} data yet")
            return self._last


def _cause(exc: Exception) -> Exception:
    """The error under a retry's :class:`RetryFailed` (its last attempt's)."""
    cause = exc.__cause__
    return cause if isinstance(exc, RetryFailed) and isinstance(cause, Exception) else exc


class Dependencies:
    """The demo's circuits, error counts, retry counts and fallbacks, as one statistics document."""

    def __init__(self, *, fallback: bool = True) -> None:
        from pytest_aide.resilience import BreakerPolicy

        self.fallback = fallback
        self.breakers = BreakerRegistry(BreakerPolicy(FAILURE_THRESHOLD, RECOVERY_TIMEOUT_S))
        self.errors = ErrorStats()
        self.retries = RetryStats()
        self.guards: list[Guarded] = []

    def guard(self, name: str, read: Callable[[], Any], **options: Any) -> Guarded:
        guarded = Guarded(name, read, self, **options)
        self.guards.append(guarded)
        return guarded

    def stats(self) -> dict[str, Any]:
        """Errors (by category and component, auto-resolved), circuits, retry and fallback success rates."""
        fallbacks = {g.name: g.fallback_stats() for g in self.guards}
        rescued = sum(f["served_by_fallback"] for f in fallbacks.values())
        needed = sum(f["calls"] - f["served_by_primary"] for f in fallbacks.values())
        summary = self.breakers.health_summary()
        return {
            "fallback_enabled": self.fallback,
            "errors": self.errors.stats(),
            "circuits": {
                "healthy": summary["healthy"],
                "unhealthy": summary["unhealthy"],
                "states": {name: stats["state"] for name, stats in summary["circuits"].items()},
                "details": summary["circuits"],
            },
            "retry": self.retries.stats(),
            "fallback": {"needed": needed, "served": rescued, "success_rate": rescued / needed if needed else None},
            "fallbacks": fallbacks,
        }
