"""A check's call phase: its time limit and its own retries (wiring: pytest hooks call these).

**Retries.** A check that declares retries (``@pytest.mark.aide(retries=2)`` or ``[resilience.checks]
retries``) has its function called again through pytest's own ``pytest_pyfunc_call`` hook — the public way
``Item.runtest`` calls it — from a ``tryfirst`` wrapper of that hook that steps aside when re-entered, so pytest
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
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from pytest_aide import deadline
from pytest_aide.dependencies import Outage
from pytest_aide.errors import ProbeError
from pytest_aide.results import ATTEMPT, MAX_ATTEMPTS, TIMEOUT, TRIES
from pytest_aide.state import RECORDER_KEY, get_state, stashed
from pytest_aide.status import Status

if TYPE_CHECKING:
    from pytest_aide.settings import CheckLimitsSettings

WATCHDOG_KEY = pytest.StashKey[deadline.Watchdog]()


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


@dataclass(slots=True, eq=False)
class CheckRun:
    """What one check's phases share, under one key of its stash (every hook of every check reads it)."""

    limits: Limits | None = None  # set at its setup
    count: int = 0  # attempts so far: earlier setups and the tries of their calls
    tries: list[dict[str, Any]] = field(default_factory=list)  # the failed tries of the current call
    inner: bool = False  # inside one of our own tries: the pyfunc wrapper steps aside
    place: tuple[str, float] | None = None  # the check's component and weight, read at setup
    outages: list[Outage] = field(default_factory=list)  # the dependencies it could not reach (wiring fills it)
    benchmark: Any = None  # pytest-benchmark's fixture, when the check uses it: its statistics are judged


RUN_KEY = pytest.StashKey[CheckRun]()


def check_run(item: pytest.Item) -> CheckRun:
    """The check's record, made at its first setup (kept across pytest-rerunfailures' attempts)."""
    run = stashed(item.stash, RUN_KEY)
    if run is None:
        run = item.stash[RUN_KEY] = CheckRun()
    return run


def limits_of(item: pytest.Item, kwargs: dict[str, Any], settings: CheckLimitsSettings) -> Limits:
    """The check's limits: marker over ``[resilience.checks]``, and a ``timeouts`` entry over both."""
    own = "retries" in kwargs or "timeout" in kwargs or bool(settings.timeouts)
    common = None if own else item.config.stash.get(_COMMON_KEY, None)
    if common is not None and common[0] is settings:
        check_run(item).limits = common[1]  # most checks: the run's defaults, worked out once
        return common[1]
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
    check_run(item).limits = limits
    if not own and (defaults.forced_reruns is not None or not defaults.rerunning):  # the same for every such check
        item.config.stash[_COMMON_KEY] = (settings, limits)
    return limits


_COMMON_KEY = pytest.StashKey[tuple["CheckLimitsSettings", Limits]]()


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


def begin_attempt(run: CheckRun) -> None:
    """A setup starts an attempt (pytest-rerunfailures sets a check up again for each of its reruns): the
    attempts so far are the earlier setups and the tries of their calls."""
    run.count += 1 + len(run.tries)
    if run.tries:
        run.tries = []


def phase_properties(run: CheckRun, excinfo: pytest.ExceptionInfo[BaseException] | None) -> list[tuple[str, Any]]:
    """What a phase's report adds: attempt number and allowance, earlier tries, and a time limit reached."""
    limits = run.limits
    if excinfo is None and (limits is None or limits.max_attempts == 1):
        return []  # the common case: one attempt allowed, and it did not run out of time
    props: list[tuple[str, Any]] = []
    if limits is not None and limits.max_attempts > 1:
        props += [(ATTEMPT, max(run.count, 1) + len(run.tries)), (MAX_ATTEMPTS, limits.max_attempts)]
    if run.tries:
        props.append((TRIES, json.dumps(run.tries)))
    seconds = timed_out_after(run, excinfo)
    if seconds is not None:
        props.append((TIMEOUT, seconds))
    return props


def timed_out_after(run: CheckRun, excinfo: pytest.ExceptionInfo[BaseException] | None) -> float | None:
    """The limit a failed phase ran into: our watchdog's or pytest-timeout's (read from its failure message)."""
    if excinfo is None:
        return None
    if isinstance(excinfo.value, deadline.CheckTimedOut):
        limits = run.limits
        return limits.timeout if limits is not None and limits.timeout else 0.0
    if isinstance(excinfo.value, pytest.fail.Exception):
        return deadline.pytest_timeout_seconds(str(excinfo.value))
    return None


def _arm(item: pytest.Item, seconds: float) -> tuple[deadline.Watchdog, deadline.Arming]:
    """Start the check's time limit (the run's one watchdog, started by the first check that has a limit)."""
    watchdog = item.config.stash.get(WATCHDOG_KEY, None)
    if watchdog is None:
        watchdog = item.config.stash[WATCHDOG_KEY] = deadline.Watchdog()
    return watchdog, watchdog.arm(seconds)


