"""Nagios plugin threshold ranges, with the semantics of the monitoring-plugins development guidelines.

``10`` alerts outside 0..10, ``10:`` below 10, ``~:10`` above 10, ``10:20`` outside 10..20 and ``@10:20``
inside 10..20 (ends inclusive). Operators already know this syntax from Nagios, Icinga and Sensu, so a
threshold written for those tools means the same thing here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_RANGE = re.compile(rf"^(?P<inside>@)?(?:(?P<start>~|{_NUMBER})?:)?(?P<end>{_NUMBER})?$")


@dataclass(frozen=True)
class NagiosRange:
    """An alert range: ``alerts(value)`` is true when the value should raise this range's status."""

    start: float = 0.0
    end: float = math.inf
    inside: bool = False
    text: str = ""

    @classmethod
    def parse(cls, text: str | int | float) -> NagiosRange:
        """Parse ``text`` (a plain number means ``0:number``); raise ValueError with a one-line reason."""
        if isinstance(text, bool):
            raise ValueError(f"{text!r} is not a threshold range")
        if not isinstance(text, str) and not math.isfinite(text):
            raise ValueError(f"{text!r} is not a threshold range: a plain number must be finite")
        raw = str(text).strip() if isinstance(text, str) else _format_number(float(text))
        match = _RANGE.match(raw)
        if match is None or (match["start"] is None and match["end"] is None):  # "", "@", ":" name no bound
            raise ValueError(f"{raw!r} is not a Nagios range (examples: 10, 10:, ~:10, 10:20, @10:20)")
        start = _parse_start(match["start"])
        end = math.inf if match["end"] is None else float(match["end"])
        if any(math.isinf(float(n)) for n in (match["start"], match["end"]) if n not in (None, "~")):  # 1e400
            raise ValueError(f"{raw!r} is not a Nagios range: a bound is too large to be a finite number")
        if start > end:
            raise ValueError(f"{raw!r} is not a Nagios range: start {start:g} is greater than end {end:g}")
        return cls(start=start, end=end, inside=match["inside"] is not None, text=raw)

    def alerts(self, value: float) -> bool:
        """True when ``value`` breaks this range (outside it, or inside it for ``@`` ranges)."""
        within = self.start <= value <= self.end
        return within if self.inside else not within

    def describe(self) -> str:
        """Say in words which values alert, e.g. ``> 90``, ``< 50``, ``outside 10..20``."""
        if self.inside:
            return f"within {_format_number(self.start)}..{_format_number(self.end)}"
        low, high = self.start != -math.inf, self.end != math.inf
        if low and high and self.start == 0:
            return f"> {_format_number(self.end)}" + ("" if self.end >= 0 else " or < 0")
        if low and high:
            return f"outside {_format_number(self.start)}..{_format_number(self.end)}"
        if low:
            return f"< {_format_number(self.start)}"
        if high:
            return f"> {_format_number(self.end)}"
        return "never"

    def __str__(self) -> str:
        return self.text


def _parse_start(text: str | None) -> float:
    if text is None:
        return 0.0
    if text == "~":
        return -math.inf
    return float(text)


def _format_number(value: float) -> str:
    if value in (math.inf, -math.inf):
        return "~"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    short = f"{value:g}"
    return short if float(short) == value else repr(value)  # never change a configured bound
