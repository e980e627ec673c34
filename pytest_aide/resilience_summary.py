"""What the run's resilience did: ``health.json``'s ``resilience`` object and its lines in the reports.

Built on the controller from plain data only: the circuits' and fallbacks' statistics (every process merged,
see :mod:`pytest_aide.resilience_fixtures`) and the checks' results, which carry their own attempts (retries
and reruns), their ``aide_retry`` calls and their chaos experiments' records. So ``-n 0`` and ``-n 2`` give the
same section, and a run that used none of it pays only for counting its checks once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_aide.results import CheckResult


def resilience_section(
    checks: Sequence[CheckResult], circuits: Mapping[str, Any], fallbacks: Mapping[str, Any]
) -> dict[str, Any]:
    """``health.json`` ``resilience``: circuits, fallbacks, retries (of checks and of calls) and experiments."""
    used = [c for c in checks if c.attempts or c.retry_calls or c.experiments]  # one look at each check
    return {
        "circuits": dict(circuits),
        "open_circuits": open_circuits(circuits),
        "flaky": [c.nodeid for c in used if c.attempts and c.outcome == "passed"],
        "fallbacks": dict(fallbacks),
        "retries": retries(used),
        "experiments": experiments(used),
    }


def open_circuits(circuits: Mapping[str, Any]) -> list[str]:
    """The circuits not closed at the end of the run."""
    return sorted(name for name, stats in circuits.items() if stats.get("state") != "closed")


def retries(checks: Sequence[CheckResult]) -> dict[str, Any]:
    """Every retried attempt of the run: checks run more than once (their own retries, pytest-rerunfailures)
    and ``aide_retry`` calls, counted, with each retried check and each retried or failed call listed."""
    retried = [c for c in checks if c.attempts]
    calls = [(c.nodeid, log) for c in checks for log in _records(c, "retry_calls")]
    retried_calls = [{"nodeid": nodeid, **record} for nodeid, log in calls for record in log.get("retried", [])]
    failed_calls = sum(1 for record in retried_calls if not record.get("passed"))
    return {
        "checks": {
            "retried": len(retried),
            "passed": sum(1 for c in retried if c.outcome == "passed"),
            "failed": sum(1 for c in retried if c.outcome != "passed"),
            "attempts": sum(c.attempt for c in retried),
        },
        "calls": {
            "calls": sum(int(log.get("calls", 0)) for _, log in calls),
            "passed_first_try": sum(int(log.get("passed_first_try", 0)) for _, log in calls),
            "passed_after_retry": len(retried_calls) - failed_calls,
            "failed": failed_calls,
            "attempts": sum(int(log.get("attempts", 0)) for _, log in calls),
        },
        "retried_checks": [_retried_check(c) for c in retried],
        "retried_calls": retried_calls,
    }


def _retried_check(check: CheckResult) -> dict[str, Any]:
    return {
        "nodeid": check.nodeid,
        "status": check.status.value if check.status else "SKIPPED",
        "attempts": check.attempt,
        "max_attempts": check.max_attempts,
        "outcomes": [a.outcome for a in check.attempts] + [check.outcome],
    }


def experiments(checks: Sequence[CheckResult]) -> list[dict[str, Any]]:
    """Every chaos experiment of the run (in every attempt of a rerun check), with the check that ran it (its
    record as the runner kept it)."""
    return [{"nodeid": c.nodeid, **record} for c in checks for runs in _records(c, "experiments") for record in runs]


def _records(check: CheckResult, name: str) -> list[Any]:
    """A check's ``retry_calls`` or ``experiments``: each attempt's (pytest-rerunfailures' reruns), oldest first."""
    found = [getattr(attempt, name) for attempt in check.attempts]
    return [records for records in [*found, getattr(check, name)] if records]


def resilience_lines(section: Mapping[str, Any]) -> list[str]:
    """The section in a few lines of text (what report.html's summary shows); none for a run that used none
    of it. Reads only what ``health.json`` holds, so an older file (without some keys) gives fewer lines."""
    lines = [*_circuit_lines(section), *_fallback_lines(section), *_retry_lines(section)]
    for run in section.get("experiments") or []:
        lines.append(f"experiment {experiment_line(run)}")
    return lines


def experiment_line(run: Mapping[str, Any]) -> str:
    """``'upstream cut' (check_x.py::check_cut): ok in 1.2 s`` or ``...: failed at degrade: did not ...``."""
    took = run.get("duration_s")
    where = f"'{run.get('name', '')}' ({run.get('nodeid', '')})"
    if run.get("ok"):
        return f"{where}: ok" + (f" in {took:g} s" if isinstance(took, int | float) else "")
    return f"{where}: failed at {run.get('failed_phase')}: {run.get('message') or ''}"


def _circuit_lines(section: Mapping[str, Any]) -> list[str]:
    circuits = section.get("circuits") or {}
    if not circuits:
        return []
    not_closed = section.get("open_circuits") or []
    rejected = sum(int(stats.get("rejections", 0)) for stats in circuits.values())
    tail = f", {len(not_closed)} not closed at the end ({', '.join(not_closed)})" if not_closed else ", all closed"
    return [f"circuits: {len(circuits)}{tail}; {rejected} call(s) failed fast"]


def _fallback_lines(section: Mapping[str, Any]) -> list[str]:
    lines = []
    for name, stats in (section.get("fallbacks") or {}).items():
        options = ", ".join(
            f"{option} {tally.get('successes', 0)}/{tally.get('attempts', 0)}"
            for option, tally in dict(stats.get("options") or {}).items()
        )
        lines.append(
            f"fallback {name}: {stats.get('calls', 0)} call(s), {stats.get('served_by_fallback', 0)} served by an "
            f"alternative, {stats.get('failed', 0)} failed (successes/attempts: {options})"
        )
    return lines


def _retry_lines(section: Mapping[str, Any]) -> list[str]:
    found = section.get("retries") or {}
    checks, calls = found.get("checks") or {}, found.get("calls") or {}
    lines = []
    if checks.get("retried"):
        lines.append(
            f"retried checks: {checks['retried']} ({checks.get('passed', 0)} passed on a later attempt, "
            f"{checks.get('failed', 0)} failed), {checks.get('attempts', 0)} attempts"
        )
    if calls.get("calls"):
        lines.append(
            f"aide_retry calls: {calls['calls']} ({calls.get('passed_first_try', 0)} passed at once, "
            f"{calls.get('passed_after_retry', 0)} after a retry, {calls.get('failed', 0)} failed), "
            f"{calls.get('attempts', 0)} attempts"
        )
    return lines
