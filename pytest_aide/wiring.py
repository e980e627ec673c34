"""The active plugin: hooks of a run that has an aide configuration, forwarding to domain modules.

:func:`activate` is called once from :mod:`pytest_aide.plugin` at configure time; it loads the configuration,
registers this module and the fixtures as plugins, adds the shipped suite to the run and wires the reports.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Generator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_aide import (
    benchmark_hooks,
    checkitem,
    checkrun,
    collected,
    dependencies,
    fault_fixtures,
    fixtures,
    inventory,
    resilience_fixtures,
    shipped,
    target,
)
from pytest_aide.config import AideConfig, Overrides, load_config
from pytest_aide.discovery import Found
from pytest_aide.errors import ConfigError
from pytest_aide.runs import create_run_dir, new_run_id
from pytest_aide.state import STATE_KEY, AideState, forget_state, get_state
from pytest_aide.thresholds import ThresholdChange

if TYPE_CHECKING:  # the endpoint feed is imported where endpoints are probed: most runs probe none
    from pytest_aide.endpointfeed import ControllerPrep

MARKERS = (
    "daily: part of the daily health run (pytest -m daily)",
    "weekly: part of the weekly full diagnosis (pytest -m weekly)",
    "monthly: part of the monthly review (pytest -m monthly)",
    "gate: must pass before a deploy (pytest -m gate); CI trusts the exit status",
    "drill: a fault drill (pytest -m drill): injects faults into the target; opt-in, left out of any run whose -m"
    " expression does not name drill, and refused against a target the run did not start unless [drills]"
    " allow_unstarted_target = true",
    "aide(component=None, weight=1.0, essential=False, floor=None, depends_on=(), reachability=None, retries=0,"
    " timeout=60): the check's component name, its weight in the health score; essential=True: its CRITICAL or"
    " UNKNOWN makes the verdict CRITICAL; floor='UNHEALTHY': the verdict it forces at least when CRITICAL or"
    " UNKNOWN; depends_on=['db']: when db is down, this check is UNKNOWN 'blocked by' db's root cause (aide_db,"
    " aide_cache, aide_app imply db, cache, app); reachability='db': this check is db's own reachability check,"
    " the root cause when db is down; retries: extra tries of a failing body (a pass after one is WARNING"
    " 'flaky'); timeout: seconds its body may run (then UNKNOWN; 0: no limit)",
)

PREP_KEY: pytest.StashKey[ControllerPrep] = pytest.StashKey()
FROZE_KEY = pytest.StashKey[bool]()  # set when this run froze its objects at configure


def activate(config: pytest.Config, found: Found) -> None:
    """Switch pytest-aide on for this run, configured by ``found``."""
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    config.addinivalue_line("python_files", "check_*.py")
    config.addinivalue_line("python_functions", "check_*")
    try:
        aide_config = load_config(found.path, rootdir=config.invocation_params.dir, overrides=_overrides(config))
        shipped.validate_exclusions(aide_config.settings.suite.exclude, where=str(found.path))
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    state = _new_state(config, aide_config, found)
    config.stash[STATE_KEY] = state
    collected.thaw_leftover()
    if collected.freeze():  # the modules and configuration (see pytest_aide.collected)
        config.stash[FROZE_KEY] = True
    from pytest_aide import wiring

    config.pluginmanager.register(wiring, "aide-wiring")
    config.pluginmanager.register(fixtures, "aide-fixtures")
    config.pluginmanager.register(resilience_fixtures, "aide-resilience-fixtures")
    config.pluginmanager.register(fault_fixtures, "aide-fault-fixtures")
    _add_suite(config, state)
    benchmark_hooks.configure(config, state)
    if state.is_worker:
        return
    if state.archive is not None:
        state.routed_reports = _route_reports(config, state.work_dir)
    from pytest_aide.reporter import AideReporter

    config.pluginmanager.register(AideReporter(config, state), "aide-reporter")
    if config.pluginmanager.hasplugin("html") and config.getoption("htmlpath", None):
        from pytest_aide.html_report import AideHtml

        config.pluginmanager.register(AideHtml(state), "aide-html")


def _overrides(config: pytest.Config) -> Overrides:
    reports = config.getoption("aide_reports")
    return Overrides(
        app_url=config.getoption("aide_app_url"),
        reports_dir=str(Path(config.invocation_params.dir, reports)) if reports else None,
        archive=False if config.getoption("aide_no_archive") else None,
        fail_on=config.getoption("aide_fail_on"),
        fail_under=config.getoption("aide_fail_under"),
        concurrency=config.getoption("aide_concurrency"),
        thresholds=_threshold_flags(config.getoption("aide_threshold")),
    )


def _threshold_flags(flags: list[tuple[str, ThresholdChange]]) -> dict[str, ThresholdChange]:
    """Repeated ``--aide-threshold`` flags for one metric merge in order, level by level."""
    merged: dict[str, ThresholdChange] = {}
    for metric, change in flags:
        merged[metric] = merged[metric].then(change) if metric in merged else change
    return merged


def _add_suite(config: pytest.Config, state: AideState) -> None:
    """Collect the shipped suite too, unless the command line named its own paths or the config says no.

    ``pytest -m daily`` (no paths: the invocation folder or ``testpaths``) runs the shipped suite beside the
    operator's own ``check_*.py``; ``pytest -m daily check_mine.py`` runs only what it names. Under xdist the
    controller decides and its workers follow, so every process collects the same items.
    """
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        wanted = bool(workerinput.get("aide_add_suite"))
    else:
        wanted = state.config.settings.suite.enabled and config.args_source != pytest.Config.ArgsSource.ARGS
    state.suite_added = wanted
    if wanted:
        suite = shipped.SUITE_ROOT
        hidden = _hidden_path_to(config, suite)
        if hidden:
            # The package installed in a virtualenv inside the project (`python -m venv .venv` beside
            # aide.toml): pytest drops an argument lying inside another one, and "." never enters a
            # virtualenv, so the suite would silently not be collected. "." is led down to it instead.
            config.pluginmanager.register(_PathToSuite(hidden, suite), "aide-path-to-suite")
        config.args.append(str(suite))


def _hidden_path_to(config: pytest.Config, suite: Path) -> frozenset[Path]:
    """The folders from inside a collection argument down to ``suite`` when pytest itself would not enter one
    of them from there (``pytest_ignore_collect``: a virtualenv, ``norecursedirs``...); empty when nothing
    hides it."""
    for arg in config.args:
        top = Path(config.invocation_params.dir, arg).resolve()
        if not suite.is_relative_to(top) or suite == top:
            continue
        chain = [top / part for part in reversed(suite.relative_to(top).parents) if part != Path(".")]
        if any(config.hook.pytest_ignore_collect(collection_path=folder, config=config) for folder in chain):
            return frozenset(chain)
    return frozenset()


class _PathToSuite:
    """Enters the folders on the way to the shipped suite, and nothing else inside them."""

    def __init__(self, chain: frozenset[Path], suite: Path) -> None:
        self._chain = chain
        self._suite = suite

    @pytest.hookimpl(tryfirst=True)
    def pytest_ignore_collect(self, collection_path: Path) -> bool | None:
        if collection_path in self._chain:
            return False
        if collection_path.parent in self._chain and collection_path != self._suite:
            return True  # beside the way down: the rest of the virtualenv is not the operator's
        return None


def _new_state(config: pytest.Config, aide_config: AideConfig, found: Found) -> AideState:
    redactor = aide_config.redactor()
    for extra in config.hook.pytest_aide_secrets(config=config):
        redactor.add(extra)
    started = datetime.now(UTC)
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        archive = workerinput.get("aide_archive")
        return AideState(
            aide_config,
            redactor,
            workerinput["aide_run_id"],
            Path(workerinput["aide_work_dir"]),
            Path(archive) if archive else None,
            started,
            is_worker=True,
            origin=found.origin,
        )
    if aide_config.settings.reports.archive:
        archive = aide_config.path(aide_config.settings.reports.dir)
        try:
            run_id, work_dir = create_run_dir(archive, started)
        except OSError as exc:
            raise pytest.UsageError(
                f"[reports] dir: cannot create a run folder in {archive}: {exc.strerror or exc} "
                "(choose another with --aide-reports=DIR, or turn archiving off with --aide-no-archive)"
            ) from None
        return AideState(aide_config, redactor, run_id, work_dir, archive, started, origin=found.origin)
    work_dir = Path(tempfile.mkdtemp(prefix="aide-run-"))
    return AideState(aide_config, redactor, new_run_id(started), work_dir, None, started, origin=found.origin)


def _route_reports(config: pytest.Config, work_dir: Path) -> bool:
    """Archive HTML and JUnit in the run's folder unless the user chose their own paths."""
    routed = False
    if config.pluginmanager.hasplugin("html") and not config.getoption("htmlpath", None):
        config.option.htmlpath = str(work_dir / "report.html")
        config.option.self_contained_html = True
        routed = True
    if not config.option.xmlpath:
        config.option.xmlpath = str(work_dir / "junit.xml")
        routed = True
    return routed


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_setupnodes(config: pytest.Config) -> None:
    """xdist controller, before the workers start: start the target and the endpoint probes meanwhile, in the
    probe process :mod:`pytest_aide.earlyprobes` started at configure when there is one (adopted only if the
    environment is still the one it started with: the workers start with this one)."""
    state = get_state(config)
    if state is None or state.is_worker:
        return
    from pytest_aide import earlyprobes, endpointfeed

    if not earlyprobes.distributes(config):
        return
    scope_options = (*endpointfeed.NARROWING_OPTIONS, "markexpr", "ignore", "ignore_glob")
    values = {name: config.getoption(name, None) for name in scope_options}
    args = config.args if config.args_source == pytest.Config.ArgsSource.ARGS else []
    scope = endpointfeed.scope_from(
        values, args, invocation_dir=config.invocation_params.dir, suite_added=state.suite_added
    )
    config.stash[PREP_KEY] = endpointfeed.ControllerPrep(state, scope, child=earlyprobes.started(config))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: workers use the controller's configuration file, run id, folder and suite decision."""
    state = get_state(node.config)
    if state is not None and state.config.source is not None:
        node.workerinput["aide_config_path"] = str(state.config.source)
        node.workerinput["aide_run_id"] = state.run_id
        node.workerinput["aide_work_dir"] = str(state.work_dir)
        node.workerinput["aide_archive"] = str(state.archive) if state.archive else None
        node.workerinput["aide_add_suite"] = state.suite_added
        prep = node.config.stash.get(PREP_KEY, None)
        if prep is not None and prep.feed is not None:
            node.workerinput["aide_endpoint_feed"] = str(prep.feed.path)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any) -> None:
    """xdist controller: probe exactly the endpoints the workers selected (the first to collect tells)."""
    prep = node.config.stash.get(PREP_KEY, None)
    if prep is not None:
        prep.worker_collected(node.workerinput["workerid"])


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Generator[None, Any, Any]:
    """xdist controller: once every worker is done, the endpoint probes end, and their circuits join the run's
    statistics before the reports are written. A loop that stops early (Ctrl-C, ``-x``) tells the workers no
    more probes will come."""
    finished = False
    try:
        result = yield
        finished = True
        return result
    finally:
        prep = session.config.stash.get(PREP_KEY, None)
        if prep is not None:
            circuits = prep.stop_probing()
            if not finished:
                prep.end_feed()
            if circuits:
                resilience_fixtures.take_circuit_statistics(session.config, circuits)


