"""What notifiers receive: alert events, grouped into one message per run (and one per digest).

A message's :meth:`AlertMessage.payload` is the JSON the webhook posts: a Slack-compatible ``text`` (one line
per event) and the same facts as data under ``aide``. Events cross the history database as JSON while they wait
for a digest, so they are plain data (:meth:`AlertEvent.to_dict` / :meth:`AlertEvent.from_dict`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

MessageKind = Literal["alerts", "digest"]


@dataclass(frozen=True)
class AlertEvent:
    """A rule fired (or fired again after its cooldown), or resolved, in one run."""

    rule: str
    kind: Literal["firing", "resolved"]
    severity: str
    watches: str  # what the rule reads: "health_score", "check_api_health status"
    condition: str  # "< 50"
    value: str  # the value that made it fire (or the value now, when resolved)
    detail: str  # where the value comes from
    at: str  # ISO 8601 UTC
    run_id: str
    since: str | None = None  # when it started firing (ISO 8601 UTC)
    description: str = ""

    def line(self) -> str:
        """``[CRITICAL] low_health_score: health_score < 50 (the run's score: 42)``."""
        if self.kind == "resolved":
            text = f"[RESOLVED] {self.rule}: {self.watches} {self.condition} no longer holds ({self.detail})"
        else:
            text = f"[{self.severity.upper()}] {self.rule}: {self.watches} {self.condition} ({self.detail})"
        return f"{text}: {self.description}" if self.description else text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlertEvent:
        return cls(**data)


@dataclass(frozen=True)
class AlertMessage:
    """One notification: the run's immediate events, or a digest of events that waited for it."""

    kind: MessageKind
    events: tuple[AlertEvent, ...]
    run_id: str
    verdict: str
    score: float | None
    at: str

    @property
    def text(self) -> str:
        """Plain text with a headline; Slack shows it as the message (its ``text`` field)."""
        score = "n/a" if self.score is None else f"{self.score:g}/100"
        run = f"run {self.run_id}: {self.verdict}, score {score}"
        if self.kind == "digest":
            head = f"pytest-aide digest: {len(self.events)} alert notification(s) since the last digest ({run})"
        else:
            head = f"pytest-aide: {_count(self.events)} ({run})"
        return "\n".join([head, *(event.line() for event in self.events)])

    def payload(self) -> dict[str, Any]:
        """The JSON body a webhook posts."""
        return {
            "text": self.text,
            "aide": {
                "kind": self.kind,
                "run_id": self.run_id,
                "verdict": self.verdict,
                "score": self.score,
                "at": self.at,
                "events": [event.to_dict() for event in self.events],
            },
        }


def _count(events: tuple[AlertEvent, ...]) -> str:
    firing = sum(1 for event in events if event.kind == "firing")
    resolved = len(events) - firing
    parts = [f"{firing} alert(s) firing" if firing else "", f"{resolved} resolved" if resolved else ""]
    return ", ".join(part for part in parts if part)


def iso(epoch: float) -> str:
    """``2026-11-30T16:44:45+00:00`` for seconds since the epoch."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")
