"""The configuration schema: one table per target part, validated strictly.

Unknown keys and wrong types are errors (a typo in ``aide.toml`` must not silently fall back to a default).
"""

from __future__ import annotations

import codecs
import re
import warnings
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ThresholdSettings(Section):
    """Per-level change of a metric's thresholds: a level left out keeps its default, ``false`` removes it."""

    warning: str | float | bool | None = None
    critical: str | float | bool | None = None


class InstanceSettings(Section):
    """One inventory item given as a table: its key field, and thresholds for this item only."""

    thresholds: dict[str, ThresholdSettings] = Field(default_factory=dict)


class PathItem(InstanceSettings):
    path: str = Field(min_length=1)


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


class LogItem(PathItem):
    """A log file with its own reading rules; a key left out takes the ``[logs]`` value."""

    format: LogFormatName | None = None
    pattern: str | None = None
    timestamp_format: str | None = None
    tail_lines: int | None = Field(None, gt=0)
    encoding: str | None = None

    _pattern = field_validator("pattern")(_check_pattern)
    _encoding = field_validator("encoding")(_check_encoding)


class ProcessItem(InstanceSettings):
    name: str = Field(min_length=1)


class PortItem(InstanceSettings):
    port: int = Field(ge=1, le=65535)


class AppSettings(Section):
    url: str | None = None
    health_path: str = "/api/health"
    health_conditions: list[str] = Field(default_factory=list)  # when given, they replace the health-document rule
    cache_stats_path: str | None = None  # app-specific statistics endpoints: checked only when named
    tasks_stats_path: str | None = None
    command: list[str] | None = None
    cwd: str | None = None
    pidfile: str = ".aide/app.pid"
    output: str = ".aide/app-output.log"
    connect_timeout: float = Field(3.05, gt=0)
    timeout: float = Field(5.0, gt=0)
    start_timeout: float = Field(15.0, gt=0)
    stop_grace: float = Field(30.0, ge=0)
    headers_env: dict[str, str] = Field(default_factory=dict)
    verify_tls: bool | str = True


class TlsHostItem(InstanceSettings):
    """A TLS endpoint whose certificate chain is checked, apart from ``[app] url`` (any TLS port: LDAPS, SMTPS...)."""

    host: str = Field(min_length=1)
    port: int = Field(443, ge=1, le=65535)
    server_name: str | None = Field(None, min_length=1)  # SNI name sent and checked (default: host)
    ca_bundle: str | None = Field(None, min_length=1)  # CA file the chain must verify against (default: system)
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


class DbSettings(Section):
    url: str | None = None
    url_env: str | None = None  # the environment variable holding the URL (its password stays out of the file)
    tables: list[str] = Field(default_factory=list)
    timeout: float = Field(5.0, gt=0)
    probe_query: str = "SELECT 1"
    # A superuser (or FILE/SUPER account) escapes the read-only transaction: database checks refuse to run as
    # one unless this says the operator accepts that risk (check_db_role warns either way).
    allow_privileged_role: bool = False


class CacheSettings(Section):
    url: str | None = None
    url_env: str | None = None
    timeout: float = Field(2.0, gt=0)


class ResourcesSettings(Section):
    disk_paths: list[str | DiskItem] = Field(default_factory=lambda: list[str | DiskItem](["."]))
    processes: list[str | ProcessItem] = Field(default_factory=list)
    ports: list[int | PortItem] = Field(default_factory=list)
    pidfiles: list[str | PathItem] = Field(default_factory=list)


def _entry_kind(value: object) -> str:
    return "str" if isinstance(value, str) else "dict[table]"


# A plain path or a table: only the branch that fits is validated, so a mistake in a table is reported as its
# own (``files[0].encoding: …``), not as "input should be a valid string". The tags read as type names, which
# the configuration's error messages leave out of the key path.
LogEntry = Annotated[Annotated[str, Tag("str")] | Annotated[LogItem, Tag("dict[table]")], Discriminator(_entry_kind)]


class LogsSettings(Section):
    files: list[LogEntry] = Field(default_factory=list)
    tail_lines: int = Field(100, gt=0)
    format: LogFormatName = "auto"  # each file's format is detected from its last lines
    error_pattern: str | None = None  # None: each format's own rule of what a server error is
    timestamp_format: str | None = None  # None: each format's own timestamps
    encoding: str = "utf-8"
    error_window_minutes: float = Field(60.0, gt=0)
    cost_marker: str = "API_COST"
    cost_field: str = "cost"
    cost_files: list[str] | None = None

    _pattern = field_validator("error_pattern")(_check_pattern)
    _encoding = field_validator("encoding")(_check_encoding)

    def for_file(self, item: str | LogItem) -> LogItem:
        """The reading rules of one entry of ``files``: its own keys, the rest from this table."""
        if isinstance(item, str):
            item = LogItem(path=item)
        return item.model_copy(
            update={
                "format": item.format or self.format,
                "pattern": item.pattern if item.pattern is not None else self.error_pattern,
                "timestamp_format": item.timestamp_format or self.timestamp_format,
                "tail_lines": item.tail_lines or self.tail_lines,
                "encoding": item.encoding or self.encoding,
            }
        )


# As for log files: a mistake inside a table is reported as its own (``hosts[0].prot: …``).
TlsHostEntry = Annotated[
    Annotated[str, Tag("str")] | Annotated[TlsHostItem, Tag("dict[table]")], Discriminator(_entry_kind)
]


