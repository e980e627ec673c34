"""Trend checks and the capacity forecast on seeded history: the manual's means of the last 10 runs, and the
days until a growing metric reaches its limit, with a range from Theil-Sen's slope interval."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aide_testing import SHIPPED_CHECKS, latest_health
from history_seed import seed
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_aide import forecast, history, trends
from pytest_aide.ranges import NagiosRange

# --- Theil-Sen ----------------------------------------------------------------------------------------------


def test_theil_sen_matches_scipy_on_a_series_with_outliers_and_ties() -> None:
    """Reference figures from scipy.stats.theilslopes(ys, xs, 0.95) (scipy 1.17.1; scipy is no dependency)."""
    xs = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    ys = [50.0, 52.0, 54.0, 80.0, 58.0, 60.0, 60.0, 64.0, 10.0, 68.0]
    fit = forecast.theil_sen(xs, ys)
    assert (fit.slope, fit.intercept) == (2.0, 50.0)
    assert (fit.low, fit.high) == pytest.approx((-4.0, 2.0))  # two wild runs: growth no longer significant


def test_theil_sen_matches_scipy_with_repeated_times() -> None:
    xs = [0.0, 0.0, 1.0, 2.0, 2.0, 3.0, 5.0]
    ys = [1.0, 3.0, 2.0, 5.0, 4.0, 7.0, 9.0]
    fit = forecast.theil_sen(xs, ys)
    # scipy: slope 1.6, intercept 0.8, low 1.0, high 2.5
    assert fit.slope == pytest.approx(1.6)
    assert fit.intercept == pytest.approx(0.8)
    assert (fit.low, fit.high) == pytest.approx((1.0, 2.5))


@settings(max_examples=60, deadline=None)
@given(
    level=st.floats(0, 80),
    per_day=st.floats(0.05, 5),
    points=st.integers(5, 40),
    spacing_h=st.sampled_from([1.0, 6.0, 24.0, 168.0]),
)
def test_a_straight_line_gives_its_exact_day(level: float, per_day: float, points: int, spacing_h: float) -> None:
    """On a noiseless line the forecast is the line's own answer and the range collapses onto it."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    times = [start + timedelta(hours=spacing_h * i) for i in range(points)]
    values = [level + per_day * (t - start).total_seconds() / 86400 for t in times]
    now = times[-1]
    result = forecast.forecast(times, values, 100.0, now=now)
    expected = max((100.0 - values[-1]) / per_day, 0.0)
    assert result.days == pytest.approx(expected, rel=1e-6, abs=1e-6)
    assert result.earliest == pytest.approx(expected, rel=1e-6, abs=1e-6)
    assert result.latest == pytest.approx(expected, rel=1e-6, abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    per_day=st.floats(0.5, 3),
    outliers=st.lists(st.tuples(st.integers(0, 19), st.floats(-40, 40)), max_size=4),
)
def test_a_few_odd_runs_do_not_move_the_forecast_much(per_day: float, outliers: list[tuple[int, float]]) -> None:
    """Up to 4 of 20 runs off the line (a spike, a cleaned-up folder) move the forecast by a few days at most,
    where a least-squares line would follow the spikes."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    times = [start + timedelta(days=i) for i in range(20)]
    values = [40.0 + per_day * i for i in range(20)]
    for index, jump in outliers:
        values[index] += jump
    result = forecast.forecast(times, values, 100.0, now=times[-1])
    true_days = (100.0 - (40.0 + per_day * 19)) / per_day
    assert result.days is not None
    assert result.earliest <= result.days <= result.latest
    assert abs(result.days - true_days) <= 0.15 * true_days + 4


def test_flat_shrinking_and_noisy_series_give_no_forecast_with_the_reason() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    times = [start + timedelta(days=i) for i in range(10)]
    flat = forecast.forecast(times, [50.0] * 10, 100.0, now=times[-1])
    shrinking = forecast.forecast(times, [60.0 - i for i in range(10)], 100.0, now=times[-1])
    noisy = forecast.forecast(times, [50.0, 51.0, 49.5, 50.5, 49.0, 51.5, 50.0, 49.0, 50.5, 50.0], 100.0, now=times[-1])
    assert (flat.days, flat.reason.split(" (")[0]) == (None, "no forecast: flat")
    assert (shrinking.days, shrinking.reason.split(" (")[0]) == (None, "no forecast: shrinking")
    assert (noisy.days, noisy.reason.split(" (")[0]) == (None, "no forecast: no significant growth")


def test_a_lower_limit_is_reached_from_above() -> None:
    """free_disk_percent critical ``5:``: 45 % free, losing 2 points a day -> 20 days."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    times = [start + timedelta(days=i) for i in range(6)]
    limit = forecast.limit_for("%", NagiosRange.parse("5:"))
    assert limit is not None
    assert (limit.value, limit.rising) == (5.0, False)
    result = forecast.forecast(times, [55.0 - 2 * i for i in range(6)], 5.0, now=times[-1], rising=False)
    assert result.days == pytest.approx(20.0)
    assert result.slope_per_day == pytest.approx(-2.0)


