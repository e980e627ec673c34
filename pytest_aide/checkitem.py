"""Item-level hooks: which items are checks, their status letters, their properties and redaction."""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_aide import benchmark_hooks, checkrun, shipped
from pytest_aide.checkrun import CheckCritical
from pytest_aide.deadline import CheckTimedOut
from pytest_aide.dependencies import FIXTURE_DEPENDENCIES, DependencyDown
from pytest_aide.errors import AideError, ProbeError
from pytest_aide.results import (
    ATTEMPT,
    DEPENDS_ON,
    DOWN,
    FLOOR,
    PROPERTY_PREFIX,
    REACHABILITY,
    TIMEOUT,
    UNMEASURED,
    check_properties,
    status_of,
)
from pytest_aide.state import CHECK_RECORDS_KEY, RECORDER_KEY, AideState, get_state, stashed
from pytest_aide.status import Status, Verdict, status_named

_MESSAGE_LIMIT = 400
_OUTCOMES = ("passed", "failed", "skipped")  # pytest's own; others (pytest-rerunfailures' "rerun") are theirs
_FACT_STYLES = ("auto", "no")  # --tb values that leave the failure's presentation to us
_IS_CHECK_KEY = pytest.StashKey[bool]()


# Failures that state a fact about the system rather than a bug in the check: the check's own assertion or
# pytest.fail, a probe that could not measure, a critical value, a target the OS could not reach.
FACT_ERRORS: tuple[type[BaseException], ...] = (AssertionError, AideError, OSError, pytest.fail.Exception)


def shows_facts(config: pytest.Config, exc: BaseException) -> bool:
    """Whether a failure is shown as health facts instead of pytest's traceback.

    Facts are, unless ``--tb`` names a style explicitly (``auto`` is the default); a critical measurement
    always is, as its traceback would only show the plugin's own frames, and so is a time limit reached (its
    message names the line the check was stopped at). Any other exception (TypeError, KeyError...) is a bug
    in the check and keeps its traceback.
    """
    if isinstance(exc, CheckCritical | CheckTimedOut):
        return True
    return isinstance(exc, FACT_ERRORS) and config.getoption("tbstyle", "auto") in _FACT_STYLES


def is_check(item: pytest.Item) -> bool:
    """Checks are items of ``check_*.py`` files, users of the ``aide_health`` fixture, or marked ``aide``.

    Asked several times per check (setup, each report), so the answer is kept in the item's stash.
    """
    known = stashed(item.stash, _IS_CHECK_KEY)
    if known is None:
        known = item.stash[_IS_CHECK_KEY] = (
            item.path.name.startswith("check_")
            or "aide_health" in getattr(item, "fixturenames", ())
            or item.get_closest_marker("aide") is not None
        )
    return known


def defined_in(obj: object, collector: pytest.Collector) -> bool:
    """Whether ``obj`` was defined in the module being collected (not imported into it)."""
    module = getattr(collector, "module", None) or getattr(collector, "obj", None)
    return getattr(obj, "__module__", None) == getattr(module, "__name__", object())


def aide_kwargs(item: pytest.Item) -> dict[str, Any]:
    """The keywords of every ``aide`` marker on the item, the closest winning (a function's ``essential=True``
    keeps its module's ``component``)."""
    merged: dict[str, Any] = {}
    for marker in item.iter_markers("aide"):  # closest first
        for key, value in marker.kwargs.items():
            merged.setdefault(key, value)
    return merged


def component_and_weight(item: pytest.Item, kwargs: dict[str, Any] | None = None) -> tuple[str, float]:
    kwargs = aide_kwargs(item) if kwargs is None else kwargs
    default = item.path.stem.removeprefix("check_")
    return str(kwargs.get("component", default)), float(kwargs.get("weight", 1.0))


class BadMarker(ValueError):
    """An ``aide`` marker keyword the plugin cannot use: the check cannot run (UNKNOWN, with this message)."""


def floor_of(item: pytest.Item, kwargs: dict[str, Any] | None = None) -> Verdict | None:
    """The verdict the check's markers make it force when CRITICAL or UNKNOWN: CRITICAL for ``essential=True``,
    else the marker's ``floor``; None for an ordinary check (``[checks] essential``: :func:`listed_essential`)."""
    kwargs = aide_kwargs(item) if kwargs is None else kwargs
    if kwargs.get("essential"):
        return Verdict.CRITICAL
    floor = kwargs.get("floor")
    if floor is None:
        return None
    try:
        return Verdict(str(floor).upper())
    except ValueError:
        names = ", ".join(v.value for v in Verdict)
        raise BadMarker(f"aide(floor={floor!r}) is not a verdict: use one of {names}") from None


