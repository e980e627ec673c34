"""One run's alerting: judge every rule on the run's decided verdict, score, statuses and values; remember;
notify; report.

:func:`run_alerts` is called once per run, on the controller, after the verdict is decided (no per-check
cost). In order:

1. every rule observes the run (:meth:`AlertRule.observe`) and steps its state (:func:`step`);
2. in one short transaction of the history database: the states are saved, a firing notification's cooldown
   is claimed, events of digest severities are queued, and a due digest is taken;
3. with no transaction open, the run's message (and the digest, if due) go to every notifier, bounded in time;
4. a message no notifier took is given back (its claims undone), so the next run tries again.

Nothing here raises for a notifier or for the database: what went wrong is in the :class:`AlertReport`,
which the verdict block and ``health.json`` show.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import zoneinfo
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from pytest_aide.alerts.messages import AlertEvent, AlertMessage, MessageKind, iso
from pytest_aide.alerts.notify import Delivery, Notifier, deliver, delivered
from pytest_aide.alerts.rules import AlertRule, Observation
from pytest_aide.alerts.state import RuleState, Step, step
from pytest_aide.alerts.store import AlertStore, Transaction
from pytest_aide.resilience._text import Redact
from pytest_aide.summary import RunSummary

if TYPE_CHECKING:
    from pytest_aide.settings import DigestSettings

Now = Callable[[], datetime]


def utc_now() -> datetime:
    """The real clock (tests give :func:`run_alerts` their own)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class DigestSchedule:
    """Which severities wait for the digest, and when it goes out: the first run at or after ``send_at``."""

    severities: frozenset[str] = frozenset()
    send_at: time = time(8, 0)
    zone: str = "UTC"

    @classmethod
    def from_settings(cls, table: DigestSettings) -> DigestSchedule:
        hours, minutes = (int(part) for part in table.send_at.split(":"))
        return cls(frozenset(table.severities), time(hours, minutes), table.timezone)

    def routes(self, severity: str) -> bool:
        """Whether a notification of ``severity`` waits for the digest (else it goes out at once)."""
        return severity in self.severities

    def last_slot(self, now: datetime) -> datetime:
        """The latest ``send_at`` at or before ``now`` (in the schedule's time zone)."""
        local = now.astimezone(zoneinfo.ZoneInfo(self.zone))
        slot = local.replace(hour=self.send_at.hour, minute=self.send_at.minute, second=0, microsecond=0)
        return slot if slot <= local else slot - timedelta(days=1)

    def describe(self) -> str:
        return f"{self.send_at.strftime('%H:%M')} {self.zone}"


@dataclass(frozen=True)
class RuleReport:
    """What one rule made of the run."""

    rule: AlertRule
    observation: Observation
    step: Step

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule.name,
            "severity": self.rule.severity,
            "watches": self.rule.watches,
            "condition": self.rule.condition.text,
            **self.observation.to_dict(),
            "state": self.step.state.phase,
            "note": self.step.note,
            **({"event": self.step.event} if self.step.event else {}),
        }


@dataclass
class AlertReport:
    """A run's alerting, for the verdict block and ``health.json`` (``alerts``)."""

    rules: list[RuleReport] = field(default_factory=list)
    sent: list[AlertEvent] = field(default_factory=list)  # went out at once (to every notifier that took it)
    queued: list[AlertEvent] = field(default_factory=list)  # wait for the digest
    digest: list[AlertEvent] = field(default_factory=list)  # the digest this run sent
    waiting: int = 0  # events waiting for the next digest after this run
    schedule: DigestSchedule = field(default_factory=DigestSchedule)
    deliveries: list[Delivery] = field(default_factory=list)
    notifiers: int = 0
    given_back: list[str] = field(default_factory=list)  # messages no notifier took: the next run tries again
    problems: list[str] = field(default_factory=list)  # notifiers that could not be set up
    error: str = ""  # the rules could not be judged (the history database failed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rules": [report.to_dict() for report in self.rules],
            "sent": [event.to_dict() for event in self.sent],
            "queued": [event.to_dict() for event in self.queued],
            "digest": {
                "schedule": self.schedule.describe() if self.schedule.severities else None,
                "severities": sorted(self.schedule.severities),
                "sent": [event.to_dict() for event in self.digest],
                "waiting": self.waiting,
            },
            "deliveries": [delivery.to_dict() for delivery in self.deliveries],
            "given_back": self.given_back,
            "problems": self.problems,
            **({"error": self.error} if self.error else {}),
        }

    def lines(self) -> list[str]:
        """The verdict block's ``alerts:`` lines."""
        if self.error:
            return [f"alerts: not judged: {self.error}", *(f"alerts: {p}" for p in self.problems)]
        lines = [f"alerts: {self._rules_line()}"]
        lines.extend(f"  sent: {event.line()}" for event in self.sent)
        if self.queued:
            lines.append(f"  for the {self.schedule.describe()} digest: {', '.join(e.rule for e in self.queued)}")
        if self.digest:
            lines.append(f"  digest sent: {len(self.digest)} notification(s)")
        if self.waiting:
            lines.append(f"  waiting for the next digest: {self.waiting}")
        lines.extend(
            f"alerts: notifier {d.notifier!r} failed ({d.message}): {d.error}" for d in self.deliveries if not d.ok
        )
        lines.extend(
            f"alerts: {'the notification' if kind == 'alerts' else 'the digest'} reached no notifier: the next run"
            " sends it again"
            for kind in self.given_back
        )
        lines.extend(f"alerts: {problem}" for problem in self.problems)
        return lines

    def _rules_line(self) -> str:
        busy = [r for r in self.rules if r.step.state.phase != "ok" or r.step.event]
        if not busy:
            return f"{len(self.rules)} rule(s), none firing"
        return f"{len(self.rules)} rule(s): " + "; ".join(f"{r.rule.name} {r.step.note}" for r in busy)


