"""HealthRecorder: every measurement is kept, the worst one sets the status, the message tells what to do."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_aide.health import HealthRecorder, Measurement
from pytest_aide.metrics import DEFAULT_METRICS
from pytest_aide.status import Status, status_named
from pytest_aide.thresholds import Threshold, ThresholdSet


@pytest.mark.parametrize("name", [*(s.value for s in Status), Status.WARNING, "ok", "", "SKIPPED", ["OK"]])
def test_status_named_answers_as_status_itself(name: Any) -> None:
    """The reports' shortcut to a status accepts and rejects exactly what ``Status(name)`` does."""
    try:
        expected: Status | type[Exception] = Status(name)
    except (ValueError, TypeError) as exc:
        expected = type(exc)
    if isinstance(expected, Status):
        assert status_named(name) is expected
    else:
        with pytest.raises(expected):
            status_named(name)


def test_no_measurement_is_ok_with_empty_message() -> None:
    health = HealthRecorder()
    assert health.status is Status.OK
    assert health.message() == ""
    assert health.problems() == []


def test_critical_beats_warning_and_every_measurement_is_recorded() -> None:
    health = HealthRecorder()
    health.record("memory_percent", 95)  # critical first...
    health.record("cpu_percent", 75)  # ...and the later ones are still recorded
    health.record("disk_percent", 10)
    assert [m.name for m in health.measurements] == ["memory_percent", "cpu_percent", "disk_percent"]
    assert [m.status for m in health.measurements] == [Status.CRITICAL, Status.WARNING, Status.OK]
    assert health.status is Status.CRITICAL
    assert [m.name for m in health.problems()] == ["memory_percent"]
    assert [m.name for m in health.problems(Status.WARNING)] == ["cpu_percent"]


def test_warning_only_run_is_warning() -> None:
    health = HealthRecorder()
    health.record("cpu_percent", 75)
    health.record("memory_percent", 10)
    assert health.status is Status.WARNING


def test_message_names_metric_value_unit_range_and_action() -> None:
    health = HealthRecorder()
    health.record("memory_percent", 93.2)
    message = health.message()
    assert message == ("memory_percent = 93.2 % (critical > 90, range 90): " + DEFAULT_METRICS["memory_percent"].action)
    assert "\n" not in message


def test_message_lists_only_the_worst_measurements() -> None:
    health = HealthRecorder()
    health.record("cpu_percent", 99)
    health.record("memory_percent", 85)  # a warning, hidden behind the critical one
    health.record("throughput_ops", 10)
    message = health.message()
    assert message.startswith("cpu_percent = 99 % (critical > 85, range 85)")
    assert "; throughput_ops = 10 ops/s (critical < 50, range 50:): " in message
    assert "memory_percent" not in message


def test_ok_measurement_describes_without_action() -> None:
    measurement = HealthRecorder().record("cpu_percent", 12.5)
    assert measurement.describe() == "cpu_percent = 12.5 %"


def test_unknown_metric_never_alerts_and_has_no_unit() -> None:
    measurement = HealthRecorder().record("queue_length", 1e12)
    assert (measurement.status, measurement.unit, measurement.action) == (Status.OK, "", "")
    assert measurement.describe() == "queue_length = 1000000000000"


def test_metric_argument_borrows_another_metrics_thresholds() -> None:
    measurement = HealthRecorder().record("api_ping", 2.0, metric="response_time_s")
    assert measurement.status is Status.WARNING
    assert measurement.unit == "s"
    assert measurement.action == DEFAULT_METRICS["response_time_s"].action


def test_per_measurement_override_replaces_only_the_given_level() -> None:
    health = HealthRecorder()
    stricter = health.record("cpu_percent", 60, warning="50")
    assert stricter.status is Status.WARNING
    assert stricter.threshold.to_dict() == {"warning": "50", "critical": "85"}  # critical still the configured
    looser = health.record("cpu_percent", 90, critical="95")
    assert looser.status is Status.WARNING
    both = health.record("latency", 7, "ms", warning=5, critical=10, action="restart the proxy")
    assert both.status is Status.WARNING
    assert both.describe() == "latency = 7 ms (warning > 5, range 5): restart the proxy"


def test_configured_thresholds_are_used() -> None:
    thresholds = ThresholdSet.defaults().with_overrides({"cpu_percent": Threshold.parse("10", "20")})
    assert HealthRecorder(thresholds).record("cpu_percent", 15).status is Status.WARNING


def test_bad_override_raises_value_error() -> None:
    with pytest.raises(ValueError, match=r"^warning: 'abc' is not a Nagios range"):
        HealthRecorder().record("cpu_percent", 1, warning="abc")


@pytest.mark.parametrize("nan_metric", ["cpu_percent", "no_thresholds_here"])
def test_nan_is_critical_and_says_so(nan_metric: str) -> None:
    health = HealthRecorder()
    measurement = health.record(nan_metric, math.nan, "%")
    assert measurement.status is Status.CRITICAL
    assert health.status is Status.CRITICAL
    assert measurement.describe().startswith(f"{nan_metric} = nan % (critical: not a number)")


@pytest.mark.parametrize("bad", [True, "12", None, [1]])
def test_non_numbers_are_rejected(bad: Any) -> None:
    with pytest.raises(TypeError, match="must be a number"):
        HealthRecorder().record("cpu_percent", bad)


def test_to_dict_holds_only_builtin_types() -> None:
    health = HealthRecorder()
    measurement = health.record("memory_percent", 85)
    data = measurement.to_dict()
    assert data == {"value": 85.0, "unit": "%", "status": "WARNING", "warning": "80", "critical": "90"}
    assert _only_builtins(data)
    assert json.loads(json.dumps(data)) == data


def test_attach_keeps_evidence_in_order() -> None:
    health = HealthRecorder()
    health.attach("response", "HTTP 500")
    health.attach("log", "ERROR boom")
    assert health.evidence == [("response", "HTTP 500"), ("log", "ERROR boom")]


def _only_builtins(data: object) -> bool:
    if isinstance(data, dict):
        return all(type(k) is str and _only_builtins(v) for k, v in data.items())
    if isinstance(data, list):
        return all(_only_builtins(v) for v in data)
    return type(data) in (str, int, float, bool, type(None))


@given(
    values=st.lists(st.tuples(st.sampled_from(sorted(DEFAULT_METRICS)), st.floats(allow_infinity=False)), max_size=8)
)
def test_status_is_the_worst_measurement_and_all_are_kept(values: list[tuple[str, float]]) -> None:
    health = HealthRecorder()
    recorded: list[Measurement] = [health.record(name, value) for name, value in values]
    assert health.measurements == recorded
    assert health.status is Status.worst([m.status for m in recorded])
    for measurement in recorded:
        assert _only_builtins(measurement.to_dict())
        assert "\n" not in measurement.describe()


def test_a_note_is_said_even_when_every_measurement_is_ok() -> None:
    health = HealthRecorder()
    health.record("memory_percent", 10)
    health.note("self-timed")
    health.note("self-timed")  # said once
    assert health.message() == "self-timed"
    health.record("memory_percent", 95)
    assert health.message().startswith("memory_percent = 95 % (critical > 90")
    assert health.message().endswith("; self-timed")
