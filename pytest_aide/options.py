"""Command-line options: one help text each, shared with the configuration key it overrides."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the thresholds module is imported only when the option is used: plugin.py must stay cheap
    from pytest_aide.thresholds import ThresholdChange

HELP = {
    "config": "Configuration file (default: AIDE_CONFIG, then aide.toml or [tool.aide] in pyproject.toml).",
    "app_url": "Base URL of the target app. Overrides [app] url and AIDE_APP_URL.",
    "reports": "Folder of the per-run report archive. Overrides [reports] dir (default: reports).",
    "no_archive": "Do not archive reports for this run. Overrides [reports] archive.",
    "fail_on": "Fail (exit 1) on 'critical' checks only (default) or also on 'warning'. Overrides [gate] fail_on.",
    "fail_under": "Fail (exit 1) when the health score is below SCORE (0-100). Overrides [gate] fail_under.",
    "concurrency": "Probes performed at once (endpoints). Overrides [run] concurrency (default: 64).",
    "threshold": "METRIC=WARNING,CRITICAL in Nagios range syntax, e.g. memory_percent=80,90 (repeatable). "
    "A level left empty keeps its configured range (memory_percent=85 or memory_percent=,95); 'none' removes "
    "it (memory_percent=85,none). Overrides [thresholds.METRIC] level by level.",
}


def score_type(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (a score from 0 to 100)") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{text!r} is not between 0 and 100")
    return value


def concurrency_type(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 1024:  # isdigit() alone accepts "²"
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 1 to 1024")
    return int(text)


REMOVE_LEVEL = "none"  # the command line's spelling of TOML's `critical = false`


def threshold_type(text: str) -> tuple[str, ThresholdChange]:
    """``METRIC=W,C``: an empty level keeps the configured one, ``none`` removes it.

    The metric name is checked later, against the configuration's declared metrics (see ``load_config``).
    """
    metric, sep, ranges = text.partition("=")
    if not sep or not metric.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not METRIC=WARNING,CRITICAL")
    warning, _, critical = ranges.partition(",")
    from pytest_aide.thresholds import ThresholdChange

    try:
        change = ThresholdChange.parse(_level(warning), _level(critical))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{metric.strip()}: {exc}") from None
    if change.is_empty:
        raise argparse.ArgumentTypeError(
            f"{text!r} names no level: give METRIC=WARNING,CRITICAL, METRIC=WARNING or METRIC=,CRITICAL"
        )
    return metric.strip(), change


def _level(text: str) -> str | bool | None:
    """The level's value for ThresholdChange.parse: None keeps it, False removes it."""
    text = text.strip()
    if not text:
        return None
    return False if text.lower() == REMOVE_LEVEL else text
