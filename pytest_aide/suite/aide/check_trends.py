"""Trends over the report archive: mean CPU, memory, API and DB query time of the last 10 runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pytest_aide.trends import means

if TYPE_CHECKING:  # annotations only: nothing more is imported when the suite is collected
    from pytest_aide.config import AideConfig
    from pytest_aide.health import HealthRecorder

pytestmark = [pytest.mark.daily, pytest.mark.weekly, pytest.mark.monthly, pytest.mark.aide(component="trends")]

MIN_SAMPLES = 3


def check_trends(aide_config: AideConfig, aide_health: HealthRecorder) -> None:
    archive = aide_config.path(aide_config.settings.reports.dir)
    found = {name: mean for name, (mean, count) in means(archive).items() if count >= MIN_SAMPLES}
    if not found:
        pytest.skip(f"not enough history yet: trends need {MIN_SAMPLES} archived runs")
    for name, mean in sorted(found.items()):
        aide_health.record(name, mean)
