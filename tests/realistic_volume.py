"""A small real volume for the disk checks: a 64 MiB tmpfs mounted on a temp folder, filled to a given share.

The mount needs root (or CAP_SYS_ADMIN); where it is impossible :func:`tmpfs_volume` calls ``unavailable`` with
the reason (a skip, a failure under ``AIDE_REQUIRE_SERVICES=1``). The volume is always unmounted afterwards
(lazily when something still holds it) and its folder removed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from conftest import unavailable

SIZE_MIB = 64
FILL_NAME = "fill.bin"
_CHUNK = 1 << 20


class Volume:
    """A mounted tmpfs at :attr:`path`; :meth:`fill_to` writes one file until the volume is N % used."""

    def __init__(self, path: Path, size_mib: int) -> None:
        self.path = path
        self.size_mib = size_mib

    def used_percent(self) -> float:
        """Used over what users can fill, as ``df`` and the disk check count it."""
        usage = os.statvfs(self.path)
        used = (usage.f_blocks - usage.f_bfree) * usage.f_frsize
        available = usage.f_bavail * usage.f_frsize
        return 100.0 * used / (used + available)

    def fill_to(self, percent: float) -> float:
        """Grow or shrink the fill file so the volume is ``percent`` % used (real bytes, not a sparse file);
        returns the share measured afterwards."""
        fill = self.path / FILL_NAME
        fill.unlink(missing_ok=True)
        usage = os.statvfs(self.path)
        block = usage.f_frsize
        total = (usage.f_blocks - usage.f_bfree + usage.f_bavail) * block
        others = (usage.f_blocks - usage.f_bfree) * block
        wanted = max(0, int(total * percent / 100) - others) // block * block
        fd = os.open(fill, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            zeros = bytes(_CHUNK)
            left = wanted
            while left > 0:
                left -= os.write(fd, zeros[: min(left, _CHUNK)])
        finally:
            os.close(fd)
        return self.used_percent()

    def empty(self) -> None:
        (self.path / FILL_NAME).unlink(missing_ok=True)


def _mount(path: Path, size_mib: int) -> str | None:
    """Mount a tmpfs; the reason when it cannot be done."""
    if shutil.which("mount") is None:
        return "the mount program is not installed (Debian package mount)"
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_mib}m,mode=0755", "tmpfs", str(path)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"mount failed: {exc}"
    if done.returncode != 0:
        who = "" if os.geteuid() == 0 else " (it needs root)"
        return f"cannot mount a {size_mib} MiB tmpfs{who}: {done.stderr.strip() or done.returncode}"
    return None


def _unmount(path: Path) -> None:
    for args in (["umount", str(path)], ["umount", "-l", str(path)]):
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            if subprocess.run(args, capture_output=True, timeout=30, check=False).returncode == 0:
                return


@contextlib.contextmanager
def tmpfs_volume(size_mib: int = SIZE_MIB) -> Iterator[Volume]:
    """A freshly mounted, empty tmpfs of ``size_mib`` MiB; unmounted and removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="aide-vol-"))
    reason = _mount(folder, size_mib)
    if reason is not None:
        folder.rmdir()
        unavailable(reason)
    try:
        yield Volume(folder, size_mib)
    finally:
        _unmount(folder)
        shutil.rmtree(folder, ignore_errors=True)
