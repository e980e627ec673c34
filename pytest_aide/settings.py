"""The configuration schema: one table per target part, validated strictly.

Unknown keys and wrong types are errors (a typo in ``aide.toml`` must not silently fall back to a default).
"""

from __future__ import annotations

import codecs
import re
import warnings
from collections.abc import Callable
from dataclasses import field, replace
from typing import Annotated, Literal

from pytest_aide.durations import check_duration
from pytest_aide.schema import Bound, Check, Section, StrOrTable, table

# Every table is a @table dataclass deriving from Section (frozen, strict, unknown keys refused): see pytest_aide.schema
# for how pydantic validates them and how a configuration validated before loads without pydantic.


@table
class ThresholdSettings(Section):
    """Per-level change of a metric's thresholds: a level left out keeps its default, ``false`` removes it."""

    warning: str | float | bool | None = None
    critical: str | float | bool | None = None


@table
class InstanceSettings(Section):
    """One inventory item given as a table: its key field, and thresholds for this item only."""

    thresholds: dict[str, ThresholdSettings] = field(default_factory=dict)


@table
class PathItem(InstanceSettings):
    path: Annotated[str, Bound(min_length=1)]


@table
class DiskItem(PathItem):
    data: bool = False  # the app's data volume: the seeds' 1 GB free minimum applies to it (and only to it)


LogFormatName = Literal[
    "auto",
    "json",
    "nginx",
    "apache",
    "gunicorn",
    "postgresql",
    "redis",
    "access",
    "uvicorn",
    "python",
    "syslog",
    "generic",
]


def _check_pattern(pattern: str | None) -> str | None:
    """A bad regex must stop the run at load time, not surface in the middle of a log check."""
    if pattern is None:
        return None
    try:
        with warnings.catch_warnings():  # "possible nested set" and the like: valid today, so not a mistake
            warnings.simplefilter("ignore")
            re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    return pattern


def _check_encoding(encoding: str | None) -> str | None:
    """Logs are split at the byte ``\\n``: only encodings that write ASCII as ASCII (UTF-8, Latin-1...) fit."""
    if encoding is None:
        return None
    try:
        codecs.lookup(encoding)
        fits = "a\n".encode(encoding) == b"a\n"
    except (LookupError, UnicodeError):
        raise ValueError(f"unknown encoding {encoding!r}") from None
    if not fits:
        raise ValueError(f"encoding {encoding!r} does not write a newline as one byte; use UTF-8, Latin-1 or similar")
    return encoding


def _check_condition(text: str) -> str:
    """A condition that cannot be read stops the run at load time, as any configuration mistake does (found at
    probe time, an endpoint's failed its check with a traceback, and a run under xdist with an INTERNALERROR)."""
    from pytest_aide.probes.endpoints import parse_condition  # only configurations with conditions pay for it

    parse_condition(text)  # its ValueError is the one-line message
    return text


Condition = Annotated[str, Check(_check_condition)]


def _check_http_url(url: str | None) -> str | None:
    """The app is probed over HTTP: a URL without ``http://``/``https://`` and a host stopped no run, and every
    check against it reported the app as down. Empty means not configured, as leaving the key out."""
    if not url:
        return url
    from urllib.parse import urlsplit

    from pytest_aide.redact import url_redactor  # masks a password with "@" or "/" in it too

    try:
        parts = urlsplit(url)
        valid = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
        valid = valid and (parts.port is None or parts.port > 0)  # .port raises on a port that is no number
    except ValueError:
        valid = False
    if not valid:
        raise ValueError(f"not an http:// or https:// URL with a host: {url_redactor(url).redact(url)!r}")
    return url


def _check_endpoint_url(url: str | None) -> str | None:
    """An endpoint's ``url`` is an absolute http(s) URL, or a path joined to ``[app] url`` as ``path`` is."""
    return url if url is None or url.startswith("/") else _check_http_url(url)


def _check_db_url(url: str | None) -> str | None:
    """An unsupported database made its checks UNKNOWN at run time: a configuration mistake, found at load."""
    from pytest_aide.probes.database import unsupported_url

    return _openable(url, unsupported_url)


def _check_cache_url(url: str | None) -> str | None:
    """As for ``[db] url``: an unsupported cache is a configuration mistake, found at load."""
    from pytest_aide.probes.cache import unsupported_url

    return _openable(url, unsupported_url)


