"""Per-run state of the plugin, kept in ``config.stash`` (never on private attributes)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pytest

from pytest_aide.config import AideConfig
from pytest_aide.health import HealthRecorder
from pytest_aide.redact import Redactor
from pytest_aide.settings import ThresholdSettings
from pytest_aide.summary import RunSummary

if TYPE_CHECKING:
    from pytest_aide.probes.resources import CpuWindow


@dataclass
class AideState:
    """What every hook of a run needs: effective config, redactor and where this run's files go."""

    config: AideConfig
    redactor: Redactor
    run_id: str
    work_dir: Path  # the run's archive folder, or a scratch folder when archiving is off
    archive: Path | None  # None: archiving off
    started: datetime
    is_worker: bool = False
    summary: RunSummary | None = None
    checks_seen: int = 0
    routed_reports: bool = False  # we chose the HTML/JUnit paths (the user did not)
    target_checked: bool = False
    target_error: str | None = None
    origin: str = ""  # how the configuration file was chosen (discovery.Found.origin)
    suite_added: bool = False  # the shipped suite is collected in this run
    # (inventory parameter, case key) -> that item's own thresholds, filled while parametrizing
    instance_thresholds: dict[tuple[str, str], dict[str, ThresholdSettings]] = field(default_factory=dict)
    cpu_window: CpuWindow | None = None  # sampling since collection ended, when a selected check reads it
    own_cpu_seconds: Callable[[], float] | None = None  # the run's own CPU, which the window leaves out
    history_note: str = ""  # why the run could not be recorded in the history, when it could not


STATE_KEY = pytest.StashKey[AideState]()
RECORDER_KEY = pytest.StashKey[HealthRecorder]()
T = TypeVar("T")


def stashed(stash: pytest.Stash, key: pytest.StashKey[T]) -> T | None:
    """``stash.get(key, None)`` without its cost for a missing key: ``Stash.get`` raises and catches a KeyError
    there, and a check's hooks ask several times per check for keys most checks never have (no recorder
    without ``aide_health``, no fixture records, no run record before its setup)."""
    return stash[key] if key in stash else None  # noqa: SIM401 (the cost above)


CHECK_RECORDS_KEY = pytest.StashKey[dict[str, Callable[[], str | None]]]()
"""What a check's fixtures add to its call report: property name -> the property's JSON text, read when the
report is made (None: nothing to add). Only checks that use such a fixture (``aide_retry``,
``aide_experiment``) have it, so other checks pay one stash look-up."""


_LAST: list[object] = [None, None]  # the last active run's (config, state): every hook of every check asks


def get_state(config: pytest.Config) -> AideState | None:
    """The run's state, or None when aide is not active for ``config`` (a state, once set, never changes)."""
    if _LAST[0] is config:
        return _LAST[1]  # type: ignore[return-value]
    state = config.stash.get(STATE_KEY, None)
    if state is not None:
        _LAST[0], _LAST[1] = config, state
    return state


def forget_state(config: pytest.Config) -> None:
    """The run ended: let its config and state go."""
    if _LAST[0] is config:
        _LAST[0] = _LAST[1] = None


def keep_for_report(item: pytest.Item, name: str, produce: Callable[[], str | None]) -> None:
    """Have the check's call report carry the property ``name``, its value read from ``produce`` then."""
    item.stash.setdefault(CHECK_RECORDS_KEY, {})[name] = produce
