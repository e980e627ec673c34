"""Archive member checks: a restore must never write outside its target folder.

Each member is judged with what the members before and after it create, not alone: a symlink chain (the
CVE-2025-4517 pattern, or ``x/y -> ..`` then ``x/y/z -> ..``) is harmless member by member and escapes as a
whole. So the whole archive is read first (:class:`ArchiveGuard`), every link is resolved against the tree the
archive builds, the way the kernel would follow it, and any member that passes through a link is refused. The
interpreter's tarfile filter stays on as a second guard, never as the only one. ``verify`` and ``restore`` run
the same guard, so a set that verifies is a set that restores inside its target.
"""

from __future__ import annotations

import posixpath
import tarfile

MAX_NAME_BYTES = 3072  # leaves room below PATH_MAX (4096) for the target folder's own path
MAX_PART_BYTES = 255  # NAME_MAX of Linux file systems
MAX_LINK_HOPS = 40  # the kernel's own limit (ELOOP)


def member_problem(member: tarfile.TarInfo) -> str | None:
    """Why ``member`` alone is unsafe to extract (its own name, type and link), or None.

    :class:`ArchiveGuard` adds what only the whole archive shows; restores always use it.
    """
    name = normal_name(member.name)
    if name is None:
        return f"member {member.name!r} has an empty or absolute path or '..' (or a '.' or empty part)"
    if len(name.encode()) > MAX_NAME_BYTES or any(len(part.encode()) > MAX_PART_BYTES for part in name.split("/")):
        return f"member {_short(name)!r} has a path too long to extract safely"
    if member.issym():
        target = member.linkname
        if not target or "\0" in target or target.startswith("/"):
            return f"symlink {name!r} -> {target!r} points outside the target"
        if _lexically_escapes(posixpath.dirname(name), target):
            return f"symlink {name!r} -> {target!r} points outside the target"
    elif member.islnk():
        link = normal_name(member.linkname)
        if link is None:
            return f"hard link {name!r} -> {member.linkname!r} points outside the target"
    elif not (member.isfile() or member.isdir()):
        return f"member {name!r} is a device or fifo"
    return None


def normal_name(name: str) -> str | None:
    """A member name without its trailing ``/``; None unless it is relative and in normal form.

    ``a/./b``, ``a//b`` and ``..`` parts are refused rather than normalised: the extractor would write the
    name as given, so a name must mean exactly what the guard judged.
    """
    name = name[:-1] if name.endswith("/") else name
    if not name or "\0" in name or name.startswith("/"):
        return None
    if any(part in ("", ".", "..") for part in name.split("/")):
        return None
    return name


class ArchiveGuard:
    """Judges an archive's members together: feed every member to :meth:`add`, then call :meth:`finish`.

    Both return the first problem found (one line), or None. Nothing may be extracted before ``finish``
    returned None for the same archive.
    """

    def __init__(self) -> None:
        self._kinds: dict[str, str] = {}  # normal name -> "dir", "file", "link"
        self._links: dict[str, str] = {}  # symlink name -> its target

    def add(self, member: tarfile.TarInfo) -> str | None:
        problem = member_problem(member)
        if problem is not None:
            return problem
        name = normal_name(member.name)
        assert name is not None  # member_problem refused the rest
        if name in self._kinds:
            return f"member {name!r} appears twice (a second member could replace what the first wrote)"
        if member.islnk():
            link = normal_name(member.linkname)
            if self._kinds.get(link or "") != "file":
                return f"hard link {name!r} -> {member.linkname!r} is not a file written before it in the archive"
        if member.issym():
            self._links[name] = member.linkname
            self._kinds[name] = "link"
        else:
            self._kinds[name] = "dir" if member.isdir() else "file"
        return None

    def finish(self) -> str | None:
        """What only the whole archive shows: members under a link or a file, links leaving the target."""
        for name in self._kinds:
            parts = name.split("/")
            for depth in range(1, len(parts)):
                prefix = "/".join(parts[:depth])
                kind = self._kinds.get(prefix)
                if kind == "link":
                    return f"member {_short(name)!r} lies under the symlink {prefix!r}"
                if kind == "file":
                    return f"member {_short(name)!r} lies under the file {prefix!r}"
        for name, target in self._links.items():
            problem = self._resolution_problem(name, target)
            if problem is not None:
                return f"symlink {_short(name)!r} -> {_short(target)!r} {problem}"
        return None

    def _resolution_problem(self, name: str, target: str) -> str | None:
        """Follow ``name``'s target through the archive's own links as the kernel would; None if it stays in."""
        resolved: list[str] = posixpath.dirname(name).split("/") if "/" in name else []
        pending = [part for part in target.split("/") if part not in ("", ".")]
        hops = 0
        while pending:
            part = pending.pop(0)
            if part == "..":
                if not resolved:
                    return "points outside the target (through the archive's own links)"
                resolved.pop()
                continue
            resolved.append(part)
            here = "/".join(resolved)
            if here in self._links:
                hops += 1
                if hops > MAX_LINK_HOPS:
                    return "is a chain of more than 40 links (a loop?)"
                link_target = self._links[here]
                if link_target.startswith("/"):
                    return "points outside the target (through an absolute link)"
                resolved.pop()
                pending[:0] = [p for p in link_target.split("/") if p not in ("", ".")]
        return None


def _lexically_escapes(folder: str, target: str) -> bool:
    """True when ``target``, read from ``folder`` of the archive, climbs above its root on paper."""
    depth = len(folder.split("/")) if folder else 0
    for part in target.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


def _short(text: str, limit: int = 120) -> str:
    """Crafted names can be kilobytes long: keep one line readable."""
    return text if len(text) <= limit else f"{text[: limit // 2]}…{text[-limit // 2 :]}"
