"""A check's call phase: its time limit and its own retries (wiring: pytest hooks call these).

**Retries.** A check that declares retries (``@pytest.mark.aide(retries=2)`` or ``[resilience.checks]
retries``) has its function called again through pytest's own ``pytest_pyfunc_call`` hook — the public way
``Item.runtest`` calls it — from a ``tryfirst`` implementation that steps aside when re-entered, so pytest
(and pytest-asyncio or anyio, if they own the call) still run the function itself. Only the body runs again:
fixtures are set up once per attempt of the protocol (pytest-rerunfailures, which re-runs the whole protocol
through pytest internals, is the tool for that), and the ``aide_health`` recorder is emptied before each try.
Backoff is :class:`pytest_aide.resilience.RetryPolicy`'s (tenacity). Each failed try's facts travel in the call
report's ``aide.tries`` property; the results decide what they amount to.

**Deadlines.** The body (all its tries) runs under the run's :class:`pytest_aide.deadline.Watchdog`: default
``[resilience.checks] timeout`` (60 s), the marker's ``timeout``, then a ``timeouts`` entry for the check.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from pytest_aide import deadline
from pytest_aide.errors import ProbeError
from pytest_aide.results import ATTEMPT, MAX_ATTEMPTS, TIMEOUT, TRIES
from pytest_aide.state import RECORDER_KEY, get_state

if TYPE_CHECKING:
    from pytest_aide.settings import CheckLimitsSettings

WATCHDOG_KEY = pytest.StashKey[deadline.Watchdog]()
_LIMITS_KEY = pytest.StashKey["Limits"]()
_COUNT_KEY = pytest.StashKey[int]()  # attempts of this item so far
_TRIES_KEY = pytest.StashKey[list[dict[str, Any]]]()
_INNER_KEY = pytest.StashKey[bool]()  # inside one of our tries: pytest_pyfunc_call steps aside


class BadLimit(ValueError):
    """An ``aide(retries=…)`` or ``aide(timeout=…)`` the plugin cannot use."""


@dataclass(frozen=True)
class Limits:
    """How often a check is tried and how long its body may run (None: no limit)."""

    retries: int
    retry_wait: float
    timeout: float | None
    max_attempts: int = 1  # (retries + 1) x (pytest-rerunfailures' reruns of the item + 1)


@dataclass(frozen=True)
class _RunDefaults:
    """What every check of the run shares, read once: pytest-rerunfailures' reruns, and whether a person is
    debugging (``--pdb``, ``--trace``: no time limit then, a person at the prompt is not a hung check)."""

    forced_reruns: int | None
    reruns: int
    debugging: bool
    rerunning: bool  # pytest-rerunfailures is active: a check's ``flaky`` marker may give it reruns


_DEFAULTS_KEY = pytest.StashKey[_RunDefaults]()


def limits_of(item: pytest.Item, kwargs: dict[str, Any], settings: CheckLimitsSettings) -> Limits:
    """The check's limits: marker over ``[resilience.checks]``, and a ``timeouts`` entry over both."""
    retries = _number(kwargs.get("retries", settings.retries), "retries", integer=True)
    timeout = _number(kwargs.get("timeout", settings.timeout), "timeout", integer=False)
    if settings.timeouts:
        file, name = item.path.name, str(getattr(item, "originalname", item.name)).split("[")[0]
        key = next((k for k in (f"{file}::{name}", name, file) if k in settings.timeouts), None)
        timeout = settings.timeouts[key] if key is not None else timeout
    defaults = _run_defaults(item.config)
    limit = None if defaults.debugging or not timeout else float(timeout)
    max_attempts = (int(retries) + 1) * (_reruns(item, defaults) + 1)
    limits = Limits(int(retries), settings.retry_wait, limit, max_attempts)
    item.stash[_LIMITS_KEY] = limits
    return limits


