"""``health.html``: the operator's report of one run, opening on the verdict.

pytest-html's ``report.html`` is a test report: its layout and outcome words (a WARNING check "Passed") are
pytest-html's. This page is aide's own: verdict, score and advice first, then coverage, then the checks that
need attention with their measurements, action and evidence, then every check grouped by status (WARNING its
own group), skipped checks last. It is rendered from the same redacted summary data as ``health.json``, is
self-contained (inline CSS, no script, a Content-Security-Policy that forbids any load) and reads the same
with JavaScript off.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jinja2
from markupsafe import Markup

from pytest_aide.health_html_resilience import resilience_views
from pytest_aide.metrics import DEFAULT_METRICS
from pytest_aide.redact import Redactor
from pytest_aide.status import Verdict
from pytest_aide.summary import RunSummary

GROUP_ORDER = ("CRITICAL", "UNKNOWN", "WARNING", "OK")  # worst first; SKIPPED is listed apart, last
SKIPPED = "SKIPPED"
ATTENTION = ("CRITICAL", "UNKNOWN", "WARNING")  # the checks shown in full at the top
MEASURED = ("OK", "WARNING", "CRITICAL")  # UNKNOWN and SKIPPED checks measured nothing: the coverage gap
# What RunSummary carries about a narrowed run and the gate rule behind the exit status: shown when set, whether
# read from the summary object or found in its dict.
OPTIONAL_FIELDS = ("partial", "partial_reason", "exit_rule")


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pytest_aide", "templates"),
        autoescape=True,  # every value is the target's text: never trusted as markup
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        bytecode_cache=_bytecode_cache(),
    )
    return env


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Jinja2's cache of compiled templates (a private folder in the temp dir): compiling the page's template
    costs about 30 ms in every run; loading it compiled, under 1 ms. None when no such folder can be made."""
    try:
        return jinja2.FileSystemBytecodeCache()
    except (OSError, RuntimeError):
        return None


def render_summary(summary: RunSummary, redactor: Redactor, data: Mapping[str, Any] | None = None) -> str:
    """The page for ``summary``; ``data`` is its already redacted ``to_dict()`` when the caller has it."""
    page = dict(data) if data is not None else redactor.redact_data(summary.to_dict())
    page.update(redactor.redact_data(optional_fields(summary)))
    return render(page)


def optional_fields(summary: object) -> dict[str, Any]:
    """The optional attributes of ``summary`` that are set (see ``OPTIONAL_FIELDS``)."""
    found = {name: getattr(summary, name, None) for name in OPTIONAL_FIELDS}
    return {name: value for name, value in found.items() if value not in (None, "", False)}


def render(data: Mapping[str, Any]) -> str:
    """HTML for a summary dict shaped like ``health.json`` (redacting it is the caller's job)."""
    return _environment().get_template("health.html.j2").render(page_context(data))


@dataclass(frozen=True, slots=True)
class MeasurementView:
    """One measurement as the page shows it."""

    name: str
    value: str
    unit: str
    status: str
    warning: str
    critical: str
    action: str  # recorded with the measurement, else the shipped catalogue's, else ''


@dataclass(slots=True)  # not frozen: one per check, and a frozen __init__ sets each field through object.__setattr__
class CheckView:
    """One check as the page shows it (measurements, actions and evidence only for those needing attention)."""

    anchor: str
    nodeid: str
    component: str
    status: str
    message: str
    skip_reason: str
    duration: str
    measurements: list[MeasurementView]
    actions: list[str]
    evidence: list[tuple[str, str]]

    @property
    def needs_attention(self) -> bool:
        return self.status in ATTENTION


def page_context(data: Mapping[str, Any]) -> dict[str, Any]:
    """What the template shows, in the order it shows it."""
    checks = [_check_view(index, check) for index, check in enumerate(data.get("checks", []))]
    status = str(data.get("status", ""))
    ran = [c for c in checks if c.status != SKIPPED]
    found = Counter(c.status for c in checks)
    causes = _root_causes(data)
    blocked = {nodeid for cause in causes for nodeid in cause["blocked"]}  # listed under their root cause
    return {
        "run_id": str(data.get("run_id", "")),
        "status": status,
        "advice": _advice(status),
        "score": _score(data.get("score")),
        "exit_rule": str(data.get("exit_rule") or ""),
        "partial": bool(data.get("partial") or data.get("partial_reason")),
        "partial_reason": str(data.get("partial_reason") or ""),
        "selection": str(data.get("selection") or ""),
        "started": str(data.get("started", "")),
        "finished": str(data.get("finished", "")),
        "host": str(data.get("host", "")),
        "target": {str(k): str(v) for k, v in dict(data.get("target") or {}).items()},
        "counts": [(key, found[key]) for key in (*GROUP_ORDER, SKIPPED)],
        "total": len(checks),
        "ran": len(ran),
        "measured": _measured(data, checks),
        "verdict_rule": str(data.get("verdict_rule") or ""),
        "skipped": [c for c in checks if c.status == SKIPPED],
        "root_causes": causes,
        "circuits": _circuits(data),
        "alerts": _alerts(data),
        **resilience_views(dict(data.get("resilience") or {})),
        "attention": sorted(
            (c for c in ran if c.needs_attention and c.nodeid not in blocked), key=lambda c: _group_rank(c.status)
        ),
        "groups": _groups(ran),
    }


