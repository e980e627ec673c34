"""Durations written as operators write them in crontabs and runbooks: ``90s``, ``30m``, ``2h``, ``7d``, ``1w``."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^\s*(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>s|m|h|d|w)\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """``"2h"`` -> 2 hours; raise ValueError with the accepted forms for anything else."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a duration (examples: 90s, 30m, 2h, 7d, 1w)")
    return timedelta(**{_UNITS[match["unit"]]: float(match["number"])})


def check_duration(text: str) -> str:
    """Settings validator: the text stays as written, but it must parse."""
    parse_duration(text)
    return text


def describe(delta: timedelta) -> str:
    """``3d 2h``, ``5h 10m``, ``42m``, ``12s``: the two largest units, for a one-line message."""
    seconds = int(abs(delta.total_seconds()))
    parts = [(seconds // 86400, "d"), (seconds % 86400 // 3600, "h"), (seconds % 3600 // 60, "m"), (seconds % 60, "s")]
    shown = [f"{n}{unit}" for n, unit in parts if n][:2]
    return ("-" if delta.total_seconds() < 0 else "") + (" ".join(shown) or "0s")
