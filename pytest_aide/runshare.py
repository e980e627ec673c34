"""Work done once per run and shared by every xdist worker through a JSON file in the run's folder."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from pytest_aide.errors import ProbeError
from pytest_aide.runs import write_text_atomic


def compute_once(path: Path, compute: Callable[[], dict[str, Any]], *, timeout: float) -> dict[str, Any]:
    """Return the JSON stored at ``path``, computing and storing it first if no process of this run has.

    The first worker to arrive computes while holding a lock; the others wait up to ``timeout`` seconds and
    read its result, so the work (e.g. probing 1,000 endpoints) happens once however many workers run.
    """
    try:
        with FileLock(str(path) + ".lock", timeout=timeout):
            if path.exists():
                loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
                return loaded
            result = compute()
            write_text_atomic(path, json.dumps(result))
            return result
    except Timeout:
        raise ProbeError(f"timed out after {timeout:g} s waiting for another worker to finish {path.name}") from None
