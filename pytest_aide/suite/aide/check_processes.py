"""The target's processes, found by name, listening port or pidfile: running, memory, threads, open files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_aide.probes.resources import find_processes

if TYPE_CHECKING:  # annotations only: nothing more is imported when the suite is collected
    from pytest_aide.health import HealthRecorder
    from pytest_aide.probes.resources import ProcessInfo

pytestmark = [pytest.mark.daily, pytest.mark.weekly, pytest.mark.monthly, pytest.mark.aide(component="processes")]


def _record(processes: list[ProcessInfo], health: HealthRecorder, what: str) -> None:
    assert processes, f"no process {what} is running: start it (or check why it stopped in its log)"
    health.record("processes", float(len(processes)), "processes")
    health.record("rss_mb", sum(p.rss_bytes or 0 for p in processes) / 2**20, "MB")
    health.record("threads", float(sum(p.threads or 0 for p in processes)), "threads")
    health.record("open_files", float(sum(p.open_files or 0 for p in processes)), "files")


def check_process_running(aide_process_name: str, aide_health: HealthRecorder) -> None:
    _record(find_processes(name=aide_process_name), aide_health, f"named {aide_process_name}")


def check_port_listening(aide_port: int, aide_health: HealthRecorder) -> None:
    _record(find_processes(port=aide_port), aide_health, f"listens on port {aide_port}")


def check_pidfile_process(aide_pidfile: Path, aide_health: HealthRecorder) -> None:
    assert aide_pidfile.is_file(), (
        f"pidfile {aide_pidfile} is missing: the process is not running (or writes it elsewhere)"
    )
    _record(find_processes(pidfile=aide_pidfile), aide_health, f"of pidfile {aide_pidfile}")
