"""Log files: present, size and age, recent ERROR lines and rate, new errors since the last run, rotation."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_aide.probes.logs import LogFile, error_lines, error_rate, rotation_due
from pytest_aide.probes.logstate import read_new_lines

if TYPE_CHECKING:  # annotations only: nothing more is imported when the suite is collected
    from pytest_aide.config import AideConfig
    from pytest_aide.health import HealthRecorder

# Every check here runs weekly and monthly; the daily ones say so (a module mark cannot be taken back).
pytestmark = [pytest.mark.weekly, pytest.mark.monthly, pytest.mark.aide(component="logs")]


@pytest.mark.daily
def check_log_file(aide_log_file: Path, aide_health: HealthRecorder) -> None:
    """The log exists and is readable; its size stays under the rotation limit."""
    stat = LogFile(aide_log_file).stat()
    aide_health.record("log_size_mb", stat.size_mb)
    aide_health.record("log_age_minutes", stat.last_write_age_s / 60)


@pytest.mark.daily
def check_log_errors(aide_log_file: Path, aide_config: AideConfig, aide_health: HealthRecorder) -> None:
    """ERROR lines among the last N lines (the manual: at most 10 in the last 100) and in the last hour."""
    settings = aide_config.settings.logs
    log = LogFile(aide_log_file)
    tail = log.tail(settings.tail_lines)
    errors = error_lines(tail, settings.error_pattern)
    aide_health.record("log_errors", float(len(errors)), "lines")
    aide_health.record("log_error_share_percent", error_rate(tail, settings.error_pattern), "%")
    window = timedelta(minutes=settings.error_window_minutes)
    recent = log.errors_within(window, pattern=settings.error_pattern, timestamp_format=settings.timestamp_format)
    aide_health.record("log_errors_last_window", float(recent), "lines")
    if errors:
        aide_health.attach(f"last ERROR lines of {aide_log_file.name}", "\n".join(errors[-10:]))


@pytest.mark.daily
def check_new_log_errors(aide_log_file: Path, aide_config: AideConfig, aide_health: HealthRecorder) -> None:
    """ERROR lines written since the previous run (position kept per file in the report archive)."""
    settings = aide_config.settings
    state_dir = aide_config.path(settings.reports.dir) / ".state"
    state_dir.mkdir(parents=True, exist_ok=True)
    new = read_new_lines(aide_log_file, state_dir / "log-positions.json")
    errors = error_lines(new.lines, settings.logs.error_pattern)
    aide_health.record("new_log_errors", float(len(errors)), "lines")
    aide_health.record("new_log_lines", float(len(new.lines)), "lines")
    if errors:
        aide_health.attach(f"new ERROR lines of {aide_log_file.name}", "\n".join(errors[-10:]))


def check_log_rotation(aide_log_file: Path, aide_health: HealthRecorder) -> None:
    """Weekly log management: a log over 100 MB is due for rotation."""
    stat = LogFile(aide_log_file).stat()
    assert not rotation_due(stat), (
        f"{aide_log_file} is {stat.size_mb:.1f} MB: rotate it (logrotate or the app's rotation)"
    )