def _openable(url: str | None, unsupported: Callable[[str], str | None]) -> str | None:
    """``url`` unless the probe that opens it says why it cannot (its own words); empty means not configured."""
    problem = unsupported(url) if url else None
    if problem is not None:
        raise ValueError(problem)
    return url


HttpUrl = Annotated[str | None, Check(_check_http_url)]


@table
class LogItem(PathItem):
    """A log file with its own reading rules; a key left out takes the ``[logs]`` value."""

    format: LogFormatName | None = None
    pattern: Annotated[str | None, Check(_check_pattern)] = None
    timestamp_format: str | None = None
    tail_lines: Annotated[int, Bound(gt=0)] | None = None
    encoding: Annotated[str | None, Check(_check_encoding)] = None


@table
class ProcessItem(InstanceSettings):
    name: Annotated[str, Bound(min_length=1)]


@table
class PortItem(InstanceSettings):
    port: Annotated[int, Bound(ge=1, le=65535)]


@table
class AppSettings(Section):
    url: HttpUrl = None
    health_path: str = "/api/health"
    health_conditions: list[Condition] = field(default_factory=list)  # given: they replace the health-document rule
    cache_stats_path: str | None = None  # app-specific statistics endpoints: checked only when named
    tasks_stats_path: str | None = None
    component_stats_path: str | None = None  # errors, circuits, retry and fallback rates (the demo's shape)
    command: list[str] | None = None
    cwd: str | None = None
    pidfile: str = ".aide/app.pid"
    output: str = ".aide/app-output.log"
    connect_timeout: Annotated[float, Bound(gt=0)] = 3.05
    timeout: Annotated[float, Bound(gt=0)] = 5.0
    start_timeout: Annotated[float, Bound(gt=0)] = 15.0
    stop_grace: Annotated[float, Bound(ge=0)] = 30.0
    headers_env: dict[str, str] = field(default_factory=dict)
    verify_tls: bool | str = True


@table
class TlsHostItem(InstanceSettings):
    """A TLS endpoint whose certificate chain is checked, apart from ``[app] url`` (any TLS port: LDAPS, SMTPS...)."""

    host: Annotated[str, Bound(min_length=1)]
    port: Annotated[int, Bound(ge=1, le=65535)] = 443
    server_name: Annotated[str, Bound(min_length=1)] | None = None  # SNI name sent and checked (default: host)
    ca_bundle: Annotated[str, Bound(min_length=1)] | None = None  # CA file the chain must verify (default: system)
    starttls: Literal["postgres"] | None = None  # a port that switches to TLS inside its own protocol

    @property
    def address(self) -> str:
        """``host:port`` (``[::1]:443`` for an IPv6 address)."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        """The case's id: ``host:port``, or ``name@host:port`` when an SNI name picks one of its certificates."""
        return f"{self.server_name}@{self.address}" if self.server_name else self.address


_HOST_PORT = re.compile(r"(?:\[(?P<ipv6>[^\]]+)\]|(?P<host>[^:\s\[\]]+))(?::(?P<port>\d{1,5}))?")


def parse_host_port(text: str) -> TlsHostItem:
    """``host``, ``host:port`` or ``[ipv6]:port`` as a :class:`TlsHostItem` (port 443 when left out)."""
    match = _HOST_PORT.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not host:port (for example db.example.com:5432 or [::1]:443)")
    port = int(match["port"] or 443)
    if not 1 <= port <= 65535:
        raise ValueError(f"{text!r}: port {port} is not between 1 and 65535")
    return TlsHostItem(host=match["ipv6"] or match["host"], port=port)


@table
class DbSettings(Section):
    url: Annotated[str | None, Check(_check_db_url)] = None
    url_env: str | None = None  # the environment variable holding the URL (its password stays out of the file)
    tables: list[str] = field(default_factory=list)
    timeout: Annotated[float, Bound(gt=0)] = 5.0
    probe_query: str = "SELECT 1"
    # A superuser (or FILE/SUPER account) escapes the read-only transaction: database checks refuse to run as
    # one unless this says the operator accepts that risk (check_db_role warns either way).
    allow_privileged_role: bool = False


@table
class CacheSettings(Section):
    url: Annotated[str | None, Check(_check_cache_url)] = None
    url_env: str | None = None
    timeout: Annotated[float, Bound(gt=0)] = 2.0


