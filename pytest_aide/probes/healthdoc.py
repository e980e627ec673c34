"""What a health path's answer says about the app, beyond its status code.

A 200 proves only that something answered: a login page, a maintenance page or an app that reports itself
down in its own health document all answer 200. The rule, in order:

1. An HTML page is not a health document: CRITICAL (most likely a login or maintenance page).
2. A JSON object with a ``status`` (or ``state``) field is judged by that word, case-insensitively:
   ``pass ok up healthy green`` are OK, ``warn warning degraded`` WARNING, ``fail failed failure down
   error unhealthy critical out_of_service`` CRITICAL, and any other word WARNING naming the word.
3. Anything else (an empty body, plain text, JSON without a status field) is OK by its status code, as many
   load-balancer endpoints answer.

This module only reads the answer; the check decides what to record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pytest_aide.status import Status

OK_WORDS = frozenset({"pass", "ok", "up", "healthy", "green"})
WARNING_WORDS = frozenset({"warn", "warning", "degraded"})
CRITICAL_WORDS = frozenset({"fail", "failed", "failure", "down", "error", "unhealthy", "critical", "out_of_service"})
STATUS_FIELDS = ("status", "state")
_HTML = re.compile(r"\A\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.I | re.S)
_SHOWN_CHARS = 60


@dataclass(frozen=True)
class HealthDocument:
    """The reading of one health answer: its status, the word or kind that decided it, and why."""

    status: Status
    reason: str
    word: str | None = None


def looks_like_html(body: str) -> bool:
    """Whether a body is an HTML page (starts with a doctype or an ``<html>``/``<head>``/``<body>`` tag)."""
    return bool(_HTML.match(body))


def read_health_document(body: str, data: Any) -> HealthDocument:
    """Judge a 200 answer by its body (``body``: the text, ``data``: the parsed JSON or None)."""
    if data is None and looks_like_html(body):
        return HealthDocument(
            Status.CRITICAL, "answered 200 with an HTML page, not a health document (a login or maintenance page?)"
        )
    field, value = _status_field(data)
    if field is None:
        kind = "an empty body" if not body.strip() else ("JSON without a status field" if data is not None else "text")
        return HealthDocument(Status.OK, f"answered 200 with {kind}: judged by its status code")
    word = str(value).strip()
    status = status_of_word(word)
    shown = _show(word)
    if status is Status.OK:
        return HealthDocument(status, f"health document says {field} {shown}", word)
    if status is Status.CRITICAL:
        return HealthDocument(status, f"the app reports itself unhealthy: {field} {shown}", word)
    if word.lower() in WARNING_WORDS:
        return HealthDocument(status, f"the app reports itself degraded: {field} {shown}", word)
    return HealthDocument(status, f"unknown {field} {shown} in the health document (not a word aide knows)", word)


def status_of_word(word: str) -> Status:
    """The status a health document's status word stands for; an unknown word is a WARNING."""
    lowered = word.strip().lower()
    if lowered in OK_WORDS:
        return Status.OK
    if lowered in CRITICAL_WORDS:
        return Status.CRITICAL
    return Status.WARNING


def _status_field(data: Any) -> tuple[str | None, Any]:
    """The first of ``status``/``state`` (any case) of a JSON object that holds a string."""
    if not isinstance(data, dict):
        return None, None
    by_lower = {str(key).lower(): key for key in data}
    for name in STATUS_FIELDS:
        key = by_lower.get(name)
        if key is not None and isinstance(data[key], str):
            return str(key), data[key]
    return None, None


def _show(word: str) -> str:
    one_line = " ".join(word.split())
    return repr(one_line if len(one_line) <= _SHOWN_CHARS else one_line[: _SHOWN_CHARS - 1] + "…")
