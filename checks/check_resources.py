"""Host resources: memory, disk (with the pre-flight 1 GB free minimum), CPU, load, swap, network."""

from __future__ import annotations

import pytest

from pytest_aide.probes import resources as host

pytestmark = [pytest.mark.daily, pytest.mark.weekly, pytest.mark.monthly, pytest.mark.aide(component="host")]


@pytest.mark.gate
def check_memory(health):
    usage = host.memory()
    health.record("memory_percent", usage.percent)
    health.record("memory_available_gb", usage.available_gb, "GB")


@pytest.mark.gate
def check_disk(disk_path, health):
    usage = host.disk_usage(disk_path)
    health.record("disk_percent", usage.percent)
    health.record("free_disk_gb", usage.free_gb)


def check_cpu(resources, health):
    health.record("cpu_percent", resources.cpu_percent())


def check_load(health):
    health.record("load_per_cpu", host.load_average().per_cpu_five)


def check_swap(health):
    usage = host.swap()
    if usage.total_bytes == 0:
        pytest.skip("no swap configured on this host")
    health.record("swap_percent", usage.percent)


def check_network(resources, health):
    rates = resources.network_rates()
    counters = resources.network_counters()
    for name in ("bytes_sent_per_s", "bytes_recv_per_s"):
        health.record(f"network_{name}", rates[name], "B/s")
    for name in ("bytes_sent", "bytes_recv"):
        if name in counters:
            health.record(f"network_{name}_total", float(counters[name]), "B")
