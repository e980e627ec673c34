"""Check statuses (per check) and verdicts (per run).

A check ends OK, WARNING, CRITICAL or UNKNOWN as in Nagios; a run gets one of the health bands of the
operations manual: HEALTHY, DEGRADED, UNHEALTHY, CRITICAL.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """Outcome of one check. ``rank`` orders them so the worst one wins."""

    OK = "OK"
    WARNING = "WARNING"
    UNKNOWN = "UNKNOWN"
    CRITICAL = "CRITICAL"

    @property
    def rank(self) -> int:
        return _STATUS_RANK[self]

    @classmethod
    def worst(cls, statuses: list[Status]) -> Status:
        """The most severe status of ``statuses`` (OK when there are none)."""
        return max(statuses, key=lambda s: s.rank, default=cls.OK)


_STATUS_RANK = {Status.OK: 0, Status.WARNING: 1, Status.UNKNOWN: 2, Status.CRITICAL: 3}
_STATUS_BY_NAME: dict[object, Status] = {status.value: status for status in Status}


def status_named(name: str) -> Status:
    """``Status(name)`` for the status a report property names, without the Enum call's two Python frames:
    every check's call report is asked it three times (terminal letter, HTML row, results). Anything but a
    status's exact name goes to ``Status`` itself, which accepts or rejects it as before."""
    try:
        found = _STATUS_BY_NAME.get(name)
    except TypeError:  # unhashable: Status says what it says of such a value
        found = None
    return found if found is not None else Status(name)


class Verdict(StrEnum):
    """Overall health of a run, from the score bands of the manual (90/70/40)."""

    HEALTHY = "HEALTHY"
    DEGRADED = "DEGRADED"
    UNHEALTHY = "UNHEALTHY"
    CRITICAL = "CRITICAL"

    @property
    def rank(self) -> int:
        return _VERDICT_RANK[self]

    @property
    def advice(self) -> str:
        """What the manual says an operator should do in this band."""
        return _VERDICT_ADVICE[self]


_VERDICT_RANK = {Verdict.HEALTHY: 0, Verdict.DEGRADED: 1, Verdict.UNHEALTHY: 2, Verdict.CRITICAL: 3}
_VERDICT_ADVICE = {
    Verdict.HEALTHY: "normal watch",
    Verdict.DEGRADED: "watch closely",
    Verdict.UNHEALTHY: "act now",
    Verdict.CRITICAL: "emergency: act at once",
}
