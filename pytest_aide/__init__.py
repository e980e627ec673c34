"""pytest-aide: operations health checks written as pytest functions.

The pytest plugin is :mod:`pytest_aide.plugin` (loaded through its entry point); what is re-exported here is
the domain API that checks, conftest files and scripts use directly. Names are imported on first use, so
merely having the package installed costs other pytest projects nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    __version__: str
    from pytest_aide.backup import BackupManager
    from pytest_aide.config import AideConfig, load_config
    from pytest_aide.errors import AideError, BackupError, ConfigError, ProbeError
    from pytest_aide.faults import ExperimentFailed, Experiments, FaultError, FaultProxy, FileFaults, ProcessFaults
    from pytest_aide.health import HealthRecorder, Measurement
    from pytest_aide.history import History
    from pytest_aide.probes.cache import Cache
    from pytest_aide.probes.database import Database
    from pytest_aide.probes.http import HttpClient, HttpProbe
    from pytest_aide.probes.load import LoadProbe, LoadResult
    from pytest_aide.probes.resources import ResourceSampler
    from pytest_aide.ranges import NagiosRange
    from pytest_aide.redact import Redactor, redact_url
    from pytest_aide.settings import EndpointSettings
    from pytest_aide.status import Status, Verdict
    from pytest_aide.summary import RunSummary
    from pytest_aide.thresholds import Threshold, ThresholdSet


_EXPORTS = {  # name -> module under pytest_aide; the fixtures' types are here so checks can be typed
    "BackupManager": "backup",
    "Cache": "probes.cache",
    "Database": "probes.database",
    "EndpointSettings": "settings",
    "ExperimentFailed": "faults",
    "Experiments": "faults",
    "FaultError": "faults",
    "FaultProxy": "faults",
    "FileFaults": "faults",
    "ProcessFaults": "faults",
    "HttpClient": "probes.http",
    "HttpProbe": "probes.http",
    "LoadProbe": "probes.load",
    "LoadResult": "probes.load",
    "ResourceSampler": "probes.resources",
    "AideConfig": "config",
    "load_config": "config",
    "AideError": "errors",
    "BackupError": "errors",
    "ConfigError": "errors",
    "ProbeError": "errors",
    "HealthRecorder": "health",
    "Measurement": "health",
    "History": "history",
    "NagiosRange": "ranges",
    "Redactor": "redact",
    "redact_url": "redact",
    "Status": "status",
    "Verdict": "status",
    "RunSummary": "summary",
    "Threshold": "thresholds",
    "ThresholdSet": "thresholds",
}

__all__ = [  # noqa: RUF022 - the lazy names, then the version
    "AideConfig",
    "BackupManager",
    "Cache",
    "Database",
    "EndpointSettings",
    "ExperimentFailed",
    "Experiments",
    "FaultError",
    "FaultProxy",
    "FileFaults",
    "HttpClient",
    "HttpProbe",
    "LoadProbe",
    "LoadResult",
    "ResourceSampler",
    "AideError",
    "BackupError",
    "ConfigError",
    "HealthRecorder",
    "History",
    "Measurement",
    "NagiosRange",
    "ProbeError",
    "ProcessFaults",
    "Redactor",
    "RunSummary",
    "Status",
    "Threshold",
    "ThresholdSet",
    "Verdict",
    "load_config",
    "redact_url",
    "__version__",
]


def _version() -> str:
    """The installed distribution's version (read once, on first use: importlib.metadata is not free)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pytest-aide")
    except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        globals()["__version__"] = found = _version()
        return found
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_aide' has no attribute {name!r}")
    return getattr(importlib.import_module(f"pytest_aide.{module}"), name)
