"""Process faults on real child processes: paused (psutil shows 'stopped') and resumed, killed and restarted,
and every process the test did not declare refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator

import psutil
import pytest

from conftest import HANG_S
from pytest_aide.faults import FaultError, ProcessFaults

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


@pytest.fixture
def start() -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Starts sleeping children; every one still alive is killed afterwards."""
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(SLEEPER)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(HANG_S)


def test_pause_shows_stopped_and_resume_runs_again(start: Callable[[], subprocess.Popen[bytes]]) -> None:
    faults = ProcessFaults()
    worker = faults.declare(start())
    faults.pause(worker)
    assert worker.status() == psutil.STATUS_STOPPED
    faults.resume(worker.pid)  # a pid works as well as the process
    assert worker.status() != psutil.STATUS_STOPPED


def test_kill_returns_the_exit_status_and_restart_starts_a_declared_replacement(
    start: Callable[[], subprocess.Popen[bytes]],
) -> None:
    faults = ProcessFaults()
    first = start()
    faults.declare(first, start=start)
    assert faults.kill(first) == -signal.SIGKILL
    assert first.poll() == -signal.SIGKILL  # reaped: no zombie left behind
    replacement = faults.restart(first)
    assert replacement.pid != first.pid
    assert replacement.is_running()
    faults.pause(replacement)  # the replacement is declared in turn
    assert replacement.status() == psutil.STATUS_STOPPED
    assert faults.undo() == []
    assert replacement.status() != psutil.STATUS_STOPPED


def test_kill_with_sigterm_reaches_a_paused_process(start: Callable[[], subprocess.Popen[bytes]]) -> None:
    faults = ProcessFaults()
    proc = start()
    faults.declare(proc)
    faults.pause(proc)
    assert faults.kill(proc, signal.SIGTERM) == -signal.SIGTERM


def test_undo_resumes_paused_and_restarts_killed(start: Callable[[], subprocess.Popen[bytes]]) -> None:
    faults = ProcessFaults()
    paused, killed = start(), start()
    faults.declare(paused)
    faults.declare(killed, start=start)
    faults.pause(paused)
    faults.kill(killed)
    assert faults.undo() == []
    assert psutil.Process(paused.pid).status() != psutil.STATUS_STOPPED
    assert faults.undo() == []  # nothing left to undo


def test_undo_leaves_a_paused_process_that_exited_meanwhile(start: Callable[[], subprocess.Popen[bytes]]) -> None:
    faults = ProcessFaults()
    proc = start()
    faults.declare(proc)
    faults.pause(proc)
    proc.kill()  # not through the faults: e.g. the target's supervisor
    proc.wait(HANG_S)
    assert faults.undo() == []


def test_undo_reports_a_start_callable_that_fails_and_goes_on(start: Callable[[], subprocess.Popen[bytes]]) -> None:
    def broken() -> subprocess.Popen[bytes]:
        raise OSError("no such binary")

    faults = ProcessFaults()
    paused, killed = start(), start()
    faults.declare(killed, start=broken)
    faults.declare(paused)
    faults.kill(killed)
    faults.pause(paused)
    assert faults.undo() == [f"restart pid {killed.pid}: no such binary"]
    assert psutil.Process(paused.pid).status() != psutil.STATUS_STOPPED


def test_a_process_not_declared_is_refused(start: Callable[[], subprocess.Popen[bytes]]) -> None:
    faults = ProcessFaults()
    stranger = start()
    with pytest.raises(FaultError, match=rf"pid {stranger.pid} was not declared as started by this suite"):
        faults.pause(stranger)
    with pytest.raises(FaultError, match="not declared"):
        faults.kill(stranger.pid)
    assert stranger.poll() is None
    assert psutil.Process(stranger.pid).status() != psutil.STATUS_STOPPED


@pytest.mark.parametrize("who", ["this run", "its parent", "init"])
def test_this_run_its_parent_and_init_cannot_be_declared(who: str) -> None:
    pid = {"this run": os.getpid(), "its parent": os.getppid(), "init": 1}[who]
    with pytest.raises(FaultError, match=f"refusing to declare pid {pid}"):
        ProcessFaults().declare(pid)


def test_a_declared_process_that_exited_is_not_signalled(start: Callable[[], subprocess.Popen[bytes]]) -> None:
    faults = ProcessFaults()
    proc = start()
    faults.declare(proc)
    proc.kill()
    proc.wait(HANG_S)  # gone: its pid may be handed to another process from now on
    with pytest.raises(FaultError, match="no longer the process this suite started"):
        faults.pause(proc)


def test_restart_needs_a_kill_and_a_start_callable(start: Callable[[], subprocess.Popen[bytes]]) -> None:
    faults = ProcessFaults()
    proc = start()
    faults.declare(proc)
    with pytest.raises(FaultError, match="was not killed through these faults"):
        faults.restart(proc)
    faults.kill(proc)
    with pytest.raises(FaultError, match="has no start callable"):
        faults.restart(proc)
    assert faults.restart(proc, start=start).is_running()


def test_a_process_that_ignores_sigterm_is_reported_after_the_timeout() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True); time.sleep(120)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        proc.stdout.readline()  # the handler is in place
        faults = ProcessFaults(timeout=0.5)
        faults.declare(proc)
        with pytest.raises(FaultError, match=rf"pid {proc.pid} still runs 0.5 s after SIGTERM"):
            faults.kill(proc, signal.SIGTERM)
    finally:
        proc.kill()
        proc.wait(HANG_S)
        assert proc.stdout is not None
        proc.stdout.close()


def test_declaring_a_pid_that_does_not_exist_is_one_line() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(HANG_S)
    with pytest.raises(FaultError, match=f"cannot declare pid {proc.pid}: no such process"):
        ProcessFaults().declare(proc.pid)
