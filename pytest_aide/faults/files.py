"""Make a file or folder unavailable for a while, and always put it back.

Two ways, chosen per call:

``rename`` (the default, and the reliable one)
    The path is renamed aside inside its own folder (same file system, so the rename is atomic) to
    ``.<name>.aide-unavailable-<id>``: every process, root included, gets ``FileNotFoundError``. Restoring renames
    it back. Whatever the target created at the path in the meantime (SQLite creates an empty database file when
    it opens a missing one) is moved aside to ``.<name>.aide-created-<id>`` and reported, never deleted.
``chmod``
    Permission bits 000 (``PermissionError``), restored to the recorded mode. **It does nothing against a process
    running as root** (or holding CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH), which ignores permission bits; and a
    process that already holds the file open keeps using it. Use it only for a target running as another user.

:meth:`FileFaults.restore_all` restores in reverse order and tries every path even when one fails; the fixture
calls it at teardown, and :meth:`FileFaults.unavailable` is a context manager that restores on any exit.
"""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pytest_aide.faults.errors import FaultError

How = Literal["rename", "chmod"]


@dataclass
class Unavailable:
    """One path made unavailable: how, and what restoring needs (the aside name or the original mode)."""

    path: Path
    how: How
    aside: Path | None = None
    mode: int | None = None
    created_aside: Path | None = None  # set on restore: what the target created at the path meanwhile

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "how": self.how,
            "aside": str(self.aside) if self.aside else None,
            "created_aside": str(self.created_aside) if self.created_aside else None,
        }


class FileFaults:
    """Files and folders made unavailable, restored on :meth:`restore` / :meth:`restore_all`.

    Example::

        faults = FileFaults()
        with faults.unavailable(data_dir / "app.db"):
            assert api.get("/api/health").json()["status"] == "degraded"
        # app.db is back here, also if the assertion failed
    """

    def __init__(self) -> None:
        self._active: dict[Path, Unavailable] = {}
        self.restored: list[Unavailable] = []

    def make_unavailable(self, path: str | os.PathLike[str], *, how: How = "rename") -> Unavailable:
        """Hide ``path`` (a file or a folder) until it is restored; see the module docstring for ``how``."""
        if how not in ("rename", "chmod"):
            raise FaultError(f"how= must be 'rename' or 'chmod', got {how!r}")
        target = Path(path).absolute()
        if target in self._active:
            raise FaultError(f"{target} is already unavailable ({self._active[target].how})")
        if not target.exists() and not target.is_symlink():
            raise FaultError(f"cannot make {target} unavailable: it does not exist")
        if how == "rename":
            aside = _aside_name(target, "unavailable")
            _rename(target, aside)
            fault = Unavailable(target, how, aside=aside)
        else:
            fault = Unavailable(target, how, mode=stat.S_IMODE(target.stat().st_mode))
            _chmod(target, 0)
        self._active[target] = fault
        return fault

    def restore(self, path: str | os.PathLike[str]) -> Unavailable:
        """Put ``path`` back as it was before :meth:`make_unavailable`."""
        target = Path(path).absolute()
        fault = self._active.get(target)
        if fault is None:
            raise FaultError(f"{target} was not made unavailable by these faults: nothing to restore")
        if fault.how == "rename":
            assert fault.aside is not None
            if target.exists() or target.is_symlink():
                fault.created_aside = _aside_name(target, "created")
                _rename(target, fault.created_aside)
            _rename(fault.aside, target)
        else:
            assert fault.mode is not None
            _chmod(target, fault.mode)
        del self._active[target]
        self.restored.append(fault)
        return fault

    def restore_all(self) -> None:
        """Restore every path still unavailable, newest first; raises one :class:`FaultError` listing failures."""
        problems = []
        for target in reversed(list(self._active)):
            try:
                self.restore(target)
            except (FaultError, OSError) as exc:
                problems.append(str(exc))
        if problems:
            raise FaultError("could not restore: " + "; ".join(problems))

    @property
    def active(self) -> list[Unavailable]:
        return list(self._active.values())

    @contextmanager
    def unavailable(self, path: str | os.PathLike[str], *, how: How = "rename") -> Iterator[Unavailable]:
        """``path`` unavailable inside the ``with`` block, restored on any exit (exceptions included)."""
        fault = self.make_unavailable(path, how=how)
        try:
            yield fault
        finally:
            self.restore(fault.path)


def _aside_name(path: Path, kind: str) -> Path:
    return path.with_name(f".{path.name}.aide-{kind}-{uuid.uuid4().hex[:8]}")


def _rename(source: Path, target: Path) -> None:
    try:
        os.rename(source, target)
    except OSError as exc:
        raise FaultError(f"cannot rename {source} to {target.name}: {exc.strerror or exc}") from None


def _chmod(path: Path, mode: int) -> None:
    try:
        os.chmod(path, mode)  # a symlink's target: Linux has no modes on links themselves
    except OSError as exc:
        raise FaultError(f"cannot chmod {path} to {mode:o}: {exc.strerror or exc}") from None