def run_alerts(
    rules: Sequence[AlertRule],
    summary: RunSummary,
    store: AlertStore,
    notifiers: Sequence[Notifier],
    *,
    schedule: DigestSchedule | None = None,
    now: Now = utc_now,
    redact: Redact = str,
    timeout: float = 60.0,
) -> AlertReport:
    """Judge ``rules`` on the run ``summary`` decided, remember, notify; never raises for a notifier or the
    database (see the module's docstring)."""
    schedule = schedule or DigestSchedule()
    report = AlertReport(schedule=schedule, notifiers=len(notifiers))
    at = now()
    stamp = at.timestamp()
    observed = [(rule, rule.observe(summary)) for rule in rules]
    try:
        claims, digest_claim = _decide(report, observed, store, at, summary, redact)
    except sqlite3.Error as exc:  # rolled back: nothing of this run's judging holds
        return AlertReport(schedule=schedule, error=f"history database {store.path.name}: {exc}")
    batches: list[tuple[MessageKind, list[AlertEvent]]] = [("alerts", report.sent), ("digest", report.digest)]
    messages = [
        AlertMessage(kind, tuple(events), summary.run_id, summary.verdict.value, summary.score, iso(stamp))
        for kind, events in batches
        if events
    ]
    report.deliveries = deliver(messages, notifiers, timeout=timeout, redact=redact)
    _give_back(report, store, stamp, claims, digest_claim)
    return report


def _decide(
    report: AlertReport,
    observed: list[tuple[AlertRule, Observation]],
    store: AlertStore,
    at: datetime,
    summary: RunSummary,
    redact: Redact,
) -> tuple[dict[str, RuleState], tuple[list[int], float | None] | None]:
    """Step every rule, queue and claim, in one transaction; the claims to undo if sending fails."""
    stamp = at.timestamp()
    claims: dict[str, RuleState] = {}
    with store.transaction() as tx:
        states = tx.states(rule.name for rule, _ in observed)
        for rule, observation in observed:
            before = states[rule.name]
            stepped = step(rule, before, observation, stamp)
            tx.save(rule.name, stepped.state, stamp)
            report.rules.append(RuleReport(rule, observation, stepped))
            if stepped.event is None:
                continue
            event = _event(rule, stepped, observation, summary.run_id, stamp, redact)
            if report.schedule.routes(rule.severity):
                tx.queue(event, stamp)
                report.queued.append(event)
            else:
                report.sent.append(event)
                if stepped.event == "firing":
                    claims[rule.name] = before
        digest_claim = _take_digest(report, tx, at)
        report.waiting = tx.waiting()
    return claims, digest_claim


def _take_digest(report: AlertReport, tx: Transaction, at: datetime) -> tuple[list[int], float | None] | None:
    """Take the digest when it is due: the first run after ``send_at`` since the last one (the first run ever
    only starts the count). Without a digest configured, events left waiting go out at once."""
    stamp = at.timestamp()
    mark = tx.digest_mark()
    if mark is None:
        tx.set_digest_mark(stamp)
        return None
    configured = bool(report.schedule.severities)
    if configured and not mark < report.schedule.last_slot(at).timestamp() <= stamp:
        return None
    if not configured and not tx.waiting():
        return None
    ids, events = tx.take_digest(stamp)
    tx.set_digest_mark(stamp)
    report.digest = events
    return ids, mark


def _give_back(
    report: AlertReport,
    store: AlertStore,
    stamp: float,
    claims: dict[str, RuleState],
    digest_claim: tuple[list[int], float | None] | None,
) -> None:
    """Undo the claims of the messages no notifier took, so the next run sends them."""
    undo_alerts = bool(claims) and not delivered("alerts", report.deliveries, report.notifiers)
    undo_digest = digest_claim is not None and bool(report.digest)
    undo_digest = undo_digest and not delivered("digest", report.deliveries, report.notifiers)
    if not (undo_alerts or undo_digest):
        return
    try:
        with store.transaction() as tx:
            if undo_alerts:
                for rule, before in claims.items():
                    tx.undo_claim(rule, stamp, before)
                report.given_back.append("alerts")
                report.rules = [_undelivered(r) if r.rule.name in claims else r for r in report.rules]
            if undo_digest and digest_claim is not None:
                tx.undo_digest(digest_claim[0], stamp, digest_claim[1])
                report.given_back.append("digest")
    except sqlite3.Error as exc:
        report.problems.append(f"could not give back the undelivered notifications: {exc}")


def _undelivered(report: RuleReport) -> RuleReport:
    step_ = dataclasses.replace(report.step, note="firing: not delivered, the next run sends it again")
    return RuleReport(report.rule, report.observation, step_)


def _event(
    rule: AlertRule, stepped: Step, observation: Observation, run_id: str, stamp: float, redact: Redact
) -> AlertEvent:
    assert stepped.event is not None
    since = stepped.state.since if stepped.event == "firing" else None
    return AlertEvent(
        rule=rule.name,
        kind=stepped.event,
        severity=rule.severity,
        watches=redact(rule.watches),
        condition=rule.condition.text,
        value=redact(observation.value),
        detail=redact(observation.detail),
        at=iso(stamp),
        run_id=run_id,
        since=iso(since) if since is not None else None,
        description=redact(rule.description),
    )
