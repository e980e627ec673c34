"""The run summary: verdict, score, counts and worst checks — shared by terminal, JSON, JUnit and HTML.

``health.json`` is :meth:`RunSummary.to_dict` (schema ``pytest-aide/health/1``, documented in README.md).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from pytest_aide import scoring
from pytest_aide.resilience_summary import open_circuits, resilience_section
from pytest_aide.results import CheckResult
from pytest_aide.rootcause import RootCause, root_causes
from pytest_aide.status import Status, Verdict

SCHEMA = "pytest-aide/health/1"
COUNT_KEYS = ("OK", "WARNING", "CRITICAL", "UNKNOWN", "SKIPPED")
_STATUS_OF = attrgetter("status")


@dataclass
class RunSummary:
    """Everything a run concluded."""

    run_id: str
    started: str
    finished: str
    host: str
    checks: list[CheckResult]
    target: dict[str, str] = field(default_factory=dict)
    selection: str = ""
    verdict: Verdict = Verdict.HEALTHY
    score: float | None = None
    partial_reason: str = ""  # why the run covered only part of its selection ("-k disk"); "" for a full run
    exit_status: int | None = None  # decided once the gate has been applied
    exit_rule: str = ""  # the rule that decided the exit status, in words
    circuits: dict[str, dict[str, Any]] = field(default_factory=dict)  # the run's circuits, every process merged
    schedule_gap: dict[str, Any] = field(default_factory=dict)  # the dead-man's gap this run found (schedules.Gap)
    alerts: dict[str, Any] | None = None  # the run's alerting (pytest_aide.alerts.engine.AlertReport.to_dict)
    alert_lines: list[str] = field(default_factory=list)  # its lines in the verdict block
    fallbacks: dict[str, dict[str, Any]] = field(default_factory=dict)  # the run's fallbacks, every process merged

    @property
    def partial(self) -> bool:
        """A narrowed run (``-k``, ``--lf``, node ids...): archived, but never a sample for trends."""
        return bool(self.partial_reason)

    @classmethod
    def build(cls, *, checks: list[CheckResult], **fields: Any) -> RunSummary:
        scored = [scoring.Scored(c.status, c.weight, c.floor) for c in checks if c.status is not None]
        verdict, score = scoring.verdict(scored)
        return cls(checks=checks, verdict=verdict, score=score, **fields)

    @property
    def coverage(self) -> dict[str, int]:
        """Checks that measured something (OK, WARNING, CRITICAL) out of the checks selected.

        A skipped check (nothing to measure yet, not configured) and an UNKNOWN one (its target could not be
        read) measured nothing: a run of many of them is not a healthy run, whatever its score."""
        return {"measured": sum(1 for c in self.checks if c.measured), "selected": len(self.checks)}

    def coverage_line(self) -> str:
        """``coverage: 9/12 checks measured (2 skipped, 1 unknown)``."""
        counts = self.counts
        cover = self.coverage
        gaps = [f"{counts[key]} {key.lower()}" for key in ("SKIPPED", "UNKNOWN") if counts[key]]
        return f"coverage: {cover['measured']}/{cover['selected']} checks measured" + (
            f" ({', '.join(gaps)})" if gaps else ""
        )

    def forcing(self) -> list[CheckResult]:
        """Checks whose floor decided the verdict (an essential check CRITICAL or UNKNOWN...).

        A check without a floor forces nothing, so only checks with one are asked: most checks have none, and
        the verdict's rule is read several times per run (terminal, health.json) over all of them."""
        return [
            c
            for c in self.checks
            if c.floor is not None
            and c.status is not None
            and scoring.Scored(c.status, c.weight, c.floor).forced is self.verdict
        ]

    def verdict_rule(self) -> str:
        """Why the verdict is worse than the score's band, in words; "" when the band (or a cap) decided."""
        forcing = self.forcing()
        if not forcing:
            return ""
        failed = ", ".join(f"{c.nodeid} is {c.status.value if c.status else 'SKIPPED'}" for c in forcing)
        rule = "essential check" if self.verdict is Verdict.CRITICAL else f"floor rule: at least {self.verdict.value}"
        return f"{self.verdict.value} ({rule}): {failed}"

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(map(_STATUS_OF, self.checks))  # read by every writer: kept free of Python-level loops
        return {key: found[None if key == "SKIPPED" else Status(key)] for key in COUNT_KEYS}

    @property
    def scored_checks(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status is not None]

    def root_causes(self) -> list[RootCause]:
        """Each dependency that is down: the check that says why, and the checks it blocked."""
        return root_causes(self.checks)

    def worst(self, limit: int = 5) -> list[CheckResult]:
        """Checks that are not OK, worst first; root causes and the checks they blocked are listed apart."""
        bad = [c for c in self.scored_checks if c.status is not Status.OK and not (c.blocked_by or c.root_of)]
        return sorted(bad, key=lambda c: (-c.status.rank if c.status else 0, c.nodeid))[:limit]

    def has(self, status: Status) -> bool:
        return any(c.status is status for c in self.checks)

    def headline(self) -> str:
        """``DEGRADED  score 83.3/100  (watch closely)``."""
        score = "n/a" if self.score is None else f"{self.score:g}/100"
        return f"{self.verdict.value}  score {score}  ({self.verdict.advice})"

    def root_cause_lines(self, limit: int = 10) -> list[str]:
        """The verdict block's lines for each root cause: the check that says why, the blocked beneath it."""
        lines = []
        for cause in self.root_causes():
            status = cause.root.status.value if cause.root.status else "SKIPPED"
            lines.append(f"root cause: {cause.dependency} is down: {status} {cause.root.nodeid}: {cause.root.message}")
            if cause.blocked:
                lines.append(f"  blocked by it ({len(cause.blocked)} UNKNOWN):")
                lines.extend(f"    {check.nodeid}" for check in cause.blocked[:limit])
                if len(cause.blocked) > limit:
                    lines.append(f"    ... and {len(cause.blocked) - limit} more (health.json lists them all)")
        return lines

    def resilience(self) -> dict[str, Any]:
        """What the run's resilience did: every circuit with its statistics and those not closed at the end,
        the checks that passed only after a retry or rerun (flaky), every fallback's success rates, every
        retried attempt (checks and ``aide_retry`` calls) and every chaos experiment (see
        :mod:`pytest_aide.resilience_summary`)."""
        return resilience_section(self.checks, self.circuits, self.fallbacks)

    def circuit_line(self) -> str:
        """``circuits: 1 of 3 open at the end (db:127.0.0.1:5432: ...)``; "" when every circuit is closed."""
        open_ = open_circuits(self.circuits)
        if not open_:
            return ""
        errors = [f"{name} ({self.circuits[name].get('last_error') or 'no error recorded'})" for name in open_]
        return f"circuits: {len(open_)} of {len(self.circuits)} not closed at the end: {', '.join(errors)}"

    def counts_line(self) -> str:
        counts = self.counts
        return ", ".join(f"{counts[key]} {key.lower()}" for key in COUNT_KEYS)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "run_id": self.run_id,
            "started": self.started,
            "finished": self.finished,
            "host": self.host,
            "target": self.target,
            "selection": self.selection,
            "partial": self.partial,
            **({"partial_reason": self.partial_reason} if self.partial else {}),
            "status": self.verdict.value,
            "score": self.score,
            "exit_status": self.exit_status,
            "exit_rule": self.exit_rule,
            "counts": self.counts,
            "coverage": self.coverage,
            **({"verdict_rule": self.verdict_rule()} if self.verdict_rule() else {}),
            "root_causes": [cause.to_dict() for cause in self.root_causes()],
            "resilience": self.resilience(),
            **({"schedule_gap": self.schedule_gap} if self.schedule_gap else {}),
            **({"alerts": self.alerts} if self.alerts is not None else {}),
            "checks": [c.to_dict() for c in self.checks],
        }
