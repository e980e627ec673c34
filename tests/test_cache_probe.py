"""The Redis cache probe against the real Redis on 127.0.0.1, plus dead and silent endpoints."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import SilentListener, free_port, timed
from pytest_aide.errors import ProbeError
from pytest_aide.probes.cache import hit_rate, open_cache

SECRET = "s3cret-pw"


@pytest.fixture
def writer(redis_url: str) -> Iterator[object]:
    """A separate, ordinary client: the test's own writes and lookups never go through the probe."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
    yield client
    client.close()


def test_measures(redis_url: str, redis_prefix: str, writer: object) -> None:
    import redis

    assert isinstance(writer, redis.Redis)
    writer.mset({f"{redis_prefix}{i}": "x" * 100 for i in range(3)})
    with open_cache(redis_url) as cache:
        assert cache.display_url == redis_url
        seconds, took = timed(cache.ping)
        assert 0 <= seconds <= took
        assert cache.keys_count() >= 3
        assert cache.memory_used_bytes() > 0
        assert cache.info("server")["redis_version"]
        assert "used_memory" in cache.info("memory")
    assert writer.mget([f"{redis_prefix}{i}" for i in range(3)]) == [b"x" * 100] * 3


def test_hit_rate_follows_lookups(redis_url: str, redis_prefix: str, writer: object) -> None:
    import redis

    assert isinstance(writer, redis.Redis)
    key, missing = f"{redis_prefix}present", f"{redis_prefix}absent"
    writer.set(key, "1")
    with open_cache(redis_url) as cache:
        writer.get(missing)  # at least one miss, so the rate is below 100 % and can rise
        before = cache.hit_rate_percent()
        writer.mget([key] * 1)  # MGET counts one lookup per key
        pipe = writer.pipeline(transaction=False)
        for _ in range(500):
            pipe.get(key)
        pipe.execute()
        after_hits = cache.hit_rate_percent()
        pipe = writer.pipeline(transaction=False)
        for _ in range(500):
            pipe.get(missing)
        pipe.execute()
        after_misses = cache.hit_rate_percent()
    assert before is not None
    assert after_hits is not None
    assert after_misses is not None
    assert before < after_hits <= 100
    assert 0 <= after_misses < after_hits
    assert not writer.exists(missing)


@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=0, max_value=10**12))
def test_hit_rate_formula(hits: int, misses: int) -> None:
    rate = hit_rate(hits, misses)
    if hits + misses == 0:
        assert rate is None
    else:
        assert rate is not None
        assert 0 <= rate <= 100
        assert rate == pytest.approx(hits / (hits + misses) * 100)


def test_refused_port_is_a_probe_error() -> None:
    with pytest.raises(ProbeError, match="cannot connect") as err:
        open_cache(f"redis://:{SECRET}@127.0.0.1:{free_port()}/0", timeout=0.5)
    message = str(err.value)
    assert message.startswith("cache redis://:***@127.0.0.1:")
    assert SECRET not in message
    assert "\n" not in message


def test_silent_listener_is_bounded(silent_listener: SilentListener) -> None:
    port = silent_listener.port
    with pytest.raises(ProbeError, match=r"no answer within 0.3 s") as err:
        open_cache(f"redis://default:{SECRET}@127.0.0.1:{port}/0?password={SECRET}", timeout=0.3)
    assert silent_listener.connections() == 1  # one wait: redis-py's retries (a connection each) are off
    assert SECRET not in str(err.value)


def test_wrong_password_is_reported_without_it(redis_url: str) -> None:
    url = redis_url.replace("redis://", f"redis://aide_nobody:{SECRET}@")
    with pytest.raises(ProbeError) as err:
        open_cache(url)
    message = str(err.value)
    assert SECRET not in message
    assert "\n" not in message
    assert "aide_nobody:***@" in message


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379", "memcached://127.0.0.1", "127.0.0.1:6379"])
def test_unsupported_scheme(url: str) -> None:
    with pytest.raises(ProbeError, match="unsupported cache URL"):
        open_cache(url)


@pytest.mark.parametrize("url", [f"redis://:{SECRET}@127.0.0.1:notaport/0", "redis://127.0.0.1:6379/0?db=x"])
def test_invalid_url(url: str) -> None:
    with pytest.raises(ProbeError, match="invalid cache URL") as err:
        open_cache(url)
    assert SECRET not in str(err.value)


def test_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # makes `import redis` raise ImportError
    with pytest.raises(ProbeError) as err:
        open_cache("redis://127.0.0.1:6379/0")
    assert str(err.value) == "Redis support needs the 'redis' extra: pip install 'pytest-aide[redis]'"
