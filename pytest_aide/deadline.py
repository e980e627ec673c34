"""Deadlines for a check's own code: a watchdog thread that interrupts the thread running the check.

pytest-timeout's signal method owns ``SIGALRM`` (and ``setitimer``), so the watchdog never touches either. It is
one daemon thread per run that waits on a condition for the earliest deadline armed. When one passes, it
interrupts the check's thread with :class:`CheckTimedOut`:

- on the main thread (pytest's, and an xdist worker's), by sending that thread :data:`WAKE_SIGNAL` with
  ``signal.pthread_kill``; the handler installed for it raises :class:`CheckTimedOut`. A real signal also
  ends a blocking system call — ``time.sleep``, ``select``, a socket read, a lock, a ``subprocess`` wait — whose
  retry (PEP 475) runs the handler first;
- on any other thread, or when another handler already owns :data:`WAKE_SIGNAL`, with
  ``PyThreadState_SetAsyncExc``: raised at the thread's next bytecode, so a blocking call ends first.

What cannot be interrupted: a long computation inside one C call (a huge regex, compression of a large
buffer) ends before the exception can be raised; a check that catches ``BaseException`` can swallow it (the
watchdog fires once per arming). Probes carry their own socket and subprocess timeouts anyway; this deadline
bounds the check's code around them. ``pytest-timeout``'s thread method remains the backstop for a process
that is stuck for good (it ends the process).
"""

from __future__ import annotations

import re
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

IDLE_WAKE_S = 10.0  # the watching thread's sleep with nothing armed: shorter limits than this wake it at once
WAKE_SIGNAL = signal.SIGUSR2  # not SIGALRM (pytest-timeout's) nor SIGINT/SIGTERM (the operator's)
_PYTEST_TIMEOUT = re.compile(r"Timeout \(>([0-9.]+)s\) from pytest-timeout")


class CheckTimedOut(BaseException):
    """A check's own code ran past its time limit.

    A ``BaseException``, so that a check's ``except Exception`` does not swallow it; pytest reports it as
    the call's failure, and the results turn it into UNKNOWN "timed out after N s".
    """


def describe(seconds: float) -> str:
    """``timed out after 5 s``: the message of a check that ran out of time."""
    return f"timed out after {seconds:g} s"


def pytest_timeout_seconds(message: str) -> float | None:
    """The limit named by pytest-timeout's failure message ("Timeout (>1.0s) from pytest-timeout."), or None."""
    match = _PYTEST_TIMEOUT.search(message)
    return float(match.group(1)) if match else None


@dataclass(eq=False)
class Arming:
    """One armed deadline: which thread to interrupt, when, and whether it fired."""

    seconds: float
    thread_id: int
    due: float
    fired: bool = False
    done: bool = False
    _by_signal: bool = field(default=False, repr=False)


