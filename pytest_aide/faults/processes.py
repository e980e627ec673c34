"""Pause, resume, kill and restart processes the suite started, and only those.

A fault drill signals processes, so a wrong pid would stop or kill something unrelated: every process must be
declared first (:meth:`ProcessFaults.declare`), and it is recognised afterwards by pid *and* creation time, so a
pid the OS recycled in between is refused too. :meth:`ProcessFaults.undo` resumes what is still paused and
restarts what was killed with a start callable and not restarted since; the fixture calls it at teardown.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil

from pytest_aide.faults.errors import FaultError

ProcessLike = int | psutil.Process | subprocess.Popen[bytes] | subprocess.Popen[str]
Starter = Callable[[], ProcessLike]

_POLL_S = 0.02


@dataclass
class _Declared:
    process: psutil.Process
    popen: subprocess.Popen[bytes] | subprocess.Popen[str] | None
    start: Starter | None


class ProcessFaults:
    """Signals for declared processes: pause/resume (SIGSTOP/SIGCONT), kill and restart.

    Example::

        faults = ProcessFaults()
        worker = faults.declare(subprocess.Popen(["my-worker"]), start=lambda: subprocess.Popen(["my-worker"]))
        faults.pause(worker)      # status 'stopped' on return
        faults.resume(worker)
        faults.kill(worker)       # SIGKILL, waits for the exit, returns the exit code
        worker = faults.restart(worker)   # the replacement, declared in turn
        faults.undo()             # resumes what is paused, restarts what is killed
    """

    def __init__(self, *, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._declared: dict[int, _Declared] = {}
        self._paused: set[int] = set()
        self._killed: dict[int, _Declared] = {}

    def declare(self, proc: ProcessLike, *, start: Starter | None = None) -> psutil.Process:
        """Declare a process this suite started; ``start`` (optional) starts a replacement for :meth:`restart`."""
        popen = proc if isinstance(proc, subprocess.Popen) else None
        try:
            process = _as_process(proc)
        except psutil.Error as exc:
            raise FaultError(f"cannot declare pid {_pid(proc)}: {_reason(exc)}") from None
        if process.pid in (os.getpid(), os.getppid(), 1):
            raise FaultError(f"refusing to declare pid {process.pid}: it is this run, its parent or init")
        self._declared[process.pid] = _Declared(process, popen, start)
        return process

    def pause(self, proc: ProcessLike) -> None:
        """SIGSTOP; returns once the process shows as stopped (within ``timeout``)."""
        declared = self._own(proc)
        declared.process.suspend()
        self._paused.add(declared.process.pid)
        self._wait_for(declared.process, stopped=True)

    def resume(self, proc: ProcessLike) -> None:
        """SIGCONT; returns once the process no longer shows as stopped (within ``timeout``)."""
        declared = self._own(proc)
        declared.process.resume()
        self._paused.discard(declared.process.pid)
        self._wait_for(declared.process, stopped=False)

    def kill(self, proc: ProcessLike, sig: int = signal.SIGKILL) -> int | None:
        """Send ``sig`` (SIGKILL by default) and wait for the exit; returns its exit code (-N for signal N).

        The process is reaped when this run is its parent. Raises :class:`FaultError` if it outlives ``timeout``.
        """
        declared = self._own(proc)
        pid = declared.process.pid
        declared.process.send_signal(sig)
        if pid in self._paused and sig != signal.SIGKILL:
            declared.process.resume()  # a stopped process only acts on SIGKILL
        self._paused.discard(pid)
        try:
            code = declared.popen.wait(self.timeout) if declared.popen else declared.process.wait(self.timeout)
        except (subprocess.TimeoutExpired, psutil.TimeoutExpired):
            raise FaultError(f"pid {pid} still runs {self.timeout:g} s after {_signal_name(sig)}") from None
        del self._declared[pid]
        self._killed[pid] = declared
        return None if code is None else int(code)

    def restart(self, proc: ProcessLike, start: Starter | None = None) -> psutil.Process:
        """Start a replacement for a process killed through :meth:`kill`, with ``start`` or the declared one."""
        pid = _pid(proc)
        killed = self._killed.get(pid)
        if killed is None:
            raise FaultError(f"pid {pid} was not killed through these faults: nothing to restart")
        starter = start or killed.start
        if starter is None:
            raise FaultError(f"pid {pid} has no start callable: pass start= to declare() or restart()")
        del self._killed[pid]
        return self.declare(starter(), start=starter)

    def undo(self) -> list[str]:
        """Resume every paused process and restart every killed one that has a start callable.

        A paused process that exited meanwhile needs nothing. Tries every step; returns one line per step that
        failed (empty when everything was undone).
        """
        problems = []
        for pid in sorted(self._paused):
            if not self._declared[pid].process.is_running():
                self._paused.discard(pid)  # exited meanwhile: nothing left to resume
                continue
            try:
                self.resume(pid)
            except (FaultError, psutil.Error) as exc:
                problems.append(f"resume pid {pid}: {_reason(exc)}")
                self._paused.discard(pid)
        for pid, killed in list(self._killed.items()):
            if killed.start is None:
                continue
            try:
                self.restart(pid)
            except Exception as exc:  # the caller's start callable may raise anything; report it, go on
                problems.append(f"restart pid {pid}: {_reason(exc)}")
        return problems

    def _own(self, proc: ProcessLike) -> _Declared:
        pid = _pid(proc)
        declared = self._declared.get(pid)
        if declared is None:
            raise FaultError(f"pid {pid} was not declared as started by this suite: refusing to signal it")
        if not declared.process.is_running():  # psutil compares the creation time: a recycled pid is not ours
            raise FaultError(f"pid {pid} is no longer the process this suite started (it exited)")
        return declared

    def _wait_for(self, process: psutil.Process, *, stopped: bool) -> None:
        deadline = time.monotonic() + self.timeout
        while (process.status() == psutil.STATUS_STOPPED) != stopped:
            if time.monotonic() > deadline:
                state = "stopped" if stopped else "running again"
                raise FaultError(f"pid {process.pid} did not show as {state} within {self.timeout:g} s")
            time.sleep(_POLL_S)


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def _pid(proc: ProcessLike) -> int:
    return proc if isinstance(proc, int) else proc.pid


def _as_process(proc: ProcessLike) -> psutil.Process:
    return proc if isinstance(proc, psutil.Process) else psutil.Process(_pid(proc))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, psutil.NoSuchProcess):
        return "no such process"
    if isinstance(exc, psutil.AccessDenied):
        return "access denied"
    return str(exc) or type(exc).__name__
