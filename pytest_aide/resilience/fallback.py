"""A primary, then alternatives: the first that works serves, and every try is counted.

The AIDE guide watches the fallback success rate beside the retry rate: how often the primary served, how
often an alternative saved a call the primary could not serve, how often nothing could.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pytest_aide.errors import AideError
from pytest_aide.resilience._text import Redact, error_line

T = TypeVar("T")


@dataclass(frozen=True)
class Served(Generic[T]):
    """A call that one option served: its value, the option's name and position (0: the primary), and the
    one-line errors of the options tried before it."""

    value: T
    option: str
    index: int
    errors: tuple[tuple[str, str], ...]

    @property
    def fell_back(self) -> bool:
        return self.index > 0


class FallbackFailed(AideError):
    """Every option failed; ``errors`` lists each option's error line, in order. ``__cause__`` is the last."""

    def __init__(self, name: str, errors: tuple[tuple[str, str], ...]) -> None:
        self.name = name
        self.errors = errors
        tried = "; ".join(f"{option}: {error}" for option, error in errors)
        super().__init__(f"{name}: every option failed ({tried})")


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


class _Tally:
    """Attempts and successes of one option."""

    def __init__(self) -> None:
        self.attempts = 0
        self.successes = 0

    def to_dict(self) -> dict[str, Any]:
        failures = self.attempts - self.successes
        rate = _rate(self.successes, self.attempts)
        return {"attempts": self.attempts, "successes": self.successes, "failures": failures, "success_rate": rate}


class Fallback(Generic[T]):
    """Options tried in order (the first is the primary) until one returns.

    ``fall_back_on``: the exceptions that move on to the next option; any other propagates at once (counted
    as that option's failure and the call's). Statistics are kept under a lock that is never held while an
    option runs, so one ``Fallback`` serves many threads.

    Example::

        settings = Fallback({"live": fetch_settings, "cached": read_cached_settings}, name="settings")
        served = settings.call()
        served.value, served.option        # (..., "cached") when the live service is down
        settings.stats()["fallback_success_rate"]
    """

    def __init__(
        self,
        options: Mapping[str, Callable[..., T]],
        *,
        name: str = "fallback",
        fall_back_on: type[Exception] | tuple[type[Exception], ...] = Exception,
        redact: Redact | None = None,
    ) -> None:
        if not options:
            raise ValueError(f"fallback {name!r}: at least one option (the primary) is needed")
        self.name = name
        self._options = dict(options)
        self._fall_back_on = fall_back_on
        self._redact = redact
        self._lock = threading.Lock()
        self._tallies = {option: _Tally() for option in self._options}
        self._calls = self._served = self._by_primary = self._primary_failed = self._by_fallback = 0

    def call(self, *args: Any, **kwargs: Any) -> Served[T]:
        """Try each option with these arguments; the first success, or :class:`FallbackFailed`."""
        errors: list[tuple[str, str]] = []
        last: BaseException | None = None
        for index, (option, fn) in enumerate(self._options.items()):
            try:
                value = fn(*args, **kwargs)
            except Exception as exc:
                errors.append((option, error_line(exc, self._redact)))
                self._count(option, ok=False)
                if not isinstance(exc, self._fall_back_on):
                    self._finish(None)
                    raise
                last = exc
                continue
            self._count(option, ok=True)
            self._finish(index)
            return Served(value, option, index, tuple(errors))
        self._finish(None)
        raise FallbackFailed(self.name, tuple(errors)) from last

    def stats(self) -> dict[str, Any]:
        """Success rates per option and overall (fractions 0..1, None before any call), builtin types only.

        ``fallback_success_rate``: of the calls the primary could not serve, the share an alternative served.
        """
        with self._lock:
            return {
                "name": self.name,
                "calls": self._calls,
                "served": self._served,
                "failed": self._calls - self._served,
                "success_rate": _rate(self._served, self._calls),
                "served_by_primary": self._by_primary,
                "served_by_fallback": self._by_fallback,
                "fallback_success_rate": _rate(self._by_fallback, self._primary_failed),
                "options": {option: tally.to_dict() for option, tally in self._tallies.items()},
            }

    def _count(self, option: str, *, ok: bool) -> None:
        with self._lock:
            tally = self._tallies[option]
            tally.attempts += 1
            if ok:
                tally.successes += 1

    def _finish(self, served_by: int | None) -> None:
        with self._lock:
            self._calls += 1
            if served_by is None:
                self._primary_failed += 1
                return
            self._served += 1
            if served_by == 0:
                self._by_primary += 1
            else:
                self._primary_failed += 1
                self._by_fallback += 1