def test_limits_a_used_share_fills_at_100_others_at_their_critical_level() -> None:
    assert forecast.limit_for("%", NagiosRange.parse("90")) == forecast.Limit(100.0, True, "100 %")
    limit = forecast.limit_for("MB", NagiosRange.parse("5000"))
    assert limit is not None
    assert (limit.value, limit.rising) == (5000.0, True)
    assert forecast.limit_for("MB", None) is None


def test_forecast_series_per_check_with_too_few_points(tmp_path: Path) -> None:
    seed(tmp_path, "disk_percent", [50.0 + i for i in range(6)], nodeid="x::check_disk[root]")
    seed(tmp_path, "disk_percent", [10.0, 11.0], nodeid="x::check_disk[data]", start=datetime(2026, 12, 1, tzinfo=UTC))
    found = forecast.forecast_series(
        history.History(tmp_path), "disk_percent", unit="%", critical=None, now=datetime(2026, 11, 6, tzinfo=UTC)
    )
    by_label = {series.label: series for series in found}
    assert by_label["disk_percent@check_disk[data]"].reason == "not enough history (2 of 5 runs)"
    root = by_label["disk_percent@check_disk[root]"].forecast
    assert root is not None
    assert root.days == pytest.approx(45.0)


# --- the shipped checks on seeded history ------------------------------------------------------------------


def _run_shipped(pytester: pytest.Pytester, config: str = "", *args: str) -> dict[str, dict[str, object]]:
    (pytester.path / "aide.toml").write_text(config)
    result = pytester.runpytest(
        "-p",
        "no:cacheprovider",
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",
        str(SHIPPED_CHECKS / "check_trends.py"),
        *args,
    )
    assert "Traceback" not in result.stdout.str()
    health = latest_health(pytester.path)
    return {c["nodeid"].split("::")[-1]: c for c in health["checks"]} | {"_run": health}


def test_trends_warn_with_the_action_on_ten_runs(pytester: pytest.Pytester) -> None:
    """Mean memory of the last 10 complete runs 86 % (> 85): WARNING, the manual's action; CPU at 60 %: OK."""
    archive = pytester.path / "reports"
    seed(archive, "memory_percent", [99.0] * 3 + [86.0] * 10)  # the older three are beyond the last 10
    seed(archive, "cpu_percent", [60.0] * 10, selection="weekly", start=datetime(2026, 10, 1, tzinfo=UTC))
    checks = _run_shipped(pytester)
    memory = checks["check_trends[memory_percent]"]
    assert memory["status"] == "WARNING"
    assert memory["measurements"]["trend_memory_percent"]["value"] == pytest.approx(86.0)
    assert "clear caches or restart the app" in str(memory["message"])
    assert checks["check_trends[cpu_percent]"]["status"] == "OK"  # weekly runs are samples too


def test_trends_with_too_little_history_skip_and_count_in_coverage(pytester: pytest.Pytester) -> None:
    archive = pytester.path / "reports"
    seed(archive, "memory_percent", [90.0, 90.0, 90.0])
    seed(archive, "memory_percent", [99.0] * 8, partial=True, start=datetime(2026, 12, 1, tzinfo=UTC))
    checks = _run_shipped(pytester)
    memory = checks["check_trends[memory_percent]"]
    assert (memory["status"], memory["skip_reason"]) == ("SKIPPED", "not enough history (3 of 10 runs)")
    assert checks["check_trends[db_query_s]"]["skip_reason"] == "not enough history (0 of 10 runs)"
    run = checks["_run"]
    assert isinstance(run, dict)
    assert run["coverage"]["selected"] == 5
    assert run["coverage"]["measured"] == 0
    assert run["status"] == "HEALTHY"
    assert run["counts"]["UNKNOWN"] == 0


def test_the_number_of_trend_samples_is_configurable(pytester: pytest.Pytester) -> None:
    seed(pytester.path / "reports", "memory_percent", [90.0, 90.0, 90.0])
    checks = _run_shipped(pytester, "[history]\ntrend_samples = 3\n")
    assert checks["check_trends[memory_percent]"]["status"] == "WARNING"


