"""Where the shipped health suite lives, and which of its checks a configuration leaves out.

The suite is the package folder ``pytest_aide/suite``; its checks sit in ``suite/aide/`` so that their node
ids read ``aide/check_resources.py::check_disk[/]`` and never collide with an operator's own ``check_*.py``.
``[suite] exclude`` names shipped checks (``check_cpu``), files (``check_tls.py``) or both
(``check_resources.py::check_cpu``); to replace a check, exclude it and write your own.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Protocol, TypeVar

from pytest_aide.errors import ConfigError

SUITE_ROOT = Path(__file__).resolve().parent / "suite"
CHECKS_DIR = SUITE_ROOT / "aide"
_CHECK_DEF = re.compile(r"^def (check_\w+)\(", re.MULTILINE)


class _Item(Protocol):
    @property
    def path(self) -> Path: ...


ItemT = TypeVar("ItemT", bound=_Item)


@cache
def shipped_checks() -> dict[str, tuple[str, ...]]:
    """File name -> names of the check functions it defines."""
    return {
        path.name: tuple(_CHECK_DEF.findall(path.read_text(encoding="utf-8")))
        for path in sorted(CHECKS_DIR.glob("check_*.py"))
    }


def known_names() -> list[str]:
    """Every name ``[suite] exclude`` accepts."""
    names: list[str] = []
    for file, functions in shipped_checks().items():
        names.append(file)
        names.extend(functions)
        names.extend(f"{file}::{name}" for name in functions)
    return names


def validate_exclusions(exclude: Sequence[str], *, where: str) -> None:
    """Raise ConfigError for an entry that names no shipped check (with the nearest known name)."""
    known = set(known_names())
    for entry in exclude:
        if entry not in known:
            near = difflib.get_close_matches(entry, sorted(known), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else " (names are like 'check_cpu' or 'check_tls.py')"
            raise ConfigError(f"{where}: [suite] exclude: {entry!r} is not a shipped check{hint}")


def is_shipped(path: Path) -> bool:
    return path.resolve().is_relative_to(SUITE_ROOT)


def excluded(items: Iterable[ItemT], exclude: Sequence[str]) -> list[ItemT]:
    """The shipped items that ``exclude`` names (an item's function name is its name up to ``[``)."""
    wanted = set(exclude)
    found = []
    for item in items:
        if not is_shipped(item.path):
            continue
        file, name = item.path.name, str(getattr(item, "originalname", getattr(item, "name", ""))).split("[")[0]
        if wanted.intersection((file, name, f"{file}::{name}")):
            found.append(item)
    return found
