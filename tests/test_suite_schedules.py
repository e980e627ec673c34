"""The shipped suite, collected as an operator's run collects it: every schedule selects what the README says,
weekly-only checks stay out of the daily run, and ``[suite]`` switches checks off."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_aide import shipped

WEEKLY_ONLY = {
    "check_db_integrity",
    "check_log_rotation",
    "check_dependencies_consistent",
    "check_api_throughput",
    "check_api_load",
    "check_backup_restore_drill",
}
GATE = {"check_api_health", "check_db_reachable", "check_cache_server", "check_memory", "check_disk"}


def _readme_weekly_only() -> set[str]:
    """The check names the README's Schedules table lists as weekly-only."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    [row] = [line for line in readme.splitlines() if line.startswith("| `weekly` |")]
    return set(re.findall(r"`(check_\w+)`", row))


def _collected(pytester: pytest.Pytester, *args: str) -> set[str]:
    result = pytester.runpytest_inprocess("--collect-only", "-q", "-p", "no:cacheprovider", *args)
    names = {re.sub(r"\[.*", "", line.split("::")[-1]) for line in result.stdout.lines if "::" in line}
    return names


@pytest.fixture
def operator(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".toml", aide="[reports]\narchive = false\n")
    pytester.makepyfile(check_mine="import pytest\n\n@pytest.mark.daily\ndef check_own(aide_health):\n    pass\n")
    return pytester


def test_schedules_select_the_documented_checks(operator: pytest.Pytester) -> None:
    daily = _collected(operator, "-m", "daily")
    weekly = _collected(operator, "-m", "weekly")
    assert "check_own" in daily  # the operator's own check beside the shipped suite
    assert {"check_api_health", "check_disk", "check_log_errors", "check_backup_fresh_and_verified"} <= daily
    assert not WEEKLY_ONLY & daily
    assert WEEKLY_ONLY | (daily - {"check_own"}) <= weekly
    assert weekly - daily == WEEKLY_ONLY == _readme_weekly_only()  # the README marks exactly these weekly-only
    assert _collected(operator, "-m", "monthly") >= weekly - {"check_own"}
    assert _collected(operator, "-m", "gate") == GATE


def test_suite_exclude_and_enabled_switch_shipped_checks_off(operator: pytest.Pytester) -> None:
    operator.makefile(".toml", aide='[reports]\narchive = false\n[suite]\nexclude = ["check_cpu", "check_tls.py"]\n')
    daily = _collected(operator, "-m", "daily")
    assert "check_cpu" not in daily
    assert "check_tls_certificate" not in daily
    assert {"check_memory", "check_own"} <= daily
    operator.makefile(".toml", aide="[reports]\narchive = false\n[suite]\nenabled = false\n")
    assert _collected(operator, "-m", "daily") == {"check_own"}


def test_a_misspelt_exclusion_is_a_usage_error_with_the_nearest_name(operator: pytest.Pytester) -> None:
    operator.makefile(".toml", aide='[suite]\nexclude = ["check_cpus"]\n')
    result = operator.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: */aide.toml: [[]suite[]] exclude: 'check_cpus' is not a shipped check*'check_cpu'*"]
    )


def test_named_paths_run_only_what_they_name(operator: pytest.Pytester) -> None:
    assert _collected(operator, "-m", "daily", "check_mine.py") == {"check_own"}


def test_the_suite_installed_in_a_virtualenv_inside_the_project_is_collected(
    operator: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The common layout: `python -m venv .venv` in the folder holding aide.toml. pytest drops a collection
    # argument that lies inside another one (the suite inside "."), and "." never enters a virtualenv.
    venv = operator.path / ".venv"
    suite = venv / "lib" / "python3" / "site-packages" / "pytest_aide" / "suite"
    suite.mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n", encoding="utf-8")
    (suite / "check_shipped.py").write_text(
        "import pytest\n\n@pytest.mark.daily\ndef check_from_the_suite():\n    pass\n", encoding="utf-8"
    )
    (venv / "lib64").symlink_to("lib")  # as `python -m venv` makes it on 64-bit Linux: not a second way in
    (venv / "lib" / "python3" / "site-packages" / "other").mkdir()
    (venv / "lib" / "python3" / "site-packages" / "other" / "check_other.py").write_text(
        "def check_not_ours():\n    pass\n", encoding="utf-8"
    )
    monkeypatch.setattr(shipped, "SUITE_ROOT", suite)
    result = operator.runpytest_inprocess("--collect-only", "-q", "-p", "no:cacheprovider", "-m", "daily")
    collected = [line.split("::")[-1] for line in result.stdout.lines if "::" in line]
    assert sorted(collected) == ["check_from_the_suite", "check_own"]  # each once, nothing else of the venv