@table
class ResourcesSettings(Section):
    disk_paths: list[str | DiskItem] = field(default_factory=lambda: list[str | DiskItem](["."]))
    processes: list[str | ProcessItem] = field(default_factory=list)
    ports: list[int | PortItem] = field(default_factory=list)
    pidfiles: list[str | PathItem] = field(default_factory=list)


# A plain path or a table: only the branch that fits is validated (see StrOrTable).
LogEntry = Annotated[str | LogItem, StrOrTable()]


@table
class LogsSettings(Section):
    files: list[LogEntry] = field(default_factory=list)
    tail_lines: Annotated[int, Bound(gt=0)] = 100
    format: LogFormatName = "auto"  # each file's format is detected from its last lines
    error_pattern: Annotated[str | None, Check(_check_pattern)] = None  # None: each format's own rule
    timestamp_format: str | None = None  # None: each format's own timestamps
    encoding: Annotated[str, Check(_check_encoding)] = "utf-8"
    error_window_minutes: Annotated[float, Bound(gt=0)] = 60.0
    cost_marker: str = "API_COST"
    cost_field: str = "cost"
    cost_files: list[str] | None = None

    def for_file(self, item: str | LogItem) -> LogItem:
        """The reading rules of one entry of ``files``: its own keys, the rest from this table."""
        if isinstance(item, str):
            item = LogItem(path=item)
        return replace(
            item,
            format=item.format or self.format,
            pattern=item.pattern if item.pattern is not None else self.error_pattern,
            timestamp_format=item.timestamp_format or self.timestamp_format,
            tail_lines=item.tail_lines or self.tail_lines,
            encoding=item.encoding or self.encoding,
        )


# As for log files: a mistake inside a table is reported as its own (``hosts[0].prot: …``).
TlsHostEntry = Annotated[str | TlsHostItem, StrOrTable()]


def _host_ports(hosts: list[str | TlsHostItem]) -> list[str | TlsHostItem]:
    """A string that is not ``host:port`` stops the run at load time, naming the entry."""
    for number, entry in enumerate(hosts, start=1):
        if isinstance(entry, str):
            try:
                parse_host_port(entry)
            except ValueError as exc:
                raise ValueError(f"entry #{number}: {exc}") from None
    return hosts


@table
class TlsSettings(Section):
    """``[tls] hosts``: certificates checked on their own ports, independent of ``[app] url``."""

    hosts: Annotated[list[TlsHostEntry], Check(_host_ports)] = field(default_factory=list)
    timeout: Annotated[float, Bound(gt=0)] = 5.0

    def items(self) -> list[TlsHostItem]:
        """Every entry as a table (a ``host:port`` string becomes one with the defaults)."""
        return [parse_host_port(h) if isinstance(h, str) else h for h in self.hosts]


@table
class EndpointSettings(Section):
    name: Annotated[str, Bound(min_length=1)]
    path: str | None = None
    url: Annotated[str | None, Check(_check_endpoint_url)] = None
    method: Literal["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"] = "GET"
    expect_status: Annotated[int, Bound(ge=100, le=599)] = 200
    conditions: list[Condition] = field(default_factory=list)
    metric: str = "response_time_s"
    thresholds: dict[str, ThresholdSettings] = field(default_factory=dict)  # for this endpoint only


@table
class MetricSettings(Section):
    """An operator's own metric (``[metrics.NAME]``): what it measures in, what to do, optional default levels."""

    unit: str = ""
    action: str = ""
    warning: str | float | None = None
    critical: str | float | None = None


@table
class PreflightSettings(Section):
    config_files: list[str | PathItem] = field(default_factory=list)
    pip_check: bool = True
    python: str | None = None  # the target's interpreter for `pip check` (default: the one running pytest)


@table
class ReportsSettings(Section):
    dir: str = "reports"
    archive: bool = True
    keep_days: Annotated[float, Bound(gt=0)] | None = None  # run folders older than this are removed
    keep_runs: Annotated[int, Bound(ge=1)] | None = None  # only the newest N run folders are kept


