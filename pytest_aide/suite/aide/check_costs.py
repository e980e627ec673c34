"""The monthly API cost budget, summed from structured log lines (marker text, then JSON with the cost)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pytest_aide.errors import ProbeError
from pytest_aide.probes.logmarker import sum_marker

if TYPE_CHECKING:  # annotations only: nothing more is imported when the suite is collected
    from pytest_aide.config import AideConfig
    from pytest_aide.health import HealthRecorder

pytestmark = [pytest.mark.daily, pytest.mark.weekly, pytest.mark.monthly, pytest.mark.aide(component="costs")]


def check_cost_budget(aide_config: AideConfig, aide_health: HealthRecorder) -> None:
    """Today's and this month's spend against the monthly limit (warning 3000, critical 5000 JPY)."""
    settings = aide_config.settings.logs
    files = settings.cost_files if settings.cost_files is not None else aide_config.log_paths()
    if not files:
        pytest.skip("not configured: [logs] files / cost_files")
    today = month = 0.0
    bad = counted = read = 0
    for name in files:
        path = aide_config.path(name)
        if not path.exists():
            continue
        totals = sum_marker(path, marker=settings.cost_marker, field=settings.cost_field)
        today += totals.today
        month += totals.this_month
        bad += totals.bad_lines
        counted += totals.lines_counted
        read += 1
    if not read:
        raise ProbeError(f"none of the cost files exists: {', '.join(files)}: check [logs] cost_files")
    if not counted and not bad:  # nothing to measure (yet): a log without cost lines is no budget of 0
        pytest.skip(f"no {settings.cost_marker} lines in {', '.join(files)}: no cost recorded yet")
    aide_health.record("monthly_cost_jpy", month)
    aide_health.record("daily_cost_jpy", today, "JPY")
    aide_health.record("cost_bad_lines", float(bad), "lines")