def _growing_disk(pytester: pytest.Pytester, days_left: float, points: int = 8) -> None:
    """Disk used % growing 2 points a day, reaching 100 % ``days_left`` days after now."""
    now = datetime.now(UTC)
    start = now - timedelta(days=points - 1)
    values = [100.0 - 2 * (days_left + points - 1 - i) for i in range(points)]
    seed(
        pytester.path / "reports", "disk_percent", values, nodeid="aide/check_resources.py::check_disk[x]", start=start
    )


@pytest.mark.parametrize(("days_left", "status"), [(60.0, "OK"), (20.0, "WARNING"), (5.0, "CRITICAL")])
def test_the_forecast_warns_below_30_days_and_is_critical_below_7(
    pytester: pytest.Pytester, days_left: float, status: str
) -> None:
    _growing_disk(pytester, days_left)
    check = _run_shipped(pytester)["check_capacity_forecast"]
    assert check["status"] == status
    [(name, measured)] = check["measurements"].items()
    assert name == "forecast_days:disk_percent@check_disk[x]"
    assert isinstance(measured, dict)
    assert measured["value"] == pytest.approx(days_left, abs=0.05)
    assert (measured["warning"], measured["critical"]) == ("30:", "7:")
    assert "disk_percent@check_disk[x] reaches 100 % in " in str(check["message"])
    assert "range" in str(check["message"])


def test_the_forecast_levels_are_configurable(pytester: pytest.Pytester) -> None:
    _growing_disk(pytester, 20.0)
    check = _run_shipped(pytester, '[thresholds.forecast_days]\nwarning = "10:"\ncritical = "3:"\n')[
        "check_capacity_forecast"
    ]
    assert check["status"] == "OK"


def test_a_flat_disk_has_no_forecast_and_says_why(pytester: pytest.Pytester) -> None:
    seed(pytester.path / "reports", "disk_percent", [40.0] * 6, nodeid="aide/check_resources.py::check_disk[x]")
    check = _run_shipped(pytester)["check_capacity_forecast"]
    assert check["status"] == "OK"
    assert check["measurements"] == {}
    assert str(check["message"]).startswith("disk_percent@check_disk[x]: no forecast: flat")


def test_too_few_points_skip_the_forecast_with_the_reason(pytester: pytest.Pytester) -> None:
    seed(pytester.path / "reports", "disk_percent", [40.0, 41.0, 42.0], nodeid="aide/check_resources.py::check_disk[x]")
    check = _run_shipped(pytester)["check_capacity_forecast"]
    assert (check["status"], check["skip_reason"]) == ("SKIPPED", "not enough history (3 of 5 runs)")


def test_any_growing_metric_with_a_critical_level_is_forecast(pytester: pytest.Pytester) -> None:
    now = datetime.now(UTC)
    seed(pytester.path / "reports", "db_size_mb", [800.0 + 10 * i for i in range(6)], start=now - timedelta(days=5))
    config = '[forecast]\nmetrics = ["db_size_mb"]\n[thresholds.db_size_mb]\ncritical = "1000"\n'
    check = _run_shipped(pytester, config)["check_capacity_forecast"]
    measured = check["measurements"]["forecast_days:db_size_mb@check_seed"]
    assert isinstance(measured, dict)
    assert measured["value"] == pytest.approx(15.0, abs=0.05)  # 850 MB now, +10 MB a day, critical at 1000
    assert check["status"] == "WARNING"


def test_trend_sources_are_the_manuals_four() -> None:
    assert trends.TREND_SOURCES == {
        "cpu_percent": "trend_cpu_percent",
        "memory_percent": "trend_memory_percent",
        "response_time_s": "trend_api_s",
        "db_query_s": "trend_db_query_s",
    }
    assert trends.not_enough(3, 10) == "not enough history (3 of 10 runs)"
    assert math.isclose(1.0, 1.0)


def test_trends_under_xdist_read_the_history_and_the_controller_records_once(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("xdist")
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    seed(pytester.path / "reports", "memory_percent", [90.0] * 10)
    checks = _run_shipped(pytester, "", "-n", "2")
    assert checks["check_trends[memory_percent]"]["status"] == "WARNING"
    with history.opened(pytester.path / "reports") as con:
        assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 11
        assert con.execute("SELECT count(*) FROM runs WHERE source = 'run'").fetchone()[0] == 11


def test_a_misspelt_forecast_metric_stops_the_run(pytester: pytest.Pytester) -> None:
    (pytester.path / "aide.toml").write_text('[forecast]\nmetrics = ["disk_pecent"]\n')
    result = pytester.runpytest("-p", "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning")
    assert result.ret == 4
    result.stderr.fnmatch_lines(
        ["ERROR: *aide.toml: [[]forecast[]] metrics: unknown metric 'disk_pecent'*did you mean 'disk_percent'*"]
    )
