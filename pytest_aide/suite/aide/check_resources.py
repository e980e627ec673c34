"""Host resources: memory, disk (with the pre-flight 1 GB free minimum), CPU, load, swap, network."""

from __future__ import annotations

import pytest

from pytest_aide.probes import resources as host

pytestmark = [pytest.mark.daily, pytest.mark.weekly, pytest.mark.monthly, pytest.mark.aide(component="host")]


@pytest.mark.gate
def check_memory(aide_health):
    usage = host.memory()
    aide_health.record("memory_percent", usage.percent)
    aide_health.record("memory_available_gb", usage.available_gb, "GB")


@pytest.mark.gate
def check_disk(aide_disk_path, aide_health):
    usage = host.disk_usage(aide_disk_path)
    aide_health.record("disk_percent", usage.percent)
    aide_health.record("free_disk_gb", usage.free_gb)


def check_cpu(aide_resources, aide_health):
    aide_health.record("cpu_percent", aide_resources.cpu_percent())


def check_load(aide_health):
    aide_health.record("load_per_cpu", host.load_average().per_cpu_five)


def check_swap(aide_health):
    usage = host.swap()
    if usage.total_bytes == 0:
        pytest.skip("no swap configured on this host")
    aide_health.record("swap_percent", usage.percent)


def check_network(aide_resources, aide_health):
    rates = aide_resources.network_rates()
    counters = aide_resources.network_counters()
    for name in ("bytes_sent_per_s", "bytes_recv_per_s"):
        aide_health.record(f"network_{name}", rates[name], "B/s")
    for name in ("bytes_sent", "bytes_recv"):
        if name in counters:
            aide_health.record(f"network_{name}_total", float(counters[name]), "B")
