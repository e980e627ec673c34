"""The fixtures checks are written with. Each is thin: read settings, build a domain object, clean up."""

from __future__ import annotations

import functools
from collections import ChainMap
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_aide import target
from pytest_aide.config import AideConfig
from pytest_aide.health import HealthRecorder
from pytest_aide.resilience_fixtures import dependency, http_dependencies
from pytest_aide.state import RECORDER_KEY, AideState, get_state

if TYPE_CHECKING:  # annotations only: the probes, drivers and backup code load when a fixture is first used
    from pytest_aide.backup import BackupManager
    from pytest_aide.history import History
    from pytest_aide.probes.cache import Cache
    from pytest_aide.probes.database import Database
    from pytest_aide.probes.endpoints import EndpointSpec
    from pytest_aide.probes.http import HttpClient, HttpProbe
    from pytest_aide.probes.load import LoadProbe
    from pytest_aide.probes.resources import ResourceSampler
    from pytest_aide.settings import EndpointSettings, ThresholdSettings


def _state(config: pytest.Config) -> AideState:
    state = get_state(config)
    if state is None:
        pytest.skip("pytest-aide is not configured in this run")
    return state


@pytest.fixture(scope="session")
def aide_config(pytestconfig: pytest.Config) -> AideConfig:
    """The effective configuration (file, environment and command line merged). Every pytest-aide fixture and
    inventory argument is named aide_* (aide_app, aide_db, aide_port...), so none shadows pytest's or another
    plugin's (cache, db, app, port...).

    Example::

        def check_custom(aide_config, aide_health):
            aide_health.record("queue_depth", read_depth(aide_config.settings.app.url), "jobs", warning="100")
    """
    return _state(pytestconfig).config


@pytest.fixture
def aide_health(request: pytest.FixtureRequest, aide_config: AideConfig) -> HealthRecorder:
    """Record named measurements; each is judged against its thresholds and the worst sets the status.

    Example::

        def check_memory(aide_health):
            aide_health.record("memory_percent", psutil.virtual_memory().percent, "%")
    """
    recorder = HealthRecorder(aide_config.thresholds_for(_instance_thresholds(request)))
    request.node.stash[RECORDER_KEY] = recorder
    return recorder


@pytest.fixture(scope="session")
def aide_history(pytestconfig: pytest.Config) -> Iterator[History]:
    """Earlier complete runs from the archive's history (``reports/history.sqlite3``), oldest first.

    Example::

        def check_memory_trend(aide_history, aide_health):
            values = aide_history.values("memory_percent", last=10)
            if len(values) < 10:
                pytest.skip(f"not enough history ({len(values)} of 10 runs)")
            aide_health.record("trend_memory_percent", sum(values) / len(values))
    """
    from pytest_aide.history import History

    history = History(_state(pytestconfig).archive)
    yield history
    history.close()


def _instance_thresholds(request: pytest.FixtureRequest) -> dict[str, ThresholdSettings]:
    """The thresholds of the inventory item this case checks (an item given as a table with ``thresholds``)."""
    from pytest_aide.inventory import case_key

    spec = getattr(request.node, "callspec", None)
    state = get_state(request.config)
    if spec is None or state is None:
        return {}
    for param, value in spec.params.items():
        found = state.instance_thresholds.get((param, case_key(value)))
        if found:
            return found
    return {}


@pytest.fixture(scope="session")
def aide_app(pytestconfig: pytest.Config, aide_config: AideConfig) -> Iterator[HttpClient]:
    """HTTP client for the target app (``[app]``), with the configured timeouts, headers and TLS options.

    Example::

        def check_api(aide_app, aide_health):
            probe = aide_app.probe("/api/health")
            aide_health.record("response_time_s", probe.elapsed_s)
    """
    from pytest_aide.endpointfeed import app_client
    from pytest_aide.errors import ConfigError

    settings = aide_config.settings
    if not settings.app.url:
        pytest.skip("not configured: [app] url (or AIDE_APP_URL)")
    try:
        client = app_client(settings, _state(pytestconfig).redactor, http_dependencies(pytestconfig, settings.app.url))
    except ConfigError as exc:
        pytest.fail(str(exc), pytrace=False)
    with client:
        yield client


