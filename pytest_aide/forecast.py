"""Capacity forecast: when a growing metric reaches its limit, with a range, from a robust fit.

The fit is Theil-Sen: the slope is the median of the slopes between every pair of samples, so a few odd
runs (a one-off spike, a cleaned-up disk) do not bend it, and Sen's rank-based confidence interval of that
slope gives the range (the method of ``scipy.stats.theilslopes``, written out here so scipy is not needed).
The line goes through the median time and the median value; the forecast is when it meets the limit, and
the range is when the lines with the interval's two slopes meet it. A slope whose interval reaches zero or
below is no forecast: the metric is flat or shrinking, or its growth cannot be told from noise.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import combinations
from typing import TYPE_CHECKING

from pytest_aide.ranges import NagiosRange

if TYPE_CHECKING:
    from pytest_aide.history import History

DAY_S = 86400.0


@dataclass(frozen=True)
class Fit:
    """A Theil-Sen line ``value = intercept + slope * x`` and the confidence interval of its slope."""

    slope: float
    intercept: float
    low: float  # the interval's smaller slope
    high: float
    points: int


def theil_sen(xs: Sequence[float], ys: Sequence[float], confidence: float = 0.95) -> Fit:
    """Fit ``ys`` against ``xs`` (at least 2 points, not all at one x). Ties are corrected for as scipy does."""
    if len(xs) != len(ys) or len(xs) < 2:
        raise ValueError("a fit needs at least two points, as many x as y")
    slopes = sorted(
        (y2 - y1) / (x2 - x1) for (x1, y1), (x2, y2) in combinations(zip(xs, ys, strict=True), 2) if x2 != x1
    )
    if not slopes:
        raise ValueError("a fit needs points at two different times at least")
    slope = statistics.median(slopes)
    intercept = statistics.median(ys) - slope * statistics.median(xs)
    n, count = len(ys), len(slopes)
    z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
    variance = (n * (n - 1) * (2 * n + 5) - _ties(xs) - _ties(ys)) / 18.0
    spread = z * math.sqrt(max(variance, 0.0))
    upper = min(round((count + spread) / 2), count - 1)
    lower = max(round((count - spread) / 2) - 1, 0)
    return Fit(slope, intercept, slopes[lower], slopes[upper], n)


def _ties(values: Sequence[float]) -> float:
    """Kendall's variance correction for groups of equal values: sum of t(t-1)(2t+5)."""
    groups = [values.count(v) for v in set(values)]
    return float(sum(t * (t - 1) * (2 * t + 5) for t in groups))


@dataclass(frozen=True)
class Forecast:
    """When a series reaches its limit: ``days`` from now (None: no forecast, ``reason`` says why) and the range
    from the slope interval's faster (``earliest``) and slower (``latest``) line."""

    days: float | None
    earliest: float = 0.0
    latest: float = 0.0
    reason: str = ""
    slope_per_day: float = 0.0
    points: int = 0

    def describe(self, unit: str = "") -> str:
        """``reaches 100 % in 12 days (range 9 to 18 days; +0.8 %/day over 14 runs)``, or the reason."""
        if self.days is None:
            return self.reason
        per_day = f"{self.slope_per_day:+.3g}{(' ' + unit) if unit else ''}/day"
        spread = f"range {_days(self.earliest)} to {_days(self.latest)}"
        return f"in {_days(self.days)} ({spread}; {per_day} over {self.points} runs)"


def _days(days: float) -> str:
    return "now" if days <= 0 else f"{days:.1f} days" if days < 10 else f"{days:.0f} days"


