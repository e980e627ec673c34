"""Run identities and the per-run report archive.

Run ids sort by time as plain strings and stay unique for runs started in the same second (microseconds,
then a counter if two processes still collide), so ``ls reports/`` is already the history in order.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

RUN_ID_FORMAT = "%Y%m%d-%H%M%S-%f"
# RUN_ID_FORMAT's fields as new_run_id writes them: read back without datetime.strptime, whose first use in a
# process imports _strptime and builds its locale tables (the archive index reads the time of every run).
_RUN_ID_FIELDS = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})-([0-9]{2})([0-9]{2})([0-9]{2})-([0-9]{6})")


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


def run_started(name: str) -> datetime | None:
    """When the run named ``name`` started (from its id), or None if ``name`` is no run id."""
    found = _RUN_ID_FIELDS.match(name)  # a suffix (``-001``, two runs in one microsecond) is not its time
    if found is None:
        return None
    year, month, day, hour, minute, second, micro = map(int, found.groups())
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)
    except ValueError:  # fields out of range: not a time
        return None


def prune_runs(
    archive: Path,
    keep_days: float | None = None,
    *,
    keep_runs: int | None = None,
    now: datetime | None = None,
    protect: str = "",
) -> list[str]:
    """Delete archived runs older than ``keep_days`` and beyond the newest ``keep_runs``; return their names.

    Only folders that are runs of ours (a run-id name, a real folder rather than a symlink, a ``health.json``)
    are ever removed, and ``shutil.rmtree`` removes a symlink inside one without following it: nothing outside
    the archive is touched, and anything else an operator keeps in the archive stays. ``protect`` (the run in
    progress) is never removed.
    """
    runs = sorted(
        folder
        for folder in archive.iterdir()
        if run_started(folder.name) is not None
        and not folder.is_symlink()
        and folder.is_dir()
        and folder.name != protect
        and (folder / "health.json").is_file()
    )
    doomed: set[Path] = set()
    if keep_days is not None:
        cutoff = (now or datetime.now(UTC)) - timedelta(days=keep_days)
        doomed.update(folder for folder in runs if (run_started(folder.name) or cutoff) < cutoff)
    if keep_runs is not None:
        kept = max(keep_runs - (1 if protect else 0), 0)  # the run in progress is one of the kept
        doomed.update(runs[: max(len(runs) - kept, 0)])
    for folder in sorted(doomed):
        shutil.rmtree(folder)
    return [folder.name for folder in sorted(doomed)]