def _run_defaults(config: pytest.Config) -> _RunDefaults:
    found = config.stash.get(_DEFAULTS_KEY, None)
    if found is None:
        forced = config.getoption("force_reruns", None)
        debugging = bool(config.getoption("usepdb", False) or config.getoption("trace", False))
        rerunning = config.pluginmanager.hasplugin("rerunfailures")
        reruns = _count(_global_reruns(config)) if rerunning else 0
        found = _RunDefaults(_count(forced) if forced is not None else None, reruns, debugging, rerunning)
        config.stash[_DEFAULTS_KEY] = found
    return found


def _number(value: object, key: str, *, integer: bool) -> float:
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or value < 0:
        what = "a whole number >= 0" if integer else "seconds >= 0 (0: no limit)"
        raise BadLimit(f"aide({key}={value!r}) is not {what}")
    return float(value)


def _reruns(item: pytest.Item, defaults: _RunDefaults) -> int:
    """pytest-rerunfailures' reruns for the item, as it counts them: ``--force-reruns``, else the item's
    ``flaky`` marker, else ``--reruns`` or its ini key; 0 without the plugin."""
    if defaults.forced_reruns is not None or not defaults.rerunning:
        return defaults.forced_reruns or 0
    marker = item.get_closest_marker("flaky")
    if marker is None:
        return defaults.reruns
    return _count(marker.kwargs.get("reruns", marker.args[0] if marker.args else 1))


def _global_reruns(config: pytest.Config) -> object:
    value = config.getoption("reruns", None)
    if value is None:
        try:
            value = config.getini("reruns")
        except ValueError:  # no such ini key: pytest-rerunfailures is not installed
            return 0
    return value


def _count(value: object) -> int:
    """A count from whatever a marker, an option or an ini line holds (pytest-rerunfailures validates them)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return 0
    try:
        return max(0, int(value))
    except ValueError:
        return 0


def begin_attempt(item: pytest.Item) -> None:
    """A setup starts an attempt (pytest-rerunfailures sets a check up again for each of its reruns): the
    attempts so far are the earlier setups and the tries of their calls."""
    tries = item.stash.get(_TRIES_KEY, _NONE)
    item.stash[_COUNT_KEY] = item.stash.get(_COUNT_KEY, 0) + 1 + len(tries)
    if tries:
        item.stash[_TRIES_KEY] = []


_NONE: list[dict[str, Any]] = []  # never appended to: call_with_retries gives each call a list of its own


def phase_properties(item: pytest.Item, excinfo: pytest.ExceptionInfo[BaseException] | None) -> list[tuple[str, Any]]:
    """What a phase's report adds: attempt number and allowance, earlier tries, and a time limit reached."""
    limits = item.stash.get(_LIMITS_KEY, None)
    if excinfo is None and (limits is None or limits.max_attempts == 1):
        return []  # the common case: one attempt allowed, and it did not run out of time
    props: list[tuple[str, Any]] = []
    tries = item.stash.get(_TRIES_KEY, _NONE)
    if limits is not None and limits.max_attempts > 1:
        props += [(ATTEMPT, item.stash.get(_COUNT_KEY, 1) + len(tries)), (MAX_ATTEMPTS, limits.max_attempts)]
    if tries:
        props.append((TRIES, json.dumps(tries)))
    seconds = timed_out_after(item, excinfo)
    if seconds is not None:
        props.append((TIMEOUT, seconds))
    return props


def timed_out_after(item: pytest.Item, excinfo: pytest.ExceptionInfo[BaseException] | None) -> float | None:
    """The limit a failed phase ran into: our watchdog's or pytest-timeout's (read from its failure message)."""
    if excinfo is None:
        return None
    if isinstance(excinfo.value, deadline.CheckTimedOut):
        limits = item.stash.get(_LIMITS_KEY, None)
        return limits.timeout if limits is not None and limits.timeout else 0.0
    if isinstance(excinfo.value, pytest.fail.Exception):
        return deadline.pytest_timeout_seconds(str(excinfo.value))
    return None


