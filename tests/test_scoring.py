"""Score bands (90/70/40), verdict caps and weights."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_aide.scoring import Scored, band, score, verdict
from pytest_aide.status import Status, Verdict

OK, WARNING, UNKNOWN, CRITICAL = Status.OK, Status.WARNING, Status.UNKNOWN, Status.CRITICAL


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (100, Verdict.HEALTHY),
        (90, Verdict.HEALTHY),
        (89.99, Verdict.DEGRADED),
        (70, Verdict.DEGRADED),
        (69.99, Verdict.UNHEALTHY),
        (40, Verdict.UNHEALTHY),
        (39.9, Verdict.CRITICAL),
        (0, Verdict.CRITICAL),
        (-1, Verdict.CRITICAL),
    ],
)
def test_bands_at_their_exact_edges(value: float, expected: Verdict) -> None:
    assert band(value) is expected


def test_no_checks_is_healthy_without_score() -> None:
    assert verdict([]) == (Verdict.HEALTHY, None)
    assert score([]) is None


def test_all_ok_is_healthy_100() -> None:
    assert verdict([Scored(OK)] * 3) == (Verdict.HEALTHY, 100.0)


def test_points_per_status() -> None:
    assert score([Scored(WARNING)]) == 50.0
    assert score([Scored(UNKNOWN)]) == 0.0
    assert score([Scored(CRITICAL)]) == 0.0
    assert score([Scored(OK), Scored(OK), Scored(WARNING)]) == 83.3  # rounded to one decimal


def test_one_critical_among_many_ok_is_capped_at_unhealthy() -> None:
    checks = [Scored(OK)] * 99 + [Scored(CRITICAL)]
    result, value = verdict(checks)
    assert value == 99.0  # the band alone would say HEALTHY
    assert result is Verdict.UNHEALTHY


@pytest.mark.parametrize("status", [WARNING, UNKNOWN])
def test_one_warning_or_unknown_among_many_ok_is_capped_at_degraded(status: Status) -> None:
    result, value = verdict([Scored(OK)] * 99 + [Scored(status)])
    assert value is not None
    assert value >= 90
    assert result is Verdict.DEGRADED


def test_cap_does_not_improve_a_worse_band() -> None:
    assert verdict([Scored(CRITICAL)] * 3) == (Verdict.CRITICAL, 0.0)
    assert verdict([Scored(WARNING), Scored(CRITICAL)]) == (Verdict.CRITICAL, 25.0)
    assert verdict([Scored(WARNING)]) == (Verdict.UNHEALTHY, 50.0)


def test_weights_matter() -> None:
    light = [Scored(OK, weight=3), Scored(WARNING, weight=1)]
    heavy = [Scored(OK, weight=1), Scored(WARNING, weight=3)]
    assert score(light) == 87.5
    assert score(heavy) == 62.5
    assert verdict(light)[0] is Verdict.DEGRADED
    assert verdict(heavy)[0] is Verdict.UNHEALTHY


def test_zero_weight_check_still_caps_the_verdict() -> None:
    result, value = verdict([Scored(OK), Scored(CRITICAL, weight=0)])
    assert value == 100.0
    assert result is Verdict.UNHEALTHY


def test_only_zero_weights_give_no_score() -> None:
    assert score([Scored(OK, weight=0)]) is None


CAP = {OK: Verdict.HEALTHY, WARNING: Verdict.DEGRADED, UNKNOWN: Verdict.DEGRADED, CRITICAL: Verdict.UNHEALTHY}
checks_strategy = st.lists(
    st.builds(Scored, st.sampled_from(list(Status)), st.floats(min_value=0.01, max_value=100)), max_size=30
)


@given(checks=checks_strategy)
def test_score_is_within_0_and_100(checks: list[Scored]) -> None:
    value = score(checks)
    assert (value is None) == (not checks)
    assert value is None or 0 <= value <= 100


@given(checks=checks_strategy, weight=st.floats(min_value=0.01, max_value=100))
def test_adding_an_ok_check_never_lowers_the_score_or_worsens_the_verdict(checks: list[Scored], weight: float) -> None:
    before_verdict, before = verdict(checks)
    after_verdict, after = verdict([*checks, Scored(OK, weight)])
    assert after is not None
    assert before is None or after >= before
    assert after_verdict.rank <= before_verdict.rank


@given(checks=checks_strategy)
def test_verdict_is_never_better_than_the_worst_checks_cap(checks: list[Scored]) -> None:
    result, value = verdict(checks)
    worst_cap = max((CAP[c.status] for c in checks), key=lambda v: v.rank, default=Verdict.HEALTHY)
    assert result.rank >= worst_cap.rank
    assert result.rank >= (band(value) if value is not None else Verdict.HEALTHY).rank
    assert result is (band(value) if value is not None else Verdict.HEALTHY) or result is worst_cap
