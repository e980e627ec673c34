"""Fallback: the first option that works serves; success rates per option and overall."""

from __future__ import annotations

import threading

import pytest

from pytest_aide.resilience import CircuitBreaker, CircuitOpenError, FakeClock, Fallback, FallbackFailed


class Source:
    """An option that fails while ``down``."""

    def __init__(self, value: str) -> None:
        self.value = value
        self.down = False

    def __call__(self) -> str:
        if self.down:
            raise ConnectionError(f"{self.value} unreachable")
        return self.value


def test_the_primary_serves_while_it_works_then_the_alternative() -> None:
    live, cache = Source("live"), Source("cached")
    fallback = Fallback({"live": live, "cache": cache}, name="settings")
    served = fallback.call()
    assert (served.value, served.option, served.index, served.fell_back, served.errors) == (
        "live",
        "live",
        0,
        False,
        (),
    )
    live.down = True
    served = fallback.call()
    assert (served.value, served.option, served.fell_back) == ("cached", "cache", True)
    assert served.errors == (("live", "ConnectionError: live unreachable"),)


def test_every_option_failing_names_each_error() -> None:
    live, cache = Source("live"), Source("cached")
    live.down = cache.down = True
    fallback = Fallback({"live": live, "cache": cache}, name="settings")
    with pytest.raises(FallbackFailed) as caught:
        fallback.call()
    assert str(caught.value) == (
        "settings: every option failed (live: ConnectionError: live unreachable; "
        "cache: ConnectionError: cached unreachable)"
    )
    assert isinstance(caught.value.__cause__, ConnectionError)


def test_success_rates_per_option_and_overall() -> None:
    live, cache = Source("live"), Source("cached")
    fallback = Fallback({"live": live, "cache": cache})
    assert fallback.stats()["success_rate"] is None  # no call yet: no rate, not 0 %
    fallback.call()  # primary
    live.down = True
    fallback.call()  # fallback
    fallback.call()  # fallback
    cache.down = True
    with pytest.raises(FallbackFailed):
        fallback.call()  # nothing
    stats = fallback.stats()
    assert (stats["calls"], stats["served"], stats["failed"]) == (4, 3, 1)
    assert stats["success_rate"] == 0.75
    assert (stats["served_by_primary"], stats["served_by_fallback"]) == (1, 2)
    assert stats["fallback_success_rate"] == pytest.approx(2 / 3)
    assert stats["options"]["live"] == {"attempts": 4, "successes": 1, "failures": 3, "success_rate": 0.25}
    assert stats["options"]["cache"] == {"attempts": 3, "successes": 2, "failures": 1, "success_rate": 2 / 3}


def test_an_error_not_to_fall_back_on_propagates_at_once() -> None:
    cache = Source("cached")
    fallback = Fallback({"live": lambda: {}["key"], "cache": cache}, fall_back_on=ConnectionError)
    with pytest.raises(KeyError):
        fallback.call()
    stats = fallback.stats()
    assert (stats["calls"], stats["failed"], stats["options"]["cache"]["attempts"]) == (1, 1, 0)


def test_a_breaker_refusal_falls_back_without_calling_the_dependency() -> None:
    breaker = CircuitBreaker("upstream", failure_threshold=1, clock=FakeClock())
    breaker.force_open()
    called: list[str] = []
    fallback = Fallback({"live": lambda: breaker.call(lambda: called.append("x")), "cache": lambda: "cached"})
    served = fallback.call()
    assert (served.value, called) == ("cached", [])
    assert served.errors[0][1].startswith(CircuitOpenError.__name__ + ": circuit 'upstream' is forced open")


def test_arguments_reach_every_option_and_threads_share_the_statistics() -> None:
    fallback = Fallback({"double": lambda x: 2 * x})
    start = threading.Barrier(4, timeout=30)

    def work() -> None:
        start.wait()
        for i in range(250):
            assert fallback.call(i).value == 2 * i

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert fallback.stats()["calls"] == 1000


def test_no_option_is_refused() -> None:
    with pytest.raises(ValueError, match="fallback 'empty': at least one option"):
        Fallback({}, name="empty")
