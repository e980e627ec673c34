"""A chaos experiment: the steady state holds → inject a fault → the expected degradation shows within a bound →
roll back → the system recovers within a bound.

The probe is any callable that observes the system (``lambda: api.get("/api/health").json()["status"]``); small
predicates say which observations count as steady, degraded and recovered. The degradation and the recovery are
polled until their deadline, with an injectable ``clock`` and ``sleep`` so tests run instantly.

Rollback runs once the injection has started, whatever happens after it: a degradation that never shows, an
injection that raised, a ``KeyboardInterrupt``. (When the steady state does not hold, nothing is injected and
nothing rolled back.) Every phase's outcome, timing and last observation is kept as plain data — builtin types
only, so it crosses the xdist boundary and goes into ``health.json`` as is — and a failed experiment gives one
line naming the phase that did not hold and what was seen: ``did not degrade within 5 s: /api/health stayed
'healthy'``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pytest_aide.faults.errors import FaultError

PHASES = ("steady", "inject", "degrade", "rollback", "recover")
_OBSERVED_CHARS = 120


class ExperimentFailed(FaultError):
    """A phase of a chaos experiment did not hold; ``result`` is the experiment's full record."""

    def __init__(self, message: str, result: dict[str, Any]) -> None:
        super().__init__(message)
        self.result = result


