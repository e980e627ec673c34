"""The shipped check_backups.py through the real plugin: a real ``[backup]`` table, real sets, the real fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
from aide_testing import aide_run, latest_health, statuses

from pytest_aide.backup import BackupManager, parse_backup_config

CHECKS = Path(__file__).parent.parent / "pytest_aide" / "suite" / "aide" / "check_backups.py"
COMPONENTS = [{"name": "notes", "kind": "file", "source": "notes.txt"}]


def run_checks(pytester: pytest.Pytester, max_age: float) -> pytest.RunResult:
    pytester.makefile(
        ".toml",
        aide=f"[backup]\nmax_age_hours = {max_age}\n[[backup.components]]\n"
        'name = "notes"\nkind = "file"\nsource = "notes.txt"\n',
    )
    pytester.makepyfile(check_backups=CHECKS.read_text())
    return aide_run(pytester, "-q", "check_backups.py")


def manager(pytester: pytest.Pytester) -> BackupManager:
    (pytester.path / "notes.txt").write_text("hi")
    return BackupManager(parse_backup_config({"components": COMPONENTS}, source="aide.toml", base_dir=pytester.path))


def test_checks_skip_with_the_remedy_while_there_is_no_backup_yet(pytester: pytest.Pytester) -> None:
    """Nothing to measure yet: skipped with the reason and counted in coverage, never OK (issue 8 point 10)."""
    manager(pytester)
    result = run_checks(pytester, 26)
    result.assert_outcomes(skipped=2)
    health = latest_health(pytester.path)
    assert set(statuses(health).values()) == {"SKIPPED"}
    assert {c["skip_reason"] for c in health["checks"]} == {
        f"no backup set yet in {pytester.path / 'backups'}: run `aide backup`"
    }
    assert health["coverage"] == {"measured": 0, "selected": 2}


def test_checks_fail_with_the_remedy_when_no_set_is_complete(pytester: pytest.Pytester) -> None:
    backups = BackupManager(
        parse_backup_config(
            {"components": [*COMPONENTS, {"name": "gone", "kind": "file", "source": "gone.txt"}]},
            source="aide.toml",
            base_dir=pytester.path,
        )
    )
    (pytester.path / "notes.txt").write_text("hi")
    assert not backups.create().complete  # gone.txt is missing: a partial set
    result = run_checks(pytester, 26)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*no complete backup set in *backups: run `aide backup`*"])
    assert set(statuses(latest_health(pytester.path)).values()) == {"CRITICAL"}


def test_checks_pass_on_a_fresh_set_and_record_its_verification(pytester: pytest.Pytester) -> None:
    backups = manager(pytester)
    created = backups.create()
    run_checks(pytester, 48).assert_outcomes(passed=2)
    assert backups.get(created.set_id).verified
    fresh = next(c for c in latest_health(pytester.path)["checks"] if "fresh" in c["nodeid"])
    assert fresh["measurements"]["backup_age_hours"]["critical"] == "48"  # [backup] max_age_hours rules


def test_daily_check_fails_when_the_newest_set_is_too_old(pytester: pytest.Pytester) -> None:
    manager(pytester).create()
    result = run_checks(pytester, 0.0000001)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*h old (limit 1e-07 h): run `aide backup`*"])
    assert statuses(latest_health(pytester.path))["check_backup_fresh_and_verified"] == "CRITICAL"