@table
class HistorySettings(Section):
    """The run history (``<archive>/history.sqlite3``): how long its rows stay, trends and schedules."""

    # None: forever (the rows outlive the run folders); a number is never less than [reports] keep_days
    keep_days: Annotated[float, Bound(gt=0)] | None = None
    trend_samples: Annotated[int, Bound(ge=1)] = 10  # the manual: the mean of the last 10 samples
    grace: Annotated[str, Check(check_duration)] = "1h"  # a schedule is overdue after its interval + this
    # schedule (the -m marker) -> how often it runs; added to daily 24h, weekly 7d, monthly 31d
    intervals: dict[str, Annotated[str, Check(check_duration)]] = field(default_factory=dict)


@table
class ForecastSettings(Section):
    """``check_capacity_forecast``: which metrics are fitted and how much history a fit needs.

    Its WARNING and CRITICAL levels are the metric ``forecast_days`` (``[thresholds.forecast_days]``)."""

    metrics: list[Annotated[str, Bound(min_length=1)]] = field(default_factory=lambda: ["disk_percent"])
    min_points: Annotated[int, Bound(ge=3)] = 5  # fewer complete runs: skipped, "not enough history"
    window: Annotated[int, Bound(ge=3, le=500)] = 30  # the newest samples fitted
    confidence: Annotated[float, Bound(ge=50, le=99.9)] = 95.0  # percent: of the range (the slope's interval)


@table
class GateSettings(Section):
    fail_on: Literal["critical", "warning"] = "critical"
    fail_under: Annotated[float, Bound(ge=0, le=100)] | None = None


@table
class RunSettings(Section):
    concurrency: Annotated[int, Bound(ge=1, le=1024)] = 64


@table
class BenchmarkSettings(Section):
    """``[benchmark]``: what a benchmark that fails ``--benchmark-compare-fail`` makes of its check."""

    regression: Literal["critical", "warning"] = "critical"


@table
class LoadSettings(Section):
    """``[load]``: the weekly load probe of one app path (opt-in: without this table it is skipped).

    ``concurrency`` requests at a time, ``requests`` in all; each request ends within ``timeout`` seconds (default
    ``[app] timeout``) and no request starts after ``deadline`` seconds, so the probe ends by deadline + timeout.
    """

    path: Annotated[str, Bound(min_length=1)]
    concurrency: Annotated[int, Bound(ge=1, le=256)] = 8
    requests: Annotated[int, Bound(ge=1, le=100_000)] = 200
    deadline: Annotated[float, Bound(gt=0, le=600)] = 60.0  # the check's own limit is 900 s (deadline + timeout)
    timeout: Annotated[float, Bound(gt=0, le=120)] | None = None
    expect_status: Annotated[int, Bound(ge=100, le=599)] = 200


@table
class SuiteSettings(Section):
    """The shipped suite (``pytest_aide/suite``): on by default, beside the operator's own checks."""

    enabled: bool = True
    exclude: list[str] = field(default_factory=list)  # check names (check_cpu) or files (check_tls.py)


def _shipped_check(name: str) -> str:
    """A misspelt essential check would silently leave an outage at UNHEALTHY: only shipped names pass."""
    import difflib

    from pytest_aide import shipped

    known = sorted(shipped.known_names())
    if name not in known:
        near = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {near[0]!r}?" if near else "names are like 'check_api_health' or 'check_api.py'"
        own = "mark your own checks with @pytest.mark.aide(essential=True)"
        raise ValueError(f"not a shipped check ({hint}); {own}")
    return name


@table
class ChecksSettings(Section):
    """How checks weigh in the verdict beyond their score."""

    # Shipped checks whose CRITICAL or UNKNOWN makes the verdict CRITICAL, beside those marked
    # @pytest.mark.aide(essential=True) (the shipped check_api_health and check_db_reachable are).
    essential: list[Annotated[str, Check(_shipped_check)]] = field(default_factory=list)


@table
class RetrySettings(Section):
    """Defaults of ``aide_retry`` (pytest_aide.resilience.RetryPolicy): attempts, overall deadline, backoff."""

    attempts: Annotated[int, Bound(ge=1)] = 3
    deadline: Annotated[float, Bound(gt=0)] = 30.0  # seconds from the first attempt; no attempt starts after it
    initial_wait: Annotated[float, Bound(ge=0)] = 0.5  # backoff: initial_wait * 2**(n-1) + jitter, at most max_wait
    max_wait: Annotated[float, Bound(ge=0)] = 5.0
    jitter: Annotated[float, Bound(ge=0)] = 0.5


