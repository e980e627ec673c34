"""Archive member checks: a restore must never write outside its target folder.

Every member is checked before anything is extracted, so a crafted archive is refused with nothing written.
"""

from __future__ import annotations

import posixpath
import tarfile


def member_problem(member: tarfile.TarInfo) -> str | None:
    """Why ``member`` is unsafe to extract, or None when it stays inside the target."""
    name = member.name
    if _escapes(name):
        return f"member {name!r} has an absolute path or '..'"
    if member.issym():
        target = member.linkname
        resolved = posixpath.join(posixpath.dirname(name), target)  # join keeps an absolute target as is
        if _link_escapes(resolved):
            return f"symlink {name!r} -> {target!r} points outside the target"
    elif member.islnk():
        if _link_escapes(member.linkname):
            return f"hard link {name!r} -> {member.linkname!r} points outside the target"
    elif not (member.isfile() or member.isdir()):
        return f"member {name!r} is a device or fifo"
    return None


def _escapes(path: str) -> bool:
    """True when a member name is empty, absolute or has a '..' part (refused even when it stays inside)."""
    return not path or path.startswith("/") or ".." in path.split("/")


def _link_escapes(path: str) -> bool:
    """True when a link target, resolved from the archive root, is absolute or climbs above the root."""
    normal = posixpath.normpath(path)
    return normal.startswith("/") or normal == ".." or normal.startswith("../")
