"""Run identities and the per-run report archive.

Run ids sort by time as plain strings and stay unique for runs started in the same second (microseconds,
then a counter if two processes still collide), so ``ls reports/`` is already the history in order.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime
from pathlib import Path

RUN_ID_FORMAT = "%Y%m%d-%H%M%S-%f"


def new_run_id(now: datetime | None = None) -> str:
    """A run id like ``20261121-194000-123456`` (UTC)."""
    return (now or datetime.now(UTC)).strftime(RUN_ID_FORMAT)


def create_run_dir(archive: Path, now: datetime | None = None) -> tuple[str, Path]:
    """Create ``archive/<run-id>/`` atomically; never reuse another run's folder."""
    archive.mkdir(parents=True, exist_ok=True)
    base = new_run_id(now)
    for attempt in range(1000):
        run_id = base if attempt == 0 else f"{base}-{attempt:03d}"
        path = archive / run_id
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return run_id, path
    raise FileExistsError(f"cannot create a unique run folder under {archive}")


def host_name() -> str:
    return socket.gethostname()


def write_text_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so readers never see half a report."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
