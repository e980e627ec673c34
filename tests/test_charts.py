"""The archive index's SVG charts: where every mark lands for any series, and the markup around it.

Property tests draw arbitrary series (one point, equal values, NaN, runs without the metric, partial runs,
thresholds anywhere) and check the geometry's promises: everything inside the plot, one marker per run or per
group at its worst run, the line only through complete runs, higher values drawn higher.
"""

from __future__ import annotations

import math
from dataclasses import replace
from xml.etree import ElementTree

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_aide import charts
from pytest_aide.charts import Box, Point, Threshold, layout

STATUSES = ("OK", "WARNING", "CRITICAL", "UNKNOWN", "HEALTHY", "DEGRADED", "UNHEALTHY")
T0 = 1_790_000_000.0
SVG = "{http://www.w3.org/2000/svg}"

values = st.one_of(
    st.none(),
    st.just(math.nan),
    st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_subnormal=False),
)
points = st.builds(
    Point,
    time=st.floats(min_value=T0, max_value=T0 + 5 * 365 * 86400, allow_nan=False),
    value=values,
    status=st.sampled_from(STATUSES),
    label=st.text(max_size=20),
    partial=st.booleans(),
)
thresholds = st.builds(
    Threshold,
    value=st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_subnormal=False),
    level=st.sampled_from(["warning", "critical"]),
    text=st.just("warning > x"),
)


def inside(box: Box, x: float, y: float) -> bool:
    eps = 1e-6
    return box.x0 - eps <= x <= box.x1 + eps and box.y0 - eps <= y <= box.y1 + eps


@given(st.lists(points, max_size=60), st.lists(thresholds, max_size=3), st.integers(min_value=1, max_value=30))
def test_every_mark_lands_inside_the_plot(series: list[Point], lines: list[Threshold], max_markers: int) -> None:
    plot = layout(series, lines, max_markers=max_markers)
    box = plot.box
    measured = [p for p in series if p.value is not None]
    assert plot.measured == len(measured)
    for segment in plot.segments:
        assert all(inside(box, x, y) for x, y in segment)
    for marker in plot.markers:
        assert inside(box, marker.x, marker.y)
        assert math.isfinite(marker.x)
        assert math.isfinite(marker.y)
    assert all(box.y0 - 1e-6 <= y <= box.y1 + 1e-6 for y, _label in plot.y_ticks)
    assert all(box.x0 - 1e-6 <= x <= box.x1 + 1e-6 for x, _label in plot.x_ticks)
    assert all(inside(box, box.x0, y) for y, _line in plot.lines)
    drawn = [line for _y, line in plot.lines]
    assert sorted(map(id, drawn + plot.off_scale)) == sorted(map(id, lines))  # each drawn or named off the chart


@given(st.lists(points, min_size=1, max_size=60), st.integers(min_value=1, max_value=30))
def test_markers_cover_every_measured_run_once_at_the_worst_of_their_group(
    series: list[Point], max_markers: int
) -> None:
    plot = layout(series, max_markers=max_markers)
    measured = sorted((p for p in series if p.value is not None), key=lambda p: p.time)
    assert len(plot.markers) <= max_markers
    assert sum(m.runs for m in plot.markers) == len(measured)
    start = 0
    for marker in plot.markers:
        group = measured[start : start + marker.runs]
        start += marker.runs
        assert charts.rank(marker.status) == max(charts.rank(p.status) for p in group)
        worst = [p for p in group if charts.rank(p.status) == charts.rank(marker.status)]
        assert marker.not_a_number == any(p.value is not None and math.isnan(p.value) for p in worst)
        if marker.not_a_number:
            assert marker.y == plot.box.y1


@given(
    st.lists(
        points.map(lambda p: replace(p, value=0.0 if p.value is None or math.isnan(p.value) else p.value)),
        min_size=2,
        max_size=40,
    )
)
def test_a_higher_value_is_drawn_higher(series: list[Point]) -> None:
    plot = layout(series, max_markers=100)
    ordered = sorted(series, key=lambda p: p.time)
    pairs = list(zip(ordered, plot.markers, strict=True))
    for low, high in ((a, b) for a in pairs for b in pairs):
        if low[0].value is not None and high[0].value is not None and low[0].value < high[0].value:
            assert high[1].y <= low[1].y


