"""The run's breakers by name, and the AIDE guide's emergency procedure: force open all, reset all, health."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest

import pytest_aide.resilience as resilience
from pytest_aide.resilience import BreakerPolicy, BreakerRegistry, CircuitOpenError, FakeClock, State


def test_get_or_create_by_name_with_defaults_and_overrides() -> None:
    registry = BreakerRegistry(BreakerPolicy(failure_threshold=2), clock=FakeClock())
    db = registry.get("db")
    assert registry.get("db") is db
    assert db.policy.failure_threshold == 2
    cache = registry.get("cache", failure_threshold=7)
    assert cache.policy == BreakerPolicy(failure_threshold=7)
    assert registry.get("cache", failure_threshold=1) is cache  # first made wins
    assert len(registry) == 2
    assert "db" in registry
    assert "app" not in registry
    with pytest.raises(TypeError, match="failure_treshold"):
        registry.get("app", failure_treshold=3)


def test_concurrent_first_use_makes_one_breaker() -> None:
    registry = BreakerRegistry(clock=FakeClock())
    start = threading.Barrier(8, timeout=30)
    got: list[object] = []

    def take() -> None:
        start.wait()
        got.append(registry.get("host"))

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(got) == 8
    assert len({id(b) for b in got}) == 1


def test_emergency_force_open_all_then_reset_all() -> None:
    clock = FakeClock()
    registry = BreakerRegistry(BreakerPolicy(failure_threshold=1, recovery_timeout=1), clock=clock)
    for name in ("app", "db", "cache"):
        registry.get(name)
    assert sorted(registry.force_open_all()) == ["app", "cache", "db"]
    clock.advance(3600)  # forced circuits do not half-open by themselves
    for name in ("app", "db", "cache"):
        with pytest.raises(CircuitOpenError, match="forced open"):
            registry.get(name).call(lambda: None)
    assert sorted(registry.reset_all()) == ["app", "cache", "db"]
    assert all(b.state is State.CLOSED for b in registry)
    assert registry.reset_all() == []  # nothing was open


def test_health_summary_splits_healthy_and_unhealthy_as_plain_json_data() -> None:
    clock = FakeClock()
    registry = BreakerRegistry(BreakerPolicy(failure_threshold=1, recovery_timeout=10), clock=clock)
    registry.get("app").call(lambda: "ok")
    with pytest.raises(ConnectionError):
        registry.get("db").call(_refused)
    registry.get("cache")
    summary = registry.health_summary()
    assert summary["healthy"] == ["app", "cache"]
    assert summary["unhealthy"] == ["db"]
    assert summary["total"] == 3
    assert summary["circuits"]["db"]["state"] == "open"
    assert summary["circuits"]["db"]["last_error"] == "ConnectionError: refused"
    assert json.loads(json.dumps(summary)) == summary  # builtin types only: crosses xdist, lands in JSON


def _refused() -> None:
    raise ConnectionError("refused")


def test_merging_the_circuits_of_several_processes_adds_counts_and_keeps_the_worst_state() -> None:
    from pytest_aide.resilience.registry import merge_statistics

    clock = FakeClock()
    controller, worker = BreakerRegistry(clock=clock), BreakerRegistry(clock=clock)
    controller.get("db", failure_threshold=1).call(lambda: 1)
    worker.get("db", failure_threshold=1).record_failure(worker.get("db").before_call(), RuntimeError("timed out"))
    worker.get("cache").call(lambda: 2)
    merged = merge_statistics(controller.statistics(), worker.statistics())
    assert list(merged) == ["cache", "db"]
    db = merged["db"]
    assert (db["state"], db["calls"], db["successes"], db["failures"]) == ("open", 2, 1, 1)
    assert "timed out" in db["last_error"]
    assert merged["cache"]["state"] == "closed"
    assert merge_statistics() == {}


def test_the_circuits_alone_do_not_import_tenacity() -> None:
    """The probe process and the xdist controller (merging the workers' circuit statistics at the end of the
    run) use the circuits only: importing the retry machinery there cost ~20 ms of the run's last step."""
    code = (
        "import sys\n"
        "from pytest_aide.resilience.statistics import merge_statistics\n"
        "print('pytest_aide.resilience.breaker' in sys.modules)\n"  # the controller merges without breakers
        "from pytest_aide.resilience import BreakerRegistry\n"
        "from pytest_aide.resilience.registry import merge_statistics as former_home\n"
        "assert former_home is merge_statistics\n"
        "import pytest_aide.resilience as package\n"
        "print(package.fallback.__name__)\n"  # a submodule not imported yet is an attribute, as before
        "print('tenacity' in sys.modules)\n"
        "from pytest_aide.resilience import RetryPolicy\n"
        "print('tenacity' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "pytest_aide.resilience.fallback", "False", "True"]


def test_every_public_name_of_the_package_resolves_and_others_do_not() -> None:
    for name in resilience.__all__:
        assert getattr(resilience, name).__name__ == name
    assert set(resilience.__all__) <= set(dir(resilience))
    for submodule in ("breaker", "clock", "fallback", "registry", "retry"):  # as when __init__ imported them all
        assert getattr(resilience, submodule).__name__ == f"pytest_aide.resilience.{submodule}"
    with pytest.raises(AttributeError, match="RetryPolcy"):
        resilience.RetryPolcy  # noqa: B018


def test_merged_circuits_keep_the_worst_state_whichever_process_had_it() -> None:
    from pytest_aide.resilience.statistics import _STATE_RANK, merge_statistics

    assert set(_STATE_RANK) == {state.value for state in State}
    closed = {"db": {"state": "closed", "calls": 1, "last_error": None}}
    half_open = {"db": {"state": State.HALF_OPEN, "calls": 2, "last_error": "timed out"}}
    opened = {"db": {"state": "open", "calls": 3, "last_error": "refused", "retry_in": 30.0}}
    for parts in ((opened, half_open, closed), (closed, half_open, opened), (half_open, opened, closed)):
        merged = merge_statistics(*parts)["db"]
        assert (merged["state"], merged["calls"], merged["last_error"]) == ("open", 6, "refused")
    assert merge_statistics(half_open, closed)["db"]["state"] == State.HALF_OPEN
