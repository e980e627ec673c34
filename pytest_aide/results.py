"""Per-check results gathered from test reports, on the controller only.

A check's data travel from wherever it ran (an xdist worker or this process) as ``user_properties`` of its
reports: builtin types only. :class:`RunCollector` folds the setup/call/teardown reports of each check into
one :class:`CheckResult`, so ``-n 0`` and ``-n 2`` go through the same code. A check that pytest-rerunfailures
ran again reports setup/call/teardown once per attempt: the last attempt is the check's result, and each
earlier one is kept apart as an :class:`Attempt`.

A check's status is decided here, by :func:`status_of` from one table of rules (:data:`RULES`); the
terminal letters (``checkitem.report_status``) read the same function. A check body says "I could not read
my target" by raising :class:`pytest_aide.errors.ProbeError`: its call report then carries
``aide.unmeasured`` and the check is UNKNOWN, not CRITICAL. A check with nothing to measure yet skips.

Flaky is news: a check that passed only after a failed attempt — a retry of its own (``aide.tries``) or a
rerun of pytest-rerunfailures — is WARNING "flaky: passed on attempt N of M", every attempt kept. A check
whose code ran past its time limit (``aide.timeout``: ours or pytest-timeout's) is UNKNOWN "timed out after
N s": its target was not read to the end.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pytest_aide.status import Status, Verdict, status_named

PROPERTY_PREFIX = "aide."
MEASUREMENT_PREFIX = "aide.m."
UNMEASURED = "aide.unmeasured"  # set on a call report whose check raised ProbeError: its target was not read
FLOOR = "aide.floor"  # the verdict a CRITICAL or UNKNOWN check forces at least (essential checks: CRITICAL)
DEPENDS_ON = "aide.depends_on"  # comma-separated dependencies (db, cache, app): declared or from fixtures
REACHABILITY = "aide.reachability"  # the dependency this check is the reachability check of
DOWN = "aide.down"  # comma-separated dependencies a failed phase of the check could not reach
ATTEMPT = "aide.attempt"  # the number of this attempt (pytest-rerunfailures' reruns and the check's retries)
MAX_ATTEMPTS = "aide.max_attempts"  # attempts the check was allowed (its retries and pytest-rerunfailures')
TRIES = "aide.tries"  # JSON list: failed tries of a call before its last one (the check's own retries)
TIMEOUT = "aide.timeout"  # seconds: the phase ended at a time limit (0: unknown limit)
RETRY_CALLS = "aide.retry_calls"  # JSON: the check's aide_retry calls (counts; each retried or failed call in full)
EXPERIMENTS = "aide.experiments"  # JSON list: the records of the chaos experiments the check ran (aide_experiment)

# (phase, how the phase ended) -> the check's status. A passed call is what the check recorded (OK when
# nothing was judged); a skip in any phase is no status at all (SKIPPED: not scored, not measured).
RULES: dict[tuple[str, str], Status] = {
    ("setup", "failed"): Status.UNKNOWN,  # could not run: a fixture could not reach or read its target
    ("call", "failed"): Status.CRITICAL,  # an assertion or a critical measurement: a fact about the system
    ("call", "unmeasured"): Status.UNKNOWN,  # the body raised ProbeError: its target exists but was not read
    ("teardown", "failed"): Status.UNKNOWN,  # at least: the check's clean-up failed
    ("dependency", "blocked"): Status.UNKNOWN,  # failed because a dependency is down: its root cause says why
    ("call", "timed out"): Status.UNKNOWN,  # its own code ran past its time limit: the target was not read
    ("call", "flaky"): Status.WARNING,  # at least: passed only after a failed attempt (retry or rerun)
    # at least: its benchmark failed --benchmark-compare-fail, known at session end ([benchmark] regression)
    ("session", "regressed"): Status.CRITICAL,
}
MEASURED = frozenset({Status.OK, Status.WARNING, Status.CRITICAL})  # statuses that say something was measured


def status_of(
    when: str,
    outcome: str,
    *,
    recorded: Status | None = None,
    unmeasured: bool = False,
    timed_out: bool = False,
    retried: bool = False,
    severity: Status | None = None,
) -> Status | None:
    """The status one phase of a check gives it (the one rule table); None: no status from this phase.

    ``retried``: an earlier attempt of the check failed; ``timed_out``: the phase ended at its time limit.
    ``("session", "regressed")``: the check's benchmark regressed; ``severity`` is the configured status of a
    regression (``[benchmark] regression``), the table's by default; ``recorded`` is what the check had.
    """
    if outcome == "regressed":
        return Status.worst([recorded or Status.OK, severity or RULES[(when, outcome)]])
    if outcome == "failed":
        if when == "call" and (timed_out or unmeasured):
            return RULES[("call", "timed out" if timed_out else "unmeasured")]
        return RULES[(when, "failed")]
    if outcome == "passed" and when == "call":
        status = recorded or Status.OK
        return Status.worst([status, RULES[("call", "flaky")]]) if retried else status
    return None


def flaky_message(attempt: int, max_attempts: int) -> str:
    """``flaky: passed on attempt 3 of 3`` (the words of :attr:`pytest_aide.resilience.RetryOutcome.summary`)."""
    return f"flaky: passed on attempt {attempt} of {max(attempt, max_attempts)}"


def timeout_message(seconds: float) -> str:
    """``timed out after 5 s`` (pytest-timeout's limit when it ended the check; "its time limit" if unknown)."""
    return f"timed out after {seconds:g} s" if seconds else "timed out at its time limit"


@dataclass
class Attempt:
    """What an earlier attempt of a rerun check found (pytest-rerunfailures), kept apart from the result."""

    outcome: str  # pytest's word for the attempt: "failed" (its call) or "error" (its setup or teardown)
    status: Status | None
    message: str
    measurements: dict[str, dict[str, Any]]
    duration: float
    evidence: list[dict[str, str]]
    number: int = 0  # 1 for the first attempt
    retry_calls: dict[str, Any] = field(default_factory=dict)  # the attempt's aide_retry calls, if any
    experiments: list[dict[str, Any]] = field(default_factory=list)  # the attempt's chaos experiments, if any

    def to_dict(self) -> dict[str, Any]:
        return {
            **({"number": self.number} if self.number else {}),
            "outcome": self.outcome,
            "status": self.status.value if self.status else "SKIPPED",
            "message": self.message,
            "measurements": self.measurements,
            "duration": round(self.duration, 4),
            **({"evidence": self.evidence} if self.evidence else {}),
            **({"retry_calls": self.retry_calls} if self.retry_calls else {}),
            **({"experiments": self.experiments} if self.experiments else {}),
        }


@dataclass
class CheckResult:
    """What one check found (in its last attempt when it was rerun; ``duration`` counts every attempt)."""

    nodeid: str
    component: str = "general"
    weight: float = 1.0
    status: Status | None = None  # None: skipped, not scored
    message: str = ""
    measurements: dict[str, dict[str, Any]] = field(default_factory=dict)
    duration: float = 0.0
    skip_reason: str = ""
    evidence: list[dict[str, str]] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)  # earlier attempts, oldest first
    outcome: str = ""  # pytest's word for the current attempt so far: passed, failed, error or skipped
    floor: Verdict | None = None  # essential (CRITICAL) or floor rule: the verdict this check forces when it fails
    depends_on: list[str] = field(default_factory=list)  # dependencies: declared, or from the check's fixtures
    reachability: str = ""  # the dependency this check is the reachability check of
    down: list[str] = field(default_factory=list)  # dependencies the check could not reach (it failed)
    root_of: str = ""  # the dependency whose outage this check is the root cause of
    blocked_by: str = ""  # the root cause's nodeid: this check failed only because a dependency is down
    max_attempts: int = 1  # attempts allowed (the check's retries times pytest-rerunfailures' reruns + 1)
    retry_calls: dict[str, Any] = field(default_factory=dict)  # its aide_retry calls (RetryLog.to_dict), if any
    experiments: list[dict[str, Any]] = field(default_factory=list)  # its chaos experiments' records, if any
    regressions: list[str] = field(default_factory=list)  # its benchmark's failed comparisons (session end)

    @property
    def attempt(self) -> int:
        """The number of the attempt that gave the result (earlier ones are in ``attempts``)."""
        return len(self.attempts) + 1

    @property
    def skipped(self) -> bool:
        return self.status is None

    @property
    def measured(self) -> bool:
        """Whether the check measured something (OK, WARNING or CRITICAL): what coverage counts."""
        return self.status in MEASURED

    def next_attempt(self) -> None:
        """Keep what the attempt that just ended found, and start the next one afresh."""
        spent = self.duration - sum(a.duration for a in self.attempts)
        self.attempts.append(
            Attempt(
                self.outcome,
                self.status,
                self.message,
                self.measurements,
                spent,
                self.evidence,
                self.attempt,
                self.retry_calls,
                self.experiments,
            )
        )
        self.status, self.message, self.skip_reason, self.outcome = None, "", "", ""
        self.measurements, self.evidence, self.retry_calls, self.experiments = {}, [], {}, []

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodeid": self.nodeid,
            "component": self.component,
            "weight": self.weight,
            "status": self.status.value if self.status else "SKIPPED",
            "message": self.message,
            "measurements": self.measurements,
            "duration": round(self.duration, 4),
            **({"skip_reason": self.skip_reason} if self.skip_reason else {}),
            **({"floor": self.floor.value} if self.floor else {}),
            **({"evidence": self.evidence} if self.evidence else {}),
            **({"attempt": self.attempt, "max_attempts": self.max_attempts} if self.max_attempts > 1 else {}),
            **({"attempts": [a.to_dict() for a in self.attempts]} if self.attempts else {}),
            **({"depends_on": self.depends_on} if self.depends_on else {}),
            **({"root_cause_of": self.root_of} if self.root_of else {}),
            **({"blocked_by": self.blocked_by} if self.blocked_by else {}),
            **({"retry_calls": self.retry_calls} if self.retry_calls else {}),
            **({"experiments": self.experiments} if self.experiments else {}),
            **({"regressions": self.regressions} if self.regressions else {}),
        }

    def block(self, root: CheckResult) -> None:
        """This check failed only because the dependency ``root`` is the root cause of is down."""
        if self.blocked_by:
            return
        self.status = RULES[("dependency", "blocked")]
        self.blocked_by = root.nodeid
        self.message = f"blocked by {root.nodeid}: {self.message}" if self.message else f"blocked by {root.nodeid}"