@table
class BreakerSettings(Section):
    """Defaults of the run's circuit breakers (``aide_breakers``; pytest_aide.resilience.BreakerPolicy)."""

    failure_threshold: Annotated[int, Bound(ge=1)] = 5  # consecutive failures that open a circuit
    recovery_timeout: Annotated[float, Bound(ge=0)] = 30.0  # seconds open before a trial call
    success_threshold: Annotated[int, Bound(ge=1)] = 1  # trial successes that close it again
    half_open_max_calls: Annotated[int, Bound(ge=1)] = 1  # trial calls at a time


@table
class DependencySettings(Section):
    """The circuits every probe of the app, database and cache goes through (pytest_aide.dependencies)."""

    enabled: bool = True
    failure_threshold: Annotated[int, Bound(ge=1)] = 2  # calls that get no answer before the rest fail at once


@table
class CheckLimitsSettings(Section):
    """``[resilience.checks]``: how often a failing check is tried again and how long its own code may run.

    A check's marker (``@pytest.mark.aide(retries=2, timeout=5)``) overrides ``retries`` and ``timeout``; an
    entry of ``timeouts`` (a check's name or file, as in ``[suite] exclude``) overrides the marker, so an
    operator can give a shipped check more time without forking it.
    """

    retries: Annotated[int, Bound(ge=0, le=10)] = 0  # extra attempts of a failing check (its pass is then WARNING)
    retry_wait: Annotated[float, Bound(ge=0)] = 1.0  # seconds before the first retry, doubled for each further one
    timeout: Annotated[float, Bound(ge=0)] = 60.0  # seconds a check's body may run; 0: no limit
    timeouts: dict[str, Annotated[float, Bound(ge=0)]] = field(default_factory=dict)  # per check name or file


@table
class ResilienceSettings(Section):
    retry: RetrySettings = field(default_factory=RetrySettings)
    breakers: BreakerSettings = field(default_factory=BreakerSettings)
    dependencies: DependencySettings = field(default_factory=DependencySettings)
    checks: CheckLimitsSettings = field(default_factory=CheckLimitsSettings)


def _host_port_text(text: str | None) -> str | None:
    if text is not None:
        parse_host_port(text)
    return text


@table
class DrillSettings(Section):
    """``[drills]``: the opt-in fault drills (``pytest -m drill``) and what they may do to the target.

    Drills cut the app's dependencies, hide its database file and kill its process: by default only against a
    target this run started (``[app] command``). ``allow_unstarted_target`` lets them loose on a target that was
    already running — possibly production — and is off unless an operator writes it.
    """

    allow_unstarted_target: bool = False
    restart_target: bool = False  # after the kill drill, start [app] command again (otherwise the target stays down)
    upstream: Annotated[str | None, Check(_host_port_text)] = None  # host:port of the app's TCP dependency
    upstream_proxy_port: Annotated[int, Bound(ge=1, le=65535)] | None = None  # where the app calls it (the proxy)
    database_file: str | None = None  # made unavailable by the database drill (default: [db] url's SQLite file)
    latency_s: Annotated[float, Bound(gt=0)] = 2.0  # the latency drill's delay on every upstream connection
    degrade_within: Annotated[float, Bound(gt=0)] = 5.0  # seconds for the app to report itself degraded
    recover_within: Annotated[float, Bound(gt=0)] = 10.0  # seconds after the rollback to report itself healthy
    settle_within: Annotated[float, Bound(gt=0)] = 30.0  # seconds for the app to be healthy before a drill starts


AlertSeverity = Literal["critical", "warning", "info"]


def _alert_rule(rule: AlertRuleSettings) -> AlertRuleSettings:
    """A rule whose condition cannot fit what it watches must stop the run at load time, not never fire."""
    from pytest_aide.alerts.rules import check_rule

    check_rule(rule)
    return rule