class Watchdog:
    """Interrupts a thread whose armed deadline passed. ``arm``/``disarm`` bracket a check's body.

    Example::

        watchdog = Watchdog()
        arming = watchdog.arm(5.0)
        try:
            body()  # raises CheckTimedOut after 5 s
        finally:
            watchdog.disarm(arming)
        watchdog.close()
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()  # taken directly on the per-check path: a Condition's ``with`` is Python code
        self._cond = threading.Condition(self._lock)
        self._armed: list[Arming] = []
        self._thread: threading.Thread | None = None
        self._closed = False
        self._wakes_at: float | None = None  # when the watching thread wakes next (None: only when told)
        self._previous: Any = None  # the handler WAKE_SIGNAL had before ours; None: ours is not installed
        self._main_ident = threading.main_thread().ident
        self.wakeups = 0  # how often the watching thread woke: once per deadline, not once per check

    def arm(self, seconds: float) -> Arming:
        """Start the deadline of the calling thread's check: ``seconds`` from now."""
        ident = threading.get_ident()
        arming = Arming(seconds, ident, self._clock() + seconds)
        if ident == self._main_ident:
            arming._by_signal = self._previous is not None or self._install_handler()
        with self._lock:
            if len(self._armed) >= 64:  # disarmed ones wait for the watching thread; drop them now and then
                self._armed = [a for a in self._armed if not a.done]
            self._armed.append(arming)
            if self._thread is None:
                self._start()
            if self._wakes_at is None or arming.due < self._wakes_at:  # else it wakes in time anyway
                self._cond.notify()
        return arming

    def disarm(self, arming: Arming) -> None:
        """End the deadline; a pending interruption that did not reach the check yet is withdrawn."""
        arming.done = True  # first: from here on the signal handler raises nothing for it
        with self._lock:
            if arming.fired:
                if arming in self._armed:
                    self._armed.remove(arming)
                if not arming._by_signal:
                    _set_async_exc(arming.thread_id, None)
            # else: the watching thread drops it (done) the next time it wakes, without a list search here

    def close(self) -> None:
        """Stop the thread and give the signal back to its previous handler (main thread only)."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._previous is not None and threading.current_thread() is threading.main_thread():
            signal.signal(WAKE_SIGNAL, self._previous)
            self._previous = None

    def _install_handler(self) -> bool:
        if self._previous is not None:
            return True
        current = signal.getsignal(WAKE_SIGNAL)
        if current not in (signal.SIG_DFL, None):  # someone else's: leave it, interrupt by async exception
            return False
        self._previous = current
        signal.signal(WAKE_SIGNAL, self._on_signal)
        return True

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        ident = threading.get_ident()
        with self._cond:
            due = next((a for a in self._armed if a.fired and a.thread_id == ident and not a.done), None)
            if due is not None:
                due.done = True  # raise once
        if due is not None:
            raise CheckTimedOut(describe(due.seconds) + _where(frame))

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="aide-watchdog", daemon=True)
            self._thread.start()

    def _watch(self) -> None:
        """Sleep until the soonest deadline; a disarmed one is simply not found when it wakes (no wake-up per
        check: arming a later deadline than the one it waits for does not wake it).

        With nothing armed it still sleeps to a set time (:data:`IDLE_WAKE_S` ahead), not until told: a quick
        check is often over before this thread runs, and waking it for every next check's arming cost a
        thread switch per check (thousands in a run of trivial checks, each taking the GIL from the checks).
        """
        with self._cond:
            while not self._closed:
                self.wakeups += 1
                self._armed = [a for a in self._armed if not a.done]  # a disarm an interruption cut short
                waiting = [a for a in self._armed if not a.fired]
                if not waiting:
                    self._wakes_at = self._clock() + IDLE_WAKE_S  # an arming due before then wakes it
                    self._cond.wait(IDLE_WAKE_S)
                    continue
                soonest = min(waiting, key=lambda a: a.due)
                left = soonest.due - self._clock()
                if left > 0:
                    self._wakes_at = soonest.due
                    self._cond.wait(left)
                    continue
                soonest.fired = True
                self._interrupt(soonest)

    @staticmethod
    def _interrupt(arming: Arming) -> None:
        """Called with the lock held, so ``disarm`` cannot slip between the decision and the delivery."""
        if arming._by_signal:
            signal.pthread_kill(arming.thread_id, WAKE_SIGNAL)
        else:
            _set_async_exc(arming.thread_id, CheckTimedOut)


def _where(frame: FrameType | None) -> str:
    """`` (stopped at check_x.py:12 in check_x)``: the line the check was running when its time ran out."""
    if frame is None:
        return ""
    return f" (stopped at {Path(frame.f_code.co_filename).name}:{frame.f_lineno} in {frame.f_code.co_name})"


def _set_async_exc(thread_id: int, exc: type[BaseException] | None) -> None:
    """CPython's ``PyThreadState_SetAsyncExc``: raise ``exc`` in that thread at its next bytecode (None: withdraw)."""
    import ctypes  # only on this path: importing it costs an aide run ~7 ms

    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc else None)
