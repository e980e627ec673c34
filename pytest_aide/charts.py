"""Hand-written SVG line charts for the archive index: one value per run over time, readable at a glance.

No JavaScript and no network: a chart is an ``<svg>`` element with a ``<title>``/``<desc>`` (what a screen
reader says), a polyline through the complete runs, one marker per run coloured by its status (hollow for a
partial run, a cross on the axis for a value that is not a number), dashed lines at the warning/critical
thresholds in effect and a few labelled ticks. Every marker has a hover title.

The geometry (:func:`layout`) is separate from the markup (:func:`render`), so tests check where things land
without parsing SVG. With more than ``max_markers`` runs, consecutive runs are grouped (at most ``max_markers``
groups): the line goes through each group's mean (of its complete runs) and the group's marker sits at its
worst run, so the line shows the trend, a red run never hides behind its neighbours, and the page of 1,000 runs
stays small and legible.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape as _escape
from typing import Any

from pytest_aide.ranges import NagiosRange

# Status or verdict -> (rank: worse is higher, colour). Colours are those of the reports.
_LOOK: dict[str, tuple[int, str]] = {
    "OK": (0, "#1a7f37"),
    "HEALTHY": (0, "#1a7f37"),
    "SKIPPED": (0, "#6e7781"),
    "UNKNOWN": (1, "#6e7781"),
    "WARNING": (2, "#9a6700"),
    "DEGRADED": (2, "#9a6700"),
    "UNHEALTHY": (3, "#d1242f"),
    "CRITICAL": (4, "#82071e"),
}
LEVEL_COLOURS = {"warning": "#9a6700", "critical": "#d1242f", "band": "#6e7781"}
MAX_MARKERS = 80  # about 6 SVG units apart: markers of radius 4 barely touch
_Scale = Callable[[float], float]
LABEL_GAP, LABEL_SHIFT = 10.0, 90.0  # threshold labels (at the left, over the oldest runs) this close: shifted


@dataclass(frozen=True)
class Point:
    """One run's value: ``value`` None when the run did not measure it, NaN when it measured "not a number"."""

    time: float  # POSIX seconds
    value: float | None
    status: str
    label: str  # what the marker's hover title says of this run (or see ``describe`` of :func:`layout`)
    partial: bool = False
    ref: Any = field(default=None, compare=False)  # the caller's record of the run, for ``describe``


@dataclass(frozen=True)
class Threshold:
    """A horizontal line at ``value`` (``text`` says which side alerts, e.g. ``warning > 80``)."""

    value: float
    level: str  # warning, critical or band
    text: str


@dataclass(frozen=True)
class Box:
    """The SVG's size and the margins around the plot area (in SVG units)."""

    width: float = 560.0
    height: float = 190.0
    left: float = 52.0
    right: float = 14.0
    top: float = 10.0
    bottom: float = 24.0

    @property
    def x0(self) -> float:
        return self.left

    @property
    def x1(self) -> float:
        return self.width - self.right

    @property
    def y0(self) -> float:  # the top of the plot area
        return self.top

    @property
    def y1(self) -> float:  # the bottom (the x axis)
        return self.height - self.bottom


@dataclass(frozen=True)
class Marker:
    """A drawn marker: the worst of ``runs`` consecutive runs (their hover title says so)."""

    x: float
    y: float
    status: str
    partial: bool
    not_a_number: bool
    title: str
    runs: int = 1


@dataclass(frozen=True)
class Layout:
    """Where everything of one chart goes."""

    box: Box
    segments: list[list[tuple[float, float]]] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    lines: list[tuple[float, Threshold]] = field(default_factory=list)
    off_scale: list[Threshold] = field(default_factory=list)
    measured: int = 0  # points with a value (a number or NaN)


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def escape(text: str) -> str:
    """HTML-escaped text without the control characters that XML (and so inline SVG) refuses."""
    return _escape(_NOT_XML.sub("\ufffd", text))


def rank(status: str) -> int:
    return _LOOK.get(status, (1, ""))[0]


def colour(status: str) -> str:
    return _LOOK.get(status, (1, "#6e7781"))[1]


def thresholds_of(level: str, text: str | None) -> list[Threshold]:
    """The finite bounds of a Nagios range as lines (``80`` -> one line at 80, ``@10:20`` -> two)."""
    if not text:
        return []
    try:
        alert = NagiosRange.parse(text)
    except ValueError:
        return []
    words = f"{level} {alert.describe()}"
    bounds = [alert.end] if alert.start == 0 and not alert.inside and ":" not in text else [alert.start, alert.end]
    return [Threshold(bound, level, words) for bound in dict.fromkeys(bounds) if math.isfinite(bound)]


