"""An alert rule's state from one run to the next: pending, firing, resolved, and its cooldown.

:func:`step` is the whole state machine, a pure function of the rule, its state, what this run observed and the
time, so every rule of it is tested with plain numbers (:mod:`pytest_aide.alerts.store` keeps the state between
runs, in the history database).

- A rule whose condition holds in ``failure_threshold`` consecutive runs fires; fewer make it pending.
- A firing rule notifies, then again each run it still holds once ``cooldown`` has passed since its last
  notification (a check run every 5 minutes with a 60-minute cooldown alerts once an hour, not 12 times). The
  cooldown spans incidents: a rule that resolves and fires again within it stays quiet until it ends.
- A firing rule whose condition does not hold in ``success_threshold`` consecutive runs is resolved; the
  resolution is news (``send_on_resolved``) only when the firing was notified.
- A run with no value for the rule (check skipped, metric not measured) changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from pytest_aide.alerts.rules import AlertRule, Observation

Phase = Literal["ok", "pending", "firing"]
EventKind = Literal["firing", "resolved"]


@dataclass(frozen=True)
class RuleState:
    """What is remembered of one rule between runs (times in seconds since the epoch)."""

    phase: Phase = "ok"
    failures: int = 0  # consecutive runs in which the condition held
    successes: int = 0  # consecutive runs in which it did not
    since: float | None = None  # when the rule started firing
    last_sent: float | None = None  # when its last firing notification went out (or was queued for a digest)
    notified: bool = False  # the current firing was notified: its resolution is news

    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "failures": self.failures,
            "successes": self.successes,
            "since": self.since,
            "last_sent": self.last_sent,
            "notified": self.notified,
        }


@dataclass(frozen=True)
class Step:
    """A rule's new state after one run, the notification it calls for (if any) and why, in words."""

    state: RuleState
    event: EventKind | None
    note: str


def step(rule: AlertRule, state: RuleState, observation: Observation, now: float) -> Step:
    """The rule's state after a run that observed ``observation`` at ``now`` (see the module's docstring)."""
    if observation.holds is None:
        return Step(state, None, f"no value: {observation.detail}")
    if observation.holds:
        return _holds(rule, state, now)
    return _clear(rule, state)


def _holds(rule: AlertRule, state: RuleState, now: float) -> Step:
    failures = state.failures + 1
    if state.phase != "firing" and failures < rule.failure_threshold:
        pending = RuleState("pending", failures, 0, last_sent=state.last_sent)
        return Step(pending, None, f"pending: held in {failures} of {rule.failure_threshold} consecutive runs")
    if state.phase == "firing":
        firing = replace(state, failures=failures, successes=0)
    else:
        firing = RuleState("firing", failures, 0, since=now, last_sent=state.last_sent, notified=False)
    quiet_until = cooldown_end(rule, firing.last_sent, now)
    if quiet_until is not None:
        return Step(firing, None, f"firing, in cooldown until {_clock(quiet_until)}")
    return Step(replace(firing, last_sent=now, notified=True), "firing", "firing: notified")


def _clear(rule: AlertRule, state: RuleState) -> Step:
    successes = state.successes + 1
    if state.phase != "firing":
        return Step(RuleState("ok", 0, successes, last_sent=state.last_sent), None, "ok")
    if successes < rule.success_threshold:
        recovering = replace(state, failures=0, successes=successes)
        return Step(recovering, None, f"firing, recovering: clear in {successes} of {rule.success_threshold} runs")
    resolved = RuleState("ok", 0, successes, last_sent=state.last_sent)
    if rule.send_on_resolved and state.notified:
        return Step(resolved, "resolved", "resolved: notified")
    return Step(resolved, None, "resolved")


def cooldown_end(rule: AlertRule, last_sent: float | None, now: float) -> float | None:
    """When the rule's cooldown ends, or None when it may notify now.

    A run whose time is a little *before* the last notification is an overlapping run (it read its clock,
    then waited for the other's transaction): still in the cooldown. Only a clock set back by more than the
    cooldown counts as having ended it."""
    if last_sent is None or abs(now - last_sent) >= rule.cooldown_s:
        return None
    return last_sent + rule.cooldown_s


def _clock(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