def check_properties(
    *, component: str, weight: float, status: Status, message: str, measurements: dict[str, dict[str, Any]]
) -> list[tuple[str, Any]]:
    """The ``user_properties`` a check's call report carries (also written to JUnit as-is)."""
    props: list[tuple[str, Any]] = [
        ("aide.component", component),
        ("aide.weight", weight),
        ("aide.status", status.value),
    ]
    if message:
        props.append(("aide.message", message))
    props.extend((MEASUREMENT_PREFIX + name, json.dumps(data)) for name, data in measurements.items())
    return props


def property_status(properties: Iterable[tuple[str, Any]]) -> Status | None:
    for name, value in properties:
        if name == "aide.status":
            return Status(value)
    return None


@dataclass
class ReportFacts:
    """The few facts of a pytest report the collector needs (kept free of pytest types)."""

    nodeid: str
    when: str
    outcome: str
    properties: Sequence[tuple[str, Any]]
    duration: float
    reason: str = ""


class RunCollector:
    """Folds report facts into check results, in the order checks first report."""

    def __init__(self) -> None:
        self._results: dict[str, CheckResult] = {}

    def add_passed_teardown(self, nodeid: str, duration: float) -> bool:
        """A passed teardown changes nothing but the check's duration (its properties are the call's, already
        applied): count it, without reading the report. False if no earlier report of the check was added."""
        result = self._results.get(nodeid)
        if result is None:
            return False
        result.duration += duration
        return True

    def add(self, facts: ReportFacts, *, default_component: str = "general", default_weight: float = 1.0) -> None:
        result = self._results.get(facts.nodeid)
        if result is None:
            result = self._results[facts.nodeid] = CheckResult(
                facts.nodeid, component=default_component, weight=default_weight
            )
        elif facts.when == "setup":  # a check set up again in the same run: pytest-rerunfailures' next attempt
            result.next_attempt()
        if facts.outcome == "rerun":  # a failed attempt that will run again: judged as the failure it was
            facts = replace(facts, outcome="failed")
        result.duration += facts.duration
        self._apply_properties(result, facts.properties)
        self._note_outcome(result, facts)
        if facts.outcome == "skipped" and result.status is None:
            result.skip_reason = facts.reason
        elif facts.when == "setup":
            self._on_setup(result, facts)
        elif facts.when == "call":
            self._on_call(result, facts)
        elif facts.outcome == "failed":
            self._on_failed_teardown(result, facts)

    @staticmethod
    def _note_outcome(result: CheckResult, facts: ReportFacts) -> None:
        if facts.outcome == "failed":
            result.outcome = "failed" if facts.when == "call" else "error"
        elif facts.outcome == "skipped" or (facts.when == "call" and not result.outcome):
            result.outcome = facts.outcome

    @staticmethod
    def _apply_properties(result: CheckResult, properties: Sequence[tuple[str, Any]]) -> None:
        for name, value in properties:
            if name == "aide.component":
                result.component = str(value)
            elif name == "aide.weight":
                result.weight = float(value)
            elif name == "aide.evidence":
                result.evidence = json.loads(value)
            elif name == FLOOR:
                result.floor = Verdict(value)
            elif name in (DEPENDS_ON, DOWN):
                setattr(result, "depends_on" if name == DEPENDS_ON else "down", [v for v in str(value).split(",") if v])
            elif name == REACHABILITY:
                result.reachability = str(value)
            elif name == MAX_ATTEMPTS:
                result.max_attempts = max(result.max_attempts, int(value))
            elif name.startswith(MEASUREMENT_PREFIX):
                result.measurements[name[len(MEASUREMENT_PREFIX) :]] = json.loads(value)
            elif name == RETRY_CALLS:  # each report carries all so far: the latest replaces
                result.retry_calls = json.loads(value)
            elif name == EXPERIMENTS:
                result.experiments = json.loads(value)

    @staticmethod
    def _on_setup(result: CheckResult, facts: ReportFacts) -> None:
        status = status_of("setup", facts.outcome)
        if status is not None:
            timeout = _timeout(facts.properties)
            result.status = status
            result.message = f"could not run: {timeout_message(timeout) if timeout is not None else facts.reason}"

    @staticmethod
    def _on_call(result: CheckResult, facts: ReportFacts) -> None:
        props = dict(facts.properties)  # one pass over them (each name appears once on a call report)
        raw_tries = props.get(TRIES)
        if raw_tries:
            result.attempts.extend(_tries(raw_tries, first=result.attempt))
        status = props.get("aide.status")
        recorded = status_named(status) if status is not None else None
        unmeasured = bool(props.get(UNMEASURED))
        timeout = float(props[TIMEOUT]) if TIMEOUT in props else None
        message = str(props.get("aide.message", ""))
        result.status = status_of(
            "call",
            facts.outcome,
            recorded=recorded,
            unmeasured=unmeasured,
            timed_out=timeout is not None,
            retried=bool(result.attempts),
        )
        if facts.outcome == "failed" and timeout is not None:
            result.message = timeout_message(timeout)
        elif facts.outcome == "failed":
            result.message = message if recorded is Status.CRITICAL and message else facts.reason
        elif result.attempts and facts.outcome == "passed":  # flaky: say so first, then what it measured
            flaky = flaky_message(result.attempt, result.max_attempts)
            result.message = f"{flaky}; {message}" if message else flaky
        else:
            result.message = message

    @staticmethod
    def _on_failed_teardown(result: CheckResult, facts: ReportFacts) -> None:
        status = status_of("teardown", "failed")
        assert status is not None
        result.status = Status.worst([s for s in (result.status, status) if s is not None])
        extra = f"teardown failed: {facts.reason}"
        result.message = f"{result.message}; {extra}" if result.message else extra

    def add_regression(self, nodeid: str, message: str, severity: Status | None = None) -> None:
        """The check's benchmark failed a comparison (known only at session end): its status is the rule's."""
        result = self._results.get(nodeid)
        if result is None:  # a benchmark outside the checks: still never a healthy verdict beside it
            result = self._results[nodeid] = CheckResult(nodeid, component="performance", outcome="passed")
        result.status = status_of("session", "regressed", recorded=result.status, severity=severity)
        result.regressions.append(message)
        result.message = f"{message}; {result.message}" if result.message else message

    def results(self) -> list[CheckResult]:
        """Every check's result; a check that failed only because a dependency is down is blocked by that
        dependency's root cause (:mod:`pytest_aide.rootcause`)."""
        from pytest_aide.rootcause import root_causes

        results = list(self._results.values())
        for cause in root_causes(results):
            cause.root.root_of = cause.dependency
            for check in cause.blocked:
                check.block(cause.root)
        return results


def _timeout(properties: Sequence[tuple[str, Any]]) -> float | None:
    return next((float(v) for n, v in properties if n == TIMEOUT), None)


def _tries(raw: str, *, first: int) -> list[Attempt]:
    """The failed tries a call report carries (the check's own retries, as JSON), judged as failed calls."""
    tries: list[dict[str, Any]] = json.loads(raw)
    return [
        Attempt(
            outcome=t["outcome"],
            status=status_of(
                "call", "failed", recorded=Status(t["recorded"]) if t["recorded"] else None, unmeasured=t["unmeasured"]
            ),
            message=t["message"],
            measurements=t["measurements"],
            duration=float(t["duration"]),
            evidence=t["evidence"],
            number=first + index,
        )
        for index, t in enumerate(tries)
    ]
