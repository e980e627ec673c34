"""No vacuous pass in the shipped log and cost checks: nothing to measure yet is SKIPPED, unreadable is UNKNOWN."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

SUITE = Path(__file__).resolve().parents[1] / "pytest_aide" / "suite" / "aide"


def _checks(pytester: pytest.Pytester, toml: str, module: str) -> dict[str, dict[str, Any]]:
    (pytester.path / "aide.toml").write_text(toml)
    before = set((pytester.path / "reports").glob("2*/health.json"))
    pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning",
        str(SUITE / module), f"--aide-config={pytester.path / 'aide.toml'}", "-q",
    )  # fmt: skip
    [run] = sorted(set((pytester.path / "reports").glob("2*/health.json")) - before)
    return {c["nodeid"].split("::")[-1]: c for c in json.loads(run.read_text())["checks"]}


def test_a_log_without_cost_lines_is_no_budget_of_zero(pytester: pytest.Pytester) -> None:
    (pytester.path / "app.log").write_text("2026-11-30 09:00:00,000 INFO app: started\n")
    check = _checks(pytester, '[logs]\nfiles = ["app.log"]\n', "check_costs.py")["check_cost_budget"]
    assert check["status"] == "SKIPPED"
    assert check["skip_reason"] == "no API_COST lines in app.log: no cost recorded yet"


def test_cost_files_that_do_not_exist_make_the_budget_unknown(pytester: pytest.Pytester) -> None:
    check = _checks(pytester, '[logs]\ncost_files = ["gone.log"]\n', "check_costs.py")["check_cost_budget"]
    assert check["status"] == "UNKNOWN"
    assert "none of the cost files exists: gone.log" in check["message"]


def test_cost_lines_are_still_summed(pytester: pytest.Pytester) -> None:
    from datetime import UTC, datetime

    stamp = datetime.now(UTC).isoformat()
    (pytester.path / "app.log").write_text(f'x API_COST {{"timestamp": "{stamp}", "cost": 12.5}}\n')
    check = _checks(pytester, '[logs]\nfiles = ["app.log"]\n', "check_costs.py")["check_cost_budget"]
    assert check["status"] == "OK"
    assert check["measurements"]["monthly_cost_jpy"]["value"] == 12.5
