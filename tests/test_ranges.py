"""Nagios ranges behave exactly as the monitoring-plugins development guidelines' threshold table says."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_aide.ranges import NagiosRange

# (range, values that alert, values that do not) — the guidelines' table, ends included in the range.
GUIDELINE_TABLE = [
    ("10", [-0.001, -1, 10.001, 11, 1e9], [0, 0.0, 5, 10, 10.0]),
    ("10:", [9.999, 0, -5], [10, 10.0, 11, 1e12]),
    ("~:10", [10.001, 11, 1e12], [10, -1e12, 0, -5]),
    ("10:20", [9.999, 20.001, 0, -10, 30], [10, 15, 20]),
    ("@10:20", [10, 15, 20, 10.0, 20.0], [9.999, 20.001, 0, -10, 30]),
    ("-10:-5", [-10.001, -4.999, 0, 5], [-10, -7.5, -5]),
    ("@-10:-5", [-10, -7.5, -5], [-10.001, -4.999, 0]),
    ("0.5", [0.5001, -0.0001], [0, 0.25, 0.5]),
    ("1.5:2.5", [1.49, 2.51], [1.5, 2, 2.5]),
    ("-1.5:", [-1.51, -100], [-1.5, 0, 100]),
    ("~:-2.5", [-2.49, 0], [-2.5, -3]),
    ("@~:0", [-1e9, 0], [0.001, 5]),
    ("~:", [], [-1e300, 0, 1e300]),
]


@pytest.mark.parametrize(("text", "alerting", "quiet"), GUIDELINE_TABLE, ids=[row[0] for row in GUIDELINE_TABLE])
def test_guideline_examples_alert_as_the_table_says(text: str, alerting: list[float], quiet: list[float]) -> None:
    rng = NagiosRange.parse(text)
    assert [v for v in alerting if not rng.alerts(v)] == []
    assert [v for v in quiet if rng.alerts(v)] == []


@pytest.mark.parametrize(
    ("text", "start", "end", "inside"),
    [
        ("10", 0, 10, False),
        ("10:", 10, math.inf, False),
        ("~:10", -math.inf, 10, False),
        ("10:20", 10, 20, False),
        ("@10:20", 10, 20, True),
        ("@10", 0, 10, True),
        (" 10:20 ", 10, 20, False),
        ("1e3", 0, 1000, False),
        ("+5", 0, 5, False),
        (".5", 0, 0.5, False),
    ],
)
def test_parse_gives_the_bounds(text: str, start: float, end: float, inside: bool) -> None:
    rng = NagiosRange.parse(text)
    assert (rng.start, rng.end, rng.inside) == (start, end, inside)
    assert str(rng) == text.strip()


@pytest.mark.parametrize("number", [10, 10.0, 0, 2.5, 1e20, 123456789])
def test_plain_numbers_mean_zero_to_number(number: float) -> None:
    rng = NagiosRange.parse(number)
    assert (rng.start, rng.end, rng.inside) == (0, number, False)
    assert rng.alerts(number + abs(number) + 1)
    assert not rng.alerts(number)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "abc",
        "20:10",
        "@",
        ":",
        "@:",
        "1:2:3",
        "nan",
        "NaN:1",
        "inf",
        "10:inf",
        "-10",
        "~",
        "10 : 20",
        "1e400",
        "-1e400:",
        "10:20@",
        "@@10",
    ],
)
def test_bad_text_raises_a_one_line_value_error(bad: str) -> None:
    with pytest.raises(ValueError) as info:
        NagiosRange.parse(bad)
    message = str(info.value)
    assert "\n" not in message
    assert repr(bad.strip()) in message


def test_reversed_range_says_which_end_is_wrong() -> None:
    with pytest.raises(ValueError, match=r"start 20 is greater than end 10"):
        NagiosRange.parse("20:10")


@pytest.mark.parametrize("bad", [True, False, math.nan, math.inf, -math.inf])
def test_booleans_and_non_finite_numbers_are_rejected(bad: float) -> None:
    with pytest.raises(ValueError) as info:
        NagiosRange.parse(bad)
    assert "\n" not in str(info.value)
    assert "threshold range" in str(info.value)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("90", "> 90"),
        ("50:", "< 50"),
        ("~:10", "> 10"),
        ("10:20", "outside 10..20"),
        ("@10:20", "within 10..20"),
        ("~:", "never"),
        ("@~:5", "within ~..5"),
        ("0.25", "> 0.25"),
    ],
)
def test_describe_says_which_values_alert(text: str, words: str) -> None:
    assert NagiosRange.parse(text).describe() == words


finite = st.floats(allow_nan=False, allow_infinity=False)


@given(a=finite, b=finite, value=finite)
def test_alerts_outside_the_closed_interval_and_at_form_negates_it(a: float, b: float, value: float) -> None:
    start, end = min(a, b), max(a, b)
    outside = NagiosRange.parse(f"{start!r}:{end!r}")
    inside = NagiosRange.parse(f"@{start!r}:{end!r}")
    assert (outside.start, outside.end) == (start, end)
    assert outside.alerts(value) == (not (start <= value <= end))
    assert inside.alerts(value) == (not outside.alerts(value))


@given(end=st.floats(min_value=0, allow_nan=False, allow_infinity=False), value=finite)
def test_plain_number_is_zero_to_number_exactly(end: float, value: float) -> None:
    rng = NagiosRange.parse(end)
    assert (rng.start, rng.end) == (0, end)  # the number is kept exactly, not rounded for display
    assert rng.alerts(value) == (not (0 <= value <= end))


range_text = st.one_of(
    st.builds(lambda e: repr(e), st.floats(min_value=0, allow_nan=False, allow_infinity=False)),
    st.builds(
        lambda at, s, e: f"{'@' if at else ''}{s}:{e}",
        st.booleans(),
        st.one_of(st.just("~"), st.just(""), st.integers(-1000, 0).map(str)),
        st.one_of(st.just(""), st.integers(0, 1000).map(str)),
    ).filter(lambda text: text.lstrip("@") != ":"),  # ":" names no bound at all: rejected
)


@given(text=range_text)
def test_text_round_trips_and_describe_never_raises(text: str) -> None:
    rng = NagiosRange.parse(text)
    again = NagiosRange.parse(str(rng.text))
    assert again == rng
    assert isinstance(rng.describe(), str)


@given(text=st.text(max_size=20))
def test_any_text_parses_or_raises_value_error_in_one_line(text: str) -> None:
    try:
        rng = NagiosRange.parse(text)
    except ValueError as exc:
        message = str(exc)
    else:
        assert rng.start <= rng.end
        assert isinstance(rng.describe(), str)
        return
    assert "\n" not in message
