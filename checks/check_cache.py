"""The target's Redis cache: reachable, latency, memory, hit rate (read-only)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.daily, pytest.mark.weekly, pytest.mark.monthly, pytest.mark.aide(component="cache", weight=2)]


@pytest.mark.gate
def check_cache_server(cache, health):
    """PING latency, memory used, key count and the server-wide hit rate."""
    health.record("cache_ping_s", cache.ping())
    health.record("cache_memory_mb", cache.memory_used_bytes() / 2**20, "MB")
    health.record("cache_keys", float(cache.keys_count()), "keys")
    hit_rate = cache.hit_rate_percent()
    if hit_rate is not None:
        health.record("cache_hit_rate_percent", hit_rate)