@pytest.hookimpl(tryfirst=True)  # before xdist reports the collection to the controller
def pytest_collection_finish(session: pytest.Session) -> None:
    """The CPU window starts when a selected check reads it; a fed xdist worker tells the controller its endpoints."""
    fixtures.start_cpu_window(session.config, session.items)
    _tell_controller_endpoints(session)
    _freeze_collected(session.config)


def _freeze_collected(config: pytest.Config) -> None:
    """The collected items and fixture definitions out of the garbage collector's passes, beside the modules
    and configuration frozen at configure (see :mod:`pytest_aide.collected`)."""
    if config.stash.get(FROZE_KEY, False):
        collected.freeze(again=True)


def _tell_controller_endpoints(session: pytest.Session) -> None:
    """xdist worker fed by the controller: tell it which endpoints this run's checks take, in order."""
    state = get_state(session.config)
    workerinput = getattr(session.config, "workerinput", None)
    if state is None or workerinput is None or not workerinput.get("aide_endpoint_feed"):
        return
    from pytest_aide import endpointfeed

    params = (getattr(getattr(item, "callspec", None), "params", None) for item in session.items)
    names = endpointfeed.fed(endpointfeed.selected_endpoints(params), state.config.settings)
    endpointfeed.write_wanted(state.work_dir, workerinput["workerid"], names)


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = get_state(config)
    return target.header_lines(state) if state is not None else []


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One case per configured item for the ``aide_*`` inventory arguments of aide's own checks."""
    state = get_state(metafunc.config)
    if state is None or not checkitem.is_check(metafunc.definition):
        return
    for param in inventory.INVENTORY_PARAMS:
        if param not in metafunc.fixturenames:
            continue
        cases = inventory.cases(state.config, param)
        if cases:
            metafunc.parametrize(param, [c.value for c in cases], ids=[c.id for c in cases])
            for case in cases:
                if case.thresholds:
                    state.instance_thresholds[(param, inventory.case_key(case.value))] = case.thresholds
        else:
            skip = pytest.mark.skip(reason=inventory.not_configured_reason(param))
            metafunc.parametrize(param, [pytest.param(None, marks=skip)], ids=["not-configured"])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the shipped checks the configuration excludes (``[suite] exclude``), and the drills unless the
    ``-m`` expression names them."""
    state = get_state(config)
    if state is None:
        return
    exclude = state.config.settings.suite.exclude
    excluded = shipped.excluded(items, exclude) if exclude else []
    gone = set(map(id, excluded))
    if not drills_chosen(config.getoption("markexpr", "")):
        excluded += [i for i in marked_drills(items) if id(i) not in gone]
    if excluded:
        config.hook.pytest_deselected(items=excluded)
        gone.update(map(id, excluded))
        items[:] = [item for item in items if id(item) not in gone]


def marked_drills(items: list[pytest.Item]) -> list[pytest.Item]:
    """The items a ``drill`` marker applies to, in order: those ``item.get_closest_marker("drill")`` finds, but
    each node above the items (class, module, package) is asked once for all of its items, not once per item:
    that walk up the node chain was most of what collection cost aide per check."""
    above: dict[int, bool] = {}  # id of a node above the items -> whether it or a node above it is marked
    return [item for item in items if _marks_drill(item) or _drill_above(item.parent, above)]


def _drill_above(node: pytest.Item | pytest.Collector | None, above: dict[int, bool]) -> bool:
    if node is None:
        return False
    known = above.get(id(node))  # the nodes outlive the call: their ids stay theirs
    if known is None:
        known = above[id(node)] = _marks_drill(node) or _drill_above(node.parent, above)
    return known


def _marks_drill(node: pytest.Item | pytest.Collector) -> bool:
    """Whether the node's own markers include ``drill`` (as ``Node.iter_markers`` matches a name)."""
    for mark in node.own_markers:  # noqa: SIM110 (a loop, not any(): no generator per item)
        if getattr(mark, "name", None) == "drill":
            return True
    return False


