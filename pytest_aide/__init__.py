"""pytest-aide: operations health checks written as pytest functions.

The pytest plugin is :mod:`pytest_aide.plugin` (loaded through its entry point); what is re-exported here is
the domain API that checks, conftest files and scripts use directly. Names are imported on first use, so
merely having the package installed costs other pytest projects nothing.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_aide.config import AideConfig, load_config
    from pytest_aide.errors import AideError, BackupError, ConfigError, ProbeError
    from pytest_aide.health import HealthRecorder, Measurement
    from pytest_aide.ranges import NagiosRange
    from pytest_aide.redact import Redactor, redact_url
    from pytest_aide.status import Status, Verdict
    from pytest_aide.summary import RunSummary
    from pytest_aide.thresholds import Threshold, ThresholdSet

try:
    __version__ = version("pytest-aide")
except PackageNotFoundError:  # pragma: no cover - running from a source tree that was never installed
    __version__ = "0+unknown"

_EXPORTS = {
    "AideConfig": "config",
    "load_config": "config",
    "AideError": "errors",
    "BackupError": "errors",
    "ConfigError": "errors",
    "ProbeError": "errors",
    "HealthRecorder": "health",
    "Measurement": "health",
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
    "AideError",
    "BackupError",
    "ConfigError",
    "HealthRecorder",
    "Measurement",
    "NagiosRange",
    "ProbeError",
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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_aide' has no attribute {name!r}")
    return getattr(importlib.import_module(f"pytest_aide.{module}"), name)
