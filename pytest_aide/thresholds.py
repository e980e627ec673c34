"""Warning/critical ranges per metric, the per-level merge of configured changes, and the evaluation of a value.

Thresholds come in layers: the shipped catalogue (:mod:`pytest_aide.metrics`), the operator's declared
metrics (``[metrics.NAME]``), ``[thresholds.NAME]`` and ``--aide-threshold``. Each layer changes only the
levels it names: ``warning = "2"`` keeps the critical range of the layer below. A level is removed only
explicitly (``critical = false`` in the file, ``none`` on the command line), never by leaving it out.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeAlias

from pytest_aide.metrics import DEFAULT_METRICS, MetricSpec
from pytest_aide.ranges import NagiosRange
from pytest_aide.status import Status


@dataclass(frozen=True)
class Threshold:
    """The two ranges of one metric; either may be absent (no alert at that level)."""

    warning: NagiosRange | None = None
    critical: NagiosRange | None = None

    @classmethod
    def parse(cls, warning: str | float | None, critical: str | float | None) -> Threshold:
        """Build from range texts; raise ValueError naming the bad one."""
        return cls(_parse_optional("warning", warning), _parse_optional("critical", critical))

    def evaluate(self, value: float) -> Status:
        """CRITICAL when the critical range alerts, else WARNING when the warning range does, else OK."""
        if self.critical is not None and self.critical.alerts(value):
            return Status.CRITICAL
        if self.warning is not None and self.warning.alerts(value):
            return Status.WARNING
        return Status.OK

    def broken_range(self, status: Status) -> NagiosRange | None:
        """The range responsible for ``status``."""
        return {Status.CRITICAL: self.critical, Status.WARNING: self.warning}.get(status)

    def to_dict(self) -> dict[str, str | None]:
        return {
            "warning": self.warning.text if self.warning else None,
            "critical": self.critical.text if self.critical else None,
        }


def _parse_optional(level: str, text: str | float | None) -> NagiosRange | None:
    if text is None or text == "":
        return None
    return _parse_range(level, text)


def _parse_range(level: str, text: str | float) -> NagiosRange:
    try:
        return NagiosRange.parse(text)
    except ValueError as exc:
        raise ValueError(f"{level}: {exc}") from None


class Removed(enum.Enum):
    """A level the operator removed explicitly: ``critical = false`` in the file, ``none`` on the command line."""

    LEVEL = "removed"


REMOVED = Removed.LEVEL
LevelChange: TypeAlias = NagiosRange | Removed | None
"""A range sets the level, REMOVED removes it, None keeps the level of the layer below."""


@dataclass(frozen=True)
class ThresholdChange:
    """What one configuration layer says about a metric's two levels (see the module docstring)."""

    warning: LevelChange = None
    critical: LevelChange = None

    @classmethod
    def parse(cls, warning: str | float | bool | None, critical: str | float | bool | None) -> ThresholdChange:
        """None keeps a level, ``False`` removes it, a range text or number sets it; ValueError names the level."""
        return cls(_parse_change("warning", warning), _parse_change("critical", critical))

    def apply(self, base: Threshold) -> Threshold:
        """``base`` with this change's levels set or removed, the others kept."""
        return Threshold(_merge(self.warning, base.warning), _merge(self.critical, base.critical))

    def then(self, later: ThresholdChange) -> ThresholdChange:
        """This change followed by ``later`` (the later one wins level by level), e.g. repeated flags."""
        return ThresholdChange(
            later.warning if later.warning is not None else self.warning,
            later.critical if later.critical is not None else self.critical,
        )

    @property
    def is_empty(self) -> bool:
        return self.warning is None and self.critical is None


def _parse_change(level: str, value: str | float | bool | None) -> LevelChange:
    if value is None:
        return None
    if value is False:
        return REMOVED
    if value is True or value == "":
        raise ValueError(f"{level}: {value!r} is not a range (give a range such as 10 or 10:20, or false to remove it)")
    return _parse_range(level, value)


def _merge(change: LevelChange, base: NagiosRange | None) -> NagiosRange | None:
    if change is None:
        return base
    return None if change is REMOVED else change


@dataclass(frozen=True)
class ThresholdSet:
    """Thresholds for every metric, and the catalogue of known metrics (shipped and declared)."""

    thresholds: Mapping[str, Threshold] = field(default_factory=dict)
    metrics: Mapping[str, MetricSpec] = field(default_factory=lambda: dict(DEFAULT_METRICS))

    @classmethod
    def defaults(cls) -> ThresholdSet:
        return cls().with_metrics(DEFAULT_METRICS)

    def with_metrics(self, declared: Mapping[str, MetricSpec]) -> ThresholdSet:
        """Add metrics to the catalogue with their default thresholds; raise ValueError naming a bad range."""
        added = {name: Threshold.parse(spec.warning, spec.critical) for name, spec in declared.items()}
        return ThresholdSet({**self.thresholds, **added}, {**self.metrics, **declared})

    def with_overrides(self, overrides: Mapping[str, Threshold]) -> ThresholdSet:
        """Replace the named metrics' thresholds whole (both levels)."""
        return ThresholdSet({**self.thresholds, **overrides}, self.metrics)

    def with_changes(self, changes: Mapping[str, ThresholdChange]) -> ThresholdSet:
        """Apply per-level changes: each changes only the levels it names."""
        merged = {name: change.apply(self.get(name)) for name, change in changes.items()}
        return self.with_overrides(merged)

    def get(self, metric: str) -> Threshold:
        """The metric's threshold; a metric nobody configured has none (it never alerts)."""
        return self.thresholds.get(metric, Threshold())

    def spec(self, metric: str) -> MetricSpec | None:
        """The catalogue entry (unit, action) of a shipped or declared metric."""
        return self.metrics.get(metric)

    def knows(self, metric: str) -> bool:
        """True for a shipped or declared metric: only these may be given thresholds by configuration."""
        return metric in self.metrics

    def __contains__(self, metric: object) -> bool:
        return metric in self.thresholds