def drills_chosen(markexpr: str) -> bool:
    """Whether a ``-m`` expression names the drill marker (``drill``, ``drill and not slow``...): drills are opt-in,
    so ``pytest``, ``-m daily`` or ``-m "not slow"`` never run one."""
    import re

    return re.search(r"\bdrill\b", markexpr or "") is not None


@pytest.hookimpl(tryfirst=True)  # before pytest sets up the check's fixtures: their outages are the check's
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A check notes the outages its probes meet from its setup to its teardown (one thread, one check)."""
    state = get_state(item.config)
    if state is None:
        return
    if not checkitem.is_check(item):
        dependencies.stop_watching()
        return
    checkrun.check_run(item).outages = dependencies.watch_check()
    names = getattr(item, "fixturenames", ())
    target.ensure_target(state, talks_to_app=not target.APP_FIXTURES.isdisjoint(names))


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makeitem(
    collector: pytest.Module | pytest.Class, name: str, obj: object
) -> Generator[None, Any, Any]:
    """A ``check_*`` function imported from elsewhere (a helper) is not a check of this module."""
    result = yield
    if name.startswith("check_") and not checkitem.defined_in(obj, collector):
        return None
    return result


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None, Any, Any]:
    """A check's body: under its time limit, failed when a measurement is critical, tried again if it may."""
    return (yield from checkrun.run_body(pyfuncitem))


pytest_runtest_makereport = checkitem.make_report  # a wrapper (its own marker): no generator around it
pytest_report_teststatus = checkitem.teststatus  # asked for every report: no wrapper call around it


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    fixtures.stop_cpu_window(session.config)
    state = get_state(session.config)
    if state is not None and state.is_worker:
        resilience_fixtures.send_worker_statistics(session.config)
    if state is not None and not state.is_worker:
        prep = session.config.stash.get(PREP_KEY, None)
        if prep is not None:
            prep.close()
        target.stop_started_target(state)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """A worker ended: keep what its circuits and fallbacks saw for the run's report."""
    resilience_fixtures.take_worker_statistics(node.config, getattr(node, "workeroutput", None) or {})


def pytest_unconfigure(config: pytest.Config) -> None:
    prep = config.stash.get(PREP_KEY, None)
    if prep is not None:  # a session that failed to start never reached its sessionfinish
        prep.close()
    checkrun.close(config)
    state = get_state(config)
    forget_state(config)
    if state is None or state.is_worker:
        return
    if state.archive is None or state.summary is None:
        shutil.rmtree(state.work_dir, ignore_errors=True)  # no check ran: leave no empty run behind
