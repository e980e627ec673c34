"""Threshold evaluation and the shipped defaults (the operations manuals' table in SEEDS.md)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_aide.metrics import DEFAULT_METRICS
from pytest_aide.status import Status
from pytest_aide.thresholds import Threshold, ThresholdSet

# metric: (warning, critical) exactly as SEEDS.md's "Default thresholds" table gives them.
SEEDS_TABLE = {
    "response_time_s": ("1", "3"),
    "throughput_ops": ("100:", "50:"),
    "error_rate_percent": ("1", "5"),
    "cpu_percent": ("70", "85"),
    "memory_percent": ("80", "90"),
    "disk_percent": ("80", "90"),
    "log_errors": ("10", None),
    "log_size_mb": ("100", None),
    "monthly_cost_jpy": ("3000", "5000"),
    "trend_cpu_percent": ("80", None),
    "trend_memory_percent": ("85", None),
    "trend_api_s": ("5", None),
    "trend_db_query_s": ("1", None),
    "db_query_s": ("1", None),
    "health_score": ("90:", "40:"),
    "free_disk_gb": (None, "1:"),
}


@pytest.mark.parametrize(("metric", "expected"), SEEDS_TABLE.items(), ids=list(SEEDS_TABLE))
def test_shipped_defaults_equal_the_seeds_table(metric: str, expected: tuple[str | None, str | None]) -> None:
    warning, critical = expected
    assert ThresholdSet.defaults().get(metric).to_dict() == {"warning": warning, "critical": critical}


@pytest.mark.parametrize(
    ("metric", "value", "status"),
    [
        ("response_time_s", 0.5, Status.OK),
        ("response_time_s", 2, Status.WARNING),
        ("response_time_s", 3.5, Status.CRITICAL),
        ("throughput_ops", 150, Status.OK),
        ("throughput_ops", 75, Status.WARNING),
        ("throughput_ops", 40, Status.CRITICAL),
        ("error_rate_percent", 0.5, Status.OK),
        ("error_rate_percent", 3, Status.WARNING),
        ("error_rate_percent", 6, Status.CRITICAL),
        ("cpu_percent", 69, Status.OK),
        ("cpu_percent", 70, Status.OK),  # Nagios ranges include their end
        ("cpu_percent", 70.1, Status.WARNING),
        ("cpu_percent", 85.1, Status.CRITICAL),
        ("memory_percent", 85, Status.WARNING),
        ("memory_percent", 93.2, Status.CRITICAL),
        ("disk_percent", 79, Status.OK),
        ("disk_percent", 91, Status.CRITICAL),
        ("log_errors", 10, Status.OK),
        ("log_errors", 11, Status.WARNING),
        ("log_errors", 10_000, Status.WARNING),
        ("monthly_cost_jpy", 2999, Status.OK),
        ("monthly_cost_jpy", 4000, Status.WARNING),
        ("monthly_cost_jpy", 5001, Status.CRITICAL),
        ("health_score", 95, Status.OK),
        ("health_score", 80, Status.WARNING),
        ("health_score", 39, Status.CRITICAL),
        ("free_disk_gb", 0.5, Status.CRITICAL),
        ("free_disk_gb", 50, Status.OK),
    ],
)
def test_defaults_classify_like_the_manuals(metric: str, value: float, status: Status) -> None:
    assert ThresholdSet.defaults().get(metric).evaluate(value) is status


def test_every_default_metric_parses_and_has_an_action() -> None:
    defaults = ThresholdSet.defaults()
    for name, spec in DEFAULT_METRICS.items():
        assert name in defaults
        assert spec.action.strip(), name


def test_critical_beats_warning_when_both_alert() -> None:
    threshold = Threshold.parse("10", "20")
    assert threshold.evaluate(25) is Status.CRITICAL
    assert threshold.evaluate(15) is Status.WARNING
    assert threshold.evaluate(5) is Status.OK


def test_critical_only_and_warning_only() -> None:
    assert Threshold.parse(None, "20").evaluate(15) is Status.OK
    assert Threshold.parse(None, "20").evaluate(25) is Status.CRITICAL
    assert Threshold.parse("10", None).evaluate(1e9) is Status.WARNING


def test_metric_without_thresholds_is_ok_for_any_value() -> None:
    thresholds = ThresholdSet.defaults()
    assert "nobody_configured_this" not in thresholds
    assert thresholds.get("nobody_configured_this").evaluate(1e300) is Status.OK
    assert Threshold.parse("", None) == Threshold()


def test_overrides_replace_only_the_named_metric() -> None:
    base = ThresholdSet.defaults()
    changed = base.with_overrides({"cpu_percent": Threshold.parse("50", "60")})
    assert changed.get("cpu_percent").evaluate(55) is Status.WARNING
    assert base.get("cpu_percent").evaluate(55) is Status.OK  # the original set is untouched
    assert changed.get("memory_percent") == base.get("memory_percent")


def test_broken_range_names_the_range_behind_a_status() -> None:
    threshold = Threshold.parse("10", "20")
    assert threshold.broken_range(Status.CRITICAL) == threshold.critical
    assert threshold.broken_range(Status.WARNING) == threshold.warning
    assert threshold.broken_range(Status.OK) is None


@pytest.mark.parametrize(("warning", "critical", "level"), [("abc", "5", "warning"), ("5", "9:1", "critical")])
def test_bad_range_error_names_the_level(warning: str, critical: str, level: str) -> None:
    with pytest.raises(ValueError, match=rf"^{level}: ") as info:
        Threshold.parse(warning, critical)
    assert "\n" not in str(info.value)


@given(
    warning=st.floats(0, 1e6, allow_nan=False),
    critical=st.floats(0, 1e6, allow_nan=False),
    value=st.floats(allow_nan=False),
)
def test_status_is_the_most_severe_alerting_range(warning: float, critical: float, value: float) -> None:
    threshold = Threshold.parse(warning, critical)
    expected = (
        Status.CRITICAL if not 0 <= value <= critical else Status.WARNING if not 0 <= value <= warning else Status.OK
    )
    assert threshold.evaluate(value) is expected
