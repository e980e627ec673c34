"""Check statuses, letters, messages, verdict and exit codes, through pytest itself."""

from __future__ import annotations

import pytest
from aide_testing import CHECKS, aide_run, latest_health, statuses


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(check_sample=CHECKS)
    return pytester


def test_each_status_has_its_outcome_word_and_verdict(suite: pytest.Pytester) -> None:
    result = aide_run(suite, "-v")
    result.assert_outcomes(passed=1, failed=2, errors=1)
    assert result.parseoutcomes()["warned"] == 1  # a warning check passes, counted under its own word
    result.stdout.fnmatch_lines_random(
        [
            "*check_ok PASSED*",
            "*check_warning WARNING*",
            "*check_critical CRITICAL*",
            "*check_unknown UNKNOWN*",
            "*check_assertion CRITICAL*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*pytest-aide verdict*",
            "CRITICAL  score 30/100  (emergency: act at once)",
            "checks: 1 ok, 1 warning, 2 critical, 1 unknown, 0 skipped",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_warning_has_its_own_letter(suite: pytest.Pytester) -> None:
    result = aide_run(suite, "-k", "ok or warning")
    result.stdout.fnmatch_lines(["check_sample.py .W*"])
    assert result.ret == pytest.ExitCode.OK


def test_critical_message_names_metric_value_unit_and_range(suite: pytest.Pytester) -> None:
    result = aide_run(suite, "-k", "critical")
    result.stdout.fnmatch_lines(["*disk_percent = 95.5 % (critical > 90, range 90): free disk space*"])
    result.stdout.no_fnmatch_line("*Traceback*")


def test_every_measurement_is_recorded_even_after_a_critical_one(suite: pytest.Pytester) -> None:
    aide_run(suite, "-k", "critical")
    check = latest_health(suite.path)["checks"][0]
    assert check["status"] == "CRITICAL"
    assert set(check["measurements"]) == {"disk_percent", "memory_percent"}
    assert check["measurements"]["memory_percent"]["status"] == "OK"
    assert check["measurements"]["disk_percent"] == {
        "value": 95.5,
        "unit": "%",
        "status": "CRITICAL",
        "warning": "80",
        "critical": "90",
    }


def test_setup_failure_is_unknown_with_its_reason(suite: pytest.Pytester) -> None:
    aide_run(suite, "-k", "unknown")
    check = latest_health(suite.path)["checks"][0]
    assert check["status"] == "UNKNOWN"
    assert check["message"] == "could not run: ConnectionError: target unreachable"  # other errors keep their type


def test_assertion_in_body_is_critical_with_its_message(suite: pytest.Pytester) -> None:
    aide_run(suite, "-k", "assertion")
    check = latest_health(suite.path)["checks"][0]
    assert check["status"] == "CRITICAL"
    assert check["message"] == "the sum is wrong"  # the check's own words, without "AssertionError:"


@pytest.mark.parametrize(
    ("selection", "args", "verdict", "exit_code"),
    [
        ("ok", (), "HEALTHY", 0),
        ("ok or warning", (), "DEGRADED", 0),
        ("ok or warning", ("--aide-fail-on=warning",), "DEGRADED", 1),
        ("ok or warning", ("--aide-fail-under=75",), "DEGRADED", 0),
        ("ok or warning", ("--aide-fail-under=75.1",), "DEGRADED", 1),
        ("ok or critical", (), "UNHEALTHY", 1),
    ],
)
def test_exit_status_for_gating(
    suite: pytest.Pytester, selection: str, args: tuple[str, ...], verdict: str, exit_code: int
) -> None:
    result = aide_run(suite, "-k", selection, *args)
    assert result.ret == exit_code
    assert latest_health(suite.path)["status"] == verdict


def test_gate_settings_come_from_the_config_file_too(suite: pytest.Pytester) -> None:
    suite.makefile(".toml", aide='[gate]\nfail_on = "warning"\n')
    assert aide_run(suite, "-k", "ok or warning").ret == 1


def test_weights_and_components_come_from_the_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        check_weighted="""
        import pytest

        @pytest.mark.aide(component="api", weight=3)
        def check_heavy(aide_health):
            aide_health.record("memory_percent", 95.0)

        def check_light(aide_health):
            aide_health.record("memory_percent", 10.0)
    """
    )
    aide_run(pytester)
    health = latest_health(pytester.path)
    assert health["score"] == 25.0  # (0 * 3 + 100 * 1) / 4
    assert health["status"] == "CRITICAL"
    components = {c["nodeid"].split("::")[-1]: c["component"] for c in health["checks"]}
    assert components == {"check_heavy": "api", "check_light": "weighted"}


def test_each_case_of_a_parametrized_check_keeps_its_own_markers(pytester: pytest.Pytester) -> None:
    """The cases of one function share what their markers make of them (worked out once), but a case marked on
    its own keeps its own."""
    pytester.makefile(".toml", aide="[suite]\nenabled = false\n")
    pytester.makepyfile(
        check_cases="""
        import pytest

        special = pytest.mark.aide(weight=4, essential=True)

        @pytest.mark.aide(component="cases", depends_on=["db"])
        @pytest.mark.parametrize("name", ["a", pytest.param("b", marks=special), "c"])
        def check_case(name, aide_health):
            aide_health.record("memory_percent", 10.0)
    """
    )
    aide_run(pytester)
    checks = {c["nodeid"].split("[")[-1].rstrip("]"): c for c in latest_health(pytester.path)["checks"]}
    assert {n: (c["component"], c["weight"]) for n, c in checks.items()} == {
        "a": ("cases", 1.0),
        "b": ("cases", 4.0),
        "c": ("cases", 1.0),
    }
    assert {n: c.get("floor") for n, c in checks.items()} == {"a": None, "b": "CRITICAL", "c": None}
    assert all(c["depends_on"] == ["db"] for c in checks.values())


def test_skipped_checks_are_not_scored(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        check_skip="""
        import pytest

        def check_fine(aide_health):
            aide_health.record("memory_percent", 10.0)

        def check_not_here():
            pytest.skip("no swap on this host")
    """
    )
    result = aide_run(pytester)
    health = latest_health(pytester.path)
    assert (health["status"], health["score"], health["counts"]["SKIPPED"]) == ("HEALTHY", 100.0, 1)
    assert statuses(health)["check_not_here"] == "SKIPPED"
    assert result.ret == 0


def test_threshold_overrides_from_config_and_command_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(check_mem='def check_mem(aide_health):\n    aide_health.record("memory_percent", 75.0)\n')
    pytester.makefile(".toml", aide='[thresholds.memory_percent]\nwarning = "70"\ncritical = "74"\n')
    aide_run(pytester)
    assert latest_health(pytester.path)["checks"][0]["status"] == "CRITICAL"
    aide_run(pytester, "--aide-threshold", "memory_percent=90,95")
    assert latest_health(pytester.path)["checks"][0]["status"] == "OK"
