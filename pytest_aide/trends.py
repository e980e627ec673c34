"""Trend analysis over the run history: the mean of a measurement over the last complete runs.

The manual's trend rule looks at the mean of the last 10 samples (CPU > 80 %, memory > 85 %, API > 5 s,
DB query > 1 s warn; thresholds in metrics.py). A sample is a measurement's worst value in one complete run
(not partial, not interrupted) of any schedule that measured it, read from the history database
(:mod:`pytest_aide.history`). Fewer samples than the rule needs is no trend: the check skips and says how
many runs there are, never OK and never UNKNOWN.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_aide.history import History

# measurement recorded by the checks -> trend metric it feeds (thresholds in metrics.py)
TREND_SOURCES: dict[str, str] = {
    "cpu_percent": "trend_cpu_percent",
    "memory_percent": "trend_memory_percent",
    "response_time_s": "trend_api_s",
    "db_query_s": "trend_db_query_s",
}


def not_enough(found: int, wanted: int) -> str:
    """The skip reason of a rule short of history: ``not enough history (3 of 10 runs)``."""
    return f"not enough history ({found} of {wanted} runs)"


@dataclass(frozen=True)
class Trend:
    """The mean of a measurement's last ``wanted`` samples, or None with the number found when short."""

    source: str
    mean: float | None
    found: int
    wanted: int

    @property
    def metric(self) -> str:
        return TREND_SOURCES[self.source]


def trend(history: History, source: str, *, last: int = 10) -> Trend:
    """The trend of measurement ``source`` over the last ``last`` complete runs that measured it."""
    values = history.values(source, last)
    mean = sum(values) / len(values) if len(values) >= last else None
    return Trend(source, mean, len(values), last)
