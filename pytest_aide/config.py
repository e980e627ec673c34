"""Read and validate pytest-aide's configuration.

Which file is used is decided by :mod:`pytest_aide.discovery`. Then, per setting, the precedence is command
line > environment (``AIDE_APP_URL``, ``AIDE_DB_URL``, ``AIDE_CACHE_URL``) > file > default. Every mistake
raises :class:`ConfigError` with one line naming the file, the key and the value.
"""

from __future__ import annotations

import functools
import os
import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_aide.discovery import command_rootdir, find_config
from pytest_aide.errors import ConfigError
from pytest_aide.metrics import DEFAULT_METRICS, MetricSpec, unknown_metric
from pytest_aide.redact import Redactor, dotenv_values, redact_url, url_redactor
from pytest_aide.schema import build
from pytest_aide.settings import FileSettings, ThresholdSettings
from pytest_aide.thresholds import Threshold, ThresholdChange, ThresholdSet
from pytest_aide.validated import ValidatedInputs, cache_folder, schema_context

if TYPE_CHECKING:
    from pydantic import TypeAdapter

    from pytest_aide.backup.config import BackupConfig

ENV_URLS = {"AIDE_APP_URL": "app", "AIDE_DB_URL": "db", "AIDE_CACHE_URL": "cache"}
_TYPE_TAG = re.compile(r"^(str|int|float|bool|none|list\[.*\]|dict\[.*\]|literal\[.*\]|constrained-.*)$")


@dataclass(frozen=True)
class Overrides:
    """Settings given on the command line; None means 'not given'.

    ``thresholds`` are per-level changes (``--aide-threshold``); their metric names are checked against the
    shipped and declared metrics by :func:`load_config`, since only the configuration knows the declared ones.
    """

    app_url: str | None = None
    reports_dir: str | None = None
    archive: bool | None = None
    fail_on: str | None = None
    fail_under: float | None = None
    concurrency: int | None = None
    thresholds: Mapping[str, ThresholdChange] = field(default_factory=dict)


@dataclass(frozen=True)
class AideConfig:
    """The effective configuration of a run."""

    settings: FileSettings
    source: Path | None
    base_dir: Path
    thresholds: ThresholdSet
    backup: BackupConfig | None = None
    command_line_thresholds: Mapping[str, ThresholdChange] = field(default_factory=dict)

    def thresholds_for(self, instance: Mapping[str, ThresholdSettings]) -> ThresholdSet:
        """The thresholds of one inventory item: the run's, then the item's own, then the command line's."""
        if not instance:
            return self.thresholds
        changes = {metric: ThresholdChange.parse(spec.warning, spec.critical) for metric, spec in instance.items()}
        return self.thresholds.with_changes(changes).with_changes(self.command_line_thresholds)

    def log_paths(self) -> list[str]:
        """The configured log files as written (a table's ``path``)."""
        return [item if isinstance(item, str) else item.path for item in self.settings.logs.files]

    def path(self, value: str) -> Path:
        """A configured path, relative ones taken from the config file's folder."""
        path = Path(os.path.expanduser(value))
        return path if path.is_absolute() else self.base_dir / path

    @property
    def source_name(self) -> str:
        return str(self.source) if self.source else "defaults"

    def redactor(self) -> Redactor:
        """Masks secret-looking environment values, this configuration's secrets and the values of the
        configured ``.env`` files: every output of a run or of ``aide`` goes through one of these."""
        redactor = Redactor.from_environment(self.secrets())
        for item in self.settings.preflight.config_files:
            name = item if isinstance(item, str) else item.path
            try:
                text = self.path(name).read_text(encoding="utf-8", errors="replace")
            except OSError:  # missing or unreadable to this user: its check says so, and nothing of it is shown
                continue
            redactor.add(dotenv_values(text))
        return redactor

    def secrets(self) -> list[str]:
        """Secret values the configuration knows of (URL passwords, header values from the environment)."""
        found = []
        for url in (self.settings.app.url, self.settings.db.url, self.settings.cache.url):
            if url and redact_url(url) != url:
                found.extend(_url_password(url))
        found.extend(os.environ.get(var, "") for var in self.settings.app.headers_env.values())
        for hook in self.settings.alerts.webhooks.values():  # a webhook's URL holds its token: all of it is secret
            found.append(hook.url if hook.url is not None else os.environ.get(hook.url_env or "", ""))
        return [s for s in found if s]


def _url_password(url: str) -> list[str]:
    match = re.search(r"://[^:/@\s]*:([^@/\s]+)@", url)
    return [match.group(1)] if match else []


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc.strerror}") from None


def _file_table(path: Path) -> tuple[Path, dict[str, Any]]:
    return path, _aide_table(path, _read_toml(path))


def _aide_table(path: Path, data: dict[str, Any]) -> dict[str, Any]:
    """The whole file, or its ``[tool.aide]`` table for a ``pyproject.toml``."""
    if path.name != "pyproject.toml":
        return data
    table = data.get("tool", {}).get("aide", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.aide] must be a table")
    return table


