"""Configuration through pytest: usage errors (exit 4), markers, inventory parametrization, --help."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from aide_testing import aide_run

GOOD_CHECK = 'def check_fine(aide_health):\n    aide_health.record("memory_percent", 10.0)\n'


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[db\nurl = 1", "*aide.toml: invalid TOML: *line 1*"),
        ("[db]\ntabels = []", "*aide.toml: [[]db[]] tabels: unknown key*"),
        ("[db]\ntables = 'x'", "*aide.toml: [[]db[]] tables: Input should be a valid list (got 'x')*"),
        (
            "[thresholds.memory_percent]\nwarning = '90:80'",
            "*aide.toml: [[]thresholds.memory_percent[]] warning: '90:80' is not a Nagios range: start 90 is greater*",
        ),
        ("[gate]\nfail_under = 150", "*aide.toml: [[]gate[]] fail_under: Input should be less than or equal to 100*"),
        ("[[endpoints]]\npath = '/x'", "*aide.toml: [[][[]endpoints[]][]] #1 name: Field required*"),
    ],
)
def test_invalid_configuration_is_a_usage_error_before_any_check(
    pytester: pytest.Pytester, toml: str, expected: str
) -> None:
    pytester.makepyfile(
        check_side_effect="""
        import pathlib
        def check_touch(aide_health):
            pathlib.Path("ran").write_text("yes")
    """
    )
    pytester.makefile(".toml", aide=toml)
    result = aide_run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {expected}"])
    assert not (pytester.path / "ran").exists()
    assert len([line for line in result.stderr.lines if line.startswith("ERROR:")]) == 1


def test_missing_config_file_named_on_the_command_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(check_x=GOOD_CHECK)
    result = aide_run(pytester, "--aide-config=nowhere.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: --aide-config: configuration file not found: */nowhere.toml: give the path of an existing aide.toml*"]
    )


def test_config_option_with_a_space_is_refused_with_the_remedy(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """pytest#8846: with a space, pytest takes PATH for a test path and picks the wrong rootdir."""
    elsewhere = tmp_path / "ops"
    elsewhere.mkdir()
    (elsewhere / "aide.toml").write_text("[suite]\nenabled = false\n")
    (elsewhere / "test_not_mine.py").write_text("def test_wrong_tree():\n    pass\n")
    pytester.makepyfile(check_x=GOOD_CHECK)
    result = aide_run(pytester, "--aide-config", str(elsewhere / "aide.toml"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: --aide-config PATH (with a space)*write --aide-config=PATH or set AIDE_CONFIG*"]
    )
    assert "test_wrong_tree" not in result.stdout.str()
    fixed = aide_run(pytester, f"--aide-config={elsewhere / 'aide.toml'}")
    assert fixed.ret == pytest.ExitCode.OK
    fixed.assert_outcomes(passed=1)


def test_missing_config_file_named_in_the_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(check_x=GOOD_CHECK)
    monkeypatch.setenv("AIDE_CONFIG", "gone.toml")
    result = aide_run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: AIDE_CONFIG: configuration file not found: */gone.toml: *aide init*"])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--aide-fail-under", "150"), "*--aide-fail-under: '150' is not between 0 and 100*"),
        (("--aide-fail-on", "sometimes"), "*--aide-fail-on: invalid choice: 'sometimes'*"),
        (("--aide-threshold", "memory_percent=abc"), "*--aide-threshold: memory_percent: warning: 'abc' is not*"),
        (("--aide-concurrency", "0"), "*--aide-concurrency: '0' is not a whole number from 1 to 1024*"),
    ],
)
def test_bad_command_line_values_are_usage_errors(
    pytester: pytest.Pytester, args: tuple[str, ...], expected: str
) -> None:
    pytester.makepyfile(check_x=GOOD_CHECK)
    result = aide_run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([expected])


