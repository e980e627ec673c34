"""pytest-aide: operations health checks written as pytest functions.

The pytest plugin is :mod:`pytest_aide.plugin` (loaded through its entry point); what is re-exported here is
the domain API that checks, conftest files and scripts use directly.
"""

from __future__ import annotations

from pytest_aide.config import AideConfig, load_config
from pytest_aide.errors import AideError, BackupError, ConfigError, ProbeError
from pytest_aide.health import HealthRecorder, Measurement
from pytest_aide.ranges import NagiosRange
from pytest_aide.redact import Redactor, redact_url
from pytest_aide.status import Status, Verdict
from pytest_aide.summary import RunSummary
from pytest_aide.thresholds import Threshold, ThresholdSet

__version__ = "0.1.0"

__all__ = [
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
    "__version__",
    "load_config",
    "redact_url",
]
