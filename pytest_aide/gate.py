"""The exit status of a run, and the rule that decided it, in words an operator (or a CI log) can act on.

pytest's own status comes first (interrupted, internal or usage error, no tests); otherwise a critical or
unknown check fails the run, then the gate: ``fail_on = "warning"`` and ``fail_under = SCORE``.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_aide.status import Status
from pytest_aide.summary import RunSummary

OK, TESTS_FAILED = 0, 1


@dataclass(frozen=True)
class Gate:
    """The gate settings of a run, each with where it came from (``--aide-fail-under`` or ``[gate] fail_under``)."""

    fail_on: str = "critical"
    fail_on_source: str = "[gate] fail_on"
    fail_under: float | None = None
    fail_under_source: str = "[gate] fail_under"


def decide(summary: RunSummary, gate: Gate, pytest_status: int) -> tuple[int, str]:
    """``(exit status, rule)`` for a run whose checks ended as ``summary`` and pytest said ``pytest_status``."""
    counts = summary.counts
    bad = [f"{counts[s.value]} {s.value}" for s in (Status.CRITICAL, Status.UNKNOWN) if counts[s.value]]
    if pytest_status not in (OK, TESTS_FAILED):
        return pytest_status, f"exit {pytest_status}: set by pytest (interrupted or an error outside the checks)"
    if bad:
        return TESTS_FAILED, f"exit 1: {' and '.join(bad)} check(s)"
    if pytest_status == TESTS_FAILED:
        return TESTS_FAILED, "exit 1: a test outside the health checks failed"
    if gate.fail_on == "warning" and counts[Status.WARNING.value]:
        return TESTS_FAILED, (
            f"exit 1: {counts[Status.WARNING.value]} WARNING check(s) and {gate.fail_on_source} is 'warning'"
        )
    if gate.fail_under is not None and summary.score is not None and summary.score < gate.fail_under:
        return TESTS_FAILED, f"exit 1: score {summary.score:g} below {gate.fail_under_source} {gate.fail_under:g}"
    return OK, "exit 0: no check critical or unknown" + (
        f", score {summary.score:g} not below {gate.fail_under_source} {gate.fail_under:g}"
        if gate.fail_under is not None and summary.score is not None
        else ""
    )
