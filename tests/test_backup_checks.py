"""The shipped check_backups.py through the real plugin: a real ``[backup]`` table, real sets, the real fixtures."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import pytest
from aide_testing import aide_run, latest_health, statuses

from pytest_aide.backup import BackupManager, parse_backup_config

CHECKS = Path(__file__).parent.parent / "pytest_aide" / "suite" / "aide" / "check_backups.py"
COMPONENTS = [{"name": "notes", "kind": "file", "source": "notes.txt"}]


def run_checks(pytester: pytest.Pytester, max_age: float, select: str = "fresh or drill") -> pytest.RunResult:
    pytester.makefile(
        ".toml",
        aide=f"[backup]\nmax_age_hours = {max_age}\n[[backup.components]]\n"
        'name = "notes"\nkind = "file"\nsource = "notes.txt"\n',
    )
    pytester.makepyfile(check_backups=CHECKS.read_text())
    return aide_run(pytester, "-q", "check_backups.py", "-k", select)


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


def sets_of_sizes(pytester: pytest.Pytester, sizes: list[int]) -> BackupManager:
    """One set per size, oldest first, of a file of random (incompressible) bytes of that size."""
    backups = manager(pytester)
    for size in sizes:
        (pytester.path / "notes.txt").write_bytes(os.urandom(size))
        backups.create()
        time.sleep(0.002)  # set ids sort by time
    return backups


def test_too_little_history_is_skipped_with_the_count(pytester: pytest.Pytester) -> None:
    sets_of_sizes(pytester, [50_000, 50_000])
    result = run_checks(pytester, 26, "size_and_duration")
    result.assert_outcomes(skipped=1)
    check = latest_health(pytester.path)["checks"][0]
    assert check["skip_reason"] == "not enough backup history to compare with (2 of 3 complete sets)"


def test_a_set_far_smaller_than_usual_is_critical(pytester: pytest.Pytester) -> None:
    sets_of_sizes(pytester, [50_000, 52_000, 48_000, 51_000, 10_000])
    result = run_checks(pytester, 26, "size_and_duration")
    result.assert_outcomes(failed=1)
    check = latest_health(pytester.path)["checks"][0]
    assert check["status"] == "CRITICAL"
    size = check["measurements"]["backup_size_pct_of_median"]
    assert 15 < size["value"] < 25  # ~10 kB of a ~50 kB median
    assert "far smaller than usual" in check["message"]


def test_a_usual_set_is_ok_and_its_duration_is_compared(pytester: pytest.Pytester) -> None:
    sets_of_sizes(pytester, [50_000, 52_000, 48_000, 51_000])
    manifests = sorted(pytester.path.glob("backups/*/manifest.json"))
    assert len(manifests) == 4
    for manifest in manifests:  # as timed on a quiet machine: on a busy one the newest set may take 4x the
        data = json.loads(manifest.read_text())  # median of the others, which is a true WARNING
        data["duration_s"] = 0.05
        manifest.write_text(json.dumps(data))
    run_checks(pytester, 26, "size_and_duration").assert_outcomes(passed=1)
    check = latest_health(pytester.path)["checks"][0]
    assert check["status"] == "OK"
    assert 90 < check["measurements"]["backup_size_pct_of_median"]["value"] < 110
    assert "backup_duration_pct_of_median" in check["measurements"], "every set records how long it took"


def test_the_drill_measures_the_restore_time(pytester: pytest.Pytester) -> None:
    manager(pytester).create()
    run_checks(pytester, 48, "drill").assert_outcomes(passed=1)
    check = latest_health(pytester.path)["checks"][0]
    drill = check["measurements"]["restore_drill_s"]
    assert drill["value"] > 0
    assert (drill["warning"], drill["critical"]) == ("1800", "3600")


def test_an_interrupted_drill_leaves_no_scratch_copy(pytester: pytest.Pytester) -> None:
    conn = sqlite3.connect(pytester.path / "app.db")
    conn.execute("CREATE TABLE t (v BLOB)")
    conn.execute("INSERT INTO t VALUES (?)", (os.urandom(200_000),))
    conn.commit()
    conn.close()
    components = [{"name": "db", "kind": "sqlite", "source": "app.db"}]
    backups = BackupManager(parse_backup_config({"components": components}, source="aide.toml", base_dir=pytester.path))
    backups.create()

    def interrupt(_stage: str, _done: int, _total: int) -> None:
        raise KeyboardInterrupt

    backups.progress = interrupt
    with pytest.raises(KeyboardInterrupt):
        backups.restore_drill()
    assert not list((pytester.path / "backups").glob(".scratch-*"))