def start_limit(item: pytest.Item) -> tuple[deadline.Watchdog, deadline.Arming] | None:
    """Start the check's time limit, if it has one; hand the result to :func:`end_limit` when its body ends."""
    limits = item.stash.get(_LIMITS_KEY, None)
    if limits is None or limits.timeout is None:
        return None
    watchdog = item.config.stash.get(WATCHDOG_KEY, None)
    if watchdog is None:
        watchdog = item.config.stash[WATCHDOG_KEY] = deadline.Watchdog()
    return watchdog, watchdog.arm(limits.timeout)


def end_limit(started: tuple[deadline.Watchdog, deadline.Arming] | None) -> None:
    if started is not None:
        started[0].disarm(started[1])


def close(config: pytest.Config) -> None:
    watchdog = config.stash.get(WATCHDOG_KEY, None)
    if watchdog is not None:
        watchdog.close()
        del config.stash[WATCHDOG_KEY]


class _TryFailed(Exception):
    """One try of the body failed (the original failure is ``__cause__``): what the retry policy retries."""


def call_with_retries(item: pytest.Item) -> bool | None:
    """``pytest_pyfunc_call`` for a check with retries: call the function until a try passes or none is left.

    Returns None (let pytest call it) for any other item and when re-entered from one of our own tries.
    """
    limits = item.stash.get(_LIMITS_KEY, None)
    if limits is None or limits.retries == 0 or item.stash.get(_INNER_KEY, False):
        return None
    from pytest_aide.resilience import RetryFailed, RetryPolicy

    item.stash[_TRIES_KEY] = []
    wait = limits.retry_wait  # then 2x, 4x...: the check's time limit, not the policy, bounds them all
    policy = RetryPolicy(
        attempts=limits.retries + 1, deadline=None, initial_wait=wait, max_wait=max(wait, 60), jitter=0
    )
    try:
        policy.run(lambda: _one_try(item), retry_on=_TryFailed)
    except RetryFailed as failed:
        cause = failed.__cause__
        last = cause.__cause__ if isinstance(cause, _TryFailed) and cause.__cause__ else failed
    else:
        return True
    item.stash[_TRIES_KEY].pop()  # the last try is the check's own result: its report tells it
    raise last  # outside the handler: the check's own failure, with no retry machinery chained to it


def _one_try(item: pytest.Item) -> None:
    from pytest_aide import checkitem  # a sibling wiring module that imports this one

    recorder = item.stash.get(RECORDER_KEY, None)
    if recorder is not None:  # each try records afresh
        recorder.measurements.clear()
        recorder.evidence.clear()
        recorder.notes.clear()
    started = time.perf_counter()
    item.stash[_INNER_KEY] = True
    try:
        item.ihook.pytest_pyfunc_call(pyfuncitem=item)
        checkitem.enforce_critical(item)
    except pytest.exit.Exception:
        raise
    except (Exception, pytest.fail.Exception) as exc:
        if timed_out_after(item, pytest.ExceptionInfo.from_exception(exc)) is not None:
            raise  # pytest-timeout ended the check: final
        item.stash[_TRIES_KEY].append(_try_facts(item, exc, time.perf_counter() - started))
        raise _TryFailed() from exc
    finally:
        item.stash[_INNER_KEY] = False


def _try_facts(item: pytest.Item, exc: BaseException, duration: float) -> dict[str, Any]:
    """A failed try as builtin types: the results judge it with the same rules as a failed call."""
    from pytest_aide import checkitem

    state = get_state(item.config)
    redact = state.redactor if state is not None else str
    recorder = item.stash.get(RECORDER_KEY, None)
    message = redact(checkitem.one_line(pytest.ExceptionInfo.from_exception(exc)))
    measured = recorder.message() if recorder is not None else ""
    if measured and measured != message:
        message = f"{message}; {redact(measured)}"
    return {
        "outcome": "failed",
        "recorded": recorder.status.value if recorder is not None else None,
        "unmeasured": isinstance(exc, ProbeError),
        "message": message,
        "measurements": {m.name: m.to_dict() for m in recorder.measurements} if recorder is not None else {},
        "duration": duration,
        "evidence": [{"title": redact(t), "text": redact(x)} for t, x in recorder.evidence] if recorder else [],
    }
