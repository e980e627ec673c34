"""The emergency diagnostics snapshot: what an operator attaches to an incident, in one JSON file.

It gathers, without changing anything on the target: host resources and the top processes, the target's
health endpoint as it answers now, the recent ERROR lines of each configured log, the newest archived
verdict and the newest backup set. Every string is redacted before it is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pytest_aide.archive_index import archived_runs
from pytest_aide.config import AideConfig
from pytest_aide.errors import AideError
from pytest_aide.redact import Redactor
from pytest_aide.runs import host_name, write_text_atomic

RECENT_ERRORS = 20


def collect(config: AideConfig, *, now: datetime | None = None) -> dict[str, Any]:
    """The snapshot as builtin data; a part that cannot be read says why instead of failing the whole."""
    taken = now or datetime.now(UTC)
    return {
        "schema": "pytest-aide/diagnostics/1",
        "taken": taken.isoformat(timespec="seconds"),
        "host": host_name(),
        "config": config.source_name,
        "resources": _part(_resources),
        "target": _part(lambda: _target(config)),
        "recent_errors": {name: _recent_errors(config, name) for name in config.log_paths()},
        "last_run": _part(lambda: _last_run(config)),
        "backups": _part(lambda: _backups(config)),
    }


def write(config: AideConfig, folder: Path, redactor: Redactor) -> Path:
    """Write ``diagnostics_<timestamp>.json`` into ``folder`` and return its path."""
    taken = datetime.now(UTC)
    data = redactor.redact_data(collect(config, now=taken))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"diagnostics_{taken:%Y%m%d-%H%M%S-%f}.json"
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")
    return path


def _part(read: Callable[[], Any]) -> Any:
    try:
        return read()
    except (AideError, OSError, ValueError) as exc:
        return {"error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}


def _resources() -> dict[str, Any]:
    from pytest_aide.evidence import process_table
    from pytest_aide.probes import resources

    sampler = resources.ResourceSampler()
    return {
        "cpu_percent": sampler.cpu_percent(),
        "memory": resources.memory().to_dict(),
        "swap": resources.swap().to_dict(),
        "load": resources.load_average().to_dict(),
        "disk": {str(p): resources.disk_usage(p).to_dict() for p in (Path("/"), Path.cwd())},
        "top_by_memory": process_table(resources.top_processes(10, by="memory")),
        "top_by_cpu": process_table(resources.top_processes(10, by="cpu")),
    }


def _target(config: AideConfig) -> dict[str, Any]:
    from pytest_aide.probes.http import HttpClient

    app = config.settings.app
    if not app.url:
        return {"error": "not configured: [app] url"}
    with HttpClient(
        app.url, connect_timeout=app.connect_timeout, read_timeout=app.timeout, verify=app.verify_tls
    ) as client:
        return client.probe(app.health_path, expect_status=None).to_dict()


def _recent_errors(config: AideConfig, name: str) -> Any:
    from pytest_aide.probes.logs import LogFile, error_lines

    settings = config.settings.logs

    def read() -> list[str]:
        tail = LogFile(config.path(name)).tail(settings.tail_lines * 10)
        return error_lines(tail, settings.error_pattern)[-RECENT_ERRORS:]

    return _part(read)


def _last_run(config: AideConfig) -> dict[str, Any] | None:
    runs = archived_runs(config.path(config.settings.reports.dir))
    if not runs:
        return None
    newest = runs[0]
    worst = [c for c in newest.get("checks", []) if c.get("status") not in ("OK", "SKIPPED")]
    return {key: newest.get(key) for key in ("run_id", "finished", "status", "score", "counts")} | {"problems": worst}


def _backups(config: AideConfig) -> dict[str, Any] | None:
    if config.backup is None:
        return None
    from pytest_aide.backup import BackupManager

    sets = BackupManager(config.backup).list_sets()
    newest = sets[0] if sets else None
    return {
        "sets": len(sets),
        "newest": None
        if newest is None
        else {
            "set_id": newest.set_id,
            "created": newest.created.isoformat(),
            "status": newest.status,
            "verified": newest.verified,
        },
    }