def layout(
    points: Sequence[Point],
    thresholds: Sequence[Threshold] = (),
    *,
    box: Box | None = None,
    domain: tuple[float, float] | None = None,
    max_markers: int = MAX_MARKERS,
    describe: Callable[[Point], str] | None = None,
) -> Layout:
    """Place ``points`` and ``thresholds`` in ``box``; ``domain`` fixes the value axis (a score).

    Points are ordered by time; points of the same time keep their order (give them oldest first).
    ``describe`` makes a marker's hover title from its point (called only for the points drawn as markers:
    with 1,000 runs, 80 titles rather than 1,000); without it the title is the point's ``label``."""
    box = box or Box()
    ordered = sorted((p for p in points if p.value is not None), key=lambda p: p.time)
    numbers = [p.value for p in ordered if p.value is not None and math.isfinite(p.value)]
    if not ordered:
        return Layout(box, off_scale=list(thresholds))
    low, high, shown = _value_domain(numbers, thresholds, domain)
    ticks = nice_ticks(low, high)
    low, high = min(low, ticks[0]), max(high, ticks[-1])
    t0, t1 = ordered[0].time, ordered[-1].time
    groups = group(ordered, max_markers)

    def x_of(time: float) -> float:
        return (box.x0 + box.x1) / 2 if t1 == t0 else box.x0 + (time - t0) / (t1 - t0) * (box.x1 - box.x0)

    def y_of(value: float) -> float:
        return box.y1 - (value - low) / (high - low) * (box.y1 - box.y0)

    return Layout(
        box=box,
        segments=_segments(groups, x_of, y_of),
        markers=_markers(groups, x_of, y_of, box, describe or _label),
        y_ticks=[(y_of(tick), _number(tick)) for tick in ticks],
        x_ticks=[(x_of(time), text) for time, text in time_ticks(t0, t1)],
        lines=[(y_of(t.value), t) for t in shown],
        off_scale=[t for t in thresholds if t not in shown],
        measured=len(ordered),
    )


