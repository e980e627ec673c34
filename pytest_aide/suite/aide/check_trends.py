"""Trends and capacity over the run history: the manual's means of the last 10 runs, and when a growing metric
(disk used %, by default) reaches its limit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from pytest_aide.status import Status
from pytest_aide.trends import TREND_SOURCES, not_enough, trend

if TYPE_CHECKING:  # annotations only: nothing more is imported when the suite is collected
    from pytest_aide.config import AideConfig
    from pytest_aide.health import HealthRecorder
    from pytest_aide.history import History

pytestmark = [pytest.mark.daily, pytest.mark.weekly, pytest.mark.monthly, pytest.mark.aide(component="trends")]


@pytest.mark.parametrize("source", list(TREND_SOURCES))
def check_trends(source: str, aide_config: AideConfig, aide_history: History, aide_health: HealthRecorder) -> None:
    from pytest_aide.history import NO_ARCHIVE

    if not aide_history.available:
        pytest.skip(NO_ARCHIVE)
    found = trend(aide_history, source, last=aide_config.settings.history.trend_samples)
    if found.mean is None:
        pytest.skip(not_enough(found.found, found.wanted))
    aide_health.record(found.metric, found.mean)


def check_capacity_forecast(aide_config: AideConfig, aide_history: History, aide_health: HealthRecorder) -> None:
    from pytest_aide.forecast import forecast_series
    from pytest_aide.history import NO_ARCHIVE

    if not aide_history.available:
        pytest.skip(NO_ARCHIVE)
    settings = aide_config.settings.forecast
    found = []
    for metric in settings.metrics:
        spec = aide_health.thresholds.spec(metric)
        found += forecast_series(
            aide_history,
            metric,
            unit=spec.unit if spec else "",
            critical=aide_health.thresholds.get(metric).critical,
            now=datetime.now(UTC),
            window=settings.window,
            min_points=settings.min_points,
            confidence=settings.confidence / 100,
        )
    if not any(series.points >= settings.min_points for series in found):
        most = max((series.points for series in found), default=0)
        pytest.skip(not_enough(most, settings.min_points))
    for series in found:
        if series.forecast is None or series.forecast.days is None or series.limit is None:
            aide_health.note(f"{series.label}: {series.reason}")
            continue
        spec = aide_health.thresholds.spec(series.metric)
        reaches = f"{series.label} reaches {series.limit.why} {series.forecast.describe(spec.unit if spec else '')}"
        plan = aide_health.thresholds.spec("forecast_days")
        measured = aide_health.record(
            f"forecast_days:{series.label}",
            series.forecast.days,
            metric="forecast_days",
            action=f"{reaches}: {plan.action if plan else 'plan capacity'}",
        )
        if measured.status is Status.OK:
            aide_health.note(reaches)
