"""What the garbage collector does with a run's long-lived objects.

Everything that exists once a run is configured (modules, settings) and once it is collected (items, fixture
definitions) lives until the run ends. :func:`freeze` moves it out of the collector's passes, which scanned
all of it again and again (0.07 s of a 1,000-check run). At the end, a run in a process of its own leaves it
frozen: the interpreter's exit then skips it instead of collecting and freeing it object by object (another
0.1 s). A run inside another one (pytester; ``PYTEST_CURRENT_TEST`` is set while the outer run's test runs)
thaws it at its cleanup, and a later run in the same process thaws (and collects) what an earlier one left
frozen before it freezes its own, so a process that runs pytest again and again keeps at most one run's objects frozen.
"""

from __future__ import annotations

import gc
import os

_left_frozen = False  # a finished run of this process left its objects frozen (see release)


def nested() -> bool:
    """Whether this run runs inside a test of another pytest run (in its process or as its child)."""
    return "PYTEST_CURRENT_TEST" in os.environ


def thaw_leftover() -> None:
    """Thaw what an earlier run of this process left frozen, and collect what of it is garbage now (call when
    a run starts, before it freezes its own)."""
    global _left_frozen
    if _left_frozen:
        gc.unfreeze()
        gc.collect()
        _left_frozen = False


def freeze(*, again: bool = False) -> bool:
    """Freeze everything that exists now. A run's first freeze (at configure: its modules and configuration)
    does nothing when something else had frozen before (False); ``again`` (once collected) adds what the run
    made since."""
    if not again and gc.get_freeze_count() != 0:
        return False
    gc.freeze()
    return True


def release(*, inside_another_run: bool) -> None:
    """End of a run that froze: thaw now inside another run, else leave it frozen for the interpreter's exit."""
    global _left_frozen
    if inside_another_run:
        gc.unfreeze()
    else:
        _left_frozen = True