@pytest.fixture
def aide_load(pytestconfig: pytest.Config, aide_config: AideConfig, aide_app: HttpClient) -> LoadProbe:
    """Load probe of the app: latency percentiles, throughput and error rate at a concurrency (threads, one
    pooled client per run; every request bounded by its timeout, none started after the deadline).

    It depends on ``aide_app`` (the target is started, the check depends on "app"). The shipped weekly
    ``check_api_load`` runs it only when ``[load]`` is configured. Example::

        def check_search_under_load(aide_load, aide_health):
            result = aide_load.run("/api/search?q=a", concurrency=4, requests=100, deadline=30)
            aide_health.record("load_p95_s", result.percentile(0.95) or 0.0)
            aide_health.record("load_error_rate_percent", result.error_rate_percent)
    """
    from pytest_aide.endpointfeed import app_client
    from pytest_aide.probes.load import LoadProbe

    redactor = _state(pytestconfig).redactor

    def make_client(pool_size: int, timeout: float | None) -> HttpClient:
        return app_client(aide_config.settings, redactor, pool_size=pool_size, read_timeout=timeout)

    return LoadProbe(make_client)


@pytest.fixture(scope="session")
def aide_target_exit(pytestconfig: pytest.Config) -> Callable[[], str | None]:
    """Why the target this run started (``[app] command``) is gone: its exit status and last output lines; None
    while it runs or when the run started none (the shipped ``check_api_health`` adds it to its failure).

    Example::

        def check_app_alive(aide_app, aide_target_exit):
            probe = aide_app.probe("/")
            assert probe.complete, aide_target_exit() or probe.error
    """
    return functools.partial(target.exit_report, _state(pytestconfig))


@pytest.fixture(scope="session")
def aide_db(pytestconfig: pytest.Config, aide_config: AideConfig) -> Iterator[Database]:
    """Read-only session on the target database (``[db] url`` or AIDE_DB_URL): SQLite, PostgreSQL, MySQL.

    Connecting and every statement go through the database's circuit (``db:host:port``): once it has
    failed to answer ``[resilience.dependencies] failure_threshold`` times, the next checks fail at once.

    Example::

        def check_orders(aide_db, aide_health):
            aide_health.record("open_orders", aide_db.scalar("SELECT count(*) FROM orders WHERE open"), "rows")
    """
    from pytest_aide.probes.database import open_database

    settings = aide_config.settings.db
    if not settings.url:
        pytest.skip("not configured: [db] url (or AIDE_DB_URL)")
    connect = functools.partial(
        open_database,
        settings.url,
        timeout=settings.timeout,
        base_dir=aide_config.base_dir,
        allow_privileged=settings.allow_privileged_role,  # a superuser's checks are refused unless allowed
    )
    circuit = dependency(pytestconfig, "db", settings.url)
    with circuit.call(connect) if circuit is not None else connect() as database:
        database.dependency = circuit
        yield database


@pytest.fixture(scope="session")
def aide_cache(pytestconfig: pytest.Config, aide_config: AideConfig) -> Iterator[Cache]:
    """Read-only client of the target's Redis (``[cache] url`` or AIDE_CACHE_URL).

    Example::

        def check_cache(aide_cache, aide_health):
            aide_health.record("cache_ping_s", aide_cache.ping())
    """
    from pytest_aide.probes.cache import open_cache

    settings = aide_config.settings.cache
    if not settings.url:
        pytest.skip("not configured: [cache] url (or AIDE_CACHE_URL)")
    circuit = dependency(pytestconfig, "cache", settings.url)  # cache:host:port, as aide_db's
    with open_cache(settings.url, timeout=settings.timeout, dependency=circuit) as client:
        yield client


@pytest.fixture(scope="session")
def aide_resources(pytestconfig: pytest.Config) -> ResourceSampler:
    """Host resources (psutil) with one CPU/network sampler per session: no one-second sleep per check.

    When a selected check reads the CPU window (``aide_cpu_window``), the window is started as soon as the
    run's items are collected (:func:`start_cpu_window`), so it is sampled in the background from the start
    and a CPU check reads its mean without waiting (at most what is missing of about 1 s). The CPU figure
    leaves out this pytest run's own processes (controller and xdist workers), so the checker does not report
    its own load; a target the run started still counts.

    Example::

        def check_cpu(aide_resources, aide_health):
            aide_health.record("cpu_percent", aide_resources.cpu_percent())
    """
    from pytest_aide.probes import resources

    state = _state(pytestconfig)
    own_cpu_seconds = state.own_cpu_seconds or _own_cpu_seconds(pytestconfig, state)
    return resources.ResourceSampler(own_cpu_seconds=own_cpu_seconds, window=state.cpu_window)


def _own_cpu_seconds(config: pytest.Config, state: AideState) -> Callable[[], float]:
    """CPU seconds of this run's process tree (an xdist worker counts its controller's), less started targets."""
    import psutil

    from pytest_aide.probes import resources

    me = psutil.Process()
    root = (me.parent() if hasattr(config, "workerinput") else me) or me
    tree_cpu_seconds = resources.tree_cpu_seconds  # looked up now: a test may give the module another source

    def own_cpu_seconds() -> float:
        return tree_cpu_seconds(root, exclude=target.started_pids(state))

    return own_cpu_seconds


