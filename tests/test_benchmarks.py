"""pytest-benchmark in the verdict: thresholds on a check's statistics, storage in the archive, a compare-fail
regression as the check's status (the results' rule table), and xdist, where pytest-benchmark is off."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from aide_testing import SHIPPED_CHECKS, latest_health, run_dirs
from pytest_benchmark.utils import parse_compare_fail
from test_load_probe import _Handler, _Server

from pytest_aide import benchmarks
from pytest_aide.health import HealthRecorder
from pytest_aide.results import RULES, RunCollector, status_of
from pytest_aide.status import Status

pytestmark = pytest.mark.benchmark_plugin  # these tests' own runs use pytest-benchmark

# --- the model ------------------------------------------------------------------------------------------------


def test_statistics_are_judged_as_response_time_and_throughput() -> None:
    recorder = HealthRecorder()
    benchmarks.record_statistics(recorder, [0.5, 0.5, 0.5, 0.5, 2.0])  # mean 0.8 s, p95 1.7 s, 1.25 ops/s
    found = {m.name: (round(m.value, 3), m.status) for m in recorder.measurements}
    assert found == {
        "benchmark_mean_s": (0.8, Status.OK),
        "benchmark_p95_s": (1.7, Status.WARNING),  # the seeds' response time: > 1 s warns
        "benchmark_ops": (1.25, Status.CRITICAL),  # the seeds' throughput: < 50 ops/s is critical
    }


def test_nothing_timed_records_nothing() -> None:
    recorder = HealthRecorder()
    benchmarks.record_statistics(recorder, [])
    assert recorder.measurements == []


def _row(name: str, mean: float, path: str | None = None) -> dict[str, Any]:
    return {"fullname": name, "mean": mean, "min": mean, "path": path, "source": "0001_x" if path else "NOW"}


def test_regressions_are_judged_by_pytest_benchmarks_own_expressions() -> None:
    rows = [
        _row("check_a.py::check_fast", 0.010, "/s/0001_x.json"),
        _row("check_a.py::check_fast", 0.011),  # +10 %: within 25 %
        _row("check_a.py::check_slow", 0.010, "/s/0001_x.json"),
        _row("check_a.py::check_slow", 0.020),  # +100 %
        _row("check_a.py::check_new", 0.5),  # nothing saved to compare with
    ]
    found = benchmarks.find_regressions(rows, [parse_compare_fail("mean:25%")])
    assert [(r.nodeid, r.against) for r in found] == [("check_a.py::check_slow", "0001_x")]
    assert found[0].message.startswith("benchmark regressed against 0001_x: Field 'mean' has failed")


@pytest.mark.parametrize(
    ("recorded", "severity", "expected"),
    [
        (Status.OK, None, Status.CRITICAL),  # the table's default
        (Status.OK, Status.WARNING, Status.WARNING),  # [benchmark] regression = "warning"
        (Status.CRITICAL, Status.WARNING, Status.CRITICAL),  # at least: never better than what it measured
        (None, None, Status.CRITICAL),
    ],
)
def test_a_regression_is_a_rule_of_the_one_table(recorded: Status | None, severity: Status, expected: Status) -> None:
    assert RULES[("session", "regressed")] is Status.CRITICAL
    assert status_of("session", "regressed", recorded=recorded, severity=severity) is expected


def test_the_collector_gives_a_regressed_check_its_status_and_message() -> None:
    collector = RunCollector()
    collector.add_regression("check_b.py::check_b", "benchmark regressed against 0001: mean")
    (result,) = collector.results()
    assert (result.status, result.message, result.regressions) == (
        Status.CRITICAL,
        "benchmark regressed against 0001: mean",
        ["benchmark regressed against 0001: mean"],
    )
    assert result.to_dict()["regressions"] == ["benchmark regressed against 0001: mean"]


# --- through pytest -------------------------------------------------------------------------------------------

BENCHMARKED = """
import os, time

def check_timed(benchmark):
    delay = float(os.environ.get("AIDE_TEST_DELAY", "0.001"))
    benchmark.pedantic(time.sleep, args=(delay,), rounds=5, iterations=1)

