"""Backups: a fresh verified set every day, a restore drill every week (SEEDS: "Backup and restore")."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # annotations only: nothing more is imported when the suite is collected
    from pytest_aide.backup import BackupManager
    from pytest_aide.health import HealthRecorder

pytestmark = [pytest.mark.aide(component="backup", weight=2)]

HISTORY_MIN_SETS = 3  # the newest and two before it: fewer is no history to compare with
HISTORY_SETS = 10  # the earlier sets whose median the newest is compared with


@pytest.mark.daily
@pytest.mark.weekly
@pytest.mark.monthly
@pytest.mark.aide(timeout=1800)  # verifying a set reads all of it: a large set takes minutes
def check_backup_fresh_and_verified(aide_backup: BackupManager, aide_health: HealthRecorder) -> None:
    """The newest complete set is younger than ``max_age_hours`` and passes verification."""
    sets = aide_backup.list_sets()
    if not sets:  # nothing to measure yet: a fresh install is not failing, and coverage shows the gap
        pytest.skip(f"no backup set yet in {aide_backup.config.dir}: run `aide backup`")
    newest = next((s for s in sets if s.complete), None)
    assert newest is not None, f"no complete backup set in {aide_backup.config.dir}: run `aide backup`"
    age_hours = (datetime.now(UTC) - newest.created).total_seconds() / 3600
    limit = aide_backup.config.max_age_hours
    aide_health.record("backup_age_hours", age_hours, "h", critical=f"{limit:g}")  # [backup] max_age_hours rules
    assert age_hours <= limit, (
        f"newest complete backup {newest.set_id} is {age_hours:.1f} h old "
        f"(limit {limit:g} h): run `aide backup` and check the schedule that runs it"
    )
    if not newest.verified:
        result = aide_backup.verify(newest.set_id)
        for problem in result.problems:
            aide_health.attach(f"verify {newest.set_id}", problem)
        assert result.ok, (
            f"backup {newest.set_id} fails verification: {result.problems[0]}: "
            "run `aide backup` for a new set and look at the backup disk"
        )


@pytest.mark.daily
@pytest.mark.weekly
@pytest.mark.monthly
def check_backup_size_and_duration(aide_backup: BackupManager, aide_health: HealthRecorder) -> None:
    """The newest complete set against the median of the ones before it: a set far smaller than usual has lost
    data (a dump that stopped early, an emptied table, a folder that moved), one far slower is a disk or load
    problem growing. Thresholds: ``backup_size_pct_of_median`` (critical below 50 %) and
    ``backup_duration_pct_of_median`` (warning above 300 %)."""
    complete = [s for s in aide_backup.list_sets() if s.complete]
    if len(complete) < HISTORY_MIN_SETS:
        pytest.skip(f"not enough backup history to compare with ({len(complete)} of {HISTORY_MIN_SETS} complete sets)")
    newest, earlier = complete[0], complete[1 : 1 + HISTORY_SETS]
    size = sum(c.size for c in newest.components)
    median_size = statistics.median(sum(c.size for c in s.components) for s in earlier)
    aide_health.attach(
        "backup sizes",
        f"newest {newest.set_id}: {size} bytes; median of the {len(earlier)} sets before it: {median_size:.0f} bytes",
    )
    aide_health.record("backup_size_pct_of_median", 100.0 * size / median_size if median_size else 100.0, "%")
    durations = [s.duration_s for s in earlier if s.duration_s is not None]
    if newest.duration_s is not None and len(durations) >= HISTORY_MIN_SETS - 1 and statistics.median(durations):
        pct = 100.0 * newest.duration_s / statistics.median(durations)
        aide_health.record("backup_duration_pct_of_median", pct, "%")


@pytest.mark.weekly
@pytest.mark.monthly
@pytest.mark.aide(timeout=3600)  # a restore of the whole set: its own objective (restore_drill_s) judges the time
def check_backup_restore_drill(aide_backup: BackupManager, aide_health: HealthRecorder) -> None:
    """Restore the newest set into scratch space and compare it with its manifest (live data untouched); the
    time it takes is judged against the recovery-time objective (``restore_drill_s``)."""
    if not aide_backup.list_sets():
        pytest.skip(f"no backup set yet in {aide_backup.config.dir}: run `aide backup`")
    started = time.monotonic()
    drill = aide_backup.restore_drill()
    aide_health.record("restore_drill_s", time.monotonic() - started, "s")
    for problem in drill.problems:
        aide_health.attach(f"restore drill {drill.set_id}", problem)
    assert drill.ok, (
        f"restore drill of {drill.set_id or 'the newest set'} failed: {drill.problems[0]}: "
        "take a new backup (`aide backup`) and verify it (`aide verify SET`)"
    )
