"""Which configuration file a run uses, if any: the one decision that switches pytest-aide on.

Resolution order, first found wins:

1. ``--aide-config=PATH`` (the ``aide`` command: ``--config PATH``);
2. the ``AIDE_CONFIG`` environment variable;
3. ``aide.toml``, or a ``pyproject.toml`` holding ``[tool.aide]``, in the folder the run was started from,
   then in each parent folder — up to and including the first that is the pytest rootdir, holds a pytest
   ini file or is a VCS root, and never the user's home folder or above it (unless the run starts there).

An explicit path that does not exist is an error; no file found means pytest-aide stays inert. Only the
standard library is imported here: this runs in every pytest session of a machine with the package installed.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from pytest_aide.errors import ConfigError

CONFIG_NAME = "aide.toml"
PYTEST_INI_FILES = ("pytest.ini", ".pytest.ini", "tox.ini", "setup.cfg", "pyproject.toml")
VCS_MARKERS = (".git", ".hg", ".svn")


@dataclass(frozen=True)
class Found:
    """A configuration file and how it was chosen (shown in the report header)."""

    path: Path
    origin: str  # "--aide-config", "AIDE_CONFIG" or "found from <folder>"


def find_config(
    start: Path,
    *,
    explicit: Path | None = None,
    explicit_origin: str = "--aide-config",
    environ: Mapping[str, str] | None = None,
    rootdir: Path | None = None,
    home: Path | None = None,
) -> Found | None:
    """The configuration to use for a run started in ``start``; None when there is none (inert)."""
    env = os.environ if environ is None else environ
    if explicit is not None:
        return Found(_must_exist(start, explicit, explicit_origin), explicit_origin)
    if env.get("AIDE_CONFIG"):
        return Found(_must_exist(start, Path(env["AIDE_CONFIG"]), "AIDE_CONFIG"), "AIDE_CONFIG")
    for folder in search_folders(start, rootdir=rootdir, home=home):
        found = config_in(folder)
        if found is not None:
            return Found(found, f"found from {start}")
    return None


def search_folders(start: Path, *, rootdir: Path | None = None, home: Path | None = None) -> Iterator[Path]:
    """``start`` and its parents, up to the first stop folder (rootdir, pytest ini, VCS root), below home."""
    start = start.resolve()
    home = home if home is not None else _home()
    home = home.resolve() if home is not None else None
    root = rootdir.resolve() if rootdir is not None else None
    folder = start
    while True:
        yield folder
        if folder == root or _is_stop_folder(folder) or folder.parent == folder:
            return
        parent = folder.parent
        if home is not None and (parent == home or home.is_relative_to(parent)):
            return  # an aide.toml in ~ (or above it) must not switch aide on in every project below
        folder = parent


def command_rootdir(start: Path) -> Path:
    """Where the ``aide`` command stops searching, as pytest would choose its rootdir: the first folder from
    ``start`` upwards holding a pytest ini file, else the first holding a ``setup.py``, else ``start`` itself."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if any((folder / name).is_file() for name in PYTEST_INI_FILES):
            return folder
    for folder in (start, *start.parents):
        if (folder / "setup.py").is_file():
            return folder
    return start


def config_in(folder: Path) -> Path | None:
    """``folder/aide.toml``, else ``folder/pyproject.toml`` if it has a ``[tool.aide]`` table."""
    candidate = folder / CONFIG_NAME
    if candidate.is_file():
        return candidate
    pyproject = folder / "pyproject.toml"
    if pyproject.is_file() and _has_aide_table(pyproject):
        return pyproject
    return None


def _has_aide_table(pyproject: Path) -> bool:
    try:
        text = pyproject.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if "aide" not in text:  # cheap pre-check: most pyproject files never mention it
        return False
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{pyproject}: invalid TOML: {exc}") from None
    tool = data.get("tool")
    return isinstance(tool, dict) and "aide" in tool


def _is_stop_folder(folder: Path) -> bool:
    if any((folder / name).exists() for name in VCS_MARKERS):
        return True
    return any((folder / name).is_file() for name in PYTEST_INI_FILES)


def _home() -> Path | None:
    try:
        return Path.home()
    except (RuntimeError, KeyError):  # no HOME and no passwd entry: nothing to stop at
        return None


def _must_exist(start: Path, path: Path, origin: str) -> Path:
    path = Path(os.path.expanduser(path))
    full = path if path.is_absolute() else start / path
    if full.is_dir() and (full / CONFIG_NAME).is_file():
        full = full / CONFIG_NAME
    if not full.is_file():
        remedy = "give the path of an existing aide.toml (or write one with `aide init`)"
        raise ConfigError(f"{origin}: configuration file not found: {full}: {remedy}")
    return full.resolve()
