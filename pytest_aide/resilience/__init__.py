"""Resilience primitives for checks and probes: retry (on tenacity), circuit breakers, fallbacks.

Importable without pytest. Every wait goes through an injectable :class:`Clock`; :func:`instant` (or
``AIDE_RESILIENCE_INSTANT=1``) makes the real clock's waits instant for tests. Checks get them as the
``aide_retry``, ``aide_breakers`` and ``aide_fallback`` fixtures (:mod:`pytest_aide.resilience_fixtures`).
"""

from __future__ import annotations

from pytest_aide.resilience.breaker import BreakerPolicy, CircuitBreaker, CircuitOpenError, State
from pytest_aide.resilience.clock import Clock, FakeClock, SystemClock, instant, is_instant
from pytest_aide.resilience.fallback import Fallback, FallbackFailed, FallbackRegistry, FallbackStats, Served
from pytest_aide.resilience.registry import BreakerRegistry
from pytest_aide.resilience.retry import (
    Attempt,
    Retrier,
    RetryFailed,
    RetryLog,
    RetryOutcome,
    RetryPolicy,
    retry_call,
)

__all__ = [
    "Attempt",
    "BreakerPolicy",
    "BreakerRegistry",
    "CircuitBreaker",
    "CircuitOpenError",
    "Clock",
    "FakeClock",
    "Fallback",
    "FallbackFailed",
    "FallbackRegistry",
    "FallbackStats",
    "Retrier",
    "RetryFailed",
    "RetryLog",
    "RetryOutcome",
    "RetryPolicy",
    "Served",
    "State",
    "SystemClock",
    "instant",
    "is_instant",
    "retry_call",
]
