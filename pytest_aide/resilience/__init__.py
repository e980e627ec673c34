"""Resilience primitives for checks and probes: retry (on tenacity), circuit breakers, fallbacks.

Importable without pytest. Every wait goes through an injectable :class:`Clock`; :func:`instant` (or
``AIDE_RESILIENCE_INSTANT=1``) makes the real clock's waits instant for tests. Checks get them as the
``aide_retry``, ``aide_breakers`` and ``aide_fallback`` fixtures (:mod:`pytest_aide.resilience_fixtures`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_aide.resilience.breaker import BreakerPolicy, CircuitBreaker, CircuitOpenError, State
    from pytest_aide.resilience.clock import Clock, FakeClock, SystemClock, instant, is_instant
    from pytest_aide.resilience.fallback import (
        Fallback,
        FallbackFailed,
        FallbackRegistry,
        FallbackStats,
        Served,
    )
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

# Each name's submodule, imported when the name is first used (PEP 562): a process that only needs the
# circuits (the probe process, the xdist controller merging statistics) does not import tenacity.
_SUBMODULE = {
    **dict.fromkeys(("BreakerPolicy", "CircuitBreaker", "CircuitOpenError", "State"), "breaker"),
    **dict.fromkeys(("Clock", "FakeClock", "SystemClock", "instant", "is_instant"), "clock"),
    **dict.fromkeys(("Fallback", "FallbackFailed", "FallbackRegistry", "FallbackStats", "Served"), "fallback"),
    "BreakerRegistry": "registry",
    **dict.fromkeys(
        ("Attempt", "Retrier", "RetryFailed", "RetryLog", "RetryOutcome", "RetryPolicy", "retry_call"), "retry"
    ),
}


_SUBMODULES = frozenset({"breaker", "clock", "fallback", "registry", "retry", "statistics"})

if not TYPE_CHECKING:  # type checkers see the imports above, and a misspelt name stays an error for them

    def __getattr__(name: str) -> Any:
        if name in _SUBMODULES:
            return importlib.import_module(f"{__name__}.{name}")
        submodule = _SUBMODULE.get(name)
        if submodule is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{__name__}.{submodule}"), name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *__all__, *_SUBMODULES})


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
