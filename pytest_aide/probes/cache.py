"""Redis cache probe: is the cache up, how fast, how full, how useful (hit rate), read-only by construction.

The probe only sends ``PING``, ``INFO`` and ``DBSIZE`` (plus the ``CLIENT SETINFO`` name tag redis-py adds to
every connection): no method writes a key. Every socket wait is bounded by ``timeout`` and redis-py's
default retries are switched off, so a dead or silent server costs one timeout, not four.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from pytest_aide.errors import ProbeError
from pytest_aide.probes.closing import ClosesOnExit
from pytest_aide.probes.database import missing_driver, one_line
from pytest_aide.redact import Redactor, url_redactor

if TYPE_CHECKING:
    import redis

    from pytest_aide.dependencies import Dependency

_SCHEMES = ("redis://", "rediss://", "unix://")
T = TypeVar("T")


def hit_rate(hits: int, misses: int) -> float | None:
    """Percentage of lookups that found their key, or None before any lookup (no data is not 0 %)."""
    total = hits + misses
    return None if total == 0 else hits / total * 100


def unsupported_url(url: str) -> str | None:
    """Why ``url`` names no cache this module can open (its password masked), or None: the configuration is
    checked with this at load time, and :func:`open_cache` says the same."""
    if url.lower().startswith(_SCHEMES):
        return None
    display = url_redactor(url).redact(url)
    return f"unsupported cache URL {one_line(display, 120)}: expected redis://, rediss:// or unix://"


def open_cache(url: str, *, timeout: float = 2.0, dependency: Dependency | None = None) -> Cache:
    """Connect and ``PING`` once, so an unreachable cache fails here with a one-line ProbeError.

    With a ``dependency`` (the cache's circuit), that PING and every later command go through it.
    """
    redactor = url_redactor(url)
    display = redactor.redact(url)
    problem = unsupported_url(url)
    if problem is not None:
        raise ProbeError(problem)
    if not timeout > 0:
        raise ProbeError(f"cache timeout must be a positive number of seconds, got {timeout!r}")
    try:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry
    except ImportError:
        raise missing_driver("Redis", "redis") from None
    try:
        client = redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
    except ValueError as exc:
        raise ProbeError(redactor.redact(f"invalid cache URL {display}: {one_line(str(exc))}")) from None
    cache = Cache(client, display_url=display, timeout=timeout, redactor=redactor)
    cache.dependency = dependency
    try:
        cache.ping()
    except ProbeError:
        cache.close()
        raise
    return cache


class Cache(ClosesOnExit):
    """A read-only view of one Redis database; use it as a context manager so it is always closed."""

    def __init__(self, client: redis.Redis, *, display_url: str, timeout: float, redactor: Redactor) -> None:
        self.display_url = display_url
        self.timeout = timeout
        self._client = client
        self._redactor = redactor
        self.dependency: Dependency | None = None  # the cache's circuit: every command goes through it

    def __repr__(self) -> str:
        return f"<Cache {self.display_url}>"

    def ping(self) -> float:
        """Seconds for one ``PING`` round trip."""
        start = time.perf_counter()
        self._call("PING", self._client.ping)
        return time.perf_counter() - start

    def info(self, section: str | None = None) -> dict[str, Any]:
        """``INFO`` (one section, or the default ones) as redis-py parses it."""
        return dict(self._call("INFO", lambda: self._client.info(section)))

    def memory_used_bytes(self) -> int:
        """``used_memory``: bytes Redis has allocated, what ``maxmemory`` is compared with."""
        return int(self.info("memory")["used_memory"])

    def hit_rate_percent(self) -> float | None:
        """Hit rate since the server's statistics were last reset; None when nothing was looked up yet."""
        stats = self.info("stats")
        return hit_rate(int(stats.get("keyspace_hits", 0)), int(stats.get("keyspace_misses", 0)))

    def keys_count(self) -> int:
        """Keys in the selected database (``DBSIZE``)."""
        return int(self._call("DBSIZE", self._client.dbsize))

    def close(self) -> None:
        """Drop the connection pool; calling it twice is harmless."""
        self._client.close()

    def _call(self, command: str, call: Callable[[], T]) -> T:
        """Run one command (through the cache's circuit, when it has one)."""
        if self.dependency is None:
            return self._run(command, call)
        return self.dependency.call(self._run, command, call)

    def _run(self, command: str, call: Callable[[], T]) -> T:
        """Run one command, turning redis-py's errors into one-line, secret-free ProbeErrors."""
        import redis

        try:
            return call()
        except redis.TimeoutError:
            raise self._error(f"{command}: no answer within {self.timeout:g} s") from None
        except redis.ConnectionError as exc:  # AuthenticationError is one too
            raise self._error(f"cannot connect: {one_line(str(exc))}") from None
        except redis.RedisError as exc:
            raise self._error(f"{command} failed: {one_line(str(exc))}") from None

    def _error(self, message: str) -> ProbeError:
        return ProbeError(self._redactor.redact(f"cache {self.display_url}: {message}"))