@dataclass
class Experiment:
    """One experiment; :meth:`run` returns its record, :meth:`check` raises :class:`ExperimentFailed` too.

    Example::

        Experiment(
            "upstream cut",
            probe=lambda: api.get("/api/health").json()["status"],
            steady=lambda status: status == "healthy",
            inject=proxy.blackhole,
            degraded=lambda status: status == "degraded",
            rollback=proxy.pass_through,
            degrade_within=5, recover_within=10, what="/api/health",
        ).check()
    """

    name: str
    probe: Callable[[], object]
    steady: Callable[[Any], bool]
    inject: Callable[[], object]
    degraded: Callable[[Any], bool]
    rollback: Callable[[], object]
    recovered: Callable[[Any], bool] | None = None  # default: the steady-state predicate
    degrade_within: float = 5.0
    recover_within: float = 10.0
    poll_interval: float = 0.25
    errors_degrade: bool = False  # a probe that raises counts as degraded (otherwise it never counts as anything)
    what: str | None = None  # how messages name the probe (default: its function name)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        for field in ("degrade_within", "recover_within"):
            value = getattr(self, field)
            if not isinstance(value, int | float) or not value >= 0:
                raise FaultError(f"experiment {self.name!r}: {field} must be a number of seconds >= 0, got {value!r}")
        if not isinstance(self.poll_interval, int | float) or not self.poll_interval > 0:
            raise FaultError(f"experiment {self.name!r}: poll_interval must be > 0 s, got {self.poll_interval!r}")
        self.result: dict[str, Any] = {}

    def check(self) -> dict[str, Any]:
        """Run; raise :class:`ExperimentFailed` with the one-line message when a phase did not hold."""
        result = self.run()
        if not result["ok"]:
            raise ExperimentFailed(f"{self.name}: {result['message']}", result)
        return result

    def run(self) -> dict[str, Any]:
        """Run every phase; return the record (``ok``, ``failed_phase``, ``message``, ``phases``)."""
        self._started = self.clock()
        self.result = {
            "name": self.name,
            "ok": False,
            "failed_phase": None,
            "message": None,
            "bounds_s": {"degrade": float(self.degrade_within), "recover": float(self.recover_within)},
            "phases": [_skipped(phase) for phase in PHASES],
        }
        try:
            if self._poll("steady", self.steady, 0.0, errors_match=False):
                self._inject_and_roll_back()
        finally:
            self.result["duration_s"] = self._since(self._started)
        self.result["ok"] = self.result["failed_phase"] is None
        return self.result

    def _inject_and_roll_back(self) -> None:
        rolled_back = False
        try:
            if self._act("inject", self.inject):
                self._poll("degrade", self.degraded, self.degrade_within, errors_match=self.errors_degrade)
        finally:
            rolled_back = self._act("rollback", self.rollback)
        if rolled_back:
            self._poll("recover", self.recovered or self.steady, self.recover_within, errors_match=False)

    # Phases

    def _act(self, phase: str, action: Callable[[], object]) -> bool:
        began = self.clock()
        try:
            action()
        except Exception as exc:
            self._record(phase, began, "failed", error=_describe(exc), message=f"{phase} failed: {_describe(exc)}")
            return False
        except BaseException:
            self._record(phase, began, "interrupted")
            raise
        self._record(phase, began, "ok")
        return True

    def _poll(self, phase: str, matches: Callable[[Any], bool], within: float, *, errors_match: bool) -> bool:
        began = self.clock()
        deadline = began + within
        seen: list[str] = []
        try:
            while True:
                text, ok = self._observe(matches, errors_match)
                seen.append(text)
                if ok:
                    self._record(phase, began, "ok", seen=seen)
                    return True
                now = self.clock()
                if now >= deadline:
                    self._record(phase, began, "failed", seen=seen, message=self._failure(phase, within, seen))
                    return False
                self.sleep(min(self.poll_interval, deadline - now))
        except Exception as exc:  # the clock or sleep itself: a broken experiment, said as such
            self._record(phase, began, "failed", seen=seen, message=f"{phase} failed: {_describe(exc)}")
            return False
        except BaseException:
            self._record(phase, began, "interrupted", seen=seen)
            raise

    def _observe(self, matches: Callable[[Any], bool], errors_match: bool) -> tuple[str, bool]:
        try:
            value = self.probe()
        except Exception as exc:
            return f"raising {_describe(exc)}", errors_match
        text = _shorten(repr(value))
        try:
            return text, bool(matches(value))
        except Exception as exc:
            return f"{text} (the predicate raised {_describe(exc)})", False

    def _failure(self, phase: str, within: float, seen: list[str]) -> str:
        what = self.what or getattr(self.probe, "__name__", "<lambda>")
        what = "the probe" if what == "<lambda>" else what
        last = seen[-1]
        saw = f"stayed {last}" if len(set(seen)) == 1 else f"was {last} at the last of {len(seen)} probes"
        if phase == "steady":
            return f"steady state did not hold before injecting: {what} was {last}"
        if phase == "degrade":
            return f"did not degrade within {within:g} s: {what} {saw}"
        return f"did not recover within {within:g} s after rollback: {what} {saw}"

    def _record(
        self,
        phase: str,
        began: float,
        outcome: str,
        *,
        seen: list[str] | None = None,
        error: str | None = None,
        message: str | None = None,
    ) -> None:
        entry = {
            "phase": phase,
            "outcome": outcome,
            "started_s": round(began - self._started, 3),
            "duration_s": self._since(began),
            "probes": len(seen) if seen is not None else 0,
            "observed": seen[-1] if seen else None,
            "error": error,
        }
        self.result["phases"][PHASES.index(phase)] = entry
        if outcome != "ok" and self.result["failed_phase"] is None:
            self.result["failed_phase"] = phase
            self.result["message"] = message or f"{phase} was interrupted"

    def _since(self, began: float) -> float:
        return round(self.clock() - began, 3)


def _skipped(phase: str) -> dict[str, Any]:
    return {
        "phase": phase,
        "outcome": "skipped",
        "started_s": None,
        "duration_s": None,
        "probes": 0,
        "observed": None,
        "error": None,
    }


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return _shorten(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


def _shorten(text: str) -> str:
    return text if len(text) <= _OBSERVED_CHARS else text[: _OBSERVED_CHARS - 1] + "…"


class Experiments:
    """Runs experiments with shared defaults and keeps every record, also of one that failed or was interrupted
    (the ``aide_experiment`` fixture)."""

    def __init__(self, **defaults: Any) -> None:
        self.defaults = defaults
        self.results: list[dict[str, Any]] = []

    def __call__(self, name: str, **options: Any) -> dict[str, Any]:
        """Run :class:`Experiment` ``name`` with ``options`` over the defaults; raise :class:`ExperimentFailed`."""
        experiment = Experiment(name, **{**self.defaults, **options})
        try:
            return experiment.check()
        finally:
            self.results.append(experiment.result)
