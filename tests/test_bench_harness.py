"""The benchmarks' shared runner (``bench/operator_env.py``): the exit status and output of a timed run, and a
hung run stopped at its limit (no speed bound here: those belong to bench/)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def operator_env(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("operator_env", BENCH / "operator_env.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_a_timed_run_keeps_its_status_and_output_and_a_hung_one_is_killed_at_its_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops = operator_env(monkeypatch)
    done = ops.run_timed([sys.executable, "-c", "print('hi'); raise SystemExit(3)"], tmp_path, env=dict(os.environ))
    assert (done.returncode, done.output.strip()) == (3, "hi")
    assert done.wall > 0
    assert done.cpu >= 0
    hung = ops.run_timed(
        [sys.executable, "-c", "import time; time.sleep(600)"], tmp_path, env=dict(os.environ), timeout=0.5
    )
    assert hung.returncode == -1  # killed by the timer, not waited for
