"""Trends over the report archive: mean CPU, memory, API and DB query time of the last 10 runs."""

from __future__ import annotations

import pytest

from pytest_aide.trends import means

pytestmark = [pytest.mark.daily, pytest.mark.weekly, pytest.mark.monthly, pytest.mark.aide(component="trends")]

MIN_SAMPLES = 3


def check_trends(aide_config, aide_health):
    archive = aide_config.path(aide_config.settings.reports.dir)
    found = {name: mean for name, (mean, count) in means(archive).items() if count >= MIN_SAMPLES}
    if not found:
        pytest.skip(f"not enough history yet: trends need {MIN_SAMPLES} archived runs")
    for name, mean in sorted(found.items()):
        aide_health.record(name, mean)
