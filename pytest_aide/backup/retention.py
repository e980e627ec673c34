"""Which sets to keep: restic's keep-last / keep-daily / keep-weekly, plus two promises.

``keep_last N`` keeps the N newest complete sets; ``keep_daily N`` keeps, for each of the last N days that
have sets, the newest set of that day (``keep_weekly`` the same per ISO week; days and weeks in UTC). The
promises: the newest verified set is never removed, and only directories holding our own manifest are
candidates at all (the caller passes nothing else). A partial set is kept only while no complete set is
newer: once a good set exists it is superseded.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pytest_aide.backup.config import RetentionPolicy
from pytest_aide.backup.locking import writer_gone, writer_mark
from pytest_aide.backup.manifest import SET_ID

STALE_TEMP_SECONDS = 3600.0
TEMP_PREFIXES = (".tmp-", ".scratch-")


@dataclass(frozen=True)
class SetInfo:
    """The facts retention needs about one set."""

    set_id: str
    created: datetime
    complete: bool
    verified: bool


@dataclass(frozen=True)
class PruneResult:
    """Set ids removed (or, on a dry run, that would be) and kept, and stale temp folders cleaned."""

    removed: tuple[str, ...]
    kept: tuple[str, ...]
    temp_removed: tuple[str, ...]
    dry_run: bool


def plan(sets: Sequence[SetInfo], policy: RetentionPolicy) -> tuple[list[str], list[str]]:
    """Split ``sets`` into (keep, remove) set ids, each newest first."""
    ordered = sorted(sets, key=lambda s: (s.created, s.set_id), reverse=True)
    complete = [s for s in ordered if s.complete]
    keep = {s.set_id for s in complete[: policy.keep_last]}
    keep |= _newest_per_bucket(complete, policy.keep_daily, lambda s: s.created.date())
    keep |= _newest_per_bucket(complete, policy.keep_weekly, lambda s: s.created.isocalendar()[:2])
    verified = [s for s in ordered if s.verified]
    if verified:
        keep.add(verified[0].set_id)
    newest_complete = complete[0].created if complete else None
    keep |= {s.set_id for s in ordered if not s.complete and (newest_complete is None or s.created > newest_complete)}
    return ([s.set_id for s in ordered if s.set_id in keep], [s.set_id for s in ordered if s.set_id not in keep])


def _newest_per_bucket(newest_first: list[SetInfo], count: int, bucket: Callable[[SetInfo], Hashable]) -> set[str]:
    kept: set[str] = set()
    last: Hashable = None
    for info in newest_first:
        if len(kept) >= count:
            break
        key = bucket(info)
        if key != last:
            kept.add(info.set_id)
            last = key
    return kept


def stale_temp_dirs(root: Path, *, now: float | None = None, max_age: float = STALE_TEMP_SECONDS) -> list[Path]:
    """Temp folders left by a killed backup or verify.

    A writer's mark (:func:`~pytest_aide.backup.locking.writer_lock`) decides: its lock is free only once the
    writer is dead. A folder without a mark (a verify's scratch, a set begun by an older version) is stale once
    untouched for ``max_age`` seconds.
    """
    now = time.time() if now is None else now
    if not root.is_dir():
        return []
    found = []
    for path in sorted(root.iterdir()):
        if not _is_our_temp(path.name) or path.is_symlink() or not path.is_dir():
            continue
        gone = writer_gone(path)
        if gone or (gone is None and now - _last_change(path) > max_age):
            found.append(path)
    return found


def old_safety_dumps(root: Path, components: Sequence[str], keep: int) -> list[Path]:
    """PostgreSQL safety dumps in the backup folder beyond the newest ``keep`` of each component."""
    old: list[Path] = []
    for name in components:
        dumps = sorted(root.glob(f"{name}_before_restore_*.pgdump*"), key=lambda p: p.name, reverse=True)
        old += [p for p in dumps[keep:] if p.is_file() and not p.is_symlink()]
    return old


def remove_temp_dir(path: Path) -> None:
    """Remove a stale temp folder (or an old safety dump) and its writer's mark."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
    writer_mark(path).unlink(missing_ok=True)


def _is_our_temp(name: str) -> bool:
    if name.startswith(".tmp-"):
        return bool(SET_ID.match(name[len(".tmp-") :]))
    return name.startswith(".scratch-")


def _last_change(path: Path) -> float:
    """Newest mtime of a folder and everything in it: a running backup keeps it fresh."""
    newest = path.lstat().st_mtime
    for folder, _, files in os.walk(path):
        for name in [*files, "."]:
            try:
                newest = max(newest, os.lstat(os.path.join(folder, name)).st_mtime)
            except FileNotFoundError:
                continue
    return newest