def load_config(
    path: Path | None = None,
    *,
    rootdir: Path,
    environ: Mapping[str, str] | None = None,
    overrides: Overrides | None = None,
    origin: str = "--config",
) -> AideConfig:
    """Read and validate the configuration at ``path`` (else the one found from ``rootdir`` upwards, see
    :mod:`pytest_aide.discovery`); raise ConfigError with one line on any mistake."""
    env = os.environ if environ is None else environ
    found = find_config(rootdir, explicit=path, explicit_origin=origin, environ=env, rootdir=command_rootdir(rootdir))
    path = found.path if found is not None else None
    source, raw = _file_table(path) if path is not None else (None, {})
    where = str(source) if source else "configuration"
    origins = _apply_environment(raw, env, where)
    overrides = overrides or Overrides()
    origins.update(_apply_overrides(raw, overrides))
    settings = _validate(raw, where, origins)
    base_dir = source.parent if source else rootdir
    thresholds = _thresholds(settings, overrides, where)
    backup = _parse_backup(settings.backup, where, base_dir)
    return AideConfig(settings, source, base_dir.resolve(), thresholds, backup, dict(overrides.thresholds))


def _apply_environment(raw: dict[str, Any], env: Mapping[str, str], where: str) -> dict[tuple[str, str], str]:
    """``AIDE_APP_URL``/``AIDE_DB_URL``/``AIDE_CACHE_URL`` win; else ``url_env`` names the variable to read.
    Returns where each value put into ``raw`` came from (for an error about it)."""
    origins: dict[tuple[str, str], str] = {}
    for var, table in ENV_URLS.items():
        section = raw.setdefault(table, {})
        if not isinstance(section, dict):
            continue
        named = section.get("url_env")
        if env.get(var):
            section["url"] = env[var]
            origins[(table, "url")] = var
        elif isinstance(named, str) and named:
            if not env.get(named):
                raise ConfigError(f"{where}: [{table}] url_env: environment variable {named} is not set")
            section["url"] = env[named]
            origins[(table, "url")] = named
    return origins


def _apply_overrides(raw: dict[str, Any], overrides: Overrides) -> dict[tuple[str, str], str]:
    """The command line's values win; returns the option each came from (for an error about it)."""
    pairs = [
        ("app", "url", overrides.app_url, "--aide-app-url"),
        ("reports", "dir", overrides.reports_dir, "--aide-reports"),
        ("reports", "archive", overrides.archive, "--aide-no-archive"),
        ("gate", "fail_on", overrides.fail_on, "--aide-fail-on"),
        ("gate", "fail_under", overrides.fail_under, "--aide-fail-under"),
        ("run", "concurrency", overrides.concurrency, "--aide-concurrency"),
    ]
    origins: dict[tuple[str, str], str] = {}
    for table, key, value, option in pairs:
        if value is not None:
            section = raw.setdefault(table, {})
            if isinstance(section, dict):
                section[key] = value
                origins[(table, key)] = option
    return origins


def _validate(raw: dict[str, Any], where: str, origins: Mapping[tuple[str, str], str] | None = None) -> FileSettings:
    """The settings of ``raw``: validated by pydantic, unless this very input validated before (see
    :mod:`pytest_aide.validated`), when they are built directly and pydantic is not even imported."""
    known = ValidatedInputs(cache_folder(), schema_context(_validity_extras(raw)))
    if known.knows(raw):
        return build(FileSettings, raw)
    from pydantic import ValidationError

    try:
        settings = _file_settings_adapter().validate_python(raw)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {_describe_error(exc.errors()[0], origins or {})}") from None
    known.remember(raw)
    return settings


@functools.cache
def _file_settings_adapter() -> TypeAdapter[FileSettings]:
    """pydantic's validator for the settings, built once a process: building it (the core schema of ~40 tables)
    costs ~70 ms, ten times a validation, and a process that loads several configurations (``aide`` commands,
    pytest runs inside tests) would pay it for each."""
    from pydantic import TypeAdapter

    return TypeAdapter(FileSettings)


def _validity_extras(raw: dict[str, Any]) -> list[str]:
    """``[checks] essential`` is checked against the shipped check names: they decide its validity too."""
    checks = raw.get("checks")
    if isinstance(checks, dict) and checks.get("essential"):
        from pytest_aide import shipped

        return sorted(shipped.known_names())
    return []


