"""``aide overdue``: the dead-man's switch for another scheduler or monitor to call.

A cron job that died runs nothing, so it cannot report itself. This command reads the archive's run history
and exits 1 when a schedule's newest complete run is older than the schedule's interval plus a grace (or when
the schedule never completed), 0 when every schedule asked about is on time.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_aide.durations import parse_duration
from pytest_aide.errors import AideError, ConfigError

if TYPE_CHECKING:  # imported by the command itself: the parser is built for every `aide` command
    from pytest_aide import history
    from pytest_aide.config import AideConfig


def _duration(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_commands(sub: Any) -> None:
    """Register ``overdue`` on the ``aide`` parser's subparsers."""
    overdue = sub.add_parser(
        "overdue",
        help="exit 1 when a schedule's last complete run is older than its interval + grace (dead-man's switch)",
        description="Read the run history of the report archive and say, per schedule, when its newest "
        "complete run finished. Exit 1 when one is older than its interval ([history.intervals]; daily 24h, "
        "weekly 7d, monthly 31d) plus the grace, or never completed; 0 when all are on time.",
    )
    overdue.add_argument(
        "--schedule",
        action="append",
        metavar="NAME",
        help="watch this schedule (repeatable; default: every schedule that has completed a run)",
    )
    overdue.add_argument("--grace", type=_duration, metavar="DURATION", help="e.g. 2h (default: [history] grace)")
    overdue.add_argument("--json", action="store_true", help="print the result as JSON (for scripts)")
    overdue.set_defaults(run=overdue_command)


def overdue_command(config: AideConfig, args: argparse.Namespace) -> int:
    from pytest_aide import history, schedules

    settings = config.settings.history
    every = schedules.intervals(settings.intervals)
    where = config.source_name
    for name in args.schedule or []:
        if name not in every:
            raise ConfigError(
                f'--schedule {name!r}: no interval for it: add [history.intervals] {name} = "1h" to {where} '
                f"(known: {', '.join(sorted(every))})"
            )
    grace = args.grace if args.grace is not None else parse_duration(settings.grace)
    archive = config.path(config.settings.reports.dir)
    last = _last_runs(archive) if archive.is_dir() else {}
    names = args.schedule or sorted(last)
    now = datetime.now(UTC)
    gaps = [schedules.Gap(name, last.get(name), every[name], grace, now) for name in names if name in every]
    unwatched = [name for name in names if name not in every]
    if args.json:
        print(json.dumps({"history": str(history.history_path(archive)), "schedules": [g.to_dict() for g in gaps]}))
    else:
        if not names:
            print(f"no complete run of a schedule recorded in {history.history_path(archive)}")
        for gap in gaps:
            print(gap.line())
        for name in unwatched:
            print(f"{name}: not watched: no interval (set [history.intervals] {name} in {where})")
    return 1 if not gaps or any(g.overdue for g in gaps) else 0


def _last_runs(archive: Path) -> dict[str, history.LastRun]:
    from pytest_aide import history

    try:
        with history.opened(archive) as con:
            return {run.schedule: run for run in history.last_complete(con)}
    except sqlite3.Error as exc:
        raise AideError(f"{history.history_path(archive)}: cannot read the run history: {exc}") from None