def forecast(
    times: Sequence[datetime],
    values: Sequence[float],
    limit: float,
    *,
    now: datetime,
    rising: bool = True,
    confidence: float = 0.95,
) -> Forecast:
    """Days from ``now`` until the series reaches ``limit`` (from below when ``rising``, else from above)."""
    origin = times[0]
    xs = [(t - origin).total_seconds() / DAY_S for t in times]
    sign = 1.0 if rising else -1.0
    fit = theil_sen(xs, [sign * v for v in values], confidence)
    per_day = sign * fit.slope
    if fit.slope <= 0 or fit.low <= 0:
        if fit.high < 0:
            trend = "shrinking" if rising else "growing"
        elif fit.slope == 0 and fit.low == fit.high:
            trend = "flat"
        else:
            trend = "no significant growth" if rising else "no significant decline"
        return Forecast(
            None,
            reason=f"no forecast: {trend} ({per_day:+.3g}/day over {fit.points} runs, interval "
            f"{sign * fit.low:+.3g} to {sign * fit.high:+.3g}/day)",
            slope_per_day=per_day,
            points=fit.points,
        )
    pivot_x, pivot_y = statistics.median(xs), statistics.median([sign * v for v in values])
    now_x = (now - origin).total_seconds() / DAY_S

    def days_at(slope: float) -> float:
        return max(pivot_x + (sign * limit - pivot_y) / slope - now_x, 0.0)

    return Forecast(
        days_at(fit.slope),
        earliest=days_at(fit.high),
        latest=days_at(fit.low),
        slope_per_day=per_day,
        points=fit.points,
    )


@dataclass(frozen=True)
class Limit:
    """What a series is forecast to reach: ``value``, from below when ``rising``."""

    value: float
    rising: bool
    why: str  # "100 % (a used share)", "critical threshold 5:"


def limit_for(unit: str, critical: NagiosRange | None) -> Limit | None:
    """A used percentage fills at 100 %; any other metric at its critical threshold (a lower bound such as
    ``5:`` is reached from above); None when there is neither."""
    if critical is not None and not critical.inside and math.isinf(critical.end) and math.isfinite(critical.start):
        return Limit(critical.start, False, f"its critical threshold {critical.text}")
    if unit == "%":
        return Limit(100.0, True, "100 %")
    if critical is not None and not critical.inside and math.isfinite(critical.end):
        return Limit(critical.end, True, f"its critical threshold {critical.text}")
    return None


@dataclass(frozen=True)
class SeriesForecast:
    """The forecast of one check's series of one metric (``forecast`` None: ``reason`` says why)."""

    metric: str
    nodeid: str
    points: int
    limit: Limit | None
    forecast: Forecast | None
    reason: str = ""

    @property
    def label(self) -> str:
        """``disk_percent@check_disk_usage[reports]``: the metric and the check's name with its case."""
        return f"{self.metric}@{self.nodeid.rpartition('::')[2] or self.nodeid}"


def forecast_series(
    history: History,
    metric: str,
    *,
    unit: str,
    critical: NagiosRange | None,
    now: datetime,
    window: int = 30,
    min_points: int = 5,
    confidence: float = 0.95,
) -> list[SeriesForecast]:
    """A forecast for each check that measured ``metric`` in the history (one series per check)."""
    limit = limit_for(unit, critical)
    found = []
    for nodeid in history.checks_measuring(metric, window):
        samples = history.series(metric, window, check=nodeid)
        if limit is None:
            reason = f"no limit to forecast: give [thresholds.{metric}] a critical level"
            found.append(SeriesForecast(metric, nodeid, len(samples), None, None, reason))
        elif len(samples) < min_points or len({s.time for s in samples}) < 2:
            found.append(SeriesForecast(metric, nodeid, len(samples), limit, None, _short(len(samples), min_points)))
        else:
            times, values = [s.time for s in samples], [s.value for s in samples]
            result = forecast(times, values, limit.value, now=now, rising=limit.rising, confidence=confidence)
            found.append(SeriesForecast(metric, nodeid, len(samples), limit, result, result.reason))
    return found


def _short(found: int, wanted: int) -> str:
    return f"not enough history ({found} of {wanted} runs)"
