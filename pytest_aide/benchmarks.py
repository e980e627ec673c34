"""pytest-benchmark's figures in the verdict: thresholds on a benchmark's statistics, and its regressions.

A check that uses pytest-benchmark's ``benchmark`` fixture gets three measurements from the rounds it timed:
``benchmark_mean_s`` and ``benchmark_p95_s`` (judged like a response time: the seeds' 1 s / 3 s) and
``benchmark_ops`` (operations per second, judged like throughput: the seeds' 100 / 50 ops/s). Each is a
metric of the catalogue, so ``[thresholds.benchmark_ops]`` fits them to what the check times.

A comparison that fails ``--benchmark-compare-fail`` is known only when pytest-benchmark finishes its session;
:func:`find_regressions` turns pytest-benchmark's own comparison rows into :class:`Regression` facts, and the
results give the check its status from the one rule table (``("session", "regressed")``).

No pytest here: the wiring (:mod:`pytest_aide.benchmark_hooks`) hands in plain numbers and dicts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pytest_aide.health import HealthRecorder
from pytest_aide.percentiles import percentile

MEAN, P95, OPS = "benchmark_mean_s", "benchmark_p95_s", "benchmark_ops"


def record_statistics(recorder: HealthRecorder, rounds: Sequence[float]) -> None:
    """Record a benchmark's mean, 95th percentile and operations per second from its timed rounds (seconds
    per operation each); nothing when it timed none (pytest-benchmark disabled, e.g. under xdist)."""
    if not rounds:
        return
    mean = math.fsum(rounds) / len(rounds)
    recorder.record(MEAN, mean, "s")
    recorder.record(P95, percentile(rounds, 0.95), "s")
    recorder.record(OPS, 1.0 / mean if mean > 0 else float("inf"), "ops/s")


class CompareCheck(Protocol):
    """One ``--benchmark-compare-fail`` expression as pytest-benchmark parses it (``mean:10%``)."""

    def fails(self, current: Mapping[str, Any], compared: Mapping[str, Any]) -> str | None: ...


@dataclass(frozen=True)
class Regression:
    """A benchmark that failed a comparison with an earlier saved run."""

    nodeid: str  # pytest-benchmark's ``fullname``: the node id of the check that ran it
    reason: str  # pytest-benchmark's words ("Field 'mean' has failed PercentageRegressionCheck: …")
    against: str  # the saved run it was compared with

    @property
    def message(self) -> str:
        return f"benchmark regressed against {self.against}: {self.reason}"


def find_regressions(rows: Iterable[Mapping[str, Any]], checks: Sequence[CompareCheck]) -> list[Regression]:
    """The regressions among pytest-benchmark's prepared rows (``pytest_benchmark_group_stats``' benchmarks).

    A compared row carries the saved run's figures and a ``path``; the current run's row of the same
    ``fullname`` has none. Each pair is judged by pytest-benchmark's own check objects, as it does itself.
    """
    rows = list(rows)
    current = {row["fullname"]: row for row in rows if not row.get("path")}
    found: list[Regression] = []
    for saved in rows:
        now = current.get(saved["fullname"]) if saved.get("path") else None
        if now is None:
            continue
        for check in checks:
            reason = check.fails(now, saved)
            if reason:
                against = str(saved.get("source") or Path(str(saved["path"])).stem)
                found.append(Regression(str(saved["fullname"]), reason, against))
    return found
