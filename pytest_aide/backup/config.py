"""The ``[backup]`` table of ``aide.toml``: parsed once into frozen dataclasses, every mistake in one line.

The parser is strict (unknown keys are errors) because a typo in a backup configuration is only noticed on
the day a restore is needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_aide.errors import ConfigError

KINDS = ("sqlite", "postgresql", "mysql", "folder", "file")
# Kinds reached through a server URL, and the schemes each accepts
URL_SCHEMES = {"postgresql": ("postgresql://", "postgres://"), "mysql": ("mysql://", "mariadb://")}
COMPRESSIONS = ("zstd", "zip")
# Left out of every folder archive: dotfiles (``.env``, ``.git``...) and names that usually hold secrets.
DEFAULT_EXCLUDES = (
    ".*",
    "*.key",
    "*.p12",
    "*.pfx",
    "*secret*",
    "*credential*",
    "*password*",
    "*.env",
    "id_*",  # id_rsa, id_ed25519, id_ecdsa... (OpenSSH keys are also recognised by content)
)

_TOP_KEYS = ("dir", "compression", "max_age_hours", "retention", "components")
_RETENTION_KEYS = ("keep_last", "keep_daily", "keep_weekly", "keep_safety_copies")
_COMPONENT_KEYS = ("name", "kind", "source", "exclude", "url", "url_env")


@dataclass(frozen=True)
class RetentionPolicy:
    """restic-style policy: keep the last N sets, plus the newest set of each of the last N days / weeks."""

    keep_last: int = 7
    keep_daily: int = 7
    keep_weekly: int = 4
    # PostgreSQL safety dumps (the database as it was before a restore) kept in the backup folder, per component
    keep_safety_copies: int = 3


@dataclass(frozen=True)
class ComponentConfig:
    """One thing to back up. ``source`` for files/folders/SQLite; ``url`` or ``url_env`` for database servers."""

    name: str
    kind: str
    source: Path | None = None
    exclude: tuple[str, ...] = ()
    url: str | None = field(default=None, repr=False)  # may hold a password: never printed
    url_env: str | None = None


@dataclass(frozen=True)
class BackupConfig:
    """Where sets go, how they are compressed, how long they live, and what they contain."""

    dir: Path
    components: tuple[ComponentConfig, ...]
    compression: str = "zstd"
    max_age_hours: float = 26.0
    retention: RetentionPolicy = RetentionPolicy()
    source: str = "aide.toml"

    def component(self, name: str) -> ComponentConfig:
        """The component called ``name``; ConfigError naming the known ones otherwise."""
        for comp in self.components:
            if comp.name == name:
                return comp
        known = ", ".join(c.name for c in self.components)
        raise ConfigError(f"{self.source}: [backup.components] no component named {name!r} (known: {known})")


def parse_backup_config(raw: Mapping[str, Any], *, source: str, base_dir: Path) -> BackupConfig:
    """Build a BackupConfig from the ``[backup]`` table; relative paths are resolved against ``base_dir``."""
    where = f"{source}: [backup]"
    _check_keys(raw, _TOP_KEYS, where)
    backup_dir = base_dir / _get(raw, "dir", str, where, "backups")
    compression = _get(raw, "compression", str, where, "zstd")
    if compression not in COMPRESSIONS:
        raise ConfigError(f"{where} compression: {compression!r} is not one of {', '.join(COMPRESSIONS)}")
    max_age = _get(raw, "max_age_hours", (int, float), where, 26)
    if max_age <= 0:
        raise ConfigError(f"{where} max_age_hours: {max_age!r} must be greater than 0")
    retention = _parse_retention(_get(raw, "retention", dict, where, {}), f"{source}: [backup.retention]")
    components = _parse_components(_get(raw, "components", list, where, []), source, base_dir)
    return BackupConfig(
        dir=backup_dir,
        components=components,
        compression=compression,
        max_age_hours=float(max_age),
        retention=retention,
        source=source,
    )


def _parse_retention(raw: Mapping[str, Any], where: str) -> RetentionPolicy:
    _check_keys(raw, _RETENTION_KEYS, where)
    values = {key: _get(raw, key, int, where, getattr(RetentionPolicy(), key)) for key in _RETENTION_KEYS}
    for key, value in values.items():
        if value < 0:
            raise ConfigError(f"{where} {key}: {value!r} must be 0 or more")
    if values["keep_last"] < 1:
        raise ConfigError(
            f"{where} keep_last: {values['keep_last']!r} must be at least 1 "
            "(a policy that keeps nothing would delete every backup)"
        )
    return RetentionPolicy(**values)


def _parse_components(raw: list[Any], source: str, base_dir: Path) -> tuple[ComponentConfig, ...]:
    if not raw:
        raise ConfigError(f"{source}: [backup] components: [] needs at least one [[backup.components]] entry")
    seen: set[str] = set()
    parsed = []
    for number, item in enumerate(raw, start=1):
        where = f"{source}: [backup.components] #{number}"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{where}: {item!r} is not a table")
        comp = _parse_component(item, where, base_dir)
        if comp.name in seen:
            raise ConfigError(f"{where} name: {comp.name!r} is used by an earlier component")
        seen.add(comp.name)
        parsed.append(comp)
    return tuple(parsed)


def _parse_component(raw: Mapping[str, Any], where: str, base_dir: Path) -> ComponentConfig:
    _check_keys(raw, _COMPONENT_KEYS, where)
    name = _get(raw, "name", str, where, None)
    if not name or not all(ch.isalnum() or ch in "-_" for ch in name):
        raise ConfigError(f"{where} name: {name!r} must be non-empty letters, digits, '-' or '_'")
    kind = _get(raw, "kind", str, where, None)
    if kind not in KINDS:
        raise ConfigError(f"{where} kind: {kind!r} is not one of {', '.join(KINDS)}")
    exclude = _get(raw, "exclude", list, where, [])
    if not all(isinstance(p, str) for p in exclude):
        raise ConfigError(f"{where} exclude: {exclude!r} must be a list of strings")
    if kind in URL_SCHEMES:
        return _parse_server(raw, name, kind, where)
    for key in ("url", "url_env"):
        if key in raw:
            raise ConfigError(f"{where} {key}: only kinds 'postgresql' and 'mysql' take a URL (this one is {kind!r})")
    src = _get(raw, "source", str, where, None)
    if not src:
        raise ConfigError(f"{where} source: missing; kind {kind!r} needs a path")
    return ComponentConfig(name=name, kind=kind, source=base_dir / src, exclude=tuple(exclude))


def _parse_server(raw: Mapping[str, Any], name: str, kind: str, where: str) -> ComponentConfig:
    if "source" in raw:
        raise ConfigError(f"{where} source: kind {kind!r} takes url or url_env, not a path")
    url = _get(raw, "url", str, where, None)
    url_env = _get(raw, "url_env", str, where, None)
    if (url is None) == (url_env is None):
        raise ConfigError(f"{where} url/url_env: give exactly one of them for kind {kind!r}")
    schemes = URL_SCHEMES[kind]
    if url is not None and not url.startswith(schemes):
        # The value may hold a password, so only its scheme is quoted.
        raise ConfigError(f"{where} url: scheme {url.split(':', 1)[0]!r} is not {' or '.join(schemes)}")
    return ComponentConfig(name=name, kind=kind, url=url, url_env=url_env)


def _check_keys(raw: Mapping[str, Any], accepted: tuple[str, ...], where: str) -> None:
    for key in raw:
        if key not in accepted:
            shown = key if key.isidentifier() else repr(key)  # a key may hold a newline: keep one line
            raise ConfigError(f"{where} {shown}: unknown key (accepted: {', '.join(accepted)})")


def _get(raw: Mapping[str, Any], key: str, types: type | tuple[type, ...], where: str, default: Any) -> Any:
    if key not in raw:
        return default
    value = raw[key]
    # bool is an int subclass: `keep_last = true` is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, types):
        names = types.__name__ if isinstance(types, type) else " or ".join(t.__name__ for t in types)
        shown = "<hidden>" if key == "url" else repr(value)
        raise ConfigError(f"{where} {key}: {shown} is not {_TOML_NAMES.get(names, names)}")
    return value


_TOML_NAMES = {"str": "a string", "int": "an integer", "int or float": "a number", "dict": "a table", "list": "a list"}