def check_plain(aide_health):
    aide_health.record("memory_percent", 5)
"""


NO_SPEED_BOUNDS = "[thresholds.benchmark_ops]\nwarning = false\ncritical = false\n"  # a shared machine's speed
SLOWDOWN = 0.2  # s a round, injected: 200x the 1 ms of the saved run (more than twice it however loaded the machine)


def _project(pytester: pytest.Pytester, extra: str = "") -> None:
    pytester.makefile(".toml", aide=f'[reports]\ndir = "reports"\n[suite]\nenabled = false\n{extra}')
    pytester.makepyfile(check_bench=BENCHMARKED)


def _run(pytester: pytest.Pytester, *args: str, delay: float = 0.001) -> pytest.RunResult:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIDE_TEST_DELAY", str(delay))
        return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=180)


def _check(pytester: pytest.Pytester, name: str) -> dict[str, Any]:
    (found,) = [c for c in latest_health(pytester.path)["checks"] if c["nodeid"].endswith(name)]
    return dict(found)


def test_a_benchmarked_check_gets_thresholds_on_its_statistics(pytester: pytest.Pytester) -> None:
    # 10 ms a round: above a 1 ms warning for the mean; ops/s thresholds taken off (a shared machine's speed)
    _project(
        pytester,
        '[thresholds.benchmark_mean_s]\nwarning = "0.001"\n'
        "[thresholds.benchmark_ops]\nwarning = false\ncritical = false\n",
    )
    result = _run(pytester, delay=0.01)
    result.stdout.fnmatch_lines(["*WARNING*check_bench.py::check_timed: benchmark_mean_s = * s (warning > 0.001*"])
    timed = _check(pytester, "check_timed")
    assert timed["status"] == "WARNING"
    assert set(timed["measurements"]) == {"benchmark_mean_s", "benchmark_p95_s", "benchmark_ops"}
    assert timed["measurements"]["benchmark_mean_s"]["value"] >= 0.01
    p95 = timed["measurements"]["benchmark_p95_s"]
    assert (p95["status"], p95["warning"], p95["critical"]) == ("OK", "1", "3")  # its own metric: the seeds' figures
    assert _check(pytester, "check_plain")["measurements"].keys() == {"memory_percent"}  # untouched


def test_benchmark_runs_are_saved_in_the_archive(pytester: pytest.Pytester) -> None:
    _project(pytester)
    _run(pytester).assert_outcomes(passed=2)
    (run,) = run_dirs(pytester.path)
    saved = sorted((pytester.path / "reports" / "benchmarks").glob("*/*.json"))
    assert [p.name for p in saved] == [f"0001_aide-{run.name}.json"]
    assert [b["fullname"] for b in json.loads(saved[0].read_text())["benchmarks"]] == ["check_bench.py::check_timed"]
    assert not (pytester.path / ".benchmarks").exists()


def test_a_partial_run_is_no_baseline(pytester: pytest.Pytester) -> None:
    _project(pytester)
    _run(pytester, "-k", "check_timed").assert_outcomes(passed=1)
    assert not list((pytester.path / "reports").glob("benchmarks/*/*.json"))  # the next compare keeps the full run
    _run(pytester).assert_outcomes(passed=2)
    assert len(list((pytester.path / "reports").glob("benchmarks/*/*.json"))) == 1


def test_a_run_without_benchmarks_saves_nothing_and_says_nothing(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", aide='[reports]\ndir = "reports"\n[suite]\nenabled = false\n')
    pytester.makepyfile(check_daily="def check_plain(aide_health):\n    aide_health.record('memory_percent', 5)\n")
    result = _run(pytester)
    result.assert_outcomes(passed=1)
    assert "Not saving anything" not in result.stdout.str() + result.stderr.str()
    assert not list((pytester.path / "reports").glob("benchmarks/*/*.json"))


def test_a_chosen_benchmark_storage_is_left_alone(pytester: pytest.Pytester) -> None:
    _project(pytester)
    _run(pytester, "--benchmark-storage=mine", "--benchmark-autosave").assert_outcomes(passed=2)
    assert list((pytester.path / "mine").glob("*/*.json"))
    assert not (pytester.path / "reports" / "benchmarks").exists()


def test_a_compare_fail_regression_is_in_the_verdict(pytester: pytest.Pytester) -> None:
    _project(pytester, NO_SPEED_BOUNDS)
    first = _run(pytester, "--benchmark-compare-fail=mean:100%")  # nothing saved yet: not a usage error
    assert first.ret == 0
    first.stdout.fnmatch_lines(["HEALTHY*", "benchmarks: no saved run in * to compare with yet"])
    slow = _run(pytester, "--benchmark-compare-fail=mean:100%", delay=SLOWDOWN)
    slow.stdout.fnmatch_lines(
        [
            "*pytest-aide verdict*",
            "UNHEALTHY*",
            "*CRITICAL*check_bench.py::check_timed: benchmark regressed against 0001_aide-*: Field 'mean' has failed*",
        ]
    )
    assert slow.ret == 1  # aide's gate: a CRITICAL check (not pytest-benchmark's exception after the verdict)
    assert "Traceback" not in slow.stdout.str() + slow.stderr.str()
    health = latest_health(pytester.path)
    assert health["status"] != "HEALTHY"
    timed = _check(pytester, "check_timed")
    assert timed["status"] == "CRITICAL"
    assert len(timed["regressions"]) == 1


def test_a_regression_can_be_configured_to_warn(pytester: pytest.Pytester) -> None:
    _project(pytester, '[benchmark]\nregression = "warning"\n' + NO_SPEED_BOUNDS)
    _run(pytester).assert_outcomes(passed=2)
    warned = _run(pytester, "--benchmark-compare", "--benchmark-compare-fail=mean:100%", delay=SLOWDOWN)
    assert warned.ret == 0  # [gate] fail_on = "critical": a warning passes, as the exit rule line says
    warned.stdout.fnmatch_lines(["exit 0: *"])
    assert _check(pytester, "check_timed")["status"] == "WARNING"
    assert latest_health(pytester.path)["status"] == "DEGRADED"  # never HEALTHY beside a failed comparison


def test_a_bad_regression_setting_names_the_key(pytester: pytest.Pytester) -> None:
    _project(pytester, '[benchmark]\nregression = "loud"\n')
    result = _run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: *aide.toml*benchmark*regression*"])


def test_under_xdist_the_check_says_it_was_not_timed_and_is_not_unknown(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("xdist")
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    _project(pytester)
    result = _run(pytester, "-n", "2", "-W", "ignore::pytest_benchmark.logger.PytestBenchmarkWarning")
    result.stdout.fnmatch_lines_random(["HEALTHY*", "checks: 2 ok, 0 warning, 0 critical, 0 unknown, 0 skipped"])
    timed = _check(pytester, "check_timed")
    assert (timed["status"], timed["measurements"]) == ("OK", {})
    assert timed["message"] == "not timed by pytest-benchmark (it is off under xdist or --benchmark-disable)"
    assert not list((pytester.path / "reports").glob("benchmarks/*/*.json"))  # nothing timed, nothing saved


def test_the_shipped_throughput_check_times_itself_under_xdist(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("xdist")
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    server = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        config = pytester.path / "aide.toml"
        config.write_text(
            f'[app]\nurl = "http://127.0.0.1:{server.server_address[1]}"\nhealth_path = "/ok"\n'
            "[thresholds.throughput_ops]\nwarning = false\ncritical = false\n"
        )
        result = _run(
            pytester,
            str(SHIPPED_CHECKS / "check_performance.py"),
            "-k",
            "check_api_throughput",
            f"--aide-config={config}",
            "-n",
            "2",
            "-W",
            "ignore::pytest_benchmark.logger.PytestBenchmarkWarning",
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
    result.stdout.fnmatch_lines_random(["checks: 1 ok, 0 warning, 0 critical, 0 unknown, 0 skipped"])
    check = _check(pytester, "check_api_throughput")
    assert {"response_time_s", "throughput_ops"} <= set(check["measurements"])
    assert check["message"] == "self-timed: pytest-benchmark is off under xdist or --benchmark-disable"
