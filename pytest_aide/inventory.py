"""Inventory parameters: a check that asks for ``aide_disk_path`` (or ``aide_log_file``, ``aide_table``,
``aide_endpoint``, ``aide_config_file``...) gets one case per item the configuration lists, with a readable,
stable id. Every name carries the ``aide_`` prefix, so no other plugin's fixture or argument is ever taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_aide.config import AideConfig
from pytest_aide.settings import InstanceSettings, ThresholdSettings

INVENTORY_PARAMS = (
    "aide_disk_path",
    "aide_log_file",
    "aide_table",
    "aide_endpoint",
    "aide_config_file",
    "aide_process_name",
    "aide_port",
    "aide_pidfile",
    "aide_tls_host",
)
_WHERE = {
    "aide_disk_path": "[resources] disk_paths",
    "aide_log_file": "[logs] files",
    "aide_table": "[db] tables",
    "aide_endpoint": "[[endpoints]]",
    "aide_config_file": "[preflight] config_files",
    "aide_process_name": "[resources] processes",
    "aide_port": "[resources] ports",
    "aide_pidfile": "[resources] pidfiles",
    "aide_tls_host": "[tls] hosts",
}


@dataclass(frozen=True)
class Case:
    """One configured item: its id, the value the check receives, and its own settings when given as a table."""

    id: str
    value: Any
    item: InstanceSettings | None = None

    @property
    def thresholds(self) -> dict[str, ThresholdSettings]:
        """Threshold changes for this item only (on top of the run's)."""
        if self.item is not None:
            return dict(self.item.thresholds)
        return dict(getattr(self.value, "thresholds", {}) or {})  # an [[endpoints]] table carries its own


def key_of(item: object) -> Any:
    """An inventory entry's key: the plain string or number, or a table's ``path``/``name``/``port``."""
    if isinstance(item, InstanceSettings):
        for field in ("path", "name", "port"):
            if hasattr(item, field):
                return getattr(item, field)
    return item


def case_key(value: object) -> str:
    """How a case's value is found again from a test item's parameters (a path, a number, an endpoint's name)."""
    name = getattr(value, "name", None)
    if isinstance(name, str) and not isinstance(value, Path):
        return name
    return str(value)


def _table(item: object) -> InstanceSettings | None:
    return item if isinstance(item, InstanceSettings) else None


def cases(config: AideConfig, param: str) -> list[Case]:
    """The cases of ``param``; an empty list means the target part is not configured."""
    settings = config.settings
    if param == "aide_disk_path":
        return _path_cases(config, settings.resources.disk_paths)
    if param == "aide_log_file":
        return _path_cases(config, settings.logs.files)
    if param == "aide_config_file":
        return _path_cases(config, settings.preflight.config_files)
    if param == "aide_table":
        return [Case(name, name) for name in settings.db.tables]
    if param == "aide_pidfile":
        return _path_cases(config, settings.resources.pidfiles)
    if param == "aide_process_name":
        return [Case(str(key_of(p)), key_of(p), _table(p)) for p in settings.resources.processes]
    if param == "aide_port":
        return [Case(str(key_of(p)), key_of(p), _table(p)) for p in settings.resources.ports]
    if param == "aide_endpoint":
        return [Case(ep.name, ep, None) for ep in settings.endpoints]
    if param == "aide_tls_host":
        return [Case(str(host), host, host) for host in settings.tls.items()]
    raise KeyError(param)


def not_configured_reason(param: str) -> str:
    return f"not configured: {_WHERE[param]} lists nothing"


def _path_cases(config: AideConfig, items: Sequence[str | InstanceSettings]) -> list[Case]:
    values = [str(key_of(item)) for item in items]
    names = [Path(v).name or v for v in values]
    unique = len(set(names)) == len(names)
    return [
        Case(name if unique else value, config.path(value), _table(item))
        for name, value, item in zip(names, values, items, strict=True)
    ]
