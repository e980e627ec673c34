"""The target's processes, found by name, listening port or pidfile: running, memory, threads, open files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_aide.probes.resources import find_processes, port_listeners

if TYPE_CHECKING:  # annotations only: nothing more is imported when the suite is collected
    from pytest_aide.health import HealthRecorder
    from pytest_aide.probes.resources import ProcessInfo

pytestmark = [pytest.mark.daily, pytest.mark.weekly, pytest.mark.monthly, pytest.mark.aide(component="processes")]


def _record(processes: list[ProcessInfo], health: HealthRecorder, what: str) -> None:
    assert processes, f"no process {what} is running: start it (or check why it stopped in its log)"
    health.record("processes", float(len(processes)), "processes")
    rss, threads, files = (_total([getattr(p, f) for p in processes]) for f in ("rss_bytes", "threads", "open_files"))
    if rss is not None:
        health.record("rss_mb", rss / 2**20, "MB")
    if threads is not None:
        health.record("threads", threads, "threads")
    if files is not None:
        health.record("open_files", files, "files")


def _total(values: list[int | None]) -> float | None:
    """The sum, or None when a process hides the figure (another user's, seen without root): never a 0."""
    if any(v is None for v in values):
        return None
    return float(sum(v or 0 for v in values))


def check_process_running(aide_process_name: str, aide_health: HealthRecorder) -> None:
    _record(find_processes(name=aide_process_name), aide_health, f"named {aide_process_name}")


def check_port_listening(aide_port: int, aide_health: HealthRecorder) -> None:
    found = port_listeners(aide_port)
    assert found.sockets, f"nothing listens on TCP port {aide_port}: start the service (or check why it stopped)"
    if found.unseen:  # another user's process seen without root: the port is served, its owner not described
        aide_health.record("unseen_listeners", float(found.unseen), "sockets")
    if found.processes:
        _record(found.processes, aide_health, f"listens on port {aide_port}")


def check_pidfile_process(aide_pidfile: Path, aide_health: HealthRecorder) -> None:
    assert aide_pidfile.is_file(), (
        f"pidfile {aide_pidfile} is missing: the process is not running (or writes it elsewhere)"
    )
    _record(find_processes(pidfile=aide_pidfile), aide_health, f"of pidfile {aide_pidfile}")
