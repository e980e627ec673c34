"""Command-line value types accept what their help text promises and reject the rest with a clear message."""

from __future__ import annotations

import argparse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_aide.options import HELP, concurrency_type, score_type, threshold_type
from pytest_aide.status import Status
from pytest_aide.thresholds import Threshold, ThresholdChange


@pytest.mark.parametrize(("text", "value"), [("0", 0.0), ("100", 100.0), ("89.5", 89.5), ("1e1", 10.0), (" 70 ", 70.0)])
def test_score_type_accepts_0_to_100(text: str, value: float) -> None:
    assert score_type(text) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "'abc' is not a number (a score from 0 to 100)"),
        ("", "'' is not a number"),
        ("100.01", "'100.01' is not between 0 and 100"),
        ("-0.5", "'-0.5' is not between 0 and 100"),
        ("nan", "'nan' is not between 0 and 100"),
        ("inf", "'inf' is not between 0 and 100"),
    ],
)
def test_score_type_rejects_with_a_message(text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as info:
        score_type(text)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(("text", "value"), [("1", 1), ("64", 64), ("1024", 1024), ("007", 7)])
def test_concurrency_type_accepts_1_to_1024(text: str, value: int) -> None:
    assert concurrency_type(text) == value


@pytest.mark.parametrize("text", ["0", "1025", "-1", "abc", "", "1.5", " 8", "²", "٣"])
def test_concurrency_type_rejects_with_a_message(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as info:
        concurrency_type(text)
    assert str(info.value) == f"{text!r} is not a whole number from 1 to 1024"


@given(text=st.text(max_size=6))
def test_concurrency_type_only_raises_argument_type_error(text: str) -> None:
    try:
        value = concurrency_type(text)
    except argparse.ArgumentTypeError:
        return
    assert 1 <= value <= 1024
    assert str(value) == text.lstrip("0")


BASE = Threshold.parse("70", "85")  # the levels a --aide-threshold value is applied to


def test_threshold_type_parses_metric_warning_critical() -> None:
    metric, change = threshold_type("memory_percent=80,90")
    assert metric == "memory_percent"
    threshold = change.apply(BASE)
    assert threshold.to_dict() == {"warning": "80", "critical": "90"}
    assert threshold.evaluate(85) is Status.WARNING


@pytest.mark.parametrize(
    ("text", "metric", "expected"),
    [
        (" throughput_ops = 100: , 50: ", "throughput_ops", {"warning": "100:", "critical": "50:"}),
        ("cpu_percent=,95", "cpu_percent", {"warning": "70", "critical": "95"}),  # empty level: kept
        ("cpu_percent=75", "cpu_percent", {"warning": "75", "critical": "85"}),
        ("cpu_percent=75,", "cpu_percent", {"warning": "75", "critical": "85"}),
        ("cpu_percent=75,none", "cpu_percent", {"warning": "75", "critical": None}),  # 'none': removed
        ("cpu_percent=NONE,95", "cpu_percent", {"warning": None, "critical": "95"}),
        ("cpu_percent=none,none", "cpu_percent", {"warning": None, "critical": None}),
        ("cpu_percent=none", "cpu_percent", {"warning": None, "critical": "85"}),
        ("queue=@10:20,~:5", "queue", {"warning": "@10:20", "critical": "~:5"}),
    ],
)
def test_threshold_type_forms(text: str, metric: str, expected: dict[str, str | None]) -> None:
    name, change = threshold_type(text)
    assert name == metric
    assert change.apply(BASE).to_dict() == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("memory_percent", "'memory_percent' is not METRIC=WARNING,CRITICAL"),
        ("=80,90", "'=80,90' is not METRIC=WARNING,CRITICAL"),
        ("  =80", "'  =80' is not METRIC=WARNING,CRITICAL"),
        ("cpu=abc,90", "cpu: warning: 'abc' is not a Nagios range"),
        ("cpu=80,20:10", "cpu: critical: '20:10' is not a Nagios range: start 20 is greater than end 10"),
        ("cpu=80,90,100", "cpu: critical: '90,100' is not a Nagios range"),
        ("cpu=", "'cpu=' names no level"),
        ("cpu= , ", "'cpu= , ' names no level"),
        ("cpu=80,nothing", "cpu: critical: 'nothing' is not a Nagios range"),
    ],
)
def test_threshold_type_rejects_with_a_message(text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as info:
        threshold_type(text)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


_LEVEL = st.sampled_from(["", " ", "none", "None", "5", "10:", "@1:2", "~:3"])


@given(warning=_LEVEL, critical=_LEVEL)
def test_each_level_is_kept_removed_or_set_on_its_own(warning: str, critical: str) -> None:
    text = f"m={warning},{critical}"
    try:
        _, change = threshold_type(text)
    except argparse.ArgumentTypeError:
        assert not warning.strip()
        assert not critical.strip()
        return
    applied = change.apply(BASE).to_dict()
    for level, given_text in (("warning", warning), ("critical", critical)):
        kept = BASE.to_dict()[level]
        assert applied[level] == {"": kept, "none": None}.get(given_text.strip().lower(), given_text.strip())


def test_types_work_inside_argparse() -> None:
    parser = argparse.ArgumentParser(exit_on_error=False)
    parser.add_argument("--score", type=score_type)
    parser.add_argument("--threshold", type=threshold_type, action="append")
    args = parser.parse_args(["--score", "90", "--threshold", "cpu_percent=70,85"])
    assert args.score == 90.0
    assert args.threshold == [("cpu_percent", ThresholdChange.parse("70", "85"))]
    with pytest.raises(argparse.ArgumentError, match="is not between 0 and 100"):
        parser.parse_args(["--score", "101"])


def test_every_option_has_help() -> None:
    assert set(HELP) >= {
        "config",
        "app_url",
        "reports",
        "no_archive",
        "fail_on",
        "fail_under",
        "concurrency",
        "threshold",
    }
    assert all(text.strip() and "\n" not in text for text in HELP.values())
