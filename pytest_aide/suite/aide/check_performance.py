"""Weekly performance benchmark of the API (pytest-benchmark): mean time and throughput of the health path.

Run with ``--benchmark-autosave`` to keep each week's figures and ``pytest-benchmark compare`` to compare
them over time. Under xdist pytest-benchmark turns timing off; the check then times the calls itself.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # annotations only: nothing more is imported when the suite is collected
    from pytest_benchmark.fixture import BenchmarkFixture

    from pytest_aide.config import AideConfig
    from pytest_aide.health import HealthRecorder
    from pytest_aide.probes.http import HttpClient

pytestmark = [pytest.mark.weekly, pytest.mark.monthly, pytest.mark.aide(component="performance")]

ROUNDS = 30


@pytest.mark.aide(timeout=600)  # the load probe: ROUNDS requests, each up to [app] timeout
def check_api_throughput(
    aide_app: HttpClient, aide_config: AideConfig, benchmark: BenchmarkFixture, aide_health: HealthRecorder
) -> None:
    path = aide_config.settings.app.health_path

    def request() -> None:
        probe = aide_app.probe(path)
        assert probe.ok, f"GET {probe.url}: {probe.error}"

    # pytest-benchmark ships py.typed but leaves pedantic() unannotated: the one untyped call in the suite
    benchmark.pedantic(request, rounds=ROUNDS, iterations=1, warmup_rounds=1)  # type: ignore[no-untyped-call]
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        mean = stats.stats.mean
    else:  # pytest-benchmark is disabled (xdist, --benchmark-disable): it called request() once
        began = time.perf_counter()
        for _ in range(ROUNDS):
            request()
        mean = (time.perf_counter() - began) / ROUNDS
    aide_health.record("response_time_s", mean)
    aide_health.record("throughput_ops", 1.0 / mean if mean > 0 else float("inf"))