def test_config_from_pyproject_tool_aide(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(check_x=GOOD_CHECK)
    pytester.makepyprojecttoml('[tool.aide.gate]\nfail_under = "high"\n')
    result = aide_run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: *pyproject.toml: [[]gate[]] fail_under: Input should be a valid number*"])


def test_schedule_markers_select_without_unknown_marker_warnings(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        check_sched="""
        import pytest

        @pytest.mark.daily
        @pytest.mark.gate
        def check_every_day(aide_health):
            pass

        @pytest.mark.weekly
        def check_every_week(aide_health):
            pass

        @pytest.mark.monthly
        @pytest.mark.aide(component="capacity", weight=2)
        def check_every_month(aide_health):
            pass
    """
    )
    for marker, expected in (("daily", 1), ("weekly", 1), ("monthly", 1), ("gate", 1), ("daily or weekly", 2)):
        result = aide_run(pytester, "--strict-markers", "-W", "error::pytest.PytestUnknownMarkWarning", "-m", marker)
        result.assert_outcomes(passed=expected)


def test_markers_are_listed_with_their_meaning(pytester: pytest.Pytester) -> None:
    result = aide_run(pytester, "--markers")
    result.stdout.fnmatch_lines_random(
        [
            "@pytest.mark.daily: part of the daily health run*",
            "@pytest.mark.weekly: *",
            "@pytest.mark.monthly: *",
            "@pytest.mark.gate: must pass before a deploy*",
            "@pytest.mark.aide(component=None, weight=1.0, essential=False, floor=None, depends_on=(),"
            " reachability=None, retries=0, timeout=60): *",
        ]
    )


def test_help_lists_every_option(pytester: pytest.Pytester) -> None:
    result = aide_run(pytester, "--help")
    result.stdout.fnmatch_lines_random(
        [
            "*--aide-config=PATH*",
            "*--aide-app-url=URL*",
            "*--aide-reports=DIR*",
            "*--aide-no-archive*",
            "*--aide-fail-on=*",
            "*--aide-fail-under=SCORE*",
            "*--aide-concurrency=N*",
            "*--aide-threshold=METRIC=W,C*",
        ]
    )
    assert result.ret == 0


def test_inventory_parameters_get_one_case_per_configured_item(pytester: pytest.Pytester) -> None:
    pytester.mkdir("data")
    pytester.makefile(
        ".toml",
        aide="""
        [resources]
        disk_paths = [".", "data"]
        [logs]
        files = ["logs/app.log", "logs/error.log"]
        [db]
        tables = ["users", "orders"]
        [[endpoints]]
        name = "health"
        path = "/api/health"
    """,
    )
    pytester.makepyfile(
        check_inv="""
        def check_disk(aide_disk_path, aide_health):
            assert aide_disk_path.is_dir()

        def check_log(aide_log_file):
            assert aide_log_file.name.endswith(".log")

        def check_table(aide_table):
            assert aide_table in ("users", "orders")

        def check_endpoint_names(aide_endpoint):
            assert aide_endpoint.name == "health"
    """
    )
    result = aide_run(pytester, "--collect-only", "-q")
    result.stdout.fnmatch_lines(
        [
            "check_inv.py::check_disk[[].[]]",
            "check_inv.py::check_disk[[]data[]]",
            "check_inv.py::check_log[[]app.log[]]",
            "check_inv.py::check_log[[]error.log[]]",
            "check_inv.py::check_table[[]users[]]",
            "check_inv.py::check_table[[]orders[]]",
            "check_inv.py::check_endpoint_names[[]health[]]",
        ]
    )
    aide_run(pytester).assert_outcomes(passed=7)


def test_an_unconfigured_inventory_skips_with_a_reason(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", aide="[logs]\nfiles = []\n")
    pytester.makepyfile(check_inv="def check_log(aide_log_file):\n    raise AssertionError('must not run')\n")
    result = aide_run(pytester, "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*not configured: [[]logs[]] files lists nothing*"])


def test_check_functions_are_collected_next_to_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(check_mix="def check_a(aide_health):\n    pass\n\ndef test_b():\n    pass\n")
    aide_run(pytester).assert_outcomes(passed=2)


def test_imported_check_helpers_are_not_collected(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(helpers="def check_value(component):\n    return component\n")
    pytester.makepyfile(check_uses_helper="from helpers import check_value\n\ndef check_real(aide_health):\n    pass\n")
    result = aide_run(pytester, "--collect-only", "-q")
    result.stdout.fnmatch_lines(["check_uses_helper.py::check_real", "*1 test collected*"])


def test_an_unusable_report_folder_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(check_x=GOOD_CHECK)
    pytester.makefile(".txt", occupied="a file where the archive should be")
    result = aide_run(pytester, "--aide-reports", "occupied.txt")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: [[]reports[]] dir: cannot create a run folder in *occupied.txt: *--aide-no-archive)"]
    )


