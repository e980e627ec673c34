"""Host resources: memory, disk (free space as a share of each volume; the pre-flight 1 GB minimum on the app's
data volume), CPU (mean of a window sampled since the session started), load, swap, network."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_aide.probes import resources as host

if TYPE_CHECKING:  # annotations only: nothing more is imported when the suite is collected
    from pytest_aide.config import AideConfig
    from pytest_aide.health import HealthRecorder
    from pytest_aide.probes.resources import CpuReading, DiskUsage, ResourceSampler

DATA_MIN_FREE = "1:"  # the seeds' "more than 1 GB free" before the app starts, on its data volume only

pytestmark = [pytest.mark.daily, pytest.mark.weekly, pytest.mark.monthly, pytest.mark.aide(component="host")]


@pytest.mark.gate
def check_memory(aide_health: HealthRecorder) -> None:
    usage = host.memory()
    aide_health.record("memory_percent", usage.percent)
    aide_health.record("memory_available_gb", usage.available_gb, "GB")


@pytest.mark.gate
def check_disk(aide_disk_path: Path, aide_config: AideConfig, aide_health: HealthRecorder) -> None:
    record_disk(host.disk_usage(aide_disk_path), aide_health, data=is_data_volume(aide_config, aide_disk_path))


def is_data_volume(config: AideConfig, path: Path) -> bool:
    """True when ``[resources] disk_paths`` marks ``path`` as the app's data (``{ path = ..., data = true }``)."""
    items = config.settings.resources.disk_paths
    return any(not isinstance(item, str) and item.data and config.path(item.path) == path for item in items)


def record_disk(usage: DiskUsage, health: HealthRecorder, *, data: bool) -> None:
    """Used % (80/90) and free space as a share of the volume, which fit a volume of any size; the absolute
    1 GB minimum only for the data volume, unless ``free_disk_gb`` has a critical range configured."""
    health.record("disk_percent", usage.percent)
    # Of the space users can fill, as df counts it: the file system's size may hold much more (reserved
    # blocks, a shared pool), which would make a share of the size fire on a healthy volume.
    health.record("free_disk_percent", round(100.0 - usage.percent, 1))
    minimum = DATA_MIN_FREE if data and health.thresholds.get("free_disk_gb").critical is None else None
    health.record("free_disk_gb", usage.free_gb, critical=minimum)


@pytest.fixture
def aide_cpu_window(aide_resources: ResourceSampler) -> CpuReading:
    """The CPU window read in setup: a sampler that got no samples makes check_cpu UNKNOWN, not CRITICAL."""
    return aide_resources.cpu_window()


def check_cpu(aide_cpu_window: CpuReading, aide_health: HealthRecorder) -> None:
    aide_health.record("cpu_percent", aide_cpu_window.percent)


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