def _describe_error(error: Mapping[str, Any], origins: Mapping[tuple[str, str], str]) -> str:
    loc = [part for part in error["loc"] if not (isinstance(part, str) and _TYPE_TAG.match(part))]
    key = _format_location(loc)
    origin = origins.get((str(loc[0]), str(loc[1]))) if len(loc) == 2 else None
    if origin is not None:  # the value came from the environment or the command line, not from the file
        key = f"{key} (from {origin})"
    value = error.get("input")
    if error["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
        return f"{key}: unknown key"
    message = str(error["msg"]).removeprefix("Value error, ")  # our validators' own words, without pydantic's tag
    if isinstance(value, dict):
        return f"{key}: {message}"
    shown = _masked(value)
    bare = shown[1:-1] if isinstance(value, str) else shown
    if error["type"] == "value_error" and bare and bare in message:  # aide's own check showed the value already
        return f"{key}: {message}"
    return f"{key}: {message} (got {shown})"


def _masked(value: Any) -> str:
    """``repr(value)`` for an error line, with every URL password in it masked (one with "@" or "/" too)."""
    text = repr(value)
    for item in value if isinstance(value, list | tuple) else [value]:
        if isinstance(item, str):
            text = url_redactor(item).redact(text)
    return redact_url(text)


def _format_location(loc: list[Any]) -> str:
    if not loc:
        return "top level"
    if loc[0] == "endpoints" and len(loc) >= 2 and isinstance(loc[1], int):
        rest = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc[2:]).removeprefix(".")
        return f"[[endpoints]] #{loc[1] + 1}" + (f" {rest}" if rest else "")  # conditions[1], as a list's item
    if len(loc) == 1:
        return str(loc[0])
    tables, key = loc[:-1], loc[-1]
    if isinstance(key, int):
        tables, key = loc[:-2], f"{loc[-2]}[{key}]"
    return f"[{'.'.join(str(p) for p in tables)}] {key}"


def _thresholds(settings: FileSettings, overrides: Overrides, where: str) -> ThresholdSet:
    """Shipped catalogue < ``[metrics.NAME]`` < ``[thresholds.NAME]`` < ``--aide-threshold``, level by level.

    Only a shipped or declared metric may be given thresholds: a misspelt name would otherwise be a
    threshold that never applies, silently.
    """
    thresholds = ThresholdSet.defaults().with_metrics(_declared_metrics(settings, where))
    known = thresholds.metrics
    changes = {}
    for metric, spec in settings.thresholds.items():
        if not thresholds.knows(metric):
            raise ConfigError(f"{where}: [thresholds.{metric}]: {unknown_metric(metric, known)}")
        try:
            changes[metric] = ThresholdChange.parse(spec.warning, spec.critical)
        except ValueError as exc:
            raise ConfigError(f"{where}: [thresholds.{metric}] {exc}") from None
    for number, endpoint in enumerate(settings.endpoints, start=1):
        if not thresholds.knows(endpoint.metric):
            raise ConfigError(f"{where}: [[endpoints]] #{number} metric: {unknown_metric(endpoint.metric, known)}")
    for metric in settings.forecast.metrics:
        if not thresholds.knows(metric):
            raise ConfigError(f"{where}: [forecast] metrics: {unknown_metric(metric, known)}")
    for metric in overrides.thresholds:
        if not thresholds.knows(metric):
            raise ConfigError(f"--aide-threshold {metric}: {unknown_metric(metric, known)}")
    for item, specs in _instance_thresholds(settings):
        for metric, spec in specs.items():
            if not thresholds.knows(metric):
                raise ConfigError(f"{where}: {item} thresholds.{metric}: {unknown_metric(metric, known)}")
            try:
                ThresholdChange.parse(spec.warning, spec.critical)
            except ValueError as exc:
                raise ConfigError(f"{where}: {item} thresholds.{metric} {exc}") from None
    return thresholds.with_changes(changes).with_changes(overrides.thresholds)


def _instance_thresholds(settings: FileSettings) -> Iterator[tuple[str, Mapping[str, ThresholdSettings]]]:
    """Every inventory item's own thresholds, with where it stands (``[resources] disk_paths #2``)."""
    lists: dict[str, Sequence[object]] = {
        "[resources] disk_paths": settings.resources.disk_paths,
        "[resources] processes": settings.resources.processes,
        "[resources] ports": settings.resources.ports,
        "[resources] pidfiles": settings.resources.pidfiles,
        "[logs] files": settings.logs.files,
        "[preflight] config_files": settings.preflight.config_files,
        "[[endpoints]]": settings.endpoints,
        "[tls] hosts": settings.tls.hosts,
    }
    for name, items in lists.items():
        for number, item in enumerate(items, start=1):
            specs = getattr(item, "thresholds", None)
            if specs:
                yield f"{name} #{number}", specs


def _declared_metrics(settings: FileSettings, where: str) -> dict[str, MetricSpec]:
    declared = {}
    for name, spec in settings.metrics.items():
        if name in DEFAULT_METRICS:
            raise ConfigError(
                f"{where}: [metrics.{name}]: {name!r} is a shipped metric (change its levels in [thresholds.{name}])"
            )
        try:
            levels = Threshold.parse(spec.warning, spec.critical).to_dict()
        except ValueError as exc:
            raise ConfigError(f"{where}: [metrics.{name}] {exc}") from None
        declared[name] = MetricSpec(spec.unit, levels["warning"], levels["critical"], spec.action)
    return declared


def _parse_backup(raw: dict[str, object] | None, where: str, base_dir: Path) -> BackupConfig | None:
    if raw is None:
        return None
    from pytest_aide.backup.config import parse_backup_config  # only runs that back up pay for the import

    return parse_backup_config(raw, source=where, base_dir=base_dir)
