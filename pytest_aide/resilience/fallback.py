"""A primary, then alternatives: the first that works serves, and every try is counted.

The AIDE guide watches the fallback success rate beside the retry rate: how often the primary served, how
often an alternative saved a call the primary could not serve, how often nothing could.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
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


class FallbackStats:
    """The counts behind :meth:`Fallback.stats`, under one lock that is never held while an option runs.

    Several :class:`Fallback` objects of one name may share one (a :class:`FallbackRegistry` hands them out),
    so a check that builds its fallback afresh on each call still adds to the run's one record of that name.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tallies: dict[str, _Tally] = {}
        self._calls = self._served = self._by_primary = self._by_fallback = 0

    def declare(self, options: Iterable[str]) -> None:
        """Show these options (with no attempt yet) from the start, in this order."""
        with self._lock:
            for option in options:
                self._tallies.setdefault(option, _Tally())

    def count(self, option: str, *, ok: bool) -> None:
        with self._lock:
            tally = self._tallies.setdefault(option, _Tally())
            tally.attempts += 1
            if ok:
                tally.successes += 1

    def finish(self, served_by: int | None) -> None:
        """One call ended: served by the option at this position (0: the primary), or by none."""
        with self._lock:
            self._calls += 1
            if served_by == 0:
                self._served += 1
                self._by_primary += 1
            elif served_by is not None:
                self._served += 1
                self._by_fallback += 1

    def to_dict(self, name: str) -> dict[str, Any]:
        with self._lock:
            return _statistics(
                name,
                calls=self._calls,
                served=self._served,
                by_primary=self._by_primary,
                by_fallback=self._by_fallback,
                options={option: tally.to_dict() for option, tally in self._tallies.items()},
            )


def _statistics(
    name: str, *, calls: int, served: int, by_primary: int, by_fallback: int, options: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """A fallback's statistics from its counts (the primary failed in every call it did not serve)."""
    return {
        "name": name,
        "calls": calls,
        "served": served,
        "failed": calls - served,
        "success_rate": _rate(served, calls),
        "served_by_primary": by_primary,
        "served_by_fallback": by_fallback,
        "fallback_success_rate": _rate(by_fallback, calls - by_primary),
        "options": options,
    }


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
        stats: FallbackStats | None = None,
    ) -> None:
        if not options:
            raise ValueError(f"fallback {name!r}: at least one option (the primary) is needed")
        self.name = name
        self._options = dict(options)
        self._fall_back_on = fall_back_on
        self._redact = redact
        self._stats = stats if stats is not None else FallbackStats()
        self._stats.declare(self._options)

    def call(self, *args: Any, **kwargs: Any) -> Served[T]:
        """Try each option with these arguments; the first success, or :class:`FallbackFailed`."""
        errors: list[tuple[str, str]] = []
        last: BaseException | None = None
        for index, (option, fn) in enumerate(self._options.items()):
            try:
                value = fn(*args, **kwargs)
            except Exception as exc:
                errors.append((option, error_line(exc, self._redact)))
                self._stats.count(option, ok=False)
                if not isinstance(exc, self._fall_back_on):
                    self._stats.finish(None)
                    raise
                last = exc
                continue
            self._stats.count(option, ok=True)
            self._stats.finish(index)
            return Served(value, option, index, tuple(errors))
        self._stats.finish(None)
        raise FallbackFailed(self.name, tuple(errors)) from last

    def stats(self) -> dict[str, Any]:
        """Success rates per option and overall (fractions 0..1, None before any call), builtin types only.

        ``fallback_success_rate``: of the calls the primary could not serve, the share an alternative served.
        """
        return self._stats.to_dict(self.name)


class FallbackRegistry:
    """The fallbacks of a run (of one process: under xdist, of one worker), by name, for its report.

    :meth:`make` builds a new :class:`Fallback` on every call (its options may close over one check's objects)
    whose statistics add to the name's one record.

    Example::

        fallbacks = FallbackRegistry()
        served = fallbacks.make("settings", {"live": fetch, "cached": read_cache}).call()
        fallbacks.statistics()["settings"]["options"]["cached"]["successes"]
    """

    def __init__(self, *, redact: Redact | None = None) -> None:
        self._redact = redact
        self._lock = threading.Lock()
        self._stats: dict[str, FallbackStats] = {}

    def make(
        self,
        name: str,
        options: Mapping[str, Callable[..., T]],
        *,
        fall_back_on: type[Exception] | tuple[type[Exception], ...] = Exception,
    ) -> Fallback[T]:
        """A fallback ``name`` over ``options`` (the first is the primary), counted in the run's record."""
        with self._lock:
            stats = self._stats.setdefault(name, FallbackStats())
        return Fallback(options, name=name, fall_back_on=fall_back_on, redact=self._redact, stats=stats)

    def statistics(self) -> dict[str, dict[str, Any]]:
        """Each fallback's statistics by name (builtin types, so they cross the xdist boundary)."""
        with self._lock:
            found = dict(self._stats)
        return {name: stats.to_dict(name) for name, stats in sorted(found.items())}


_OPTION_COUNTS = ("attempts", "successes")


def merge_fallback_statistics(*per_process: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """One view of the fallbacks of several processes (the xdist controller's and each worker's): counts added
    up per fallback and per option, rates computed again from the sums."""
    counts: dict[str, dict[str, int]] = {}
    options: dict[str, dict[str, dict[str, int]]] = {}
    for statistics in per_process:
        for name, stats in statistics.items():
            seen = counts.setdefault(name, {"calls": 0, "served": 0, "by_primary": 0, "by_fallback": 0})
            seen["calls"] += stats.get("calls", 0)
            seen["served"] += stats.get("served", 0)
            seen["by_primary"] += stats.get("served_by_primary", 0)
            seen["by_fallback"] += stats.get("served_by_fallback", 0)
            for option, tally in dict(stats.get("options") or {}).items():
                kept = options.setdefault(name, {}).setdefault(option, dict.fromkeys(_OPTION_COUNTS, 0))
                for key in _OPTION_COUNTS:
                    kept[key] += tally.get(key, 0)
    merged: dict[str, dict[str, Any]] = {}
    for name, seen in sorted(counts.items()):
        per_option = {option: _option_dict(tally) for option, tally in options.get(name, {}).items()}
        merged[name] = _statistics(name, **seen, options=per_option)
    return merged


def _option_dict(tally: dict[str, int]) -> dict[str, Any]:
    attempts, successes = tally["attempts"], tally["successes"]
    return {
        "attempts": attempts,
        "successes": successes,
        "failures": attempts - successes,
        "success_rate": _rate(successes, attempts),
    }
