"""What a run does to the process's garbage collector (pytest_aide.collected): what exists once the run is
collected is frozen; a run of its own leaves it frozen for the interpreter's exit, a run inside another thaws
it at its end, and a later run thaws what an earlier one left."""

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

CHECKS = """
import gc

def check_sees_the_collected_run_frozen(aide_health):
    assert gc.get_freeze_count() > 1000
    aide_health.record("memory_percent", 10.0)
"""

TESTS = """
import gc

def test_sees_nothing_frozen():
    assert gc.get_freeze_count() == 0
"""

UNCONFIGURE_PROBE = """
import gc
from pathlib import Path

import pytest


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    Path(str(config.rootpath), "frozen-at-unconfigure").write_text(str(gc.get_freeze_count() > 0))
"""


@pytest.fixture
def thawed() -> Iterator[None]:
    """Each test starts and ends with nothing frozen, whatever it did."""
    gc.unfreeze()
    yield
    collected.thaw_leftover()
    gc.unfreeze()


EXIT_PROBE = """
import atexit
import gc
from pathlib import Path


def pytest_configure(config):
    path = Path(str(config.rootpath), "frozen-at-exit")
    atexit.register(lambda: path.write_text(str(gc.get_freeze_count() > 0)))
"""


@pytest.mark.parametrize("inside_a_test", [False, True])
def test_a_run_of_its_own_leaves_its_objects_frozen_for_the_exit(
    pytester: pytest.Pytester, inside_a_test: bool
) -> None:
    """The interpreter's exit skips frozen objects instead of collecting and freeing them one by one."""
    activate(pytester)
    pytester.makepyfile(check_gc=CHECKS)
    pytester.makeconftest(EXIT_PROBE)
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST" and not k.startswith("AIDE_")}
    if inside_a_test:
        env["PYTEST_CURRENT_TEST"] = "outer.py::test (call)"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "check_gc.py"],
        cwd=pytester.path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:]
    assert (pytester.path / "frozen-at-exit").read_text() == str(not inside_a_test)


def test_a_later_run_collects_what_an_earlier_run_left_frozen(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, thawed: None
) -> None:
    """A process that calls pytest.main() again and again: garbage frozen by one run goes with the next."""
    monkeypatch.delenv("PYTEST_CURRENT_TEST")  # as in a process of its own
    pytester.makepyfile(check_gc=CHECKS)
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


def test_release_inside_another_run_thaws_at_once_and_leftovers_thaw_at_the_next_start(thawed: None) -> None:
    assert collected.freeze()
    assert not collected.freeze()  # frozen before: not this run's to freeze (or thaw)
    collected.release(inside_another_run=True)
    assert gc.get_freeze_count() == 0
    collected.freeze()
    collected.release(inside_another_run=False)
    assert gc.get_freeze_count() > 0
    collected.thaw_leftover()
    assert gc.get_freeze_count() == 0


def test_an_aide_run_freezes_what_it_collected_and_thaws_it_at_the_end(pytester: pytest.Pytester, thawed: None) -> None:
    pytester.makepyfile(check_gc=CHECKS)
    pytester.makeconftest(UNCONFIGURE_PROBE)
    result = aide_run(pytester, "check_gc.py")
    result.assert_outcomes(passed=1)
    # still frozen while the run unconfigures (pytest's last gc.collect() comes then), thawed after it
    assert (pytester.path / "frozen-at-unconfigure").read_text() == "True"
    assert gc.get_freeze_count() == 0  # the in-process run gave this process its collector back


def test_a_process_frozen_before_the_run_stays_frozen(pytester: pytest.Pytester, thawed: None) -> None:
    pytester.makepyfile(check_gc=CHECKS)
    gc.freeze()
    result = aide_run(pytester, "check_gc.py")
    result.assert_outcomes(passed=1)
    assert gc.get_freeze_count() > 0  # not ours to thaw (a thaw empties the permanent generation)


def test_a_project_without_aide_is_left_alone(pytester: pytest.Pytester, thawed: None) -> None:
    pytester.makepyfile(test_gc=TESTS)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
