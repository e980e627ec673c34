"""Outages are emergencies: essential checks (marker and ``[checks] essential``) and floor rules.

The rule lives in :mod:`pytest_aide.scoring` (unit and hypothesis tests here); the runs below show it end to
end — the shipped suite against an app, a database and a cache that are down, with enough healthy checks
beside them that the score alone would say UNHEALTHY or DEGRADED.
"""

from __future__ import annotations

import pytest
from aide_testing import aide_run, latest_health, statuses
from hypothesis import given
from hypothesis import strategies as st

from conftest import free_port
from pytest_aide import scoring
from pytest_aide.results import RULES, status_of
from pytest_aide.scoring import Scored
from pytest_aide.status import Status, Verdict

# Ten healthy checks of weight 3 each: beside them one failing check of weight 3 leaves the score near 91.
HEALTHY = """
import pytest

@pytest.mark.aide(component="fine", weight=3)
@pytest.mark.parametrize("n", range(10))
def check_fine(n, aide_health):
    aide_health.record("memory_percent", 10.0)
"""

statuses_st = st.sampled_from(list(Status))
floors_st = st.none() | st.sampled_from(list(Verdict))
scored_st = st.builds(Scored, statuses_st, st.floats(min_value=0.1, max_value=10), floors_st)


# --- the scoring rule ------------------------------------------------------------------------------------


@given(st.lists(scored_st, max_size=12), st.sampled_from([Status.CRITICAL, Status.UNKNOWN]))
def test_a_failing_essential_check_makes_the_verdict_critical(others: list[Scored], failing: Status) -> None:
    result, _score = scoring.verdict([*others, Scored(failing, 1.0, Verdict.CRITICAL)])
    assert result is Verdict.CRITICAL


@given(st.lists(scored_st, max_size=12), st.sampled_from([Status.OK, Status.WARNING]))
def test_an_essential_check_that_measured_fine_changes_nothing(others: list[Scored], fine: Status) -> None:
    with_floor = scoring.verdict([*others, Scored(fine, 2.0, Verdict.CRITICAL)])
    without = scoring.verdict([*others, Scored(fine, 2.0)])
    assert with_floor == without


@given(st.lists(scored_st, min_size=1, max_size=12))
def test_floors_never_improve_a_verdict_nor_touch_the_score(checks: list[Scored]) -> None:
    plain = [Scored(c.status, c.weight) for c in checks]
    (floored, floored_score), (bare, bare_score) = scoring.verdict(checks), scoring.verdict(plain)
    assert floored.rank >= bare.rank
    assert floored_score == bare_score
    forced = [c.floor for c in checks if c.floor and c.status in (Status.CRITICAL, Status.UNKNOWN)]
    assert floored.rank == max([bare.rank, *(f.rank for f in forced)])


def test_the_outage_figures_of_the_issue() -> None:
    """App down among 20 healthy checks scored UNHEALTHY 80.9 before; as an essential check it is CRITICAL."""
    healthy = [Scored(Status.OK)] * 20
    assert scoring.verdict([*healthy, Scored(Status.CRITICAL, 1.0)])[0] is Verdict.UNHEALTHY
    assert scoring.verdict([*healthy, Scored(Status.CRITICAL, 1.0, Verdict.CRITICAL)])[0] is Verdict.CRITICAL
    assert scoring.verdict([*healthy, Scored(Status.UNKNOWN, 2.0)])[0] is Verdict.DEGRADED
    assert scoring.verdict([*healthy, Scored(Status.UNKNOWN, 2.0, Verdict.UNHEALTHY)])[0] is Verdict.UNHEALTHY


def test_one_table_decides_the_status_of_each_phase() -> None:
    assert status_of("setup", "failed") is Status.UNKNOWN
    assert status_of("call", "failed") is Status.CRITICAL
    assert status_of("call", "failed", unmeasured=True) is Status.UNKNOWN
    assert status_of("teardown", "failed") is Status.UNKNOWN
    assert status_of("call", "passed", recorded=Status.WARNING) is Status.WARNING
    assert status_of("call", "passed") is Status.OK
    assert status_of("call", "skipped") is None
    assert set(RULES.values()) <= set(Status)