@given(st.lists(points, max_size=40))
def test_the_line_joins_only_complete_runs_with_numbers(series: list[Point]) -> None:
    plot = layout(series, max_markers=1000)  # one run per marker: the line's points are the runs' own
    complete = [p for p in series if not p.partial and p.value is not None and math.isfinite(p.value)]
    assert sum(len(segment) for segment in plot.segments) == len(complete)
    breaks = len(plot.segments) - 1 if plot.segments else 0
    nans = sum(1 for p in series if not p.partial and p.value is not None and math.isnan(p.value))
    assert breaks <= nans


def test_a_single_point_sits_in_the_middle_of_the_time_axis() -> None:
    plot = layout([Point(T0, 42.0, "OK", "one run")])
    [marker] = plot.markers
    assert marker.x == pytest.approx((plot.box.x0 + plot.box.x1) / 2)
    assert plot.box.y0 < marker.y < plot.box.y1
    assert plot.segments == [[(marker.x, marker.y)]]
    assert len(plot.x_ticks) == 1


@pytest.mark.parametrize("value", [0.0, 7.0, -3.0, 1e9, 1e-7])
def test_equal_values_draw_a_flat_line_inside_the_plot(value: float) -> None:
    plot = layout([Point(T0 + i * 3600, value, "OK", f"run {i}") for i in range(5)])
    ys = {m.y for m in plot.markers}
    assert len(ys) == 1
    [y] = ys
    assert plot.box.y0 <= y <= plot.box.y1
    assert len(plot.y_ticks) >= 2


def test_missing_values_leave_no_mark_and_the_line_joins_their_neighbours() -> None:
    series = [Point(T0 + i, v, "OK", str(i)) for i, v in enumerate([1.0, None, 3.0, None])]
    plot = layout(series)
    assert plot.measured == 2
    assert len(plot.markers) == 2
    assert len(plot.segments) == 1
    assert len(plot.segments[0]) == 2


def test_not_a_number_breaks_the_line_and_is_marked_on_the_axis() -> None:
    series = [
        Point(T0 + i, v, s, str(i)) for i, (v, s) in enumerate([(1.0, "OK"), (math.nan, "CRITICAL"), (2.0, "OK")])
    ]
    plot = layout(series)
    assert len(plot.segments) == 2
    nan = plot.markers[1]
    assert nan.not_a_number
    assert nan.y == plot.box.y1
    assert nan.status == "CRITICAL"


def test_a_partial_run_is_a_hollow_marker_off_the_line() -> None:
    series = [Point(T0, 10.0, "OK", "a"), Point(T0 + 1, 50.0, "OK", "b", partial=True), Point(T0 + 2, 12.0, "OK", "c")]
    plot = layout(series)
    assert [m.partial for m in plot.markers] == [False, True, False]
    assert len(plot.segments) == 1
    assert len(plot.segments[0]) == 2
    svg = charts.render("c", "t", "d", plot)
    assert svg.count('fill="#fff"') == 1


def test_a_series_that_was_never_measured_says_so() -> None:
    plot = layout([Point(T0, None, "SKIPPED", "a")], [Threshold(80.0, "warning", "warning > 80")])
    assert plot.markers == []
    assert plot.segments == []
    assert plot.off_scale == [Threshold(80.0, "warning", "warning > 80")]
    assert "not measured in any archived run" in charts.render("c", "t", "d", plot)


def test_far_thresholds_are_named_off_the_chart_and_near_ones_drawn() -> None:
    series = [Point(T0 + i, v, "OK", "") for i, v in enumerate([0.1, 0.2, 0.15])]
    near, far = Threshold(0.3, "warning", "warning > 0.3"), Threshold(3.0, "critical", "critical > 3")
    plot = layout(series, [near, far])
    assert [line for _y, line in plot.lines] == [near]
    assert plot.off_scale == [far]
    assert plot.y_ticks[-1][1] in ("0.3", "0.35", "0.4")


