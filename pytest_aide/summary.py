"""The run summary: verdict, score, counts and worst checks — shared by terminal, JSON, JUnit and HTML.

``health.json`` is :meth:`RunSummary.to_dict` (schema ``pytest-aide/health/1``, documented in README.md).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pytest_aide import scoring
from pytest_aide.results import CheckResult
from pytest_aide.status import Status, Verdict

SCHEMA = "pytest-aide/health/1"
COUNT_KEYS = ("OK", "WARNING", "CRITICAL", "UNKNOWN", "SKIPPED")


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

    @property
    def partial(self) -> bool:
        """A narrowed run (``-k``, ``--lf``, node ids...): archived, but never a sample for trends."""
        return bool(self.partial_reason)

    @classmethod
    def build(cls, *, checks: list[CheckResult], **fields: Any) -> RunSummary:
        scored = [scoring.Scored(c.status, c.weight) for c in checks if c.status is not None]
        verdict, score = scoring.verdict(scored)
        return cls(checks=checks, verdict=verdict, score=score, **fields)

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(c.status.value if c.status else "SKIPPED" for c in self.checks)
        return {key: found.get(key, 0) for key in COUNT_KEYS}

    @property
    def scored_checks(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status is not None]

    def worst(self, limit: int = 5) -> list[CheckResult]:
        """Checks that are not OK, worst first."""
        bad = [c for c in self.scored_checks if c.status is not Status.OK]
        return sorted(bad, key=lambda c: (-c.status.rank if c.status else 0, c.nodeid))[:limit]

    def has(self, status: Status) -> bool:
        return any(c.status is status for c in self.checks)

    def headline(self) -> str:
        """``DEGRADED  score 83.3/100  (watch closely)``."""
        score = "n/a" if self.score is None else f"{self.score:g}/100"
        return f"{self.verdict.value}  score {score}  ({self.verdict.advice})"

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
            "checks": [c.to_dict() for c in self.checks],
        }
