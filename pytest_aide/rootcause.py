"""One root cause per dependency that is down, and the checks it blocked (health model, no pytest).

A check that failed (CRITICAL or UNKNOWN) is a *witness* of a dependency's outage when one of its probes
could not reach it (``CheckResult.down``, filled from :mod:`pytest_aide.dependencies`). For each dependency
with a witness, the root cause is the dependency's own reachability check (``aide(reachability="db")``:
the shipped check_db_reachable, check_api_health, check_cache_server) when it failed too, else the first
witness. Every other failed check that met the outage, or that depends on that dependency (declared, or
through its fixtures), is blocked by it: UNKNOWN "blocked by <root cause>" (the status rule is in
:mod:`pytest_aide.results`). A root cause is never blocked itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_aide.status import Status

if TYPE_CHECKING:
    from pytest_aide.results import CheckResult

_FAILED = (Status.CRITICAL, Status.UNKNOWN)


@dataclass
class RootCause:
    """``dependency`` is down; ``root`` says why; ``blocked`` failed because of it."""

    dependency: str
    root: CheckResult
    blocked: list[CheckResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Builtin types, for ``health.json``'s ``root_causes``."""
        return {
            "dependency": self.dependency,
            "check": self.root.nodeid,
            "status": self.root.status.value if self.root.status else "SKIPPED",
            "message": self.root.message,
            "blocked": [check.nodeid for check in self.blocked],
        }


def root_causes(checks: Sequence[CheckResult]) -> list[RootCause]:
    """The root cause of each dependency some failed check could not reach, in the order they were met."""
    failed = [c for c in checks if c.status in _FAILED]
    down = list(dict.fromkeys(kind for check in failed for kind in check.down))
    causes = [RootCause(kind, _root(kind, failed)) for kind in down]
    roots = {id(cause.root) for cause in causes}
    taken: set[int] = set()
    for cause in causes:
        for check in failed:
            if id(check) not in roots and id(check) not in taken and _blocked_by(check, cause):
                cause.blocked.append(check)
                taken.add(id(check))
    return causes


def _blocked_by(check: CheckResult, cause: RootCause) -> bool:
    if check.blocked_by:  # decided before (the results are read again): the same answer
        return check.blocked_by == cause.root.nodeid
    return cause.dependency in check.down or cause.dependency in check.depends_on


def _root(kind: str, failed: list[CheckResult]) -> CheckResult:
    own = [c for c in failed if c.reachability == kind]
    return own[0] if own else next(c for c in failed if kind in c.down)
