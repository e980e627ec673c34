"""Partial runs are marked and never feed trends; the verdict block says which rule decided the exit status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aide_testing import activate, aide_run, latest_health

from pytest_aide import gate, trends
from pytest_aide.history import History
from pytest_aide.results import CheckResult
from pytest_aide.status import Status
from pytest_aide.summary import RunSummary

TWO_CHECKS = """
def check_fine(aide_health):
    aide_health.record("memory_percent", 10.0)

def check_busy(aide_health):
    aide_health.record("memory_percent", 85.0)
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(check_pair=TWO_CHECKS)
    return pytester


def test_a_full_run_is_not_partial(project: pytest.Pytester) -> None:
    aide_run(project)
    health = latest_health(project.path)
    assert health["partial"] is False
    assert "partial_reason" not in health


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("-k", "fine"), "-k 'fine'"),
        (("check_pair.py::check_fine",), "node ids"),
        (("--deselect", "check_pair.py::check_busy"), "--deselect"),
    ],
)
def test_a_narrowed_run_is_archived_as_partial(project: pytest.Pytester, args: tuple[str, ...], reason: str) -> None:
    result = aide_run(project, *args)
    health = latest_health(project.path)
    assert health["partial"] is True
    assert reason in health["partial_reason"]
    result.stdout.fnmatch_lines([f"partial run (*{reason}*): archived, but not a trend sample"])


def test_last_failed_run_is_partial(project: pytest.Pytester) -> None:
    project.makepyfile(check_broken="def check_broken(aide_health):\n    assert False, 'down'\n")
    activate(project)
    project.runpytest("-W", "ignore::pytest.PytestAssertRewriteWarning")
    project.runpytest("--lf", "-W", "ignore::pytest.PytestAssertRewriteWarning")
    health = latest_health(project.path)
    assert health["partial"] is True
    assert "--lf" in health["partial_reason"]
    assert [c["nodeid"] for c in health["checks"]] == ["check_broken.py::check_broken"]


def _write_run(archive: Path, folder: str, cpu: float, *, partial: bool) -> None:
    run = archive / folder
    run.mkdir(parents=True)
    check = {"nodeid": "c", "measurements": {"cpu_percent": {"value": cpu}}}
    (run / "health.json").write_text(json.dumps({"run_id": folder, "partial": partial, "checks": [check]}))


def test_partial_runs_are_not_trend_samples(tmp_path: Path) -> None:
    _write_run(tmp_path, "20261130-010000-000001", 10.0, partial=False)
    _write_run(tmp_path, "20261130-020000-000001", 99.0, partial=True)
    _write_run(tmp_path, "20261130-030000-000001", 30.0, partial=False)
    runs = History(tmp_path)
    try:
        assert runs.values("cpu_percent") == [10.0, 30.0]
        assert trends.trend(runs, "cpu_percent", last=2).mean == 20.0
    finally:
        runs.close()


def _summary(*statuses: Status, score: float | None = None) -> RunSummary:
    checks = [CheckResult(f"c{i}", status=s) for i, s in enumerate(statuses)]
    summary = RunSummary.build(checks=checks, run_id="r", started="", finished="", host="h")
    if score is not None:
        summary.score = score
    return summary


@pytest.mark.parametrize(
    ("statuses", "settings", "pytest_status", "expected"),
    [
        ((Status.OK,), gate.Gate(), 0, (0, "exit 0: no check critical or unknown")),
        ((Status.OK, Status.CRITICAL), gate.Gate(), 1, (1, "exit 1: 1 CRITICAL check(s)")),
        ((Status.UNKNOWN, Status.CRITICAL), gate.Gate(), 1, (1, "exit 1: 1 CRITICAL and 1 UNKNOWN check(s)")),
        (
            (Status.OK, Status.WARNING),
            gate.Gate(fail_on="warning", fail_on_source="--aide-fail-on"),
            0,
            (1, "exit 1: 1 WARNING check(s) and --aide-fail-on is 'warning'"),
        ),
        (
            (Status.OK, Status.WARNING),
            gate.Gate(fail_under=80, fail_under_source="--aide-fail-under"),
            0,
            (1, "exit 1: score 75 below --aide-fail-under 80"),
        ),
        ((Status.OK,), gate.Gate(), 2, (2, "exit 2: set by pytest (interrupted or an error outside the checks)")),
    ],
)
def test_gate_decides_and_names_its_rule(
    statuses: tuple[Status, ...], settings: gate.Gate, pytest_status: int, expected: tuple[int, str]
) -> None:
    assert gate.decide(_summary(*statuses), settings, pytest_status) == expected


def test_the_verdict_block_says_why_a_passing_run_exits_1(project: pytest.Pytester) -> None:
    result = aide_run(project, "--aide-fail-under=80")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["*pytest-aide verdict*", "exit 1: score 75 below --aide-fail-under 80", "*1 passed, 1 warned*"]
    )
    assert latest_health(project.path)["exit_rule"] == "exit 1: score 75 below --aide-fail-under 80"


def test_the_rule_names_the_config_file_when_the_gate_comes_from_it(project: pytest.Pytester) -> None:
    project.makefile(".toml", aide='[gate]\nfail_on = "warning"\n')
    result = aide_run(project)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["exit 1: 1 WARNING check(s) and aide.toml [[]gate[]] fail_on is 'warning'"])
    assert latest_health(project.path)["exit_status"] == 1
