"""From check statuses to a 0-100 score and an overall verdict.

The score is the weighted mean of per-check points; its band (90/70/40) gives the verdict, which is then
capped: a run with a critical check is never better than UNHEALTHY, and one with a warning or an unknown
check never better than DEGRADED, so a single broken part can never hide behind many healthy ones.

Some parts are the service itself: a check may carry a *floor*, the verdict it forces at least when it is
CRITICAL or UNKNOWN. An essential check (``@pytest.mark.aide(essential=True)``, ``[checks] essential``) has
the floor CRITICAL: the app's health check or the database being unreachable is an emergency whatever the
other checks say. The shipped cache check has the floor UNHEALTHY.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pytest_aide.status import Status, Verdict

POINTS: dict[Status, float] = {Status.OK: 100.0, Status.WARNING: 50.0, Status.UNKNOWN: 0.0, Status.CRITICAL: 0.0}
BANDS: tuple[tuple[float, Verdict], ...] = (
    (90.0, Verdict.HEALTHY),
    (70.0, Verdict.DEGRADED),
    (40.0, Verdict.UNHEALTHY),
    (0.0, Verdict.CRITICAL),
)
FAILING = frozenset({Status.CRITICAL, Status.UNKNOWN})  # the statuses that bring a check's floor into force
CAPS: dict[Status, Verdict] = {
    Status.CRITICAL: Verdict.UNHEALTHY,
    Status.UNKNOWN: Verdict.DEGRADED,
    Status.WARNING: Verdict.DEGRADED,
}


@dataclass(frozen=True)
class Scored:
    """A check's contribution to the score."""

    status: Status
    weight: float = 1.0
    floor: Verdict | None = None  # the verdict forced at least when this check is CRITICAL or UNKNOWN

    @property
    def forced(self) -> Verdict | None:
        """The verdict this check forces at least: its floor while it failed to measure or measured critical."""
        return self.floor if self.status in FAILING else None


def score(checks: Iterable[Scored]) -> float | None:
    """Weighted mean of the checks' points, rounded to one decimal; None when no check ran."""
    total_weight = 0.0
    total = 0.0
    for check in checks:
        total_weight += check.weight
        total += POINTS[check.status] * check.weight
    if total_weight <= 0:
        return None
    return round(total / total_weight, 1)


def band(value: float) -> Verdict:
    """The verdict band the score falls in."""
    for lower, verdict in BANDS:
        if value >= lower:
            return verdict
    return Verdict.CRITICAL


def verdict(checks: Iterable[Scored]) -> tuple[Verdict, float | None]:
    """The run's verdict and score; a run without checks is HEALTHY with no score."""
    checks = list(checks)
    value = score(checks)
    result = Verdict.HEALTHY if value is None else band(value)
    for check in checks:
        for cap in (CAPS.get(check.status), check.forced):
            if cap is not None and cap.rank > result.rank:
                result = cap
    return result, value
