"""Under xdist the controller has the run's endpoints probed (by a child process of its own) and streams the
results to its workers.

A serial run streams its probes in check order (``ProbeStream``) and so overlaps probing with checking. Under
xdist the workers start, import and collect first, which takes a second or more; the controller uses that
time. In ``pytest_xdist_setupnodes`` (:class:`ControllerPrep`), when the run may collect a check at all
(:func:`may_check`), it starts the target (if it has to) and, when the run plainly checks every configured
endpoint (:func:`may_guess`), starts probing all of them. Each worker, once it has collected, writes its selected
endpoints to the run's folder (:func:`write_wanted`); at the first worker's
``pytest_xdist_node_collection_finished`` the controller narrows its plan to exactly that selection (in that
order), or only then starts when it did not guess. Each result goes to a JSON-lines file that the workers'
``aide_endpoint_probes`` reads (:class:`~pytest_aide.probes.feed.ProbeFeed`), so every endpoint is probed
once per run and a check waits for its own endpoint only. The probing runs in a child process of the
controller (:mod:`pytest_aide.probes.feed_process`), started before the controller loads its configuration
(:mod:`pytest_aide.earlyprobes`) so that it has booted before the workers do: probe threads in the controller
itself took its interpreter lock from the reports its workers wait on. It ends with the controller's test
loop, and its circuits join the run's statistics before the reports are written.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_aide import shipped, target
from pytest_aide.config import AideConfig
from pytest_aide.errors import ConfigError
from pytest_aide.runs import write_text_atomic
from pytest_aide.state import AideState

if TYPE_CHECKING:
    from pytest_aide.dependencies import Dependency
    from pytest_aide.probes.endpoints import EndpointSpec
    from pytest_aide.probes.feed_process import Circuits, ProbeChild, ProbeProcess
    from pytest_aide.probes.http import HttpClient
    from pytest_aide.redact import Redactor
    from pytest_aide.settings import EndpointSettings, FileSettings

FEED = "endpoint-probes.jsonl"
ENDPOINT_CHECK = shipped.CHECKS_DIR / "check_endpoints.py"
_ENDPOINT_CHECK_NAMES = frozenset({"check_endpoints.py", "check_endpoint", "check_endpoints.py::check_endpoint"})
_MARK_WORDS = frozenset({"and", "or", "not"})
# pytest's option names (dest) that leave tests out of a run or run none of them
NARROWING_OPTIONS = ("keyword", "lf", "deselect", "stepwise", "stepwise_skip", "collectonly", "setupplan", "setuponly")
CHECK_FILES = "check_*.py"
_NOT_WALKED = frozenset({"__pycache__", "node_modules", "site-packages"})
_WALK_LIMIT = 5000  # files and folders looked at before a named folder is taken to hold checks


@dataclass(frozen=True)
class RunScope:
    """What of the command line decides the selection (read from pytest's options by the wiring)."""

    narrowing: tuple[str, ...]  # options given that leave out tests: keyword, lf, deselect, stepwise...
    markexpr: str
    args: tuple[str, ...]  # the paths or node ids given on the command line (empty when pytest chose)
    invocation_dir: Path
    suite_added: bool
    ignored: tuple[str, ...] = ()  # --ignore paths
    ignored_globs: tuple[str, ...] = ()  # --ignore-glob patterns


def may_check(scope: RunScope) -> bool:
    """Whether the run may collect a check, as far as its command line tells before collection: the shipped
    suite is added, no path is named (pytest chooses), or a named path is a ``check_*.py`` or a folder holding
    one. Only then does the controller start the target and the probes ahead of its workers: ``pytest tests
    -n 4`` in a project whose ``aide.toml`` has an ``[app] command`` must not start the app for tests that
    are no checks (it took the app's port from another run). Checks in other files (``aide_health`` users,
    ``@pytest.mark.aide``) are seen only at collection. A wrong no costs only time: the first check of a
    worker starts the target, as in a run without xdist, and the workers probe their endpoints themselves."""
    if scope.suite_added or not scope.args:
        return True
    return any(_holds_check_file(scope.invocation_dir / arg.split("::", 1)[0]) for arg in scope.args)


def _holds_check_file(path: Path) -> bool:
    if path.is_file():
        return fnmatch.fnmatch(path.name, CHECK_FILES)
    if not path.is_dir():
        return True  # not a path pytest can collect as it stands (it says so): no reason to hold back
    looked_at = 0
    for folder, subfolders, files in os.walk(path, followlinks=True):  # as pytest; _WALK_LIMIT ends a loop
        if any(fnmatch.fnmatch(name, CHECK_FILES) for name in files):
            return True
        subfolders[:] = [
            name
            for name in subfolders
            if not name.startswith(".")
            and name not in _NOT_WALKED
            and not os.path.exists(os.path.join(folder, name, "pyvenv.cfg"))
        ]
        looked_at += len(files) + len(subfolders)
        if looked_at > _WALK_LIMIT:
            return True
    return False


def may_guess(scope: RunScope, config: AideConfig) -> bool:
    """Whether the run surely checks every configured endpoint, so they may be probed before the workers
    have collected: no option leaves tests out, no node id is named, ``-m`` is empty or a plain marker name
    the endpoint check carries, and the shipped endpoint check or a named file that uses ``aide_endpoint``
    is collected. Anything else waits for the workers' collection (a guess there would probe endpoints the
    run never checks)."""
    if scope.narrowing or any("::" in arg for arg in scope.args):
        return False
    mark = scope.markexpr.strip()
    if mark and (not mark.isidentifier() or mark in _MARK_WORDS):
        return False
    files: list[Path] = []
    if scope.suite_added and _ENDPOINT_CHECK_NAMES.isdisjoint(config.settings.suite.exclude):
        files.append(ENDPOINT_CHECK)
    files.extend(path for arg in scope.args if (path := scope.invocation_dir / arg).suffix == ".py")
    return any(_checks_endpoints(path, mark, scope) for path in files)


def _checks_endpoints(path: Path, mark: str, scope: RunScope) -> bool:
    path = path.resolve()
    ignored = [(scope.invocation_dir / entry).resolve() for entry in scope.ignored]
    if any(path == entry or path.is_relative_to(entry) for entry in ignored):
        return False
    if any(fnmatch.fnmatch(str(path), pattern) for pattern in scope.ignored_globs):
        return False
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return "aide_endpoint" in text and (not mark or re.search(rf"\bmark\.{mark}\b", text) is not None)


def endpoint_spec(endpoint: EndpointSettings) -> EndpointSpec:
    from pytest_aide.probes.endpoints import EndpointSpec

    return EndpointSpec(**endpoint_data(endpoint))


def endpoint_data(endpoint: EndpointSettings) -> dict[str, Any]:
    """The endpoint's EndpointSpec arguments: what the xdist controller sends its probe process, without
    importing the HTTP client itself (the conditions were checked when the configuration loaded)."""
    return {
        "name": endpoint.name,
        "path": endpoint.url or endpoint.path or "/",
        "method": endpoint.method,
        "expect_status": endpoint.expect_status,
        "conditions": tuple(endpoint.conditions),
    }


def app_client(
    settings: FileSettings,
    redactor: Redactor,
    dependency_for: Callable[[str], Dependency | None] | None = None,
    *,
    pool_size: int | None = None,
    read_timeout: float | None = None,
) -> HttpClient:
    """The HTTP client of ``[app]`` (its requests through the circuits ``dependency_for`` gives); ConfigError
    when a ``headers_env`` variable is not set. ``pool_size``/``read_timeout`` replace ``[run] concurrency`` and
    ``[app] timeout`` (the load probe's own)."""
    from pytest_aide.probes.http import HttpClient

    options = app_client_options(settings, pool_size=pool_size, read_timeout=read_timeout)
    return HttpClient(**options, redactor=redactor, dependency_for=dependency_for)


def app_client_options(
    settings: FileSettings, *, pool_size: int | None = None, read_timeout: float | None = None
) -> dict[str, Any]:
    """The keyword arguments of ``[app]``'s HttpClient but its redactor and circuits: plain data that a probe
    process can take (headers included: hand them over a pipe, never a command line). ConfigError when a
    ``headers_env`` variable is not set."""
    headers_env = settings.app.headers_env
    missing = [var for var in headers_env.values() if not os.environ.get(var)]
    if missing:
        raise ConfigError(f"[app] headers_env: environment variable {missing[0]} is not set")
    return {
        "base_url": settings.app.url or "",
        "connect_timeout": settings.app.connect_timeout,
        "read_timeout": read_timeout or settings.app.timeout,
        "headers": {header: os.environ[var] for header, var in headers_env.items()},
        "verify": settings.app.verify_tls,
        "pool_size": pool_size or settings.run.concurrency,
    }


def idle_limit(settings: FileSettings) -> float:
    """How long a worker accepts a feed that does not grow before its missing probes are UNKNOWN."""
    from pytest_aide.probes.feed import idle_limit as limit

    app = settings.app
    start = app.start_timeout if app.command else 0.0
    return limit(connect_timeout=app.connect_timeout, read_timeout=app.timeout, start_timeout=start)


class ControllerPrep:
    """What the xdist controller does for its workers while they boot: start the target, probe endpoints (in a
    child process of its own: :mod:`pytest_aide.probes.feed_process`)."""

    def __init__(self, state: AideState, scope: RunScope, *, child: ProbeChild | None = None) -> None:
        """``child``: a probe process started early, adopted when there are endpoints to probe, else released."""
        self._state = state
        self.feed: ProbeProcess | None = None
        self._starter: threading.Thread | None = None  # the target's start: the run waits for it before it ends
        self._closed = False
        try:
            self._prepare(state, scope, child)
        finally:
            if child is not None:
                child.release()  # a no-op once adopted

    def _prepare(self, state: AideState, scope: RunScope, child: ProbeChild | None) -> None:
        settings = state.config.settings
        if not settings.app.url or not may_check(scope):
            return
        options = None
        if settings.endpoints:
            try:
                options = app_client_options(settings)
            except ConfigError:
                options = None  # each worker's aide_app reports it, as in a run without xdist
        if options is not None:
            from pytest_aide.probes.feed_process import ProbeJob, ProbeProcess

            job = ProbeJob(
                path=state.work_dir / FEED,
                client=options,
                endpoints=[endpoint_data(endpoint) for endpoint in settings.endpoints],
                concurrency=settings.run.concurrency,
                secrets=state.redactor.secrets,
                circuits=probe_circuits(settings),
            )
            try:
                self.feed = ProbeProcess(job, before=self._start_target, child=child)
            except OSError:
                self.feed = None  # no process to be had (a process limit...): the workers probe, as without a feed
        if self.feed is None:
            if settings.app.command:
                self._starter = threading.Thread(target=self._start_target, name="aide-target-start", daemon=True)
                self._starter.start()
            return
        self._starter = self.feed.starter
        if may_guess(scope, state.config):
            self.feed.plan(endpoint.name for endpoint in settings.endpoints)

    def _start_target(self) -> None:
        target.start_once(self._state)

    def worker_collected(self, workerid: str) -> None:
        """Narrow the plan to what worker ``workerid`` collected (the first to report decides)."""
        if self.feed is None or self.feed.exact:
            return
        try:
            names = json.loads(wanted_path(self._state.work_dir, workerid).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return  # the next worker's collection decides; a worker waiting in vain reports UNKNOWN
        self.feed.plan(names, exact=True)

    def stop_probing(self) -> dict[str, dict[str, Any]]:
        """End the probes (every check has run): the probe process's circuit statistics, once. Its exit is
        awaited by :meth:`close`, while the reports are written."""
        return self.feed.stop() if self.feed is not None else {}

    def end_feed(self) -> None:
        """The run stopped before every check had its probe (Ctrl-C, ``-x``): the workers' checks still waiting
        fail at once, so the workers finish and xdist does not wait its shutdown timeout for them."""
        from pytest_aide.probes.feed import end_feed

        end_feed(self._state.work_dir / FEED, "the run stopped before this endpoint's probe arrived")

    def close(self) -> None:
        """Stop probing; wait for the probe process to exit and for a target start in progress (so the run stops
        what it started). Once."""
        if self._closed:
            return
        self._closed = True
        feed, self.feed = self.feed, None
        if feed is not None:
            feed.close()
        if self._starter is not None:
            self._starter.join(self._state.config.settings.app.start_timeout + 10)
        work_dir = self._state.work_dir
        leftovers = (FEED, target.START_ERROR, *(p.name for p in work_dir.glob("endpoint-wanted-*.json")))
        for leftover in leftovers:
            (work_dir / leftover).unlink(missing_ok=True)


def probe_circuits(settings: FileSettings) -> Circuits | None:
    """The probe process's circuits: ``[resilience.breakers]`` and ``[resilience.dependencies]``, as the
    controller's own registry would make them; None when the dependencies' circuits are switched off."""
    from pytest_aide.probes.feed_process import Circuits

    dependencies = settings.resilience.dependencies
    if not dependencies.enabled:
        return None
    return Circuits(
        app_url=settings.app.url or "",
        failure_threshold=dependencies.failure_threshold,
        policy=dataclasses.asdict(settings.resilience.breakers),
    )


def wanted_path(work_dir: Path, workerid: str) -> Path:
    return work_dir / f"endpoint-wanted-{workerid}.json"


def write_wanted(work_dir: Path, workerid: str, names: Iterable[str]) -> None:
    """A worker's selected endpoints (names only: no URL leaves the configuration), in the order its
    collection holds them, for the controller."""
    write_text_atomic(wanted_path(work_dir, workerid), json.dumps(list(names)))


def fed(wanted: Mapping[str, EndpointSettings], settings: FileSettings) -> list[str]:
    """The names among ``wanted`` that the controller probes: the configured endpoints (a check that brings
    its own ``aide_endpoint`` values probes those itself)."""
    configured = {endpoint.name: endpoint for endpoint in settings.endpoints}
    # the parametrized values are the configured objects themselves: identity spares a deep comparison each
    return [
        name for name, endpoint in wanted.items() if (known := configured.get(name)) is endpoint or known == endpoint
    ]


def selected_endpoints(params: Iterable[Mapping[str, Any] | None]) -> dict[str, EndpointSettings]:
    """The ``aide_endpoint`` values among the items' parameters, by name, in item order."""
    found: dict[str, EndpointSettings] = {}
    for item_params in params:
        endpoint = item_params.get("aide_endpoint") if item_params else None
        if endpoint is not None:
            found.setdefault(endpoint.name, endpoint)
    return found


def scope_from(values: Mapping[str, Any], args: Sequence[str], **fields: Any) -> RunScope:
    """A RunScope from pytest option values (``None`` or empty when not given)."""
    return RunScope(
        narrowing=tuple(name for name in NARROWING_OPTIONS if values.get(name)),
        markexpr=str(values.get("markexpr") or ""),
        args=tuple(args),
        ignored=tuple(values.get("ignore") or ()),
        ignored_globs=tuple(values.get("ignore_glob") or ()),
        **fields,
    )