def _circuits(data: Mapping[str, Any]) -> list[dict[str, str]]:
    """health.json's circuits, not-closed ones first (none in files older than the key)."""
    found = dict(dict(data.get("resilience") or {}).get("circuits") or {})
    rows = [
        {
            "name": str(name),
            "state": str(stats.get("state", "")),
            "calls": _number(stats.get("calls")),
            "failures": _number(stats.get("failures")),
            "rejections": _number(stats.get("rejections")),
            "last_error": str(stats.get("last_error") or ""),
        }
        for name, stats in found.items()
    ]
    return sorted(rows, key=lambda row: (row["state"] == "closed", row["name"]))


def _alerts(data: Mapping[str, Any]) -> dict[str, list[dict[str, str]]] | None:
    """health.json's ``alerts`` as the page shows them: each rule, and each delivery that failed (None: no rule)."""
    alerts = data.get("alerts")
    if not isinstance(alerts, Mapping):
        return None
    keys = ("rule", "severity", "watches", "condition", "value", "state", "note")
    rules = [{key: str(rule.get(key) or "") for key in keys} for rule in alerts.get("rules", [])]
    failed = [
        {"notifier": str(d.get("notifier", "")), "message": str(d.get("message", "")), "error": str(d.get("error", ""))}
        for d in alerts.get("deliveries", [])
        if isinstance(d, Mapping) and not d.get("ok")
    ]
    problems = [{"text": str(p)} for p in [alerts.get("error"), *alerts.get("problems", [])] if p]
    return {"rules": rules, "failed": failed, "problems": problems}


def _root_causes(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """health.json's ``root_causes`` as the page shows them (none in files older than the key)."""
    causes = data.get("root_causes") or []
    return [
        {
            "dependency": str(c.get("dependency", "")),
            "check": str(c.get("check", "")),
            "status": str(c.get("status", "")),
            "message": str(c.get("message", "")),
            "blocked": [str(n) for n in c.get("blocked", [])],
        }
        for c in causes
        if isinstance(c, Mapping)
    ]


def _measured(data: Mapping[str, Any], checks: list[CheckView]) -> int:
    """Checks that measured something (health.json's ``coverage``; counted from statuses for older files)."""
    coverage = data.get("coverage")
    if isinstance(coverage, Mapping) and isinstance(coverage.get("measured"), int):
        return int(coverage["measured"])
    return sum(1 for c in checks if c.status in MEASURED)


def _groups(checks: list[CheckView]) -> list[tuple[str, int, Markup]]:
    """Checks by status, worst group first (a status this module does not know goes after OK): each group's
    name, size and table rows."""
    groups: dict[str, list[CheckView]] = {}
    for check in checks:
        groups.setdefault(check.status, []).append(check)
    ordered = sorted(groups.items(), key=lambda item: (_group_rank(item[0]), item[0]))
    return [(name, len(group), Markup("\n".join(map(_row, group)))) for name, group in ordered]


def _row(check: CheckView) -> str:
    """One row of the "All checks" tables, escaped here rather than by the template: a run has thousands of
    them, and a template loop costs several times as much per row."""
    nodeid = f"<code>{_escaped(check.nodeid)}</code>"
    if check.needs_attention:
        nodeid = f'<a href="#{_escaped(check.anchor)}">{nodeid}</a>'
    return (
        f"<tr><td>{nodeid}</td><td>{_escaped(check.component)}</td><td>{_escaped(check.message)}</td>"
        f"<td>{_escaped(check.duration)}&nbsp;s</td></tr>"
    )


def _escaped(text: str) -> str:
    """``str(markupsafe.escape(text))`` for a str: the same five replacements, in its order, as plain str methods.

    A row escapes four texts, and a run has thousands of rows: ``escape`` wraps each result in a ``Markup``,
    whose making cost more than the replacements themselves."""
    return (
        text.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;").replace("'", "&#39;").replace('"', "&#34;")
    )


def _group_rank(status: str) -> int:
    return GROUP_ORDER.index(status) if status in GROUP_ORDER else len(GROUP_ORDER)


def _check_view(index: int, check: Mapping[str, Any]) -> CheckView:
    status = str(check.get("status", SKIPPED))
    measurements: list[MeasurementView] = []
    evidence: list[tuple[str, str]] = []
    actions: list[str] = []
    if status in ATTENTION:  # the others show one row: their details are not read at all
        measurements = [_measurement_view(str(name), m) for name, m in dict(check.get("measurements") or {}).items()]
        evidence = [(str(e.get("title", "")), str(e.get("text", ""))) for e in check.get("evidence") or []]
        actions = list(dict.fromkeys(m.action for m in measurements if m.status != "OK" and m.action))
    return CheckView(
        anchor=f"check-{index}",
        nodeid=str(check.get("nodeid", "")),
        component=str(check.get("component", "")),
        status=status,
        message=str(check.get("message") or ""),
        skip_reason=str(check.get("skip_reason") or ""),
        duration=_number(check.get("duration")),
        measurements=measurements,
        actions=actions,
        evidence=evidence,
    )


def _measurement_view(name: str, data: Mapping[str, Any]) -> MeasurementView:
    spec = DEFAULT_METRICS.get(name)
    return MeasurementView(
        name=name,
        value=_number(data.get("value")),
        unit=str(data.get("unit") or ""),
        status=str(data.get("status", "")),
        warning=_number(data.get("warning")),
        critical=_number(data.get("critical")),
        action=str(data.get("action") or (spec.action if spec else "")),
    )


def _advice(status: str) -> str:
    try:
        return Verdict(status).advice
    except ValueError:
        return ""


def _score(score: Any) -> str:
    return "n/a" if score is None else _number(score)


def _number(value: Any) -> str:
    """``42``, ``95.5``, ``0.0123``, ``nan``: short, and never a Python repr of an odd type."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "" if value is None else str(value)
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return format(value, ".4g")