@table
class AlertRuleSettings(Section):
    """``[alerts.rules.NAME]``: the AIDE guide's alert rule (a metric, a condition, a severity, a cooldown).

    ``metric`` is a measurement name, or the run's ``health_score`` or ``verdict``; ``check`` names checks (a
    function, a file or ``file::function``) whose status the condition reads, or whose ``metric`` it reads.
    """

    metric: Annotated[str, Bound(min_length=1)] | None = None
    check: Annotated[str, Bound(min_length=1)] | None = None
    condition: Annotated[str, Bound(min_length=1)]  # "< 50", "> 85", ">= CRITICAL", ">= UNHEALTHY"
    severity: AlertSeverity = "warning"
    cooldown_minutes: Annotated[float, Bound(ge=0)] = 60.0  # between two notifications of the rule
    failure_threshold: Annotated[int, Bound(ge=1)] = 1  # consecutive runs the condition holds before it fires
    success_threshold: Annotated[int, Bound(ge=1)] = 1  # consecutive runs it does not before it is resolved
    send_on_resolved: bool = True
    description: str = ""  # said in every notification of the rule (what to do, who owns it)


def _webhook(hook: WebhookSettings) -> WebhookSettings:
    if (hook.url is None) == (hook.url_env is None):
        raise ValueError("give the webhook's url, or url_env naming the environment variable that holds it")
    return hook


@table
class WebhookSettings(Section):
    """``[alerts.webhooks.NAME]``: a URL that gets each notification as JSON with a Slack-compatible ``text``."""

    url: Annotated[str, Bound(min_length=1)] | None = field(default=None, repr=False)  # a secret (it holds a token)
    url_env: Annotated[str, Bound(min_length=1)] | None = None  # or the environment variable that holds it
    timeout: Annotated[float, Bound(gt=0)] = 5.0  # seconds per attempt (connect and answer)
    attempts: Annotated[int, Bound(ge=1, le=10)] = 3  # tries of a failed post (no answer, 5xx, 429)


def _clock_time(text: str) -> str:
    if re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", text) is None:
        raise ValueError("not a time of day as HH:MM (for example '08:00')")
    return text


def _time_zone(name: str) -> str:
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError("not a time zone name (for example 'UTC' or 'Europe/Berlin')") from None
    return name


@table
class DigestSettings(Section):
    """``[alerts.digest]``: notifications of these severities wait for one digest a day, sent by the first run
    after ``send_at``; the others go out at once."""

    severities: list[AlertSeverity] = field(default_factory=list)
    send_at: Annotated[str, Check(_clock_time)] = "08:00"
    timezone: Annotated[str, Check(_time_zone)] = "UTC"


@table
class AlertsSettings(Section):
    """``[alerts]``: rules judged once per run on its verdict, score, statuses and values; where they go."""

    rules: dict[str, Annotated[AlertRuleSettings, Check(_alert_rule)]] = field(default_factory=dict)
    webhooks: dict[str, Annotated[WebhookSettings, Check(_webhook)]] = field(default_factory=dict)
    digest: DigestSettings = field(default_factory=DigestSettings)
    notify_timeout: Annotated[float, Bound(gt=0)] = 60.0  # seconds all notifiers of a run may take together


@table
class FileSettings(Section):
    """The whole file: every table optional."""

    app: AppSettings = field(default_factory=AppSettings)
    db: DbSettings = field(default_factory=DbSettings)
    cache: CacheSettings = field(default_factory=CacheSettings)
    resources: ResourcesSettings = field(default_factory=ResourcesSettings)
    logs: LogsSettings = field(default_factory=LogsSettings)
    tls: TlsSettings = field(default_factory=TlsSettings)
    endpoints: list[EndpointSettings] = field(default_factory=list)
    metrics: dict[str, MetricSettings] = field(default_factory=dict)
    thresholds: dict[str, ThresholdSettings] = field(default_factory=dict)
    preflight: PreflightSettings = field(default_factory=PreflightSettings)
    reports: ReportsSettings = field(default_factory=ReportsSettings)
    history: HistorySettings = field(default_factory=HistorySettings)
    forecast: ForecastSettings = field(default_factory=ForecastSettings)
    gate: GateSettings = field(default_factory=GateSettings)
    run: RunSettings = field(default_factory=RunSettings)
    benchmark: BenchmarkSettings = field(default_factory=BenchmarkSettings)
    load: LoadSettings | None = None
    suite: SuiteSettings = field(default_factory=SuiteSettings)
    checks: ChecksSettings = field(default_factory=ChecksSettings)
    backup: dict[str, object] | None = None
    resilience: ResilienceSettings = field(default_factory=ResilienceSettings)
    drills: DrillSettings = field(default_factory=DrillSettings)
    alerts: AlertsSettings = field(default_factory=AlertsSettings)