def listed_essential(item: pytest.Item, essential: list[str]) -> bool:
    """Whether ``[checks] essential`` names the check (by node id, so asked of each case of a parametrized one)."""
    return bool(essential) and bool(shipped.excluded([item], essential))


def dependency_properties(item: pytest.Item, kwargs: dict[str, Any] | None = None) -> list[tuple[str, Any]]:
    """What the check depends on (``aide(depends_on=[...])`` and its fixtures: aide_db is "db", aide_cache
    "cache", aide_app "app") and which dependency it is the reachability check of (``aide(reachability="db")``)."""
    kwargs = aide_kwargs(item) if kwargs is None else kwargs
    declared = kwargs.get("depends_on", ())
    declared = [declared] if isinstance(declared, str) else declared
    if not isinstance(declared, list | tuple) or not all(isinstance(d, str) and d for d in declared):
        raise BadMarker(f"aide(depends_on={declared!r}) is not a list of dependency names (db, cache, app...)")
    reachability = kwargs.get("reachability")
    if reachability is not None and not (isinstance(reachability, str) and reachability):
        raise BadMarker(f"aide(reachability={reachability!r}) is not a dependency name (db, cache, app...)")
    fixtures = getattr(item, "fixturenames", ())
    inherited = [kind for name, kind in FIXTURE_DEPENDENCIES.items() if name in fixtures]
    depends = list(dict.fromkeys([*declared, *inherited, *([reachability] if reachability else [])]))
    props: list[tuple[str, Any]] = [(DEPENDS_ON, ",".join(depends))] if depends else []
    return props + ([(REACHABILITY, reachability)] if reachability else [])


def outages_met(item: pytest.Item, excinfo: pytest.ExceptionInfo[BaseException] | None) -> str:
    """The dependencies (comma-separated) a failed phase could not reach: its own error says so, or a probe
    it made met an outage (an HTTP probe answers with an error rather than raising)."""
    run = stashed(item.stash, checkrun.RUN_KEY)
    kinds = [o.kind for o in run.outages] if run is not None else []
    current: BaseException | None = excinfo.value if excinfo is not None else None
    while current is not None and len(kinds) < 20:  # the chain, bounded: a cached fixture error re-raised
        if isinstance(current, DependencyDown):
            kinds.append(current.kind)
        current = current.__cause__ or current.__context__
    return ",".join(dict.fromkeys(kinds))


def call_properties(item: pytest.Item, place: tuple[str, float] | None = None) -> list[tuple[str, Any]]:
    component, weight = place if place is not None else component_and_weight(item)
    recorder = stashed(item.stash, RECORDER_KEY)
    if recorder is None:
        return check_properties(component=component, weight=weight, status=Status.OK, message="", measurements={})
    return check_properties(
        component=component,
        weight=weight,
        status=recorder.status,
        message=recorder.message(),
        measurements={m.name: m.to_dict() for m in recorder.measurements},
    )


def fixture_records(item: pytest.Item) -> list[tuple[str, str]]:
    """The properties the check's fixtures keep for its call report (``CHECK_RECORDS_KEY``)."""
    producers = stashed(item.stash, CHECK_RECORDS_KEY)
    if not producers:
        return []
    found = ((name, produce()) for name, produce in producers.items())
    return [(name, text) for name, text in found if text is not None]