def test_a_fixed_domain_keeps_the_score_axis_from_0_to_100() -> None:
    plot = layout([Point(T0, 97.0, "HEALTHY", "")], domain=(0.0, 100.0))
    assert [label for _y, label in plot.y_ticks] == ["0", "20", "40", "60", "80", "100"]
    assert plot.y_ticks[0][0] == plot.box.y1
    assert plot.y_ticks[-1][0] == plot.box.y0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("80", [(80.0, "warning > 80")]),
        ("100:", [(100.0, "warning < 100")]),
        ("~:10", [(10.0, "warning > 10")]),
        ("10:20", [(10.0, "warning outside 10..20"), (20.0, "warning outside 10..20")]),
        ("@5:5", [(5.0, "warning within 5..5")]),
        (None, []),
        ("not a range", []),
    ],
)
def test_threshold_lines_are_the_finite_bounds_of_the_nagios_range(text: str | None, expected: list[object]) -> None:
    assert [(t.value, t.text) for t in charts.thresholds_of("warning", text)] == expected


@given(st.floats(min_value=-1e9, max_value=1e9, allow_subnormal=False), st.floats(min_value=1e-6, max_value=1e9))
def test_nice_ticks_cover_the_range_in_a_few_round_steps(low: float, span: float) -> None:
    high = low + span
    if not high > low:
        return
    ticks = charts.nice_ticks(low, high)
    assert 2 <= len(ticks) <= 12
    step = ticks[1] - ticks[0]
    slack = step * 1e-6 + 4 * math.ulp(max(abs(low), abs(high)))  # a step of a few ulps: float rounding
    assert ticks[0] <= low + slack
    assert ticks[-1] >= high - slack
    assert ticks == sorted(set(ticks))


@given(st.lists(points, max_size=20), st.text(max_size=30))
def test_the_svg_is_well_formed_with_a_title_and_description(series: list[Point], words: str) -> None:
    plot = layout(series, [Threshold(1.0, "warning", "<b>& ' \"")])
    words = "".join(ch for ch in words if ch.isprintable())
    svg = charts.render("chart-x", f"{words} over time", f"desc {words}", plot, unit="%")
    root = ElementTree.fromstring(svg)
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "chart-x-t chart-x-d"
    assert root.find(f"{SVG}title").text == f"{words} over time"  # type: ignore[union-attr]
    assert root.find(f"{SVG}desc").text == f"desc {words}"  # type: ignore[union-attr]
    hover = [el.find(f"{SVG}title") for el in root if el.tag in (f"{SVG}circle", f"{SVG}path")]
    assert len(hover) == len(plot.markers)
    assert all(title is not None for title in hover)


def test_hover_titles_are_made_only_for_the_points_drawn() -> None:
    """With 1,000 runs only the markers' titles are built (``describe``), not one per run."""
    calls: list[Point] = []

    def describe(point: Point) -> str:
        calls.append(point)
        return f"run {point.ref}"

    series = [Point(T0 + i, float(i % 7), "OK", "", ref=i) for i in range(1000)]
    plot = layout(series, max_markers=80, describe=describe)
    assert len(calls) == len(plot.markers) <= 80
    assert plot.markers[0].title == "worst of 13 runs: run 6"


@pytest.mark.parametrize(
    ("span", "labels"),
    [
        (0.0, ["2026-09-21 14:13:20"]),  # one run
        (1.2, ["14:13:20", "14:13:21"]),  # runs seconds apart: the first and the last
        (300.0, ["14:13:20", "14:18:20"]),
        (6 * 3600.0, ["09-21 14:13", "09-21 15:43", "09-21 17:13", "09-21 18:43", "09-21 20:13"]),
        (40 * 86400.0, ["2026-09-21", "2026-10-01", "2026-10-11", "2026-10-21", "2026-10-31"]),
    ],
)
def test_time_ticks_are_labelled_as_finely_as_their_span_needs(span: float, labels: list[str]) -> None:
    ticks = charts.time_ticks(T0, T0 + span)
    assert [label for _time, label in ticks] == labels
