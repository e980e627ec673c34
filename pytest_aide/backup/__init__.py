"""Backup and restore: consistent, verified, atomic sets with retention.

Domain code only (no pytest): the ``aide`` CLI, the ``backup`` fixture and the checks all go through
:class:`BackupManager`.
"""

from __future__ import annotations

from pytest_aide.backup.config import (
    BackupConfig,
    ComponentConfig,
    RetentionPolicy,
    parse_backup_config,
)
from pytest_aide.backup.manager import BackupManager, DrillResult
from pytest_aide.backup.manifest import BackupSet, ComponentEntry
from pytest_aide.backup.restore import RestoredComponent, RestoreResult
from pytest_aide.backup.retention import PruneResult
from pytest_aide.backup.verify import VerifyResult

__all__ = [
    "BackupConfig",
    "BackupManager",
    "BackupSet",
    "ComponentConfig",
    "ComponentEntry",
    "DrillResult",
    "PruneResult",
    "RestoreResult",
    "RestoredComponent",
    "RetentionPolicy",
    "VerifyResult",
    "parse_backup_config",
]