def one_line(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    """A failure's reason on one line (the exception's first line), for verdicts and summaries."""
    exc = excinfo.value
    # A check's own assertion or pytest.fail message (or our errors) speaks for itself; others keep their type.
    plain = isinstance(exc, AideError | AssertionError | CheckTimedOut | pytest.fail.Exception) and str(exc).strip()
    text = str(exc).strip() if plain else excinfo.exconly().strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return first if len(first) <= _MESSAGE_LIMIT else first[: _MESSAGE_LIMIT - 1] + "…"


@pytest.hookimpl(wrapper=True)
def make_report(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """The ``pytest_runtest_makereport`` wrapper (wiring registers this function itself: a wrapper delegating
    to it cost a second generator on each of every check's three reports)."""
    state = get_state(item.config)
    if state is None:
        return (yield)
    when = call.when
    run = stashed(item.stash, checkrun.RUN_KEY)  # every check has one from its setup on
    if run is None and when == "setup" and is_check(item):
        run = checkrun.check_run(item)  # a setup another plugin ended before ours ran (a skip marker, say)
    check = run is not None
    bad_marker = ""
    if run is not None and when == "setup":
        placement = _placement(item, state)
        component, weight = run.place = placement.place
        run.limits = placement.limits
        checkrun.begin_attempt(run)
        run.benchmark = benchmark_hooks.watch_check(item, state)
        floor, depends, bad_marker = placement.floor, placement.depends, placement.bad_marker
        if floor is not Verdict.CRITICAL and listed_essential(item, state.config.settings.checks.essential):
            floor = Verdict.CRITICAL
        place = [("aide.component", component), ("aide.weight", weight), *([(FLOOR, floor.value)] if floor else [])]
        set_properties(item, [*place, *depends, *checkrun.phase_properties(run, call.excinfo)])
    elif run is not None and when == "call":
        unmeasured = call.excinfo is not None and isinstance(call.excinfo.value, ProbeError)
        extra = [*([(UNMEASURED, True)] if unmeasured else []), *checkrun.phase_properties(run, call.excinfo)]
        set_properties(item, [*call_properties(item, run.place), *extra, *fixture_records(item)])
    report = yield
    if not check:
        redact_report(report, state)
        return report
    if bad_marker and not report.failed:  # the check's own marker is wrong: it cannot be judged as written
        report.outcome, report.longrepr = "failed", bad_marker
        report.user_properties.append(("aide.message", bad_marker))
    failed = report.outcome == "failed"
    if call.excinfo is not None and failed:
        explain_failure(item, call.excinfo, report, state)
    elif when == "call" and report.outcome == "passed" and _warns_with_evidence(item):
        attach_evidence(item, report, state, as_sections=False)  # a warning's action reads "(attached)" too
    if failed and (down := outages_met(item, call.excinfo)):
        report.user_properties.append((DOWN, down))  # the controller names the root cause (rootcause.py)
    if when == "teardown" and RECORDER_KEY in item.stash:
        del item.stash[RECORDER_KEY]  # a rerun's setup may fail before it records anything of its own
    redact_report(report, state)
    return report


@dataclass(frozen=True)
class Placement:
    """What a check's markers and fixtures make of it, the same for every case of one parametrized function:
    its component and weight, its floor (``[checks] essential`` aside), dependencies, limits, or a marker
    keyword it cannot use (as a message)."""

    place: tuple[str, float]
    floor: Verdict | None
    depends: list[tuple[str, Any]]
    limits: checkrun.Limits | None
    bad_marker: str


_PLACEMENTS_KEY = pytest.StashKey[dict[tuple[Any, ...], Placement]]()


def _placement(item: pytest.Item, state: AideState) -> Placement:
    """The check's :class:`Placement`, worked out once per function, module and set of markers: reading the
    markers of the node chain and the fixtures was a good part of what each of 1,000 cases of one parametrized
    check cost at its setup."""
    cache = item.config.stash.setdefault(_PLACEMENTS_KEY, {})
    # The same function object in the same parent with the same marker objects and the same fixture closure
    # (one list, shared by the cases of one definition) reads the same: ids, since the items live as long.
    fixtures = getattr(item, "fixturenames", None)
    name = getattr(item, "originalname", item.name)  # [resilience.checks] timeouts name checks so
    key = (getattr(item, "obj", None), id(item.parent), tuple(map(id, item.own_markers)), id(fixtures), name)
    found = cache.get(key)
    if found is None:
        found = cache[key] = _work_out_placement(item, state)
    return found


def _work_out_placement(item: pytest.Item, state: AideState) -> Placement:
    kwargs = aide_kwargs(item)  # the markers, read once for all of the check's settings
    place = component_and_weight(item, kwargs)
    try:
        limits = checkrun.limits_of(item, kwargs, state.config.settings.resilience.checks)
        floor = floor_of(item, kwargs)
        return Placement(place, floor, dependency_properties(item, kwargs), limits, "")
    except (BadMarker, checkrun.BadLimit) as exc:
        return Placement(place, None, [], None, str(exc))


def _warns_with_evidence(item: pytest.Item) -> bool:
    """A WARNING check that attached evidence of its own (the log check's error entries, say)."""
    recorder = stashed(item.stash, RECORDER_KEY)
    return recorder is not None and recorder.status is Status.WARNING and bool(recorder.evidence)


def set_properties(item: pytest.Item, properties: list[tuple[str, Any]]) -> None:
    """Replace the check's ``aide.*`` properties, so each report (and, under pytest-rerunfailures, each
    attempt) carries one set of values: the setup's, then the call's."""
    item.user_properties[:] = [(n, v) for n, v in item.user_properties if not n.startswith(PROPERTY_PREFIX)]
    item.user_properties.extend(properties)


def explain_failure(
    item: pytest.Item, excinfo: pytest.ExceptionInfo[BaseException], report: pytest.TestReport, state: AideState
) -> None:
    """Give a failed check its one-line message, its evidence and, for facts, the health-facts block."""
    message = state.redactor(one_line(excinfo))
    measured = next((str(v) for n, v in report.user_properties if n == "aide.message"), "")
    if measured and measured != message:
        message = f"{message}; {measured}"  # why it failed first, then what it measured
    for owner in (report, item):  # junitxml writes the item's properties, with the teardown report
        owner.user_properties[:] = [(n, v) for n, v in owner.user_properties if n != "aide.message"]
        owner.user_properties.append(("aide.message", message))
    facts = shows_facts(item.config, excinfo.value)
    if report.when != "call":
        if facts:
            report.longrepr = message  # e.g. a fixture that cannot reach the target: its reason, no traceback
        return
    items = attach_evidence(item, report, state, as_sections=not facts)
    if facts:
        from pytest_aide.evidence import failure_text

        recorder = stashed(item.stash, RECORDER_KEY)
        report.longrepr = failure_text(message, recorder.measurements if recorder else [], items)


def attach_evidence(
    item: pytest.Item, report: pytest.TestReport, state: AideState, *, as_sections: bool = True
) -> list[tuple[str, str]]:
    """Put the evidence of a failed (or warning) check into the report: a property, HTML extras and, beside a
    traceback, a section per item (the health-facts block carries it otherwise). Returns the redacted items."""
    from pytest_aide import evidence

    recorder = stashed(item.stash, RECORDER_KEY)
    items = evidence.collect(recorder.evidence if recorder else [], state.redactor)
    if as_sections:
        report.sections.extend((f"aide evidence: {title}", text) for title, text in items)
    prop = ("aide.evidence", json.dumps([{"title": t, "text": x} for t, x in items]))
    report.user_properties.append(prop)
    item.user_properties.append(prop)  # junitxml writes the properties of the teardown report
    try:
        from pytest_html import extras
    except ImportError:  # pragma: no cover - pytest-html is a dependency; extras are optional all the same
        return items
    html_extras = [*getattr(report, "extras", []), *(extras.text(text, name=title) for title, text in items)]
    setattr(report, "extras", html_extras)  # noqa: B010 - pytest-html's attribute, unknown to TestReport's type
    return items


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
    if report.sections:
        report.sections = [(title, redact(content)) for title, content in report.sections]
    if not _clean_properties(report.user_properties, redact):
        report.user_properties = [(name, redact(v) if isinstance(v, str) else v) for name, v in report.user_properties]


def _clean_properties(properties: list[tuple[str, Any]], redact: Callable[[str], str]) -> bool:
    """Whether redacting ``properties`` would give an equal list: each a (name, value) tuple whose value, if
    text, has nothing to mask. Most reports' are (a component, a weight, a status), and then the report keeps
    its list rather than a copy made on each of a check's three reports."""
    for pair in properties:
        _name, value = pair  # a pair of any other length fails as the copy's unpacking would
        if type(pair) is not tuple or (isinstance(value, str) and redact(value) != value):
            return False
    return True


def report_status(report: pytest.TestReport | pytest.CollectReport) -> str | None:
    """The check status one report shows (the terminal and the HTML table both use it); None if not a check."""
    outcome = report.outcome  # the attribute, not the ``passed``/``skipped`` properties: asked of every report
    if outcome == "passed" and report.when != "call":
        return None  # a passed setup or teardown shows nothing: two of every check's three reports
    props = dict(getattr(report, "user_properties", ()))  # collect reports have none
    if "aide.component" not in props or outcome not in _OUTCOMES:
        return None
    if outcome == "skipped":
        return "SKIPPED"
    recorded = props.get("aide.status")
    status = status_of(
        report.when,
        report.outcome,
        recorded=status_named(recorded) if recorded else None,
        unmeasured=bool(props.get(UNMEASURED)),
        timed_out=TIMEOUT in props,
        retried=int(props.get(ATTEMPT, 1)) > 1,
    )
    return status.value if status else None


_TESTSTATUS = {
    Status.WARNING.value: ("warned", "W", ("WARNING", {"yellow": True})),
    Status.CRITICAL.value: ("failed", "F", ("CRITICAL", {"red": True})),
    Status.UNKNOWN.value: ("error", "E", ("UNKNOWN", {"red": True})),
}


def teststatus(report: pytest.TestReport | pytest.CollectReport) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
    """Letters and words: W/WARNING for warning checks, CRITICAL and UNKNOWN for failed ones."""
    if report.outcome == "passed" and report.when != "call":
        return None  # two of every check's three reports: pytest's own letters
    return _TESTSTATUS.get(report_status(report) or "")