# --- marker and configuration, end to end -----------------------------------------------------------------


def _write(pytester: pytest.Pytester, checks: str, toml: str = "") -> None:
    pytester.makepyfile(check_fine=HEALTHY, check_part=checks)
    (pytester.path / "aide.toml").write_text(toml)


def test_an_essential_check_down_is_an_emergency(pytester: pytest.Pytester) -> None:
    _write(
        pytester,
        """
import pytest

@pytest.mark.aide(component="app", weight=3, essential=True)
def check_app(aide_health):
    assert False, "GET http://app/health: connection refused"
""",
    )
    result = aide_run(pytester)
    assert result.ret == 1
    health = latest_health(pytester.path)
    assert (health["status"], health["score"]) == ("CRITICAL", 90.9)
    assert health["verdict_rule"] == "CRITICAL (essential check): check_part.py::check_app is CRITICAL"
    app = next(c for c in health["checks"] if c["nodeid"].endswith("check_app"))
    assert app["floor"] == "CRITICAL"
    result.stdout.fnmatch_lines(
        ["CRITICAL  score 90.9/100  (emergency: act at once)", "CRITICAL (essential check): *check_app is CRITICAL"]
    )


def test_the_same_failure_of_an_ordinary_check_stays_unhealthy(pytester: pytest.Pytester) -> None:
    _write(
        pytester,
        """
import pytest

@pytest.mark.aide(component="app", weight=3)
def check_app(aide_health):
    assert False, "GET http://app/health: connection refused"
""",
    )
    result = aide_run(pytester)
    health = latest_health(pytester.path)
    assert (health["status"], health["score"], result.ret) == ("UNHEALTHY", 90.9, 1)
    assert "verdict_rule" not in health
    assert all("floor" not in c for c in health["checks"])


def test_a_module_marker_keeps_its_component_beside_a_function_marker(pytester: pytest.Pytester) -> None:
    _write(
        pytester,
        """
import pytest

pytestmark = pytest.mark.aide(component="cache", weight=3)

@pytest.mark.aide(floor="unhealthy")
def check_cache(aide_health):
    raise ConnectionError("cannot connect")
""",
    )
    aide_run(pytester)
    health = latest_health(pytester.path)
    cache = next(c for c in health["checks"] if c["nodeid"].endswith("check_cache"))
    found = (cache["component"], cache["weight"], cache["floor"], cache["status"])
    assert found == ("cache", 3, "UNHEALTHY", "CRITICAL")
    assert health["status"] == "UNHEALTHY"


def test_a_probe_error_is_unknown_and_an_essential_unknown_is_an_emergency(pytester: pytest.Pytester) -> None:
    _write(
        pytester,
        """
import pytest
from pytest_aide.errors import ProbeError

@pytest.mark.aide(component="db", weight=3, essential=True)
def check_db(aide_health):
    raise ProbeError("database 127.0.0.1:5432: connection refused")
""",
    )
    result = aide_run(pytester, "-rA")
    health = latest_health(pytester.path)
    assert statuses(health)["check_db"] == "UNKNOWN"
    assert health["checks"][-1]["message"] == "database 127.0.0.1:5432: connection refused"
    assert (health["status"], health["counts"]["UNKNOWN"], health["counts"]["CRITICAL"]) == ("CRITICAL", 1, 0)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["UNKNOWN check_part.py::check_db - database 127.0.0.1:5432: connection refused"])


