"""The circuits' statistics of several processes merged into one view: plain data in, plain data out.

The xdist controller merges its workers' and its probe process's circuits at the end of a run, a process
that has made no breaker of its own: this needs neither the breakers nor the retry machinery imported.
"""

from __future__ import annotations

from typing import Any

_STATE_RANK = {"closed": 0, "half-open": 1, "open": 2}  # the values of breaker.State, worst last
_COUNTS = ("calls", "successes", "failures", "rejections", "state_change_count")


def merge_statistics(*per_process: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """One view of the circuits of several processes (the xdist controller's, each worker's and its probe
    process's registries):
    counts added up, the worst state kept with its last error, each process's state changes after the last's
    (their times count from when that process made the breaker)."""
    merged: dict[str, dict[str, Any]] = {}
    for statistics in per_process:
        for name, stats in statistics.items():
            seen = merged.get(name)
            if seen is None:
                merged[name] = {**stats, "state_changes": list(stats.get("state_changes", []))}
                continue
            for key in _COUNTS:
                seen[key] = seen.get(key, 0) + stats.get(key, 0)
            seen["state_changes"] = [*seen["state_changes"], *stats.get("state_changes", [])]
            if _STATE_RANK.get(str(stats["state"]), 0) > _STATE_RANK.get(str(seen["state"]), 0):
                seen.update(state=stats["state"], last_error=stats.get("last_error"), retry_in=stats.get("retry_in"))
            elif seen.get("last_error") is None:
                seen["last_error"] = stats.get("last_error")
    return dict(sorted(merged.items()))
