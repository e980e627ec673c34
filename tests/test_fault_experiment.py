"""The chaos-experiment runner with a fake clock: every phase failing in turn, rollback always run (also on
KeyboardInterrupt), each phase's timing as plain data, and one line saying which phase did not hold."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from pytest_aide.faults import Experiment, ExperimentFailed, Experiments, FaultError


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds


class FakeSystem:
    """A target that degrades ``degrade_after`` seconds after the fault and recovers ``recover_after`` seconds
    after the rollback (None: never)."""

    def __init__(
        self, clock: FakeClock, *, degrade_after: float | None = 1.0, recover_after: float | None = 2.0
    ) -> None:
        self.clock = clock
        self.degrade_after, self.recover_after = degrade_after, recover_after
        self.injected_at: float | None = None
        self.rolled_back_at: float | None = None
        self.calls: list[str] = []
        self.status_before = "healthy"

    def inject(self) -> None:
        self.calls.append("inject")
        self.injected_at = self.clock()

    def rollback(self) -> None:
        self.calls.append("rollback")
        self.rolled_back_at = self.clock()

    def health(self) -> str:
        now = self.clock()
        if self.rolled_back_at is not None:
            recovered = self.recover_after is not None and now - self.rolled_back_at >= self.recover_after
            return "healthy" if recovered else "degraded"
        if self.injected_at is not None:
            degraded = self.degrade_after is not None and now - self.injected_at >= self.degrade_after
            return "degraded" if degraded else "healthy"
        return self.status_before


def experiment(system: FakeSystem, clock: FakeClock, **options: Any) -> Experiment:
    settings: dict[str, Any] = {
        "probe": system.health,
        "steady": lambda s: s == "healthy",
        "inject": system.inject,
        "degraded": lambda s: s == "degraded",
        "rollback": system.rollback,
        "degrade_within": 5,
        "recover_within": 10,
        "what": "/api/health",
        "clock": clock,
        "sleep": clock.sleep,
    }
    return Experiment("upstream cut", **{**settings, **options})


def outcomes(result: dict[str, Any]) -> dict[str, str]:
    return {phase["phase"]: phase["outcome"] for phase in result["phases"]}


def test_every_phase_holds_and_is_timed() -> None:
    clock = FakeClock()
    system = FakeSystem(clock, degrade_after=1.0, recover_after=2.0)
    result = experiment(system, clock).check()
    assert result["ok"] is True
    assert result["failed_phase"] is None
    assert outcomes(result) == dict.fromkeys(["steady", "inject", "degrade", "rollback", "recover"], "ok")
    degrade, recover = result["phases"][2], result["phases"][4]
    assert degrade["duration_s"] == 1.0  # the fake clock: exact
    assert degrade["observed"] == "'degraded'"
    assert degrade["probes"] == 5  # polled every 0.25 s
    assert recover["started_s"] == 1.0
    assert recover["duration_s"] == 2.0
    assert result["duration_s"] == 3.0
    assert system.calls == ["inject", "rollback"]


def test_the_record_is_builtin_data_only() -> None:
    clock = FakeClock()
    result = experiment(FakeSystem(clock), clock).run()
    assert json.loads(json.dumps(result)) == result  # crosses xdist and goes into health.json as is


def test_steady_state_not_holding_injects_nothing() -> None:
    clock = FakeClock()
    system = FakeSystem(clock)
    system.status_before = "degraded"
    result = experiment(system, clock).run()
    assert result["message"] == "steady state did not hold before injecting: /api/health was 'degraded'"
    assert result["failed_phase"] == "steady"
    assert system.calls == []
    assert outcomes(result)["inject"] == outcomes(result)["rollback"] == "skipped"


def test_an_injection_that_raises_is_rolled_back_and_recovery_checked() -> None:
    clock = FakeClock()
    system = FakeSystem(clock, recover_after=0)

    def inject() -> None:
        system.calls.append("inject")
        raise OSError("proxy gone")

    result = experiment(system, clock, inject=inject).run()
    assert result["message"] == "inject failed: OSError: proxy gone"
    assert system.calls == ["inject", "rollback"]
    assert outcomes(result) == {
        "steady": "ok",
        "inject": "failed",
        "degrade": "skipped",
        "rollback": "ok",
        "recover": "ok",
    }


def test_no_degradation_says_what_it_saw_and_still_rolls_back() -> None:
    clock = FakeClock()
    system = FakeSystem(clock, degrade_after=None, recover_after=0)
    with pytest.raises(ExperimentFailed) as caught:
        experiment(system, clock).check()
    assert str(caught.value) == "upstream cut: did not degrade within 5 s: /api/health stayed 'healthy'"
    assert system.calls == ["inject", "rollback"]
    assert system.rolled_back_at == 5.0  # the deadline, not an instant more
    result = caught.value.result
    assert result["phases"][2]["probes"] == 21
    assert outcomes(result)["recover"] == "ok"


def test_a_failing_rollback_is_the_failure_and_recovery_is_not_awaited() -> None:
    clock = FakeClock()
    system = FakeSystem(clock)

    def rollback() -> None:
        system.calls.append("rollback")
        raise RuntimeError("proxy refused the mode change")

    result = experiment(system, clock, rollback=rollback).run()
    assert result["message"] == "rollback failed: RuntimeError: proxy refused the mode change"
    assert outcomes(result)["recover"] == "skipped"
    assert clock.now == 1.0  # no wait for a recovery that cannot come


def test_no_recovery_names_the_bound_and_the_last_observation() -> None:
    clock = FakeClock()
    system = FakeSystem(clock, recover_after=None)
    result = experiment(system, clock).run()
    assert result["message"] == "did not recover within 10 s after rollback: /api/health stayed 'degraded'"
    assert result["phases"][4]["duration_s"] == 10.0


def test_mixed_observations_name_the_last_one() -> None:
    clock = FakeClock()
    answers = iter(["healthy", "starting", "starting", "healthy", "healthy", "error"] + ["error"] * 100)
    result = experiment(FakeSystem(clock), clock, probe=lambda: next(answers), degrade_within=1, what=None).run()
    assert result["message"] == "did not degrade within 1 s: the probe was 'error' at the last of 5 probes"


def test_a_probe_that_raises_is_an_observation_and_can_count_as_degraded() -> None:
    clock = FakeClock()
    system = FakeSystem(clock, recover_after=0)

    def probe() -> str:
        if system.injected_at is not None and system.rolled_back_at is None:
            raise ConnectionError("refused")
        return "healthy"

    result = experiment(system, clock, probe=probe, degrade_within=1).run()
    assert result["message"] == "did not degrade within 1 s: /api/health stayed raising ConnectionError: refused"
    clock.now = 0
    system.injected_at = system.rolled_back_at = None
    assert experiment(system, clock, probe=probe, errors_degrade=True).check()["ok"]


def test_a_predicate_that_raises_fails_the_phase_with_its_reason() -> None:
    clock = FakeClock()
    result = experiment(FakeSystem(clock), clock, degraded=lambda s: s["status"] == "degraded", degrade_within=0).run()
    assert result["message"] == (
        "did not degrade within 0 s: /api/health stayed 'healthy' (the predicate raised TypeError: "
        "string indices must be integers, not 'str')"
    )


@pytest.mark.parametrize("where", ["inject", "probe", "rollback"])
def test_keyboard_interrupt_still_rolls_back(where: str) -> None:
    clock = FakeClock()
    system = FakeSystem(clock)

    def inject() -> None:
        system.inject()
        if where == "inject":
            raise KeyboardInterrupt

    def probe() -> str:
        if where == "probe" and system.injected_at is not None:
            raise KeyboardInterrupt
        return system.health()

    def rollback() -> None:
        system.rollback()
        if where == "rollback":
            raise KeyboardInterrupt

    run = experiment(system, clock, inject=inject, probe=probe, rollback=rollback)
    with pytest.raises(KeyboardInterrupt):
        run.run()
    assert system.calls == ["inject", "rollback"]
    interrupted = {"inject": "inject", "probe": "degrade", "rollback": "rollback"}[where]
    assert outcomes(run.result)[interrupted] == "interrupted"
    assert run.result["failed_phase"] == interrupted
    assert run.result["message"] == f"{interrupted} was interrupted"


def test_experiments_keep_every_record_also_of_a_failure() -> None:
    clock = FakeClock()
    system = FakeSystem(clock, degrade_after=None, recover_after=0)
    runner = Experiments(clock=clock, sleep=clock.sleep, what="/api/health")
    common = {"probe": system.health, "steady": lambda s: s == "healthy", "degraded": lambda s: s == "degraded"}
    with pytest.raises(ExperimentFailed, match="did not degrade within 2 s"):
        runner("cut", inject=system.inject, rollback=system.rollback, degrade_within=2, **common)
    assert [r["name"] for r in runner.results] == ["cut"]
    assert runner.results[0]["failed_phase"] == "degrade"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"degrade_within": -1}, "degrade_within must be a number of seconds >= 0, got -1"),
        ({"recover_within": float("nan")}, "recover_within must be a number of seconds >= 0, got nan"),
        ({"poll_interval": 0}, "poll_interval must be > 0 s, got 0"),
    ],
)
def test_bad_bounds_are_one_line(options: dict[str, Any], message: str) -> None:
    clock = FakeClock()
    with pytest.raises(FaultError, match=message):
        experiment(FakeSystem(clock), clock, **options)


@given(
    degrade_after=st.one_of(st.none(), st.floats(0, 20)),
    recover_after=st.one_of(st.none(), st.floats(0, 20)),
    degrade_within=st.floats(0, 10),
    recover_within=st.floats(0, 10),
    poll_interval=st.floats(0.01, 3),
)
def test_ok_exactly_when_both_changes_come_within_their_bounds(
    degrade_after: float | None,
    recover_after: float | None,
    degrade_within: float,
    recover_within: float,
    poll_interval: float,
) -> None:
    for after, within in ((degrade_after, degrade_within), (recover_after, recover_within)):
        assume(after is None or abs(after - within) > 1e-6)  # a float sum of poll steps is not exact at the edge
    clock = FakeClock()
    system = FakeSystem(clock, degrade_after=degrade_after, recover_after=recover_after)
    result = experiment(
        system,
        clock,
        degrade_within=degrade_within,
        recover_within=recover_within,
        poll_interval=poll_interval,
    ).run()
    degrades = degrade_after is not None and degrade_after <= degrade_within
    recovers = recover_after is not None and recover_after <= recover_within
    assert result["ok"] == (degrades and recovers)
    assert system.calls == ["inject", "rollback"]  # rolled back exactly once, whatever happened
    assert result["failed_phase"] == (None if result["ok"] else "degrade" if not degrades else "recover")
    assert json.loads(json.dumps(result)) == result


def test_the_fault_types_are_exported_lazily_from_the_package() -> None:
    import pytest_aide
    from pytest_aide.faults import FaultProxy

    assert pytest_aide.FaultProxy is FaultProxy
    assert pytest_aide.Experiments is Experiments
