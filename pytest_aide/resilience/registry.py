"""All the circuits of a run, by name: what the AIDE guide's component-health page and emergency procedure
work on (healthy vs unhealthy circuits; reset all; force open all in an emergency)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import asdict, replace
from typing import Any

from pytest_aide.resilience._text import Redact
from pytest_aide.resilience.breaker import BreakerPolicy, CircuitBreaker, State
from pytest_aide.resilience.clock import Clock
from pytest_aide.resilience.statistics import merge_statistics

__all__ = ["BreakerRegistry", "merge_statistics"]  # merge_statistics: its former home


class BreakerRegistry:
    """Get-or-create breakers by name, all on one clock and with one default policy.

    Example::

        breakers = BreakerRegistry(BreakerPolicy(failure_threshold=3))
        breakers.get("db").call(ping)
        breakers.force_open_all()          # emergency: every dependency call fails fast
        breakers.health_summary()["unhealthy"]
    """

    def __init__(
        self, defaults: BreakerPolicy | None = None, *, clock: Clock | None = None, redact: Redact | None = None
    ) -> None:
        self.defaults = defaults or BreakerPolicy()
        self._clock = clock
        self._redact = redact
        self._lock = threading.Lock()
        self._breakers: dict[str, CircuitBreaker] = {}

    def get(self, name: str, **policy: Any) -> CircuitBreaker:
        """The breaker called ``name``, made on first use with the defaults changed by ``policy``
        (``failure_threshold=3``...). Later calls return the same breaker and ignore ``policy``."""
        with self._lock:
            breaker = self._breakers.get(name)
            if breaker is None:
                settings = asdict(replace(self.defaults, **policy))
                breaker = CircuitBreaker(name, **settings, clock=self._clock, redact=self._redact)
                self._breakers[name] = breaker
            return breaker

    def __contains__(self, name: object) -> bool:
        with self._lock:
            return name in self._breakers

    def __iter__(self) -> Iterator[CircuitBreaker]:
        return iter(self._snapshot())

    def __len__(self) -> int:
        with self._lock:
            return len(self._breakers)

    def reset_all(self) -> list[str]:
        """Close every circuit; the names of those that were not closed."""
        breakers = self._snapshot()
        were_open = [b.name for b in breakers if b.state is not State.CLOSED]
        for breaker in breakers:
            breaker.reset("reset by reset_all")
        return were_open

    def force_open_all(self, reason: str = "forced open by force_open_all (emergency)") -> list[str]:
        """Open every circuit until it is reset; the names of all circuits."""
        breakers = self._snapshot()
        for breaker in breakers:
            breaker.force_open(reason)
        return [b.name for b in breakers]

    def statistics(self) -> dict[str, dict[str, Any]]:
        """Each circuit's statistics by name (builtin types)."""
        return {b.name: b.stats().to_dict() for b in self._snapshot()}

    def health_summary(self) -> dict[str, Any]:
        """Healthy (closed) vs unhealthy (open or half-open) circuits, as plain data that can cross the xdist
        boundary: ``{"healthy": [...], "unhealthy": [...], "total": n, "circuits": {name: statistics}}``."""
        circuits = self.statistics()
        healthy = sorted(name for name, stats in circuits.items() if stats["state"] == State.CLOSED)
        unhealthy = sorted(name for name, stats in circuits.items() if stats["state"] != State.CLOSED)
        return {"healthy": healthy, "unhealthy": unhealthy, "total": len(circuits), "circuits": circuits}

    def _snapshot(self) -> list[CircuitBreaker]:
        with self._lock:
            return list(self._breakers.values())
