"""Warning/critical ranges per metric, and the evaluation of one value against them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pytest_aide.metrics import DEFAULT_METRICS
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
    try:
        return NagiosRange.parse(text)
    except ValueError as exc:
        raise ValueError(f"{level}: {exc}") from None


@dataclass(frozen=True)
class ThresholdSet:
    """Thresholds for every metric: the shipped defaults overlaid with configured ones."""

    thresholds: Mapping[str, Threshold] = field(default_factory=dict)

    @classmethod
    def defaults(cls) -> ThresholdSet:
        return cls({name: Threshold.parse(spec.warning, spec.critical) for name, spec in DEFAULT_METRICS.items()})

    def with_overrides(self, overrides: Mapping[str, Threshold]) -> ThresholdSet:
        return ThresholdSet({**self.thresholds, **overrides})

    def get(self, metric: str) -> Threshold:
        """The metric's threshold; a metric nobody configured has none (it never alerts)."""
        return self.thresholds.get(metric, Threshold())

    def __contains__(self, metric: object) -> bool:
        return metric in self.thresholds
