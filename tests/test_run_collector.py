"""What a run does to the process's garbage collector (pytest_aide.collected): a run of its own freezes what
exists once it is configured and collected and leaves it frozen for the interpreter's exit; a run inside a
test of another run freezes nothing; a later run in the same process thaws and collects what an earlier one
froze."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import weakref
from collections.abc import Iterator

import pytest
from aide_testing import activate, aide_run

from pytest_aide import collected

FROZEN = """
import gc

def check_sees_the_run_frozen(aide_health):
    assert gc.get_freeze_count() > 1000
    aide_health.record("memory_percent", 10.0)
"""

NOT_FROZEN = """
import gc

def check_sees_nothing_frozen(aide_health):
    assert gc.get_freeze_count() == 0
    aide_health.record("memory_percent", 10.0)
"""

EXIT_PROBE = """
import atexit
import gc
from pathlib import Path

import pytest


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    # still frozen while the run unconfigures: pytest's last gc.collect() (unraisable exceptions) comes then
    Path(str(config.rootpath), "frozen-at-unconfigure").write_text(str(gc.get_freeze_count() > 0))
    path = Path(str(config.rootpath), "frozen-at-exit")
    atexit.register(lambda: path.write_text(str(gc.get_freeze_count() > 0)))
"""


@pytest.fixture
def thawed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with nothing frozen and no earlier run's freeze on record, whatever it did; afterwards
    the process is frozen again as the outer run left it (the repository's aide.toml makes it an aide run, which
    froze once configured and collected), so the tests after it do not scan everything again."""
    frozen_before = gc.get_freeze_count() > 0
    gc.unfreeze()
    monkeypatch.setattr(collected, "_frozen_by_a_run", False)
    yield
    gc.unfreeze()
    if frozen_before:
        gc.freeze()


@pytest.mark.parametrize("inside_a_test", [False, True])
def test_a_run_of_its_own_freezes_its_objects_up_to_the_exit(pytester: pytest.Pytester, inside_a_test: bool) -> None:
    """The collector's passes and the interpreter's exit skip them; a run inside a test freezes nothing."""
    activate(pytester)
    pytester.makepyfile(check_gc=NOT_FROZEN if inside_a_test else FROZEN)
    pytester.makeconftest(EXIT_PROBE)
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST" and not k.startswith("AIDE_")}
    if inside_a_test:
        env["PYTEST_CURRENT_TEST"] = "outer.py::test (call)"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "check_gc.py"],
        cwd=pytester.path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:]
    assert (pytester.path / "frozen-at-unconfigure").read_text() == str(not inside_a_test)
    assert (pytester.path / "frozen-at-exit").read_text() == str(not inside_a_test)


def test_an_in_process_run_inside_a_test_leaves_the_collector_alone(pytester: pytest.Pytester, thawed: None) -> None:
    pytester.makepyfile(check_gc=NOT_FROZEN)
    aide_run(pytester, "check_gc.py").assert_outcomes(passed=1)
    assert gc.get_freeze_count() == 0


def test_two_in_process_runs_in_one_test_leave_the_collector_alone(pytester: pytest.Pytester, thawed: None) -> None:
    """The first run removes PYTEST_CURRENT_TEST when its test ends; the second is still inside the outer test."""
    pytester.makepyfile(check_gc=NOT_FROZEN)
    aide_run(pytester, "check_gc.py").assert_outcomes(passed=1)
    aide_run(pytester, "check_gc.py").assert_outcomes(passed=1)
    assert gc.get_freeze_count() == 0


def as_in_a_process_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """No outer run under way, no outer test (call it in the test's body: the call phase sets the variable)."""
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    monkeypatch.setattr(collected, "_runs_under_way", 0)


def test_a_later_run_collects_what_an_earlier_run_left_frozen(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, thawed: None
) -> None:
    """A process that calls pytest.main() again and again: garbage frozen by one run goes with the next."""
    as_in_a_process_of_its_own(monkeypatch)
    pytester.makepyfile(check_gc=FROZEN)
    cycle = Cycle()
    cycle.me = cycle
    gone = weakref.ref(cycle)
    aide_run(pytester, "check_gc.py").assert_outcomes(passed=1)
    assert gc.get_freeze_count() > 0  # left for the exit
    del cycle
    gc.collect()
    assert gone() is not None  # frozen: out of the collector's reach
    aide_run(pytester, "check_gc.py").assert_outcomes(passed=1)
    assert gone() is None


class Cycle:
    me: object


def test_a_process_frozen_before_the_run_is_not_the_runs_to_thaw(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, thawed: None
) -> None:
    as_in_a_process_of_its_own(monkeypatch)
    gc.freeze()  # a framework that froze its own objects
    pytester.makepyfile(check_gc=FROZEN)
    aide_run(pytester, "check_gc.py").assert_outcomes(passed=1)
    collected.thaw_leftover()  # what a later run does first: nothing, the run froze nothing
    assert gc.get_freeze_count() > 0


def test_a_project_without_aide_is_left_alone(pytester: pytest.Pytester, thawed: None) -> None:
    pytester.makepyfile(test_gc="import gc\n\ndef test_sees_nothing_frozen():\n    assert gc.get_freeze_count() == 0\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_a_run_is_counted_out_even_when_an_unconfigure_hook_raises(pytester: pytest.Pytester, thawed: None) -> None:
    """Otherwise every later run of the process would take itself for nested and never freeze or thaw."""
    pytester.makepyfile(check_gc=NOT_FROZEN)
    pytester.makeconftest("def pytest_unconfigure(config):\n    raise RuntimeError('unconfigure broke')\n")
    under_way = collected._runs_under_way
    result = aide_run(pytester, "check_gc.py")
    assert "unconfigure broke" in result.stdout.str() + result.stderr.str()
    assert collected._runs_under_way == under_way
