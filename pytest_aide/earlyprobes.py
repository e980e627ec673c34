"""The xdist controller's endpoint-probe process, started as soon as the run is known to be distributed.

The probe process's boot (an interpreter importing requests and the feed's writer: about 0.1 s of a core) began
only once the controller had loaded its configuration, and then shared the two cores with the workers' boots:
its first probe went out last. Started before the configuration loads, the child boots beside it and waits for
its job (:class:`~pytest_aide.probes.feed_process.ProbeChild`); :class:`~pytest_aide.endpointfeed.ControllerPrep`
adopts it at ``pytest_xdist_setupnodes`` (the environment the workers start with), or releases it when the run has no
endpoint to probe; the run's cleanup reaps a released one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_aide.probes.feed_process import ProbeChild

PROBE_CHILD_KEY = pytest.StashKey["ProbeChild"]()


# pytest's options (dest) for runs that run no check: nothing to start the target or probe for
NO_CHECKS = ("collectonly", "setupplan", "showfixtures", "show_fixtures_per_test", "markers", "cacheshow")


def distributes(config: pytest.Config) -> bool:
    """Whether xdist will start workers to run checks, read from its options as xdist reads them (its
    controller plugin registers itself later in the configure step)."""
    if any(config.getoption(name, None) for name in NO_CHECKS):
        return False
    return config.getoption("dist", "no") != "no" and bool(config.getoption("tx", None))


def start(config: pytest.Config) -> None:
    """xdist controller of an aide run: start the probe process now, before the configuration loads."""
    if not distributes(config):
        return
    from pytest_aide.probes.feed_process import ProbeChild

    try:
        child = ProbeChild()
    except OSError:
        return  # no process to be had now: the controller tries again when it has the job
    config.stash[PROBE_CHILD_KEY] = child
    config.add_cleanup(child.reap)


def started(config: pytest.Config) -> ProbeChild | None:
    """The probe process :func:`start` started, if any."""
    return config.stash.get(PROBE_CHILD_KEY, None)
