"""Trend analysis over the report archive: the mean of a measurement over the last runs.

The manual's trend rule looks at the mean of the last 10 samples; every archived ``health.json`` is one
sample, so the archive already holds the history and nothing else needs to be stored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

# measurement recorded by the checks -> trend metric it feeds (thresholds in metrics.py)
TREND_SOURCES: dict[str, str] = {
    "cpu_percent": "trend_cpu_percent",
    "memory_percent": "trend_memory_percent",
    "response_time_s": "trend_api_s",
    "db_query_s": "trend_db_query_s",
}


def recent_samples(archive: Path, measurement: str, *, last: int = 10, exclude: str | None = None) -> list[float]:
    """Values of ``measurement`` in the newest ``last`` full archived runs that recorded it (max per run).

    Partial runs (narrowed with ``-k``, ``--lf``, node ids...) are no samples: they chose their checks."""
    samples: list[float] = []
    for health in sorted(archive.glob("*/health.json"), reverse=True):
        if health.parent.name == exclude:
            continue
        value = _max_value(health, measurement)
        if value is not None:
            samples.append(value)
        if len(samples) == last:
            break
    return samples


def _max_value(path: Path, measurement: str) -> float | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("partial"):
            return None
        values = [
            float(check["measurements"][measurement]["value"])
            for check in data.get("checks", [])
            if isinstance(check.get("measurements"), Mapping) and measurement in check["measurements"]
        ]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return max(values) if values else None


def means(archive: Path, *, last: int = 10, exclude: str | None = None) -> dict[str, tuple[float, int]]:
    """Trend metric -> (mean, number of samples) for every source with at least one sample."""
    result = {}
    for measurement, trend in TREND_SOURCES.items():
        samples = recent_samples(archive, measurement, last=last, exclude=exclude)
        if samples:
            result[trend] = (sum(samples) / len(samples), len(samples))
    return result
