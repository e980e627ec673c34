"""Fallback: the first option that works serves; success rates per option and overall."""

from __future__ import annotations

import contextlib
import json
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_aide.resilience import (
    CircuitBreaker,
    CircuitOpenError,
    FakeClock,
    Fallback,
    FallbackFailed,
    FallbackRegistry,
)
from pytest_aide.resilience.fallback import merge_fallback_statistics


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


# --- the run's fallbacks: one record per name, every process merged -----------------------------------------


def test_fallbacks_made_afresh_under_one_name_add_to_one_record() -> None:
    fallbacks = FallbackRegistry()
    live = Source("live")
    for down in (False, True, True):  # each check builds its own fallback, over its own objects
        live.down = down
        fallbacks.make("settings", {"live": live, "cached": Source("cached")}).call()
    fallbacks.make("flags", {"remote": Source("remote")}).call()
    stats = fallbacks.statistics()
    assert list(stats) == ["flags", "settings"]
    settings = stats["settings"]
    assert (settings["calls"], settings["served_by_primary"], settings["served_by_fallback"]) == (3, 1, 2)
    assert settings["options"]["live"] == {"attempts": 3, "successes": 1, "failures": 2, "success_rate": 1 / 3}
    assert settings["options"]["cached"] == {"attempts": 2, "successes": 2, "failures": 0, "success_rate": 1.0}
    assert settings["fallback_success_rate"] == 1.0
    json.dumps(stats)  # builtin types: they cross the xdist boundary


def test_an_unused_alternative_is_listed_with_no_attempt() -> None:
    fallbacks = FallbackRegistry()
    fallbacks.make("settings", {"live": Source("live"), "cached": Source("cached")}).call()
    assert fallbacks.statistics()["settings"]["options"]["cached"] == {
        "attempts": 0,
        "successes": 0,
        "failures": 0,
        "success_rate": None,
    }


def test_threads_making_and_calling_one_name_lose_no_count() -> None:
    fallbacks = FallbackRegistry()
    down = Source("live")
    down.down = True

    def work() -> None:
        for _ in range(200):
            fallbacks.make("settings", {"live": down, "cached": Source("cached")}).call()

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = fallbacks.statistics()["settings"]
    assert (stats["calls"], stats["served_by_fallback"], stats["options"]["live"]["attempts"]) == (1600, 1600, 1600)


calls_of_one_process = st.lists(st.tuples(st.sampled_from(["a", "b"]), st.lists(st.booleans(), max_size=3)))


@given(st.lists(calls_of_one_process, min_size=1, max_size=4))
def test_merging_processes_gives_what_one_process_doing_every_call_would(
    processes: list[list[tuple[str, list[bool]]]],
) -> None:
    """Each call: a fallback name and which of its options work (primary first)."""
    whole, parts = FallbackRegistry(), []
    for calls in processes:
        part = FallbackRegistry()
        for registry in (whole, part):
            for name, working in calls:
                _call(registry, name, working)
        parts.append(part.statistics())
    assert merge_fallback_statistics(*parts) == whole.statistics()


def _call(registry: FallbackRegistry, name: str, working: list[bool]) -> None:
    options = {f"option{i}": (lambda ok=ok: "v" if ok else _refused()) for i, ok in enumerate(working or [False])}
    with contextlib.suppress(FallbackFailed):
        registry.make(name, options).call()


def _refused() -> str:
    raise ConnectionError("refused")


def test_merging_nothing_is_nothing() -> None:
    assert merge_fallback_statistics() == {}
