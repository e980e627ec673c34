"""Error types of pytest-aide's domain code.

Domain modules raise these; ``plugin.py`` translates them into ``pytest.UsageError`` (configuration) or a
check status (probes) at the boundary, so no domain module needs to import pytest.
"""

from __future__ import annotations


class AideError(Exception):
    """Base class: a problem pytest-aide can describe in one line for an operator."""


class ConfigError(AideError):
    """Invalid configuration: the message names the file, the key, the value and what is accepted."""


class ProbeError(AideError):
    """A probe could not take its measurement (target down, timeout, bad credentials...).

    The message is one line, already free of secrets, fit for a terminal or report.
    """


class ProbeUnreachable(ProbeError):
    """The probe's target did not answer at all: its connection is gone (cut after a timeout, closed by the
    server). Counts against the target's circuit breaker, unlike an answer the check did not like."""


class BackupError(AideError):
    """A backup, verify, restore or prune step failed; the message says which and why."""


class UnwritablePlaceError(BackupError):
    """A folder a backup command must write to cannot be written (permissions, a read-only mount).

    The message names the folder and the remedy; the ``aide`` command exits 2, as for a usage error.
    """