def close(config: pytest.Config) -> None:
    watchdog = config.stash.get(WATCHDOG_KEY, None)
    if watchdog is not None:
        watchdog.close()
        del config.stash[WATCHDOG_KEY]


class _TryFailed(Exception):
    """One try of the body failed (the original failure is ``__cause__``): what the retry policy retries."""


def run_body(item: pytest.Item) -> Generator[None, Any, Any]:
    """Body of the ``pytest_pyfunc_call`` wrapper: the check's function (called by pytest, or by pytest-asyncio
    or anyio if they own the call) under its time limit, failed when a recorded measurement is critical, and
    called again after a failed try while the check has retries left.

    One wrapper does all three, as a single hook implementation costs less per check than three. Not a check
    (no limits were set at its setup), or re-entered from one of our own tries: pytest's call, untouched.
    """
    run = stashed(item.stash, RUN_KEY)
    limits = run.limits if run is not None else None
    if run is None or limits is None or run.inner:
        return (yield)
    armed = _arm(item, limits.timeout) if limits.timeout is not None else None
    try:
        if not limits.retries:
            result = yield
            enforce_critical(item, run)
            return result
        return (yield from _tried(item, run, limits))
    finally:
        if armed is not None:
            armed[0].disarm(armed[1])


def _tried(item: pytest.Item, run: CheckRun, limits: Limits) -> Generator[None, Any, Any]:
    """The first try is pytest's own call (the wrapper's ``yield``); the others are :func:`_one_try`'s."""
    run.tries = []
    started = time.perf_counter()
    try:
        result = yield
        enforce_critical(item, run)
        return result
    except pytest.exit.Exception:
        raise
    except (Exception, pytest.fail.Exception) as exc:
        _keep_failed_try(item, run, exc, started)
        first: BaseException = exc
    return _retry(item, run, limits, first)


def _keep_failed_try(item: pytest.Item, run: CheckRun, exc: BaseException, started: float) -> None:
    """Keep a failed try's facts for the report; one that pytest-timeout ended is final (raised again)."""
    if timed_out_after(run, pytest.ExceptionInfo.from_exception(exc)) is not None:
        raise exc
    run.tries.append(_try_facts(item, exc, time.perf_counter() - started))


def _retry(item: pytest.Item, run: CheckRun, limits: Limits, first: BaseException) -> bool:
    """Call the function again until a try passes or none is left; the first, failed, try already ran."""
    from pytest_aide.resilience import RetryFailed, RetryPolicy

    wait = limits.retry_wait  # then 2x, 4x...: the check's time limit, not the policy, bounds them all
    policy = RetryPolicy(
        attempts=limits.retries + 1, deadline=None, initial_wait=wait, max_wait=max(wait, 60), jitter=0
    )
    pending = [first]

    def attempt() -> None:
        if pending:  # the policy's first attempt is the try pytest made: its failure, as it was
            raise _TryFailed() from pending.pop()
        _one_try(item, run)

    try:
        policy.run(attempt, retry_on=_TryFailed)
    except RetryFailed as failed:
        cause = failed.__cause__
        last = cause.__cause__ if isinstance(cause, _TryFailed) and cause.__cause__ else failed
    else:
        return True
    run.tries.pop()  # the last try is the check's own result: its report tells it
    raise last  # outside the handler: the check's own failure, with no retry machinery chained to it


class CheckCritical(AssertionError):
    """Raised after a check's body when one of its measurements is critical."""


def enforce_critical(item: pytest.Item, run: CheckRun | None = None) -> None:
    """Fail the check, after its body ran, if a recorded measurement is critical (its benchmark's too)."""
    if run is not None and run.benchmark is not None:
        from pytest_aide import benchmark_hooks  # only for a check that used pytest-benchmark's fixture

        benchmark_hooks.judge(item, run.benchmark)
    recorder = stashed(item.stash, RECORDER_KEY)
    if recorder is not None and recorder.status is Status.CRITICAL:
        raise CheckCritical(recorder.message())


def _one_try(item: pytest.Item, run: CheckRun) -> None:
    recorder = stashed(item.stash, RECORDER_KEY)
    if recorder is not None:  # each try records afresh
        recorder.measurements.clear()
        recorder.evidence.clear()
        recorder.notes.clear()
    started = time.perf_counter()
    run.inner = True
    try:
        item.ihook.pytest_pyfunc_call(pyfuncitem=item)
        enforce_critical(item, run)
    except pytest.exit.Exception:
        raise
    except (Exception, pytest.fail.Exception) as exc:
        _keep_failed_try(item, run, exc, started)
        raise _TryFailed() from exc
    finally:
        run.inner = False


def _try_facts(item: pytest.Item, exc: BaseException, duration: float) -> dict[str, Any]:
    """A failed try as builtin types: the results judge it with the same rules as a failed call."""
    from pytest_aide import checkitem

    state = get_state(item.config)
    redact = state.redactor if state is not None else str
    recorder = stashed(item.stash, RECORDER_KEY)
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
