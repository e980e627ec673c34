"""The target's Redis cache: reachable, latency, memory, hit rate (read-only)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # annotations only: nothing more is imported when the suite is collected
    from pytest_aide.health import HealthRecorder
    from pytest_aide.probes.cache import Cache

pytestmark = [pytest.mark.daily, pytest.mark.weekly, pytest.mark.monthly, pytest.mark.aide(component="cache", weight=2)]


@pytest.mark.gate
@pytest.mark.aide(reachability="cache")  # when cache is down, this check is the root cause
@pytest.mark.aide(floor="UNHEALTHY")  # the app runs without its cache, slowly: act now, not an emergency
def check_cache_server(aide_cache: Cache, aide_health: HealthRecorder) -> None:
    """PING latency, memory used, key count and the server-wide hit rate."""
    aide_health.record("cache_ping_s", aide_cache.ping())
    aide_health.record("cache_memory_mb", aide_cache.memory_used_bytes() / 2**20, "MB")
    aide_health.record("cache_keys", float(aide_cache.keys_count()), "keys")
    hit_rate = aide_cache.hit_rate_percent()
    if hit_rate is not None:
        aide_health.record("cache_hit_rate_percent", hit_rate)
