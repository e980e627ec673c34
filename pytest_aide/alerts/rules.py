"""Alert rules: what a rule watches in a run, and whether its condition holds there.

A rule reads only what the run decided: the verdict and score of :class:`~pytest_aide.summary.RunSummary`, each
check's status, the values its measurements recorded. It never judges a value against thresholds again (that
is the check's status, decided in one place); its condition is the operator's own question about a value.

Four subjects, from the rule's ``metric`` and ``check``:

- ``metric = "health_score"``: the run's score (``"< 50"``: the AIDE guide's example);
- ``metric = "verdict"``: the run's verdict, ordered HEALTHY < DEGRADED < UNHEALTHY < CRITICAL;
- ``check = "check_api_health"``: the status of the checks it names, ordered OK < WARNING < UNKNOWN < CRITICAL;
- ``metric = "memory_percent"`` (and optionally ``check``): the values of that measurement (of those checks).

The condition holds when it holds for any one of the values; a run with no value for the rule (the check was
skipped or not selected, nothing measured the metric, the score is n/a) is no news either way.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from pytest_aide.results import CheckResult
from pytest_aide.status import Status, Verdict
from pytest_aide.summary import RunSummary

if TYPE_CHECKING:
    from pytest_aide.settings import AlertRuleSettings, AlertsSettings

SCORE = "health_score"
VERDICT = "verdict"
Severity = Literal["critical", "warning", "info"]

_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}
_CONDITION = re.compile(r"\s*(<=|>=|==|!=|<|>)\s*(\S+)\s*")
_SHOWN_VALUES = 3  # values named in one observation's detail
_MESSAGE_CHARS = 200  # of a check's message, in a status rule's detail


class Subject(StrEnum):
    """What a rule reads in a run."""

    SCORE = "score"
    VERDICT = "verdict"
    STATUS = "status"
    METRIC = "metric"


_RANKS: dict[Subject, dict[str, int]] = {
    Subject.VERDICT: {v.value: v.rank for v in Verdict},
    Subject.STATUS: {s.value: s.rank for s in Status},
}


@dataclass(frozen=True)
class Condition:
    """``< 50`` or ``>= CRITICAL``: a comparison with a number, or with a status or verdict by rank."""

    text: str
    symbol: str
    operand: float  # the number, or the rank of the named status or verdict

    @classmethod
    def parse(cls, text: str, subject: Subject) -> Condition:
        """The condition ``text`` for ``subject``; a ValueError says what is accepted."""
        match = _CONDITION.fullmatch(text)
        names = _RANKS.get(subject)
        accepted = "a number" if names is None else " or ".join(names)
        if match is None:
            raise ValueError(f"condition {text!r} is not an operator (<, <=, >, >=, ==, !=) and {accepted}")
        symbol, raw = match.groups()
        if names is not None:
            if raw.upper() not in names:
                raise ValueError(f"condition {text!r}: {subject.value} conditions compare with {accepted}")
            return cls(text.strip(), symbol, float(names[raw.upper()]))
        try:
            number = float(raw)
        except ValueError:
            raise ValueError(f"condition {text!r}: compare {subject.value} values with a number") from None
        if not math.isfinite(number):
            raise ValueError(f"condition {text!r}: compare with a finite number")
        return cls(text.strip(), symbol, number)

    def holds(self, value: float) -> bool:
        return _OPERATORS[self.symbol](value, self.operand)


@dataclass(frozen=True)
class Observation:
    """What one run says about a rule: ``holds`` True (alerting), False (fine) or None (no value)."""

    holds: bool | None
    value: str  # the value shown (the first that holds, else the first read): "42", "CRITICAL", ""
    detail: str  # one line: where the value comes from, or why there is none

    def to_dict(self) -> dict[str, Any]:
        return {"holds": self.holds, "value": self.value, "detail": self.detail}


@dataclass(frozen=True)
class AlertRule:
    """One ``[alerts.rules.NAME]`` table, parsed."""

    name: str
    subject: Subject
    condition: Condition
    severity: Severity = "warning"
    metric: str | None = None
    check: str | None = None
    cooldown_s: float = 3600.0
    failure_threshold: int = 1
    success_threshold: int = 1
    send_on_resolved: bool = True
    description: str = ""

    @classmethod
    def from_settings(cls, name: str, table: AlertRuleSettings) -> AlertRule:
        subject = subject_of(table.metric, table.check)
        return cls(
            name=name,
            subject=subject,
            condition=Condition.parse(table.condition, subject),
            severity=table.severity,
            metric=table.metric,
            check=table.check,
            cooldown_s=table.cooldown_minutes * 60.0,
            failure_threshold=table.failure_threshold,
            success_threshold=table.success_threshold,
            send_on_resolved=table.send_on_resolved,
            description=table.description,
        )

    @property
    def watches(self) -> str:
        """``health_score``, ``check_api_health status``, ``memory_percent of check_x``."""
        if self.subject is Subject.STATUS:
            return f"{self.check} status"
        return f"{self.metric} of {self.check}" if self.check else str(self.metric)

    def observe(self, summary: RunSummary) -> Observation:
        """Whether the condition holds in the run ``summary`` decided (see the module's docstring)."""
        if self.subject in (Subject.SCORE, Subject.VERDICT) and summary.partial:
            return Observation(None, "", f"partial run ({summary.partial_reason}): its {self.metric} is not the whole")
        if self.subject is Subject.SCORE:
            score = summary.score
            return self._judge([] if score is None else [(f"{score:g}", score, "the run's score")], "no score")
        if self.subject is Subject.VERDICT:
            value = summary.verdict.value
            return self._judge([(value, summary.verdict.rank, "the run's verdict")], "")
        checks = [c for c in summary.checks if self.check is None or names_check(self.check, c.nodeid)]
        if self.subject is Subject.STATUS:
            read = [(_status_text(c), c.status.rank, c.nodeid) for c in checks if c.status is not None]
            return self._judge(read, f"no check named {self.check} has a status in this run")
        return self._judge(list(_values(checks, str(self.metric))), f"nothing measured {self.watches} in this run")

    def _judge(self, read: Sequence[tuple[str, float, str]], missing: str) -> Observation:
        if not read:
            return Observation(None, "", missing)
        holding = [entry for entry in read if self.condition.holds(entry[1])]
        shown = holding or read
        detail = ", ".join(f"{where}: {text}" for text, _, where in shown[:_SHOWN_VALUES])
        if len(shown) > _SHOWN_VALUES:
            detail += f" and {len(shown) - _SHOWN_VALUES} more"
        return Observation(bool(holding), shown[0][0], detail)


def _values(checks: Iterable[CheckResult], metric: str) -> Iterable[tuple[str, float, str]]:
    for check in checks:
        data = check.measurements.get(metric)
        value = data.get("value") if isinstance(data, dict) else None
        if isinstance(value, int | float) and not math.isnan(value):
            unit = data.get("unit") if isinstance(data, dict) else ""
            yield (f"{value:g}{' ' + unit if unit else ''}", float(value), check.nodeid)


def _status_text(check: CheckResult) -> str:
    """``CRITICAL (connection refused)``: the decided status, with the check's message when it has one."""
    status = check.status.value if check.status else "SKIPPED"
    message = " ".join(check.message.split())
    if len(message) > _MESSAGE_CHARS:
        message = message[: _MESSAGE_CHARS - 1] + "…"
    return f"{status} ({message})" if message else status


def names_check(name: str, nodeid: str) -> bool:
    """Whether ``name`` (``check_disk``, ``check_resources.py``, ``check_resources.py::check_disk`` or a whole
    node id) names the check ``nodeid``; parametrized cases (``check_disk[/]``) answer to their function's name."""
    if name == nodeid:
        return True
    path, _, function = nodeid.partition("::")
    function = function.split("[")[0].rsplit("::", 1)[-1]
    file = path.rsplit("/", 1)[-1]
    return name in (function, file, f"{file}::{function}", f"{path}::{function}")


def subject_of(metric: str | None, check: str | None) -> Subject:
    """The subject a rule's ``metric`` and ``check`` keys choose; a ValueError when they choose none."""
    if metric is None and check is None:
        raise ValueError("name what the rule watches: metric (a measurement, health_score or verdict) or check")
    if metric in (SCORE, VERDICT):
        if check is not None:
            raise ValueError(f"metric {metric!r} is the run's own: it takes no check")
        return Subject.SCORE if metric == SCORE else Subject.VERDICT
    return Subject.METRIC if metric is not None else Subject.STATUS


def check_rule(table: AlertRuleSettings) -> None:
    """Raise ValueError when ``table``'s keys do not make a rule (used while the settings are validated)."""
    Condition.parse(table.condition, subject_of(table.metric, table.check))


def rules_of(settings: AlertsSettings) -> list[AlertRule]:
    """Every configured rule, in the file's order."""
    return [AlertRule.from_settings(name, table) for name, table in settings.rules.items()]
