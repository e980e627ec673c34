"""What the garbage collector does with a run's long-lived objects.

Everything that exists once a run is configured (modules, settings) and once it is collected (items, fixture
definitions) lives until the run ends. :func:`freeze` moves it out of the collector's passes, which scanned
all of it again and again (0.07 s of a 1,000-check run), and it stays frozen to the end: the interpreter's exit
then skips it instead of collecting and freeing it object by object (another 0.1 s). A later run in the same
process (a script calling ``pytest.main()`` again) thaws and collects what an earlier one froze before it
freezes its own, so at most one run's objects are ever frozen. A run inside a test of another pytest run
(pytester in-process: another run is under way in the process; or its child process: ``PYTEST_CURRENT_TEST``
is set) freezes nothing: its process lives on, and thawing everything at its end made the outer run's
collections slower instead.
"""

from __future__ import annotations

import gc
import os

_frozen_by_a_run = False  # an aide run of this process froze objects (see thaw_leftover)
_runs_under_way = 0  # pytest runs of this process configured and not yet unconfigured, aide's or not


def run_started() -> None:
    """A pytest run of this process is configured (counted for every run, inert or not)."""
    global _runs_under_way
    _runs_under_way += 1


def run_ended() -> None:
    """A pytest run counted by :func:`run_started` is unconfigured."""
    global _runs_under_way
    _runs_under_way = max(0, _runs_under_way - 1)


def nested() -> bool:
    """Whether this run runs inside a test of another pytest run, in its process or as its child.

    In its process the count of runs under way tells: ``PYTEST_CURRENT_TEST`` does not, since an in-process
    run removes it from the environment when its own test ends, so the next run of the same outer test would
    see none and freeze (or thaw and collect) the whole outer process. An outer run that does not load this
    plugin (``-p no:aide``) is not counted: there only the variable tells."""
    return _runs_under_way > 1 or "PYTEST_CURRENT_TEST" in os.environ


def freeze(*, again: bool = False) -> bool:
    """Freeze everything that exists now. A run's first freeze (at configure) does nothing inside another run
    or when something else had frozen before (False); ``again`` (once collected) adds what the run made since."""
    global _frozen_by_a_run
    if not again and (nested() or gc.get_freeze_count() != 0):
        return False
    gc.freeze()
    _frozen_by_a_run = True
    return True


def thaw_leftover() -> None:
    """Thaw what an earlier run of this process froze, and collect what of it is garbage now (call when a run
    starts, before it freezes its own)."""
    global _frozen_by_a_run
    if _frozen_by_a_run and not nested():  # the outer run's objects are not an inner run's to thaw
        gc.unfreeze()
        gc.collect()
        _frozen_by_a_run = False
