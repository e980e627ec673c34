"""``BackupManager``: the one object the CLI, the checks and the tests use for backups."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pytest_aide import __version__
from pytest_aide.backup import locking, mysql_source, retention
from pytest_aide.backup.compress import Progress
from pytest_aide.backup.config import URL_SCHEMES, BackupConfig
from pytest_aide.backup.manifest import BackupSet, mark_verified, read_set
from pytest_aide.backup.restore import RestoredComponent, RestoreResult, remove_dead_restore_copies, restore_component
from pytest_aide.backup.retention import PruneResult, SetInfo
from pytest_aide.backup.sets import component_url, create_set, list_sets
from pytest_aide.backup.verify import VerifyResult, verify_set
from pytest_aide.errors import AideError, BackupError
from pytest_aide.redact import Redactor


@dataclass(frozen=True)
class DrillResult:
    """Outcome of restoring a set into scratch space and comparing it with its manifest."""

    set_id: str | None
    ok: bool
    problems: tuple[str, ...]


class BackupManager:
    """Create, list, verify, restore and prune the backup sets a ``[backup]`` configuration describes.

    Example::

        manager = BackupManager(config.backup)
        new = manager.create()
        assert manager.verify(new.set_id).ok
    """

    def __init__(
        self,
        config: BackupConfig,
        *,
        redactor: Redactor | None = None,
        progress: Progress | None = None,
        lock_timeout: float = 30.0,
    ) -> None:
        self.config = config
        self.redactor = redactor if redactor is not None else Redactor.from_environment()
        self.progress = progress
        self.lock_timeout = lock_timeout

    def _folder_lock(self, operation: str, *, shared: bool = True) -> contextlib.AbstractContextManager[None]:
        return locking.locked(
            self.config.dir / locking.FOLDER_LOCK, shared=shared, timeout=self.lock_timeout, operation=operation
        )

    def create(self) -> BackupSet:
        """Take a new set of every component; a failed component makes it ``partial``, never aborts it."""
        locking.require_writable(self.config.dir, "backup")
        with self._folder_lock("backup"):
            # Both lock files exist from the first set on, so a refused restore writes nothing new anywhere.
            (self.config.dir / locking.RESTORE_LOCK).touch()
            # Killed backups' half-written sets, provably dead (their writer's lock is free): no age to wait for.
            for path in retention.stale_temp_dirs(self.config.dir, max_age=float("inf")):
                retention.remove_temp_dir(path)
            return create_set(self.config, redactor=self.redactor, progress=self.progress)

    def list_sets(self) -> list[BackupSet]:
        """Finished sets, newest first, as their manifests describe them."""
        return list_sets(self.config.dir)

    def safety_copies(self) -> list[tuple[Path, int]]:
        """The ``*_before_restore_*`` copies restores left (beside each target, PostgreSQL dumps in the backup
        folder), with their sizes in bytes: never deleted automatically, so the operator must see them."""
        found: dict[Path, int] = {}
        for comp in self.config.components:
            if comp.source is not None:
                suffix = "" if comp.source.is_dir() else comp.source.suffix
                stem = comp.source.name[: len(comp.source.name) - len(suffix)] if suffix else comp.source.name
                candidates = comp.source.parent.glob(f"{stem}_before_restore_*")
            else:
                candidates = self.config.dir.glob(f"{comp.name}_before_restore_*.pgdump*")
            for path in candidates:
                found[path] = _size(path)
        return sorted(found.items())

    def database_copies(self) -> list[tuple[str, int]]:
        """The ``<db>_before_restore_*`` databases MySQL restores kept on their server (names masked of any
        password, sizes in bytes); a server that cannot be reached is left out of the listing."""
        found = []
        for comp in self.config.components:
            if comp.kind == "mysql":
                try:
                    url = component_url(comp)
                    kept = mysql_source.kept_databases(url)
                except AideError:
                    continue
                shown = self.redactor.redact(url).rsplit("/", 1)[0]  # the server, without the database
                found += [(f"{shown}/{name}", size) for name, size in kept]
        return found

    def get(self, set_id: str) -> BackupSet:
        """The set ``set_id``; BackupError when there is no such finished set."""
        found = read_set(self.config.dir / set_id) if "/" not in set_id else None
        if found is None:
            raise BackupError(f"no backup set {set_id!r} in {self.config.dir} (run `aide backups` to list them)")
        return found

    def verify(self, set_id: str) -> VerifyResult:
        """Checksums, full decompression and scratch restores; success is recorded in ``verified.json``."""
        with self._folder_lock("verify"):
            backup_set = self.get(set_id)
            result = verify_set(backup_set, self._pg_urls(), progress=self.progress)
        if result.ok:
            # Only a cache (a full disk, a read-only mount): the next check simply verifies again.
            with contextlib.suppress(OSError):
                mark_verified(backup_set, __version__)
        return result

    def newest_verified(self) -> BackupSet | None:
        """The newest set whose verification succeeded, or None."""
        return next((s for s in self.list_sets() if s.verified), None)

    def restore(self, set_id: str, components: Iterable[str] | None = None, *, force: bool = False) -> RestoreResult:
        """Restore ``components`` (default: all captured) of a set; unverifiable sets need ``force``."""
        restore_lock = locking.locked(
            self.config.dir / locking.RESTORE_LOCK,
            shared=False,
            timeout=self.lock_timeout,
            operation="restore",
            movable=True,  # a set on read-only media restores too
        )
        with restore_lock, self._folder_lock("restore"):
            return self._restore(set_id, components, force=force)

    def _restore(self, set_id: str, components: Iterable[str] | None, *, force: bool) -> RestoreResult:
        backup_set = self.get(set_id)
        if not force and not backup_set.verified:
            result = verify_set(backup_set, self._pg_urls(), progress=self.progress)  # lock already held
            if result.ok:
                with contextlib.suppress(OSError):
                    mark_verified(backup_set, __version__)
            else:
                more = f" (+{len(result.problems) - 1} more)" if len(result.problems) > 1 else ""
                raise BackupError(
                    f"set {set_id} failed verification: {result.problems[0]}{more}; "
                    "restore refused (use --force to restore it anyway)"
                )
        names = list(components) if components is not None else [c.name for c in backup_set.components if c.ok]
        for name in names:  # we hold the exclusive restore lock: what earlier restores left is dead
            backup_set.component(name)  # an unknown name is refused before anything is touched
            remove_dead_restore_copies(self.config.component(name), self.config.dir)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        restored: list[RestoredComponent] = []
        for name in names:
            entry = backup_set.component(name)
            comp = self.config.component(name)
            restored.append(
                # a forced restore skips verification, so the restored copy itself must pass the integrity check
                restore_component(backup_set, entry, comp, stamp=stamp, progress=self.progress, check=force)
            )
        return RestoreResult(set_id=set_id, restored=tuple(restored))

    def prune(self, *, dry_run: bool = False) -> PruneResult:
        """Apply the retention policy; only our own sets and stale temp folders are ever removed."""
        with self._folder_lock("prune", shared=dry_run):
            return self._prune(dry_run=dry_run)

    def _prune(self, *, dry_run: bool) -> PruneResult:
        sets = self.list_sets()
        infos = [SetInfo(s.set_id, s.created, s.complete, s.verified) for s in sets]
        keep, remove = retention.plan(infos, self.config.retention)
        stale = retention.stale_temp_dirs(self.config.dir)
        stale += retention.old_safety_dumps(
            self.config.dir,
            [c.name for c in self.config.components if c.kind == "postgresql"],
            self.config.retention.keep_safety_copies,
        )
        if not dry_run:
            for set_id in remove:
                if read_set(self.config.dir / set_id) is not None:  # re-checked right before deleting
                    shutil.rmtree(self.config.dir / set_id)
            for path in stale:
                retention.remove_temp_dir(path)
        return PruneResult(
            removed=tuple(remove), kept=tuple(keep), temp_removed=tuple(p.name for p in stale), dry_run=dry_run
        )

    def restore_drill(self, set_id: str | None = None) -> DrillResult:
        """Restore a set (default: the newest complete one) into scratch space and compare with its manifest.

        The live targets are never touched; folders are really extracted, databases really restored.
        """
        if set_id is None:
            newest = next((s for s in self.list_sets() if s.complete), None)
            if newest is None:
                return DrillResult(None, False, (f"no complete backup set in {self.config.dir}; run `aide backup`",))
            set_id = newest.set_id
        with self._folder_lock("restore drill"):
            result = verify_set(self.get(set_id), self._pg_urls(), extract=True, progress=self.progress)
        return DrillResult(set_id, result.ok, result.problems)

    def _pg_urls(self) -> dict[str, str]:
        """Server URLs of database components (for scratch databases); unresolvable ones are left out."""
        urls = {}
        for comp in self.config.components:
            if comp.kind in URL_SCHEMES:
                try:
                    urls[comp.name] = component_url(comp)
                except AideError:
                    continue
        return urls


def _size(path: Path) -> int:
    """Bytes of a file, or of every file under a folder (links not followed)."""
    if path.is_symlink() or not path.is_dir():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if not p.is_dir() or p.is_symlink())
