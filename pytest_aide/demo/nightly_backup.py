"""The demo system's own backup job: like a deployed system, it has a backup before anyone checks it.

Without it a fresh demo would always fail the backup-freshness check, which says nothing about the suite.
It backs up exactly what the shipped ``aide.toml`` names (database, assets, config without dotfiles) into
``<data dir>/backups``, once, when no set exists yet, and verifies it.
"""

from __future__ import annotations

from pytest_aide.backup import BackupManager, BackupSet, parse_backup_config
from pytest_aide.demo.data import DemoPaths


def ensure_first_backup(paths: DemoPaths) -> BackupSet | None:
    """Take and verify a first backup set of the demo's data unless one exists; return it (None if kept)."""
    config = parse_backup_config(
        {
            "dir": "backups",
            "components": [
                {"name": "database", "kind": "sqlite", "source": str(paths.database)},
                {"name": "assets", "kind": "folder", "source": str(paths.assets)},
                {"name": "config", "kind": "folder", "source": str(paths.env_file.parent)},
            ],
        },
        source="demo",
        base_dir=paths.root,
    )
    manager = BackupManager(config)
    if manager.list_sets():
        return None
    backup_set = manager.create()
    manager.verify(backup_set.set_id)
    return backup_set
