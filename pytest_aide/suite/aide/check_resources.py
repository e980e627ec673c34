"""Host resources: memory, disk (with the pre-flight 1 GB free minimum), CPU, load, swap, network."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_aide.probes import resources as host

if TYPE_CHECKING:  # annotations only: nothing more is imported when the suite is collected
    from pytest_aide.health import HealthRecorder
    from pytest_aide.probes.resources import ResourceSampler

pytestmark = [pytest.mark.daily, pytest.mark.weekly, pytest.mark.monthly, pytest.mark.aide(component="host")]


@pytest.mark.gate
def check_memory(aide_health: HealthRecorder) -> None:
    usage = host.memory()
    aide_health.record("memory_percent", usage.percent)
    aide_health.record("memory_available_gb", usage.available_gb, "GB")


@pytest.mark.gate
def check_disk(aide_disk_path: Path, aide_health: HealthRecorder) -> None:
    usage = host.disk_usage(aide_disk_path)
    aide_health.record("disk_percent", usage.percent)
    aide_health.record("free_disk_gb", usage.free_gb)


def check_cpu(aide_resources: ResourceSampler, aide_health: HealthRecorder) -> None:
    aide_health.record("cpu_percent", aide_resources.cpu_percent())


def check_load(aide_health: HealthRecorder) -> None:
    aide_health.record("load_per_cpu", host.load_average().per_cpu_five)


def check_swap(aide_health: HealthRecorder) -> None:
    usage = host.swap()
    if usage.total_bytes == 0:
        pytest.skip("no swap configured on this host")
    aide_health.record("swap_percent", usage.percent)


def check_network(aide_resources: ResourceSampler, aide_health: HealthRecorder) -> None:
    rates = aide_resources.network_rates()
    counters = aide_resources.network_counters()
    for name in ("bytes_sent_per_s", "bytes_recv_per_s"):
        aide_health.record(f"network_{name}", rates[name], "B/s")
    for name in ("bytes_sent", "bytes_recv"):
        if name in counters:
            aide_health.record(f"network_{name}_total", float(counters[name]), "B")
