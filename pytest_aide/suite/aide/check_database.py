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
def check_db_reachable(aide_db, aide_config, aide_health):
    """Connect and time a simple query (over 1 s is slow)."""
    aide_health.record("db_ping_s", aide_db.ping())
    _rows, seconds = aide_db.timed_query(aide_config.settings.db.probe_query)
    aide_health.record("db_query_s", seconds)
    connections = aide_db.active_connections()
    if connections is not None:
        aide_health.record("db_connections", float(connections), "connections")


def check_table_rows(aide_db, aide_table, aide_health):
    """Count the rows of each key table (a missing table fails the check)."""
    aide_health.record("rows", float(aide_db.row_counts([aide_table])[aide_table]), "rows")


def check_db_size(aide_db, aide_health):
    aide_health.record("db_size_mb", aide_db.size_bytes() / 2**20, "MB")


@pytest.mark.weekly
def check_db_integrity(aide_db, aide_health):
    """SQLite quick_check; for servers, that the catalog answers."""
    result = aide_db.integrity()
    assert result == "ok", f"integrity check failed: {result}: restore the newest verified backup"
