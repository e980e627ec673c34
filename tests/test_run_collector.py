"""What a run does to the process's garbage collector: what exists once the run is collected is frozen (kept
out of full collections, which scanned it again and again), and thawed when the run ends."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from aide_testing import aide_run

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
    gc.unfreeze()


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
