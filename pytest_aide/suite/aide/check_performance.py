"""Weekly performance of the API: a benchmark of the health path (pytest-benchmark) and an opt-in load probe.

The benchmark's rounds are judged like any check's that uses ``benchmark`` (``benchmark_mean_s``,
``benchmark_p95_s``, ``benchmark_ops``) and, in an archived run, saved in the archive, so
``--benchmark-compare-fail=mean:25%`` compares with last week's run. Under xdist pytest-benchmark turns timing
off; the check then times the calls itself (``response_time_s``, ``throughput_ops`` either way).

The load probe runs only when ``[load]`` is configured: load on production is the operator's decision.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from pytest_aide.status import Status

if TYPE_CHECKING:  # annotations only: nothing more is imported when the suite is collected
    from pytest_benchmark.fixture import BenchmarkFixture

    from pytest_aide.config import AideConfig
    from pytest_aide.health import HealthRecorder
    from pytest_aide.probes.http import HttpClient
    from pytest_aide.probes.load import LoadProbe

pytestmark = [pytest.mark.weekly, pytest.mark.monthly, pytest.mark.aide(component="performance")]

ROUNDS = 30


@pytest.mark.aide(timeout=600)  # the benchmark: ROUNDS requests (and a warm-up), each up to [app] timeout
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
        aide_health.note("self-timed: pytest-benchmark is off under xdist or --benchmark-disable")
        began = time.perf_counter()
        for _ in range(ROUNDS):
            request()
        mean = (time.perf_counter() - began) / ROUNDS
    aide_health.record("response_time_s", mean)
    aide_health.record("throughput_ops", 1.0 / mean if mean > 0 else float("inf"))


LOAD_NOT_CONFIGURED = "not configured: [load] (opt-in load probe: path, concurrency, requests, deadline)"


# the probe ends by [load] deadline + one request's timeout; deadline is at most 600 s (settings)
@pytest.mark.aide(timeout=900)
def check_api_load(aide_config: AideConfig, aide_health: HealthRecorder, aide_load: LoadProbe) -> None:
    load = aide_config.settings.load
    if load is None:
        pytest.skip(LOAD_NOT_CONFIGURED)
    result = aide_load.run(
        load.path,
        concurrency=load.concurrency,
        requests=load.requests,
        deadline=load.deadline,
        timeout=load.timeout,
        expect_status=load.expect_status,
    )
    p50, p95, p99 = (result.percentile(fraction) for fraction in (0.5, 0.95, 0.99))
    if p50 is not None and p95 is not None and p99 is not None:  # else no whole response: the error rate says so
        aide_health.record("load_p50_s", p50)
        aide_health.record("load_p95_s", p95)
        aide_health.record("load_p99_s", p99)
    throughput = aide_health.record("load_throughput_ops", result.throughput_ops)
    aide_health.record("load_error_rate_percent", result.error_rate_percent)
    aide_health.note(f"GET {result.url}: {result.summary()}")
    if throughput.status is not Status.OK and result.bound_ops is not None:
        aide_health.note(f"at most {result.bound_ops:.0f} ops/s at {load.concurrency} at a time and this latency")
    if result.errors:
        aide_health.attach("load errors", "\n".join(f"{count} x {text}" for text, count in result.errors.items()))
