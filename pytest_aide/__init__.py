"""pytest-aide: operations health checks written as pytest functions."""

from __future__ import annotations

from pytest_aide.errors import AideError, BackupError, ConfigError, ProbeError
from pytest_aide.redact import Redactor, redact_url

__version__ = "0.1.0"

__all__ = [
    "AideError",
    "BackupError",
    "ConfigError",
    "ProbeError",
    "Redactor",
    "__version__",
    "redact_url",
]
