"""Item-level hooks: which items are checks, their status letters, their properties and redaction."""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any

import pytest

from pytest_aide.errors import AideError
from pytest_aide.results import check_properties
from pytest_aide.state import RECORDER_KEY, AideState
from pytest_aide.status import Status

_MESSAGE_LIMIT = 400


class CheckCritical(AssertionError):
    """Raised after a check's body when one of its measurements is critical."""


def is_check(item: pytest.Item) -> bool:
    """Checks are items of ``check_*.py`` files, users of the ``aide_health`` fixture, or marked ``aide``."""
    return (
        item.path.name.startswith("check_")
        or "aide_health" in getattr(item, "fixturenames", ())
        or item.get_closest_marker("aide") is not None
    )


def defined_in(obj: object, collector: pytest.Collector) -> bool:
    """Whether ``obj`` was defined in the module being collected (not imported into it)."""
    module = getattr(collector, "module", None) or getattr(collector, "obj", None)
    return getattr(obj, "__module__", None) == getattr(module, "__name__", object())


def component_and_weight(item: pytest.Item) -> tuple[str, float]:
    marker = item.get_closest_marker("aide")
    default = item.path.stem.removeprefix("check_")
    if marker is None:
        return default, 1.0
    return str(marker.kwargs.get("component", default)), float(marker.kwargs.get("weight", 1.0))


def enforce_critical(item: pytest.Item) -> None:
    """Fail the check, after its body ran, if a recorded measurement is critical."""
    recorder = item.stash.get(RECORDER_KEY, None)
    if recorder is not None and recorder.status is Status.CRITICAL:
        raise CheckCritical(recorder.message())


def call_properties(item: pytest.Item) -> list[tuple[str, Any]]:
    component, weight = component_and_weight(item)
    recorder = item.stash.get(RECORDER_KEY, None)
    if recorder is None:
        return check_properties(component=component, weight=weight, status=Status.OK, message="", measurements={})
    return check_properties(
        component=component,
        weight=weight,
        status=recorder.status,
        message=recorder.message(),
        measurements={m.name: m.to_dict() for m in recorder.measurements},
    )


def one_line(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    """A failure's reason on one line (the exception's first line), for verdicts and summaries."""
    exc = excinfo.value
    # A check's own assertion message (or our errors) speaks for itself; other exceptions keep their type.
    plain = isinstance(exc, AideError | AssertionError) and str(exc).strip()
    text = str(exc).strip() if plain else excinfo.exconly().strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return first if len(first) <= _MESSAGE_LIMIT else first[: _MESSAGE_LIMIT - 1] + "…"


def make_report(item: pytest.Item, call: pytest.CallInfo[None], state: AideState) -> Generator[None, Any, Any]:
    """Body of the ``pytest_runtest_makereport`` wrapper for check items."""
    check = is_check(item)
    if check and call.when == "call":
        item.user_properties.extend(call_properties(item))
    elif check and call.when == "setup":
        component, weight = component_and_weight(item)
        item.user_properties.extend([("aide.component", component), ("aide.weight", weight)])
    report = yield
    if check and call.excinfo is not None and report.failed:
        message = state.redactor(one_line(call.excinfo))
        measured = next((str(v) for n, v in report.user_properties if n == "aide.message"), "")
        if measured and measured != message:
            message = f"{message}; {measured}"  # why it failed first, then what it measured
        report.user_properties = [(n, v) for n, v in report.user_properties if n != "aide.message"]
        report.user_properties.append(("aide.message", message))
        if isinstance(call.excinfo.value, AideError | CheckCritical):
            report.longrepr = message  # a clear one-liner instead of a traceback wall
        if call.when == "call":
            attach_evidence(item, report, state)
    redact_report(report, state)
    return report


def attach_evidence(item: pytest.Item, report: pytest.TestReport, state: AideState) -> None:
    """Put the evidence of a failed check into the report: HTML extras and a section per item."""
    from pytest_aide import evidence

    recorder = item.stash.get(RECORDER_KEY, None)
    items = evidence.collect(recorder.evidence if recorder else [], state.redactor)
    for title, text in items:
        report.sections.append((f"aide evidence: {title}", text))
    prop = ("aide.evidence", json.dumps([{"title": t, "text": x} for t, x in items]))
    report.user_properties.append(prop)
    item.user_properties.append(prop)  # junitxml writes the properties of the teardown report
    try:
        from pytest_html import extras
    except ImportError:  # pragma: no cover - pytest-html is a dependency; extras are optional all the same
        return
    html_extras = [*getattr(report, "extras", []), *(extras.text(text, name=title) for title, text in items)]
    setattr(report, "extras", html_extras)  # noqa: B010 - pytest-html's attribute, unknown to TestReport's type


def redact_report(report: pytest.TestReport, state: AideState) -> None:
    """Mask secrets in everything a report carries to terminals, JUnit and HTML."""
    redact = state.redactor
    if isinstance(report.longrepr, tuple):
        path, lineno, reason = report.longrepr
        report.longrepr = (path, lineno, redact(reason))
    elif report.longrepr is not None:
        text = str(report.longrepr)
        cleaned = redact(text)
        if cleaned != text:
            report.longrepr = cleaned
    report.sections = [(title, redact(content)) for title, content in report.sections]
    report.user_properties = [(name, redact(v) if isinstance(v, str) else v) for name, v in report.user_properties]


def report_status(report: pytest.TestReport | pytest.CollectReport) -> str | None:
    """The check status one report shows (the terminal and the HTML table both use it); None if not a check."""
    props = dict(getattr(report, "user_properties", ()))  # collect reports have none
    if "aide.component" not in props:
        return None
    if report.failed:
        return Status.CRITICAL.value if report.when == "call" else Status.UNKNOWN.value
    if report.skipped:
        return "SKIPPED"
    return str(props.get("aide.status", Status.OK.value)) if report.when == "call" else None


_TESTSTATUS = {
    Status.WARNING.value: ("warned", "W", ("WARNING", {"yellow": True})),
    Status.CRITICAL.value: ("failed", "F", ("CRITICAL", {"red": True})),
    Status.UNKNOWN.value: ("error", "E", ("UNKNOWN", {"red": True})),
}


def teststatus(report: pytest.TestReport | pytest.CollectReport) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
    """Letters and words: W/WARNING for warning checks, CRITICAL and UNKNOWN for failed ones."""
    return _TESTSTATUS.get(report_status(report) or "")