def test_config_names_a_shipped_check_essential(pytester: pytest.Pytester) -> None:
    """``[checks] essential`` makes the shipped config-file check an emergency when the file is missing."""
    pytester.makepyfile(check_fine=HEALTHY)
    (pytester.path / "aide.toml").write_text(
        '[preflight]\nconfig_files = ["missing.env"]\n[checks]\nessential = ["check_config_file"]\n'
        '[suite]\nexclude = ["check_api.py", "check_database.py", "check_cache.py", "check_resources.py",'
        ' "check_logs.py", "check_processes.py", "check_trends.py", "check_tls.py", "check_costs.py",'
        ' "check_backups.py", "check_endpoints.py", "check_performance.py", "check_dependencies_consistent"]\n'
    )
    result = aide_run(pytester)
    health = latest_health(pytester.path)
    assert statuses(health)["check_config_file[missing.env]"] == "CRITICAL"
    assert (health["status"], health["score"], result.ret) == ("CRITICAL", 96.8, 1)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('["check_api_helth"]', "did you mean 'check_api_health'?"),
        ('["my_own_check"]', "mark your own checks with @pytest.mark.aide(essential=True)"),
    ],
)
def test_config_essential_names_only_shipped_checks(pytester: pytest.Pytester, value: str, expected: str) -> None:
    pytester.makepyfile(check_fine=HEALTHY)
    (pytester.path / "aide.toml").write_text(f"[checks]\nessential = {value}\n")
    result = aide_run(pytester)
    assert result.ret == 4
    line = next(line for line in result.stderr.lines if line.startswith("ERROR:"))
    assert "aide.toml: [checks] essential[0]: not a shipped check" in line
    assert expected in line
    assert "(got '" in line


# --- the shipped suite against parts that are down ----------------------------------------------------------


def _shipped(pytester: pytest.Pytester, toml: str, keyword: str) -> tuple[pytest.RunResult, dict[str, object]]:
    pytester.makepyfile(check_fine=HEALTHY)
    (pytester.path / "aide.toml").write_text(toml + "[suite]\nenabled = true\n")
    result = aide_run(pytester, "-k", f"{keyword} or check_fine")
    return result, latest_health(pytester.path)


def test_shipped_app_down_is_an_emergency(pytester: pytest.Pytester) -> None:
    result, health = _shipped(pytester, f'[app]\nurl = "http://127.0.0.1:{free_port()}"\n', "check_api_health")
    assert statuses(health)["check_api_health"] == "CRITICAL"  # type: ignore[arg-type]
    assert (health["status"], health["score"], result.ret) == ("CRITICAL", 90.9, 1)


def test_shipped_database_unreachable_is_an_emergency(pytester: pytest.Pytester) -> None:
    toml = f'[db]\nurl = "postgresql://postgres@127.0.0.1:{free_port()}/test"\n'
    result, health = _shipped(pytester, toml, "check_db_reachable")
    assert statuses(health)["check_db_reachable"] == "UNKNOWN"  # type: ignore[arg-type]
    assert (health["status"], result.ret) == ("CRITICAL", 1)


def test_shipped_cache_unreachable_is_at_least_unhealthy(pytester: pytest.Pytester) -> None:
    result, health = _shipped(pytester, f'[cache]\nurl = "redis://127.0.0.1:{free_port()}/0"\n', "check_cache_server")
    assert statuses(health)["check_cache_server"] == "UNKNOWN"  # type: ignore[arg-type]
    assert (health["status"], result.ret) == ("UNHEALTHY", 1)
    assert "floor rule: at least UNHEALTHY" in str(health["verdict_rule"])


def test_a_floor_that_is_no_verdict_makes_the_check_unknown_with_the_reason(pytester: pytest.Pytester) -> None:
    _write(
        pytester,
        """
import pytest

@pytest.mark.aide(floor="bogus")
def check_part(aide_health):
    aide_health.record("memory_percent", 1.0)
""",
    )
    result = aide_run(pytester)
    [check] = [c for c in latest_health(pytester.path)["checks"] if c["nodeid"].endswith("check_part")]
    assert check["status"] == "UNKNOWN"
    assert check["message"] == (
        "could not run: aide(floor='bogus') is not a verdict: use one of HEALTHY, DEGRADED, UNHEALTHY, CRITICAL"
    )
    assert check["measurements"] == {}  # the body never ran
    assert result.ret == 1
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
