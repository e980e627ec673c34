"""Inventory parameters: a check that asks for ``disk_path`` (or ``log_file``, ``table``, ``endpoint``,
``config_file``) gets one case per item the configuration lists, with a readable, stable id.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_aide.config import AideConfig

INVENTORY_PARAMS = ("disk_path", "log_file", "table", "endpoint", "config_file", "process_name", "port", "pidfile")
_WHERE = {
    "disk_path": "[resources] disk_paths",
    "log_file": "[logs] files",
    "table": "[db] tables",
    "endpoint": "[[endpoints]]",
    "config_file": "[preflight] config_files",
    "process_name": "[resources] processes",
    "port": "[resources] ports",
    "pidfile": "[resources] pidfiles",
}


@dataclass(frozen=True)
class Case:
    id: str
    value: Any


def cases(config: AideConfig, param: str) -> list[Case]:
    """The cases of ``param``; an empty list means the target part is not configured."""
    settings = config.settings
    if param == "disk_path":
        return _path_cases(config, settings.resources.disk_paths)
    if param == "log_file":
        return _path_cases(config, settings.logs.files)
    if param == "config_file":
        return _path_cases(config, settings.preflight.config_files)
    if param == "table":
        return [Case(name, name) for name in settings.db.tables]
    if param == "pidfile":
        return _path_cases(config, settings.resources.pidfiles)
    if param == "process_name":
        return [Case(name, name) for name in settings.resources.processes]
    if param == "port":
        return [Case(str(port), port) for port in settings.resources.ports]
    if param == "endpoint":
        return [Case(ep.name, ep) for ep in settings.endpoints]
    raise KeyError(param)


def not_configured_reason(param: str) -> str:
    return f"not configured: {_WHERE[param]} lists nothing"


def _path_cases(config: AideConfig, values: list[str]) -> list[Case]:
    names = [Path(v).name or v for v in values]
    unique = len(set(names)) == len(names)
    return [Case(name if unique else value, config.path(value)) for name, value in zip(names, values, strict=True)]
