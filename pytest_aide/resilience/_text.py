"""One line per error, free of secrets: the form every attempt, breaker and fallback record keeps."""

from __future__ import annotations

import functools
from collections.abc import Callable

from pytest_aide.redact import Redactor

Redact = Callable[[str], str]
_LIMIT = 300  # characters: a readable report cell, as the probes keep driver messages


@functools.cache
def default_redactor() -> Redactor:
    """Masks URL passwords, auth headers and secret-looking environment values (read once, on first use)."""
    return Redactor.from_environment()


def error_line(exc: BaseException, redact: Redact | None = None) -> str:
    """``"ConnectionRefusedError: [Errno 111] Connection refused"`` — type and message on one short line."""
    message = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    text = (redact or default_redactor())(text)  # before cutting: half a secret is still a secret
    return text if len(text) <= _LIMIT else text[: _LIMIT - 1] + "…"
