"""The dead-man's switch: ``aide overdue`` exits 1 when a schedule's last complete run is older than its interval
plus the grace, and the next run of the schedule reports the gap it finds."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aide_testing import aide_run, latest_health, run_aide
from history_seed import seed

from pytest_aide.durations import describe, parse_duration


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An archive whose daily schedule last completed 30 h ago and weekly 2 days ago."""
    (tmp_path / "aide.toml").write_text("[suite]\nenabled = false\n")
    now = datetime.now(UTC)
    archive = tmp_path / "reports"
    seed(archive, "memory_percent", [1.0], selection="daily", start=now - timedelta(hours=31))
    seed(archive, "memory_percent", [1.0], selection="weekly", start=now - timedelta(days=2))
    seed(archive, "memory_percent", [1.0], selection="daily", start=now - timedelta(hours=1), partial=True)
    seed(archive, "memory_percent", [1.0], selection="daily", start=now - timedelta(hours=2), exit_status=2)
    return tmp_path


def test_an_overdue_schedule_exits_1_and_says_which(project: Path) -> None:
    """A partial run (-k) and an interrupted one are no sign of life: daily is 30 h past its last full run."""
    result = run_aide(project, "overdue")
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("daily: OVERDUE: last complete run ")
    assert "(every 1d + 1h grace)" in lines[0]
    assert lines[1].startswith("weekly: on time: ")


def test_schedules_on_time_exit_0(project: Path) -> None:
    assert run_aide(project, "overdue", "--schedule", "weekly").returncode == 0
    assert run_aide(project, "overdue", "--schedule", "daily", "--grace", "7h").returncode == 0


def test_intervals_are_configurable(project: Path) -> None:
    (project / "aide.toml").write_text(
        '[suite]\nenabled = false\n[history]\ngrace = "0s"\nintervals = {daily = "36h"}\n'
    )
    assert run_aide(project, "overdue", "--schedule", "daily").returncode == 0
    (project / "aide.toml").write_text('[suite]\nenabled = false\n[history.intervals]\nweekly = "1d"\n')
    assert run_aide(project, "overdue", "--schedule", "weekly").returncode == 1


def test_a_schedule_that_never_completed_is_overdue(project: Path) -> None:
    result = run_aide(project, "overdue", "--schedule", "monthly")
    assert result.returncode == 1
    assert result.stdout.strip() == "monthly: OVERDUE: no complete run recorded (every 31d + 1h grace)"


def test_no_history_at_all_exits_1(tmp_path: Path) -> None:
    (tmp_path / "aide.toml").write_text("")
    result = run_aide(tmp_path, "overdue")
    assert result.returncode == 1
    assert result.stdout.startswith("no complete run of a schedule recorded in ")


def test_mistakes_exit_2_with_one_line(project: Path) -> None:
    unknown = run_aide(project, "overdue", "--schedule", "gate")
    assert unknown.returncode == 2
    assert unknown.stderr.strip().startswith(
        "aide: error: --schedule 'gate': no interval for it: add [history.intervals]"
    )
    bad = run_aide(project, "overdue", "--grace", "soon")
    assert bad.returncode == 2
    assert "'soon' is not a duration" in bad.stderr
    (project / "aide.toml").write_text('[history]\ngrace = "two hours"\n')
    config = run_aide(project, "overdue")
    assert config.returncode == 2
    assert "[history] grace: 'two hours' is not a duration" in config.stderr


def test_json_for_scripts(project: Path) -> None:
    result = run_aide(project, "overdue", "--json")
    data = json.loads(result.stdout)
    daily, weekly = data["schedules"]
    assert (daily["schedule"], daily["overdue"], weekly["overdue"]) == ("daily", True, False)
    assert daily["allowed_s"] == 25 * 3600
    assert 30 * 3600 < daily["age_s"] < 32 * 3600


def test_the_next_run_reports_the_gap_it_finds(pytester: pytest.Pytester) -> None:
    now = datetime.now(UTC)
    seed(pytester.path / "reports", "memory_percent", [1.0], selection="daily", start=now - timedelta(days=3))
    pytester.makepyfile(check_one="import pytest\n@pytest.mark.daily\ndef check_one():\n    pass\n")
    result = aide_run(pytester, "-m", "daily")
    result.stdout.fnmatch_lines(
        [
            "schedule gap: the previous complete daily run (*) finished *, 2d 23h before this one "
            "(due every 1d + 1h grace): runs were missed or did not complete"
        ]
    )
    gap = latest_health(pytester.path)["schedule_gap"]
    assert (gap["schedule"], gap["overdue"], gap["allowed_s"]) == ("daily", True, 25 * 3600)
    assert gap["message"].startswith("schedule gap: ")
    assert run_aide(pytester.path, "overdue", "--schedule", "daily").returncode == 0  # this run was a sign of life
    again = aide_run(pytester, "-m", "daily")
    assert "schedule gap" not in again.stdout.str()
    assert "schedule_gap" not in latest_health(pytester.path)


def test_durations() -> None:
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("2h") == timedelta(hours=2)
    assert parse_duration("1.5d") == timedelta(hours=36)
    assert parse_duration("1w") == timedelta(days=7)
    with pytest.raises(ValueError, match=r"'2 hours' is not a duration \(examples: 90s, 30m, 2h, 7d, 1w\)"):
        parse_duration("2 hours")
    assert describe(timedelta(days=3, hours=2, minutes=5)) == "3d 2h"
    assert describe(timedelta(seconds=0)) == "0s"
