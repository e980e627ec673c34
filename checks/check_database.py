"""The target database: reachable, query time, key tables' row counts, size, integrity (read-only)."""

from __future__ import annotations

import pytest

pytestmark = [
    pytest.mark.daily,
    pytest.mark.weekly,
    pytest.mark.monthly,
    pytest.mark.aide(component="database", weight=2),
]


@pytest.mark.gate
def check_db_reachable(db, aide_config, health):
    """Connect and time a simple query (over 1 s is slow)."""
    health.record("db_ping_s", db.ping())
    _rows, seconds = db.timed_query(aide_config.settings.db.probe_query)
    health.record("db_query_s", seconds)
    connections = db.active_connections()
    if connections is not None:
        health.record("db_connections", float(connections), "connections")


def check_table_rows(db, table, health):
    """Count the rows of each key table (a missing table fails the check)."""
    health.record("rows", float(db.row_counts([table])[table]), "rows")


def check_db_size(db, health):
    health.record("db_size_mb", db.size_bytes() / 2**20, "MB")


@pytest.mark.weekly
def check_db_integrity(db, health):
    """SQLite quick_check; for servers, that the catalog answers."""
    result = db.integrity()
    assert result == "ok", f"integrity check failed: {result}: restore the newest verified backup"
