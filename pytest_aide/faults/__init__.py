"""Fault injection for drills: a TCP proxy that degrades a dependency, signals for processes the suite started,
files made unavailable, and a chaos-experiment runner that checks degradation and recovery.

Importable without pytest (the fixtures in :mod:`pytest_aide.fault_fixtures` wrap these for checks). Every
fault is undone by its owner: :meth:`FaultProxy.close`, :meth:`ProcessFaults.undo`, :meth:`FileFaults.restore_all`,
and an :class:`Experiment` always rolls back what it injected.
"""

from __future__ import annotations

from pytest_aide.faults.errors import FaultError
from pytest_aide.faults.experiment import Experiment, ExperimentFailed, Experiments
from pytest_aide.faults.files import FileFaults, Unavailable
from pytest_aide.faults.processes import ProcessFaults
from pytest_aide.faults.proxy import MODES, FaultProxy

__all__ = [
    "MODES",
    "Experiment",
    "ExperimentFailed",
    "Experiments",
    "FaultError",
    "FaultProxy",
    "FileFaults",
    "ProcessFaults",
    "Unavailable",
]
