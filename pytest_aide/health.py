"""Measurements a check records, and the check status they add up to.

A check records every measurement before anything fails, so a report shows all of them even when the first
one is already critical; the status is the worst measurement's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pytest_aide.status import Status
from pytest_aide.thresholds import Threshold, ThresholdSet


@dataclass(frozen=True)
class Measurement:
    """One named value with its unit, thresholds and resulting status."""

    name: str
    value: float
    unit: str
    status: Status
    threshold: Threshold
    action: str = ""

    def describe(self) -> str:
        """One line such as ``memory_percent = 93.2 % (critical > 90): clear caches or restart the app``."""
        text = f"{self.name} = {_format_value(self.value)}{(' ' + self.unit) if self.unit else ''}"
        broken = self.threshold.broken_range(self.status)
        if math.isnan(self.value):
            text += " (critical: not a number)"
        elif broken is not None:
            text += f" ({self.status.value.lower()} {broken.describe()}, range {broken.text})"
        if self.status is not Status.OK and self.action:
            text += f": {self.action}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """Builtin types only: this crosses from xdist workers to the controller."""
        return {
            "value": self.value,
            "unit": self.unit,
            "status": self.status.value,
            **self.threshold.to_dict(),
        }


def _format_value(value: float) -> str:
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}" if abs(value) < 1e6 else f"{value:.6g}"


@dataclass
class HealthRecorder:
    """Collects a check's measurements (the object behind the ``health`` fixture)."""

    thresholds: ThresholdSet = field(default_factory=ThresholdSet.defaults)
    measurements: list[Measurement] = field(default_factory=list)
    evidence: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # said in the message even when every measurement is OK

    def record(
        self,
        name: str,
        value: float,
        unit: str | None = None,
        *,
        metric: str | None = None,
        warning: str | float | None = None,
        critical: str | float | None = None,
        action: str | None = None,
    ) -> Measurement:
        """Record ``value`` and evaluate it against the thresholds of ``metric`` (default: ``name``).

        ``warning``/``critical`` override the configured ranges for this one measurement.
        """
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"measurement {name!r} must be a number, got {value!r}")
        key = metric or name
        spec = self.thresholds.spec(key)  # unit and action of a shipped or declared metric
        threshold = self.thresholds.get(key)
        if warning is not None or critical is not None:
            threshold = Threshold.parse(
                warning if warning is not None else (threshold.warning.text if threshold.warning else None),
                critical if critical is not None else (threshold.critical.text if threshold.critical else None),
            )
        status = Status.CRITICAL if math.isnan(value) else threshold.evaluate(float(value))
        measurement = Measurement(
            name=name,
            value=float(value),
            unit=unit if unit is not None else (spec.unit if spec else ""),
            status=status,
            threshold=threshold,
            action=action if action is not None else (spec.action if spec else ""),
        )
        self.measurements.append(measurement)
        return measurement

    def note(self, text: str) -> None:
        """Say what the measurements do not (``self-timed: pytest-benchmark is off under xdist``, ``no forecast:
        flat``): it ends the check's message, once however often it is said."""
        if text not in self.notes:
            self.notes.append(text)

    def attach(self, title: str, text: str) -> None:
        """Keep evidence (a response excerpt, log lines...) for the report if the check goes wrong."""
        self.evidence.append((title, text))

    @property
    def status(self) -> Status:
        return Status.worst([m.status for m in self.measurements])

    def problems(self, status: Status | None = None) -> list[Measurement]:
        """Measurements at ``status`` (default: the check's own, when not OK)."""
        wanted = status or self.status
        return [m for m in self.measurements if m.status is wanted and wanted is not Status.OK]

    def message(self) -> str:
        """The check's one-line message: its worst measurements and its notes, or '' when all are OK (no notes)."""
        return "; ".join([*(m.describe() for m in self.problems()), *self.notes])