def _value_domain(
    numbers: list[float], thresholds: Sequence[Threshold], domain: tuple[float, float] | None
) -> tuple[float, float, list[Threshold]]:
    """The value axis: the data (from 0 when none is negative) and the thresholds near it, never empty."""
    if domain is not None:
        low, high = domain
        return low, high, [t for t in thresholds if low <= t.value <= high]
    low, high = (min(numbers), max(numbers)) if numbers else (0.0, 1.0)
    low = min(low, 0.0)
    reach = max(high - low, abs(high), abs(low))
    shown = [t for t in thresholds if low - reach <= t.value <= high + reach]
    low = min([low, *(t.value for t in shown)])
    high = max([high, *(t.value for t in shown)])
    if high - low <= 1e-9 * max(abs(high), abs(low), 1.0):
        pad = max(abs(high) * 0.1, 1.0)
        low, high = (low - pad if low < 0 else 0.0), high + pad
    return low, high, shown


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round ticks (steps of 1, 2 or 5 x 10^n) covering ``low``..``high`` (``low < high``)."""
    raw = (high - low) / count
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1.0, 2.0, 5.0, 10.0) if m * magnitude >= raw)
    first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
    decimals = max(0, 1 - math.floor(math.log10(step)))  # 0.2 -> 0.2, not 0.20000000000000001
    return [round(n * step, decimals) for n in range(first, last + 1)]


def time_ticks(t0: float, t1: float, count: int = 4) -> list[tuple[float, str]]:
    """Evenly spaced times with a label as long as the span needs (a time of day within two days)."""
    if t1 <= t0:
        return [(t0, _when(t0, "%Y-%m-%d %H:%M:%S"))]
    span = t1 - t0
    shape = "%H:%M:%S" if span < 600 else "%m-%d %H:%M" if span < 2 * 86400 else "%Y-%m-%d"
    count = 1 if span < 600 else count  # runs minutes apart at most: the first and the last
    ticks: list[tuple[float, str]] = []
    for i in range(count + 1):
        time = t0 + span * i / count
        label = _when(time, shape)
        if not ticks or ticks[-1][1] != label:  # a span of a few seconds: no label twice
            ticks.append((time, label))
    return ticks


def _when(time: float, shape: str) -> str:
    return datetime.fromtimestamp(time, UTC).strftime(shape)


def group(ordered: list[Point], max_groups: int) -> list[list[Point]]:
    """Consecutive points in at most ``max_groups`` groups of equal size (the last may be smaller)."""
    size = max(1, math.ceil(len(ordered) / max(1, max_groups)))
    return [ordered[start : start + size] for start in range(0, len(ordered), size)]


def _segments(groups: list[list[Point]], x_of: _Scale, y_of: _Scale) -> list[list[tuple[float, float]]]:
    """The line through the complete runs' numbers (each group's mean), broken where a value is not a number.

    A group of several runs breaks the line only when none of its complete runs has a number."""
    segments: list[list[tuple[float, float]]] = [[]]
    for members in groups:
        complete = [p for p in members if not p.partial and p.value is not None]
        numbers = [p for p in complete if math.isfinite(p.value or 0.0)]
        if numbers:
            time = sum(p.time for p in numbers) / len(numbers)
            value = sum(p.value or 0.0 for p in numbers) / len(numbers)
            segments[-1].append((x_of(time), y_of(value)))
        elif complete and segments[-1]:
            segments.append([])
    return [segment for segment in segments if segment]


def _label(point: Point) -> str:
    return point.label


def _markers(
    groups: list[list[Point]], x_of: _Scale, y_of: _Scale, box: Box, describe: Callable[[Point], str]
) -> list[Marker]:
    """One marker per group, at its worst point (worst status, then not a number, then the highest value)."""
    markers = []
    for members in groups:
        worst = max(members, key=lambda p: (rank(p.status), not _finite(p), _magnitude(p)))
        finite = _finite(worst)
        title = describe(worst)
        if len(members) > 1:
            partial = sum(p.partial for p in members)
            title = f"worst of {len(members)} runs{f' ({partial} partial)' if partial else ''}: {title}"
        markers.append(
            Marker(
                x=x_of(worst.time),
                y=y_of(worst.value) if finite and worst.value is not None else box.y1,
                status=worst.status,
                partial=worst.partial,
                not_a_number=not finite,
                title=title,
                runs=len(members),
            )
        )
    return markers


def _finite(point: Point) -> bool:
    return point.value is not None and math.isfinite(point.value)


def _magnitude(point: Point) -> float:
    return abs(point.value) if point.value is not None and math.isfinite(point.value) else 0.0


def _number(value: float) -> str:
    return f"{value:.6g}"


def _fixed(value: float) -> str:
    return f"{value:.1f}"


def render(chart_id: str, title: str, desc: str, plot: Layout, unit: str = "") -> str:
    """The chart as an inline ``<svg>`` element (``chart_id`` makes its title/desc ids unique in the page)."""
    box = plot.box
    ident = escape(chart_id)
    parts = [
        f'<svg class="chart" viewBox="0 0 {box.width:g} {box.height:g}" role="img" '
        f'aria-labelledby="{ident}-t {ident}-d" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{ident}-t">{escape(title)}</title><desc id="{ident}-d">{escape(desc)}</desc>',
        f'<rect class="plot" x="{box.x0:g}" y="{box.y0:g}" width="{box.x1 - box.x0:g}" height="{box.y1 - box.y0:g}"/>',
    ]
    parts += _axes(plot, unit)
    placed: list[tuple[float, float]] = []
    for y, line in plot.lines:
        stroke = LEVEL_COLOURS.get(line.level, "#6e7781")
        x = box.x0 + 3 + LABEL_SHIFT * sum(1 for _x, other in placed if abs(other - y) < LABEL_GAP)
        placed.append((x, y))
        parts.append(
            f'<line class="th" x1="{box.x0:g}" x2="{box.x1:g}" y1="{_fixed(y)}" y2="{_fixed(y)}" '
            f'stroke="{stroke}"><title>{escape(line.text)}</title></line>'
            f'<text class="th-l" x="{x:g}" y="{_fixed(y - 3)}" fill="{stroke}">{escape(line.text)}</text>'
        )
    for segment in plot.segments:
        coords = " ".join(f"{_fixed(x)},{_fixed(y)}" for x, y in segment)
        parts.append(f'<polyline class="line" points="{coords}"/>')
    parts += [_marker(marker) for marker in plot.markers]
    if not plot.measured:
        parts.append(
            f'<text class="empty" x="{(box.x0 + box.x1) / 2:g}" y="{(box.y0 + box.y1) / 2:g}">'
            "not measured in any archived run</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _axes(plot: Layout, unit: str) -> list[str]:
    box = plot.box
    parts = [
        f'<line class="grid" x1="{box.x0:g}" x2="{box.x1:g}" y1="{_fixed(y)}" y2="{_fixed(y)}"/>'
        f'<text class="yl" x="{box.x0 - 4:g}" y="{_fixed(y + 3)}">{escape(label)}</text>'
        for y, label in plot.y_ticks
    ]
    if unit:
        parts.append(f'<text class="unit" x="4" y="{box.y0 + 8:g}">{escape(unit)}</text>')
    last = len(plot.x_ticks) - 1
    for index, (x, label) in enumerate(plot.x_ticks):
        anchor = "start" if index == 0 and last else "end" if index == last and last else "middle"
        parts.append(
            f'<text class="xl" x="{_fixed(x)}" y="{box.y1 + 15:g}" text-anchor="{anchor}">{escape(label)}</text>'
        )
    return parts


def _marker(marker: Marker) -> str:
    fill = colour(marker.status)
    title = f"<title>{escape(marker.title)}</title>"
    x, y = _fixed(marker.x), _fixed(marker.y)
    if marker.not_a_number:
        return f'<path class="nan" d="M{x} {y}m-4 -4l8 8m0 -8l-8 8" stroke="{fill}">{title}</path>'
    style = f'fill="#fff" stroke="{fill}"' if marker.partial else f'fill="{fill}"'
    return f'<circle cx="{x}" cy="{y}" r="{4 if marker.runs == 1 else 5}" {style}>{title}</circle>'