def start_cpu_window(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Start sampling the CPU window when a selected check reads it; a run of other checks (or of a
    project's own tests beside an aide.toml) starts no thread. Stopped by :func:`stop_cpu_window`."""
    state = get_state(config)
    if state is None or state.cpu_window is not None:
        return
    if not any("aide_cpu_window" in getattr(item, "fixturenames", ()) for item in items):
        return
    from pytest_aide.probes import resources

    state.own_cpu_seconds = _own_cpu_seconds(config, state)
    window = resources.CpuWindow(source=resources.system_cpu_seconds, own_cpu_seconds=state.own_cpu_seconds)
    state.cpu_window = window.start()


def stop_cpu_window(config: pytest.Config) -> None:
    state = get_state(config)
    if state is not None and state.cpu_window is not None:
        state.cpu_window.stop()


@pytest.fixture(scope="session")
def aide_endpoint_probes(
    request: pytest.FixtureRequest, aide_app: HttpClient, aide_config: AideConfig
) -> Iterator[Mapping[str, HttpProbe]]:
    """Every selected ``[[endpoints]]`` case probed through a bounded pool (``[run] concurrency``), once per
    run, streamed: each check waits only for its own endpoint. In one process the probes go out in the order
    the checks run; under xdist the controller probes (from before the workers have collected, when it can)
    and hands each result to the workers as it arrives."""
    from pytest_aide.endpointfeed import endpoint_spec, fed, idle_limit, selected_endpoints

    wanted = selected_endpoints(_params(item) for item in request.session.items)  # in check order
    settings = aide_config.settings
    specs = [endpoint_spec(e) for e in wanted.values()]
    rounds = -(-len(wanted) // settings.run.concurrency)
    timeout = (settings.app.connect_timeout + settings.app.timeout) * max(rounds, 1) + 30
    workerinput = getattr(request.config, "workerinput", None)
    if workerinput is None:
        from pytest_aide.probes.endpoints import ProbeStream

        with ProbeStream(aide_app, specs, concurrency=settings.run.concurrency, wait=timeout) as stream:
            yield stream
        return
    if workerinput.get("aide_endpoint_feed"):
        from pytest_aide.probes.endpoints import ProbeStream
        from pytest_aide.probes.feed import ProbeFeed

        names = fed(wanted, settings)
        feed = ProbeFeed(Path(workerinput["aide_endpoint_feed"]), names, idle_limit=idle_limit(settings))
        own = [spec for spec in specs if spec.name not in feed]
        if not own:
            yield feed
            return
        with ProbeStream(aide_app, own, concurrency=settings.run.concurrency, wait=timeout) as stream:
            yield ChainMap(stream, feed)  # type: ignore[arg-type]  # read-only use of a Mapping
        return
    yield _probed_once(request.config, aide_app, specs, settings.run.concurrency, timeout)


def _params(item: pytest.Item) -> dict[str, Any] | None:
    spec = getattr(item, "callspec", None)
    return spec.params if spec is not None else None


def _probed_once(
    config: pytest.Config, client: HttpClient, specs: list[EndpointSpec], concurrency: int, timeout: float
) -> dict[str, HttpProbe]:
    """A worker without a controller's feed: the first worker probes them all, the others read its file."""
    from pytest_aide.probes.endpoints import probe_all
    from pytest_aide.probes.http import HttpProbe
    from pytest_aide.runshare import compute_once

    def probe() -> dict[str, Any]:
        return {name: p.to_dict() for name, p in probe_all(client, specs, concurrency=concurrency).items()}

    shared = compute_once(_state(config).work_dir / "endpoint-probes.json", probe, timeout=timeout)
    return {name: HttpProbe(**data) for name, data in shared.items()}


@pytest.fixture
def aide_endpoint_probe(aide_endpoint: EndpointSettings, aide_endpoint_probes: dict[str, HttpProbe]) -> HttpProbe:
    """The probe of this case's endpoint (taken concurrently with all others of the run)."""
    probe = aide_endpoint_probes[aide_endpoint.name]
    if probe.outage:  # probed in a pool thread (or by the xdist controller): tell this check what it met
        from pytest_aide.dependencies import APP, Outage, note

        kind = APP if probe.outage.startswith(f"{APP}:") else probe.outage
        note(Outage(kind, probe.outage, probe.error or ""))
    return probe


@pytest.fixture(scope="session")
def aide_backup(aide_config: AideConfig) -> BackupManager:
    """Backup sets of the target (``[backup]``): create, list, verify, restore, prune, restore drill.

    Example::

        def check_fresh_backup(aide_backup, aide_health):
            newest = aide_backup.newest_verified()
    """
    if aide_config.backup is None:
        pytest.skip("not configured: [backup]")
    from pytest_aide.backup import BackupManager

    return BackupManager(aide_config.backup)
