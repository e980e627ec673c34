"""Log files: present, size and age, recent error entries and rate, new errors since the last run, rotation.

What an error is depends on each file's format (detected, or ``format`` per file), unless a ``pattern`` is set;
see the README's "Log formats".
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_aide.probes.logs import LogFile, LogRules, rotation_due
from pytest_aide.probes.logstate import read_new_lines

if TYPE_CHECKING:  # annotations only: nothing more is imported when the suite is collected
    from pytest_aide.config import AideConfig
    from pytest_aide.health import HealthRecorder
    from pytest_aide.settings import LogItem

_EVIDENCE_ENTRIES = 10
_EVIDENCE_LINES = 20  # of one entry (a traceback's last lines say the most, its first line the time)

# Every check here runs weekly and monthly; the daily ones say so (a module mark cannot be taken back).
pytestmark = [pytest.mark.weekly, pytest.mark.monthly, pytest.mark.aide(component="logs")]


@pytest.mark.daily
def check_log_file(aide_log_file: Path, aide_health: HealthRecorder) -> None:
    """The log exists and is readable; its size stays under the rotation limit.

    A missing log is CRITICAL (the app writes nowhere, or the path is wrong); one that cannot be read is UNKNOWN.
    """
    assert aide_log_file.exists(), f"log file not found: {aide_log_file}"
    stat = LogFile(aide_log_file).stat()
    aide_health.record("log_size_mb", stat.size_mb)
    aide_health.record("log_age_minutes", stat.last_write_age_s / 60)


def _settings(config: AideConfig, path: Path) -> LogItem:
    """This file's reading rules: its ``[logs] files`` entry's own keys, the rest from ``[logs]``."""
    logs = config.settings.logs
    for item in logs.files:
        if config.path(item if isinstance(item, str) else item.path) == path:
            return logs.for_file(item)
    return logs.for_file(str(path))  # a file named on the command line or by a check of one's own


def _open(config: AideConfig, path: Path) -> tuple[LogFile, LogRules, LogItem]:
    item = _settings(config, path)
    log = LogFile(path, encoding=item.encoding or "utf-8")
    rules = log.rules(log_format=item.format, pattern=item.pattern, timestamp_format=item.timestamp_format)
    return log, rules, item


def _evidence(entries: list[list[str]]) -> str:
    shown = []
    for entry in entries[-_EVIDENCE_ENTRIES:]:
        lines = entry if len(entry) <= _EVIDENCE_LINES else [entry[0], "  …", *entry[-(_EVIDENCE_LINES - 2) :]]
        shown.append("\n".join(lines))
    return "\n".join(shown)


@pytest.mark.daily
def check_log_errors(aide_log_file: Path, aide_config: AideConfig, aide_health: HealthRecorder) -> None:
    """Error entries among the last N lines (the manual: at most 10 in the last 100) and in the last hour.

    A traceback belongs to its entry and counts once. Lines recently written of which none carries a time
    the file's format reads make the check UNKNOWN (naming file and format): never a silent 0.
    """
    log, rules, item = _open(aide_config, aide_log_file)
    tail = log.tail(item.tail_lines or 100)
    errors = rules.error_entries(tail)
    entries = sum(1 for line in tail if rules.classify(line).starts_entry)
    aide_health.record("log_errors", float(len(errors)), "entries")
    aide_health.record("log_error_share_percent", len(errors) / entries * 100 if entries else 0.0, "%")
    if errors:
        aide_health.attach(f"last error entries of {aide_log_file.name} ({rules.describe()})", _evidence(errors))
    window = timedelta(minutes=aide_config.settings.logs.error_window_minutes)
    recent = log.errors_within(window, rules=rules)  # ProbeError when no recent line has a readable time
    aide_health.record("log_errors_last_window", float(recent), "entries")


@pytest.mark.daily
def check_new_log_errors(aide_log_file: Path, aide_config: AideConfig, aide_health: HealthRecorder) -> None:
    """Error entries written since the previous run (position kept per file in the report archive); lines
    written before a rotation are read from the rotated file, so they count once."""
    log, rules, _ = _open(aide_config, aide_log_file)
    state_dir = aide_config.path(aide_config.settings.reports.dir) / ".state"
    state_dir.mkdir(parents=True, exist_ok=True)
    new = read_new_lines(aide_log_file, state_dir / "log-positions.json", encoding=log.encoding)
    if new.first_run:  # nothing to compare with yet: the position is saved now, new lines count from the next run
        pytest.skip(
            f"first run for {aide_log_file.name}: its read position is saved; new errors count from the next run"
        )
    errors = rules.error_entries(new.lines)
    aide_health.record("new_log_errors", float(len(errors)), "entries")
    aide_health.record("new_log_lines", float(len(new.lines)), "lines")
    if errors:
        source = f", {new.rotated_lines} lines from {Path(new.rotated_from).name}" if new.rotated_from else ""
        aide_health.attach(f"new error entries of {aide_log_file.name}{source}", _evidence(errors))


def check_log_rotation(aide_log_file: Path, aide_health: HealthRecorder) -> None:
    """Weekly log management: a log over 100 MB is due for rotation."""
    stat = LogFile(aide_log_file).stat()
    assert not rotation_due(stat), (
        f"{aide_log_file} is {stat.size_mb:.1f} MB: rotate it (logrotate or the app's rotation)"
    )
