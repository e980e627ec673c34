"""The target database: reachable, query time, key tables' row counts, size, integrity (read-only)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # annotations only: nothing more is imported when the suite is collected
    from pytest_aide.config import AideConfig
    from pytest_aide.health import HealthRecorder
    from pytest_aide.probes.database import Database

# Every check here runs weekly and monthly; the daily ones say so (a module mark cannot be taken back).
pytestmark = [pytest.mark.weekly, pytest.mark.monthly, pytest.mark.aide(component="database", weight=2)]


@pytest.mark.daily
@pytest.mark.gate
@pytest.mark.aide(reachability="db")  # when db is down, this check is the root cause
@pytest.mark.aide(essential=True)  # no database, no service: an emergency
def check_db_reachable(aide_db: Database, aide_config: AideConfig, aide_health: HealthRecorder) -> None:
    """Connect and time a simple query (over 1 s is slow)."""
    aide_health.record("db_ping_s", aide_db.ping())
    _rows, seconds = aide_db.timed_query(aide_config.settings.db.probe_query)
    aide_health.record("db_query_s", seconds)
    connections = aide_db.active_connections()
    if connections is not None:
        aide_health.record("db_connections", float(connections), "connections")


@pytest.mark.daily
def check_table_rows(aide_db: Database, aide_table: str, aide_health: HealthRecorder) -> None:
    """Count the rows of each key table. A missing table is CRITICAL (data the app needs is gone, or
    ``[db] tables`` names a table that does not exist); one the role may not read is UNKNOWN."""
    from pytest_aide.probes.database import TableNotFound

    try:
        rows = aide_db.row_counts([aide_table])[aide_table]
    except TableNotFound as exc:
        pytest.fail(f"{exc}: restore it from the newest verified backup, or correct [db] tables", pytrace=False)
    aide_health.record("rows", float(rows), "rows")


@pytest.mark.daily
def check_db_size(aide_db: Database, aide_health: HealthRecorder) -> None:
    aide_health.record("db_size_mb", aide_db.size_bytes() / 2**20, "MB")


@pytest.mark.daily
def check_db_role(aide_db: Database, aide_health: HealthRecorder) -> None:
    """Security: the monitoring role must not be privileged (a read-only transaction does not contain one).

    WARNING whether or not ``[db] allow_privileged_role`` lets the other checks run as that role.
    """
    role = aide_db.role
    if role is None:
        pytest.skip("SQLite has no roles: the file is opened read-only")
    action = f"{role.describe()}, which a read-only transaction does not contain: {role.remedy}"
    aide_health.record("db_role_privileges", float(len(role.privileges)), "privileges", warning="0", action=action)


def check_db_integrity(aide_db: Database, aide_health: HealthRecorder) -> None:
    """SQLite quick_check; for servers, that the catalog answers."""
    result = aide_db.integrity()
    assert result == "ok", f"integrity check failed: {result}: restore the newest verified backup"
