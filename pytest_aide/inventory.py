"""Inventory parameters: a check that asks for ``aide_disk_path`` (or ``aide_log_file``, ``aide_table``,
``aide_endpoint``, ``aide_config_file``...) gets one case per item the configuration lists, with a readable,
stable id. Every name carries the ``aide_`` prefix, so no other plugin's fixture or argument is ever taken.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_aide.config import AideConfig

INVENTORY_PARAMS = (
    "aide_disk_path",
    "aide_log_file",
    "aide_table",
    "aide_endpoint",
    "aide_config_file",
    "aide_process_name",
    "aide_port",
    "aide_pidfile",
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
}


@dataclass(frozen=True)
class Case:
    id: str
    value: Any


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
        return [Case(name, name) for name in settings.resources.processes]
    if param == "aide_port":
        return [Case(str(port), port) for port in settings.resources.ports]
    if param == "aide_endpoint":
        return [Case(ep.name, ep) for ep in settings.endpoints]
    raise KeyError(param)


def not_configured_reason(param: str) -> str:
    return f"not configured: {_WHERE[param]} lists nothing"


def _path_cases(config: AideConfig, values: list[str]) -> list[Case]:
    names = [Path(v).name or v for v in values]
    unique = len(set(names)) == len(names)
    return [Case(name if unique else value, config.path(value)) for name, value in zip(names, values, strict=True)]
