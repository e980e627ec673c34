"""Seeding a run history for tests: runs as health.json data, recorded straight into the database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pytest_aide import history

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def run_data(
    run_id: str,
    started: datetime,
    measurements: dict[str, dict[str, float]],
    *,
    selection: str = "daily",
    partial: bool = False,
    exit_status: int = 0,
    finished: datetime | None = None,
) -> dict[str, Any]:
    """health.json data of one run: ``measurements`` maps node ids to {measurement: value}."""
    return {
        "run_id": run_id,
        "started": started.isoformat(),
        "finished": (finished or started + timedelta(minutes=1)).isoformat(),
        "host": "test",
        "selection": selection,
        "partial": partial,
        "status": "HEALTHY",
        "score": 100.0,
        "exit_status": exit_status,
        "coverage": {"measured": len(measurements), "selected": len(measurements)},
        "checks": [
            {
                "nodeid": nodeid,
                "component": "test",
                "status": "OK",
                "message": "",
                "measurements": {name: {"value": value, "unit": "%", "status": "OK"} for name, value in values.items()},
            }
            for nodeid, values in measurements.items()
        ],
    }


def run_id_at(when: datetime) -> str:
    return when.strftime("%Y%m%d-%H%M%S-%f")


def seed(
    archive: Path,
    name: str,
    values: Sequence[float],
    *,
    nodeid: str = "check_seed.py::check_seed",
    start: datetime = T0,
    step: timedelta = timedelta(days=1),
    **options: Any,
) -> list[str]:
    """Record one run per value of measurement ``name``, ``step`` apart from ``start``; return their ids."""
    archive.mkdir(parents=True, exist_ok=True)
    ids = []
    with history.opened(archive) as con:
        for index, value in enumerate(values):
            when = start + index * step
            data = run_data(run_id_at(when), when, {nodeid: {name: value}}, **options)
            ids.append(history.record_run(con, data))
    return ids