def test_checks_named_in_a_repository_elsewhere_run_against_the_operators_configuration(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pytest <clone>/check_x.py` from the operator's folder: the clone's own aide.toml (its demo target) is
    never used, though pytest takes the clone for its rootdir."""
    clone = pytester.mkdir("clone")
    (clone / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    (clone / "aide.toml").write_text('[app]\nurl = "http://demo-of-the-clone.invalid"\n')
    (clone / "check_x.py").write_text(
        "def check_target(aide_config, aide_health):\n"
        "    assert aide_config.settings.app.url == 'http://127.0.0.1:18080', aide_config.settings.app.url\n"
        "    aide_health.record('memory_percent', 10.0)\n"
    )
    operator = pytester.mkdir("operator")
    (operator / "aide.toml").write_text('[suite]\nenabled = false\n[app]\nurl = "http://127.0.0.1:18080"\n')
    monkeypatch.chdir(operator)
    result = pytester.run(sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(clone / "check_x.py"))
    result.stdout.fnmatch_lines(
        [f"aide: config {operator / 'aide.toml'} (found from {operator})*", f"rootdir: {clone}"]
    )
    result.assert_outcomes(passed=1)


def test_the_header_names_the_configuration_and_the_target_without_its_secrets(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    db_password, cache_password = "db-Pa55-w0rd", "cache-Pa55-w0rd"
    monkeypatch.setenv("AIDE_DB_URL", f"postgresql://monitor:{db_password}@127.0.0.1:5432/test")
    pytester.makefile(
        ".toml",
        aide=f'[app]\nurl = "http://127.0.0.1:18080/base"\n\n[cache]\nurl = "redis://:{cache_password}@127.0.0.1:6379/0"\n',
    )
    result = aide_run(pytester, "--collect-only")
    [line] = [line for line in result.stdout.lines if line.startswith("aide: config ")]
    assert line.startswith(f"aide: config {pytester.path / 'aide.toml'} (found from {pytester.path}); target ")
    target = line.split("; target ", 1)[1].split()
    assert target[0] == "app=http://127.0.0.1:18080/base"
    assert target[1].startswith("db=postgresql://monitor:")
    assert target[1].endswith("@127.0.0.1:5432/test")
    assert target[2].startswith("cache=redis://:")
    assert target[2].endswith("@127.0.0.1:6379/0")
    output = result.stdout.str() + result.stderr.str()
    assert db_password not in output
    assert cache_password not in output


def test_pytest_fixtures_states_the_naming_scheme(pytester: pytest.Pytester) -> None:
    """``pytest --fixtures`` shows each fixture's first paragraph: aide's says every name of its own starts with
    ``aide_``, the fixtures and the inventory arguments alike."""
    pytester.makefile(".toml", aide="[suite]\nenabled = false\n")
    result = aide_run(pytester, "--fixtures")
    [start] = [i for i, line in enumerate(result.stdout.lines) if line.startswith("aide_config ")]
    first_paragraph = " ".join(line.strip() for line in result.stdout.lines[start + 1 : start + 4])
    assert "every pytest-aide fixture and inventory argument is named aide_*" in first_paragraph.lower()
