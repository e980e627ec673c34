"""checks/check_backups.py run by pytester against real sets (own ``backup`` fixture, plugin left out)."""

from __future__ import annotations

from pathlib import Path

import pytest

CHECKS = Path(__file__).parent.parent / "checks" / "check_backups.py"

CONFTEST = """
import pytest
from pathlib import Path
from pytest_aide.backup import BackupManager, parse_backup_config
from pytest_aide.redact import Redactor

class Health:
    def record(self, *args, **kwargs): pass
    def attach(self, *args): pass

@pytest.fixture
def health():
    return Health()

@pytest.fixture
def backup():
    raw = {"max_age_hours": MAX_AGE, "components": [{"name": "notes", "kind": "file", "source": "notes.txt"}]}
    config = parse_backup_config(raw, source="aide.toml", base_dir=Path(__file__).parent)
    return BackupManager(config, redactor=Redactor())
"""


def run_checks(pytester: pytest.Pytester, max_age: float) -> pytest.RunResult:
    pytester.makeconftest(CONFTEST.replace("MAX_AGE", repr(max_age)))
    pytester.makeini("[pytest]\npython_functions = check_*\n"
                     "markers =\n    daily\n    weekly\n    aide(component, weight)\n")
    pytester.makepyfile(check_backups=CHECKS.read_text())
    return pytester.runpytest("-p", "no:aide", "-p", "no:cacheprovider", "-q", "check_backups.py")


def test_checks_fail_with_the_remedy_when_there_is_no_backup(pytester: pytest.Pytester) -> None:
    (pytester.path / "notes.txt").write_text("hi")
    result = run_checks(pytester, 26)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*no complete backup set in *backups: run `aide backup`*"])


def test_checks_pass_on_a_fresh_set_and_record_its_verification(pytester: pytest.Pytester) -> None:
    from pytest_aide.backup import BackupManager, parse_backup_config
    (pytester.path / "notes.txt").write_text("hi")
    config = parse_backup_config({"components": [{"name": "notes", "kind": "file", "source": "notes.txt"}]},
                                 source="aide.toml", base_dir=pytester.path)
    created = BackupManager(config).create()
    run_checks(pytester, 26).assert_outcomes(passed=2)
    assert BackupManager(config).get(created.set_id).verified


def test_daily_check_fails_when_the_newest_set_is_too_old(pytester: pytest.Pytester) -> None:
    from pytest_aide.backup import BackupManager, parse_backup_config
    (pytester.path / "notes.txt").write_text("hi")
    config = parse_backup_config({"components": [{"name": "notes", "kind": "file", "source": "notes.txt"}]},
                                 source="aide.toml", base_dir=pytester.path)
    BackupManager(config).create()
    result = run_checks(pytester, 0.0000001)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*h old (limit 1e-07 h): run `aide backup`*"])
