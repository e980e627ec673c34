"""One definition of a percentile, shared by the load probe's latencies and a benchmark's rounds."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(data: Sequence[float], fraction: float) -> float:
    """The ``fraction`` (0..1) percentile of ``data``: linear interpolation between the closest ranks (the
    "inclusive" method of :func:`statistics.quantiles`), never outside the data however floats round."""
    if not data:
        raise ValueError("no data")
    ordered = sorted(data)
    position = min(max(fraction, 0.0), 1.0) * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    value = ordered[low] + (ordered[high] - ordered[low]) * (position - low)
    return min(max(value, ordered[low]), ordered[high])
