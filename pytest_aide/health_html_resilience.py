"""``health.html``'s resilience sections (fallbacks, retries, chaos experiments) from ``health.json``'s
``resilience`` object: rows of text, read defensively (a file older than a key shows no section for it)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def resilience_views(section: Mapping[str, Any]) -> dict[str, Any]:
    """What the page's resilience sections show (template names: flaky, fallbacks, retries, experiments)."""
    return {
        "flaky": [str(n) for n in section.get("flaky") or []],
        "fallbacks": _fallbacks(section),
        "retries": _retries(section),
        "experiments": _experiments(section),
    }


def _fallbacks(section: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name, stats in dict(section.get("fallbacks") or {}).items():
        options = [
            {
                "name": str(option),
                "attempts": _text(tally.get("attempts")),
                "successes": _text(tally.get("successes")),
                "rate": _rate(tally.get("success_rate")),
            }
            for option, tally in dict(stats.get("options") or {}).items()
        ]
        rows.append(
            {
                "name": str(name),
                "calls": _text(stats.get("calls")),
                "by_primary": _text(stats.get("served_by_primary")),
                "by_fallback": _text(stats.get("served_by_fallback")),
                "failed": _text(stats.get("failed")),
                "rate": _rate(stats.get("success_rate")),
                "fallback_rate": _rate(stats.get("fallback_success_rate")),
                "options": options,
            }
        )
    return rows


def _retries(section: Mapping[str, Any]) -> dict[str, Any] | None:
    """Counts and rows of retried checks and calls; None when nothing was retried or called."""
    found = dict(section.get("retries") or {})
    checks, calls = dict(found.get("checks") or {}), dict(found.get("calls") or {})
    if not checks.get("retried") and not calls.get("calls"):
        return None
    return {
        "checks": {key: _text(checks.get(key, 0)) for key in ("retried", "passed", "failed", "attempts")},
        "calls": {
            key: _text(calls.get(key, 0))
            for key in ("calls", "passed_first_try", "passed_after_retry", "failed", "attempts")
        },
        "retried_checks": [
            {
                "nodeid": str(c.get("nodeid", "")),
                "status": str(c.get("status", "")),
                "attempts": f"{_text(c.get('attempts'))} of {_text(c.get('max_attempts'))}",
                "outcomes": ", ".join(str(o) for o in c.get("outcomes") or []),
            }
            for c in found.get("retried_checks") or []
        ],
        "retried_calls": [
            {
                "nodeid": str(c.get("nodeid", "")),
                "summary": str(c.get("summary", "")),
                "passed": bool(c.get("passed")),
                "attempts": [
                    f"#{_text(a.get('number'))} {a.get('outcome', '')}"
                    + (f": {a['error']}" if a.get("error") else "")
                    + f" ({_seconds(a.get('duration'))} s, after {_seconds(a.get('waited'))} s)"
                    for a in c.get("attempts") or []
                ],
            }
            for c in found.get("retried_calls") or []
        ],
    }


def _experiments(section: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for run in section.get("experiments") or []:
        phases = [
            {
                "phase": str(p.get("phase", "")),
                "outcome": str(p.get("outcome", "")),
                "started": _text(p.get("started_s")),
                "duration": _text(p.get("duration_s")),
                "probes": _text(p.get("probes")),
                "observed": str(p.get("observed") or p.get("error") or ""),
            }
            for p in run.get("phases") or []
        ]
        rows.append(
            {
                "name": str(run.get("name", "")),
                "nodeid": str(run.get("nodeid", "")),
                "ok": bool(run.get("ok")),
                "message": str(run.get("message") or ""),
                "duration": _text(run.get("duration_s")),
                "phases": phases,
            }
        )
    return rows


def _rate(value: Any) -> str:
    """A success rate (0..1) as a percentage; "" before any call (None)."""
    return f"{value * 100:.0f} %" if isinstance(value, int | float) and not isinstance(value, bool) else ""


def _seconds(value: Any) -> str:
    """A duration: ``0.25``, ``12.3``, ``<0.001`` (attempts of a call are often microseconds)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 0.001:
        return "<0.001"
    return _text(round(value, 3) if isinstance(value, float) else value)


def _text(value: Any) -> str:
    """A count or a time, short: ``3``, ``0.25``; "" for none."""
    if value is None:
        return ""
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value == int(value) else format(value, ".3g")
    return str(value)
