"""The dead-man's switch: is a schedule's newest complete run older than its interval plus a grace?

A cron job that died runs nothing, so nothing inside it can raise the alarm: ``aide overdue`` (for another
scheduler or monitor to call) and the next run of the schedule read the history's last complete run per
schedule (:func:`pytest_aide.history.last_complete`) and compare it with how often the schedule runs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pytest_aide.durations import describe, parse_duration
from pytest_aide.history import LastRun, last_complete, schedule_of

DEFAULT_INTERVALS = {"daily": "24h", "weekly": "7d", "monthly": "31d"}


def intervals(configured: Mapping[str, str]) -> dict[str, timedelta]:
    """Every schedule's interval: the shipped ones, changed or extended by ``[history.intervals]``."""
    return {name: parse_duration(text) for name, text in {**DEFAULT_INTERVALS, **configured}.items()}


@dataclass(frozen=True)
class Gap:
    """How long ago a schedule last completed, against its interval plus the grace."""

    schedule: str
    last: LastRun | None  # None: never completed
    interval: timedelta
    grace: timedelta
    now: datetime

    @property
    def age(self) -> timedelta | None:
        return None if self.last is None else self.now - self.last.finished

    @property
    def overdue(self) -> bool:
        return self.age is None or self.age > self.interval + self.grace

    def line(self) -> str:
        """``daily: OVERDUE: last complete run 20261127-060000-000000 finished 3d 2h ago (every 24h + 1h grace)``."""
        allowed = f"every {describe(self.interval)} + {describe(self.grace)} grace"
        if self.last is None:
            return f"{self.schedule}: OVERDUE: no complete run recorded ({allowed})"
        state = "OVERDUE" if self.overdue else "on time"
        when = self.last.finished.strftime("%Y-%m-%d %H:%M UTC")
        age = describe(self.age or timedelta())
        return f"{self.schedule}: {state}: last complete run {self.last.run_id} finished {when}, {age} ago ({allowed})"

    def gap_line(self) -> str:
        """The verdict block's line when a run finds the runs before it missing."""
        assert self.last is not None
        when = self.last.finished.strftime("%Y-%m-%d %H:%M UTC")
        return (
            f"schedule gap: the previous complete {self.schedule} run ({self.last.run_id}) finished {when}, "
            f"{describe(self.age or timedelta())} before this one (due every {describe(self.interval)} + "
            f"{describe(self.grace)} grace): runs were missed or did not complete"
        )

    def to_dict(self) -> dict[str, Any]:
        """Builtin types for health.json and ``aide overdue --json``."""
        return {
            "schedule": self.schedule,
            "overdue": self.overdue,
            "last_run_id": self.last.run_id if self.last else None,
            "last_finished": self.last.finished.isoformat(timespec="seconds") if self.last else None,
            "age_s": None if self.age is None else round(self.age.total_seconds()),
            "allowed_s": round((self.interval + self.grace).total_seconds()),
        }


def gap_before(
    con: sqlite3.Connection, selection: str, started: datetime, configured: Mapping[str, str], grace: str
) -> Gap | None:
    """The gap a run of ``selection`` started at ``started`` finds since its schedule's previous complete run,
    when that is longer than the interval plus the grace; None when on time, unnamed or never run before."""
    schedule = schedule_of(selection)
    every = intervals(configured).get(schedule or "")
    if schedule is None or every is None:
        return None
    found = last_complete(con, schedule)
    if not found:
        return None
    gap = Gap(schedule, found[0], every, parse_duration(grace), started)
    return gap if gap.overdue else None