class TlsSettings(Section):
    """``[tls] hosts``: certificates checked on their own ports, independent of ``[app] url``."""

    hosts: list[TlsHostEntry] = Field(default_factory=list)
    timeout: float = Field(5.0, gt=0)

    @field_validator("hosts")
    @classmethod
    def _host_ports(cls, hosts: list[str | TlsHostItem]) -> list[str | TlsHostItem]:
        """A string that is not ``host:port`` stops the run at load time, naming the entry."""
        for number, entry in enumerate(hosts, start=1):
            if isinstance(entry, str):
                try:
                    parse_host_port(entry)
                except ValueError as exc:
                    raise ValueError(f"entry #{number}: {exc}") from None
        return hosts

    def items(self) -> list[TlsHostItem]:
        """Every entry as a table (a ``host:port`` string becomes one with the defaults)."""
        return [parse_host_port(h) if isinstance(h, str) else h for h in self.hosts]


class EndpointSettings(Section):
    name: str = Field(min_length=1)
    path: str | None = None
    url: str | None = None
    method: Literal["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"] = "GET"
    expect_status: int = Field(200, ge=100, le=599)
    conditions: list[str] = Field(default_factory=list)
    metric: str = "response_time_s"
    thresholds: dict[str, ThresholdSettings] = Field(default_factory=dict)  # for this endpoint only


class MetricSettings(Section):
    """An operator's own metric (``[metrics.NAME]``): what it measures in, what to do, optional default levels."""

    unit: str = ""
    action: str = ""
    warning: str | float | None = None
    critical: str | float | None = None


class PreflightSettings(Section):
    config_files: list[str | PathItem] = Field(default_factory=list)
    pip_check: bool = True
    python: str | None = None  # the target's interpreter for `pip check` (default: the one running pytest)


class ReportsSettings(Section):
    dir: str = "reports"
    archive: bool = True
    keep_days: float | None = Field(None, gt=0)


class GateSettings(Section):
    fail_on: Literal["critical", "warning"] = "critical"
    fail_under: float | None = Field(None, ge=0, le=100)


class RunSettings(Section):
    concurrency: int = Field(64, ge=1, le=1024)


class SuiteSettings(Section):
    """The shipped suite (``pytest_aide/suite``): on by default, beside the operator's own checks."""

    enabled: bool = True
    exclude: list[str] = Field(default_factory=list)  # check names (check_cpu) or files (check_tls.py)


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


class ChecksSettings(Section):
    """How checks weigh in the verdict beyond their score."""

    # Shipped checks whose CRITICAL or UNKNOWN makes the verdict CRITICAL, beside those marked
    # @pytest.mark.aide(essential=True) (the shipped check_api_health and check_db_reachable are).
    essential: list[Annotated[str, AfterValidator(_shipped_check)]] = Field(default_factory=list)


class RetrySettings(Section):
    """Defaults of ``aide_retry`` (pytest_aide.resilience.RetryPolicy): attempts, overall deadline, backoff."""

    attempts: int = Field(3, ge=1)
    deadline: float = Field(30.0, gt=0)  # seconds from the first attempt; no attempt starts after it
    initial_wait: float = Field(0.5, ge=0)  # backoff: initial_wait * 2**(n-1) + up to jitter, at most max_wait
    max_wait: float = Field(5.0, ge=0)
    jitter: float = Field(0.5, ge=0)


class BreakerSettings(Section):
    """Defaults of the run's circuit breakers (``aide_breakers``; pytest_aide.resilience.BreakerPolicy)."""

    failure_threshold: int = Field(5, ge=1)  # consecutive failures that open a circuit
    recovery_timeout: float = Field(30.0, ge=0)  # seconds open before a trial call
    success_threshold: int = Field(1, ge=1)  # trial successes that close it again
    half_open_max_calls: int = Field(1, ge=1)  # trial calls at a time


class ResilienceSettings(Section):
    retry: RetrySettings = Field(default_factory=lambda: RetrySettings())
    breakers: BreakerSettings = Field(default_factory=lambda: BreakerSettings())


class FileSettings(Section):
    """The whole file: every table optional."""

    app: AppSettings = Field(default_factory=lambda: AppSettings())
    db: DbSettings = Field(default_factory=lambda: DbSettings())
    cache: CacheSettings = Field(default_factory=lambda: CacheSettings())
    resources: ResourcesSettings = Field(default_factory=lambda: ResourcesSettings())
    logs: LogsSettings = Field(default_factory=lambda: LogsSettings())
    tls: TlsSettings = Field(default_factory=lambda: TlsSettings())
    endpoints: list[EndpointSettings] = Field(default_factory=list)
    metrics: dict[str, MetricSettings] = Field(default_factory=dict)
    thresholds: dict[str, ThresholdSettings] = Field(default_factory=dict)
    preflight: PreflightSettings = Field(default_factory=lambda: PreflightSettings())
    reports: ReportsSettings = Field(default_factory=lambda: ReportsSettings())
    gate: GateSettings = Field(default_factory=lambda: GateSettings())
    run: RunSettings = Field(default_factory=lambda: RunSettings())
    suite: SuiteSettings = Field(default_factory=lambda: SuiteSettings())
    checks: ChecksSettings = Field(default_factory=lambda: ChecksSettings())
    backup: dict[str, object] | None = None
    resilience: ResilienceSettings = Field(default_factory=lambda: ResilienceSettings())
