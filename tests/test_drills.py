"""The shipped drills (``pytest -m drill``) run against the demo the suite starts, as an operator runs them.

Each run is a subprocess with its own demo on free ports: the demo's upstream on one, the drills' proxy on
another (where the demo is told to call its upstream). A small plugin (``drillrec``) writes every experiment
record the ``aide_experiment`` fixture kept, so the tests read the phases the drills went through.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import requests

from conftest import free_port
from pytest_aide.drills import exit_description, refusal, sqlite_file
from pytest_aide.wiring import drills_chosen, marked_drills

RUN_TIMEOUT_S = 240.0  # four drills and a target restart on a loaded 2-core machine; only a hang takes longer
DRILLS = {
    "check_drill_upstream_cut",
    "check_drill_database_unavailable",
    "check_drill_upstream_latency",
    "check_drill_target_killed",
}

RECORDER = """
import json
import pytest
from pytest_aide.results import EXPERIMENTS


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item):
    yield
    for name, value in item.user_properties:  # what the check's call report carries (aide_experiment's records)
        for record in json.loads(value) if name == EXPERIMENTS else []:
            with open("experiments.jsonl", "a", encoding="utf-8") as out:
                out.write(json.dumps(record) + "\\n")
"""


def answers(port: int) -> bool:
    try:
        requests.get(f"http://127.0.0.1:{port}/api/health", timeout=2)
    except requests.RequestException:
        return False
    return True


def drill_toml(app: int, upstream: int, proxy: int, *, drills: str = "restart_target = true\n") -> str:
    command = [
        "{python}", "-m", "pytest_aide.demo", "--port", str(app), "--data-dir", "demo",
        "--upstream-port", str(upstream), "--upstream-url", f"http://127.0.0.1:{proxy}",
    ]  # fmt: skip
    return (
        f'[app]\nurl = "http://127.0.0.1:{app}"\nstop_grace = 5\ncommand = {json.dumps(command)}\n'
        '[db]\nurl = "sqlite:///demo/data/database.db"\n'
        "[reports]\narchive = false\n"
        f'[drills]\nupstream = "127.0.0.1:{upstream}"\nupstream_proxy_port = {proxy}\n{drills}'
    )


@pytest.fixture
def project(pytester: pytest.Pytester) -> tuple[pytest.Pytester, int]:
    """A drill project whose demo the run starts; the demo's port."""
    app = free_port()
    pytester.makefile(".toml", aide=drill_toml(app, free_port(), free_port()))
    pytester.makepyfile(drillrec=RECORDER)
    return pytester, app


def run_drills(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "-m", "drill", "-p", "drillrec", "-p", "no:cacheprovider", "-rA", *args, timeout=RUN_TIMEOUT_S
    )


def experiments(pytester: pytest.Pytester) -> dict[str, dict[str, Any]]:
    path = pytester.path / "experiments.jsonl"
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []
    return {record["name"]: record for record in records}


def phase(record: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in record["phases"] if p["phase"] == name)


def test_the_drills_pass_against_the_demo_the_run_started(project: tuple[pytest.Pytester, int]) -> None:
    pytester, port = project
    result = run_drills(pytester)
    result.assert_outcomes(passed=4)
    records = experiments(pytester)
    assert set(records) == {"upstream cut", "database unavailable", "upstream latency", "target killed"}
    for record in records.values():
        assert record["ok"], record
        assert [p["outcome"] for p in record["phases"]] == ["ok"] * 5, record
        assert all(p["duration_s"] is not None for p in record["phases"])  # every phase timed
    assert phase(records["upstream cut"], "degrade")["observed"] == "'degraded'"
    assert phase(records["upstream cut"], "degrade")["duration_s"] <= 5
    assert phase(records["upstream cut"], "recover")["duration_s"] <= 10
    assert phase(records["database unavailable"], "degrade")["observed"] == "'degraded'"
    assert phase(records["database unavailable"], "recover")["observed"] == "'healthy'"
    killed = phase(records["target killed"], "degrade")["observed"]
    assert killed.startswith("'CRITICAL: the target this run started (pid "), killed
    assert ") exited with status -9 (killed by SIGKILL); last output: " in killed
    assert phase(records["target killed"], "recover")["observed"] == "'healthy'"  # restarted, as configured
    assert (pytester.path / "demo" / "data" / "database.db").exists()  # put back after the drill
    assert not answers(port)  # the restarted target is stopped at the end of the run like the first one


def test_without_fallback_the_outage_drill_fails_saying_what_did_not_degrade(
    project: tuple[pytest.Pytester, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester, _ = project
    monkeypatch.setenv("AIDE_DEMO_NO_FALLBACK", "1")  # the demo the run starts inherits it: its broken mode
    result = run_drills(pytester, "-k", "upstream_cut")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "  CRITICAL aide/check_drills.py::check_drill_upstream_cut: upstream cut: did not degrade within 5 s:"
            " the health status stayed 'unhealthy' (expected 'degraded': the app should serve its cached upstream"
            " data while the upstream is cut)"
        ]
    )
    record = experiments(pytester)["upstream cut"]
    assert (record["failed_phase"], phase(record, "rollback")["outcome"]) == ("degrade", "ok")  # the cut was healed


def test_the_kill_drill_without_restart_is_critical_with_the_exit_status_and_last_output(
    pytester: pytest.Pytester,
) -> None:
    app = free_port()
    pytester.makefile(".toml", aide=drill_toml(app, free_port(), free_port(), drills=""))
    pytester.makepyfile(drillrec=RECORDER)
    result = run_drills(pytester, "-k", "killed")
    result.assert_outcomes(failed=1)
    line = next(line for line in result.stdout.lines if line.startswith("  CRITICAL aide/check_drills.py"))
    assert "killed by the drill, not restarted ([drills] restart_target = false): CRITICAL: the target" in line
    assert "exited with status -9 (killed by SIGKILL)" in line
    assert re.search(r"last output: demo serving on http://127\.0\.0\.1:\d+ .*demo upstream on", line), line
    assert not answers(app)


def test_drills_refuse_a_target_the_run_did_not_start_unless_allowed(
    pytester: pytest.Pytester, running_demo: int, tmp_path: Path
) -> None:
    config = (
        f'[app]\nurl = "http://127.0.0.1:{running_demo}"\n[reports]\narchive = false\n'
        f'[drills]\ndatabase_file = "{tmp_path / "own-demo" / "data" / "database.db"}"\n'
    )
    pytester.makefile(".toml", aide=config)
    pytester.makepyfile(drillrec=RECORDER)
    refused = run_drills(pytester)
    refused.assert_outcomes(errors=4)
    refused.stdout.fnmatch_lines(["*UNKNOWN*check_drill_upstream_cut*drills refused: the target at*was not started*"])
    assert answers(running_demo)  # untouched
    pytester.makefile(".toml", aide=config + "allow_unstarted_target = true\n")
    allowed = run_drills(pytester)
    allowed.assert_outcomes(passed=1, skipped=3)  # the database drill; no upstream configured, no process of ours
    allowed.stdout.fnmatch_lines(["*the run did not start the target: there is no process of ours to kill*"])
    assert answers(running_demo)


def test_drills_refuse_to_run_under_xdist(
    project: tuple[pytest.Pytester, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("xdist")
    pytester, port = project
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    result = run_drills(pytester, "-n", "2")
    result.assert_outcomes(errors=4)
    result.stdout.fnmatch_lines_random(["*UNKNOWN*check_drill_*drills run in one process, not 2 xdist workers*"])
    assert not answers(port)


def _collected(pytester: pytest.Pytester, *args: str) -> set[str]:
    result = pytester.runpytest_inprocess("--collect-only", "-q", "-p", "no:cacheprovider", *args)
    return {re.sub(r"\[.*", "", line.split("::")[-1]) for line in result.stdout.lines if "::" in line}


def test_no_schedule_and_no_plain_run_selects_a_drill(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", aide="[reports]\narchive = false\n")
    pytester.makepyfile(check_mine="import pytest\n\n@pytest.mark.drill\ndef check_own_drill():\n    pass\n")
    for args in (["-m", "daily"], ["-m", "weekly"], ["-m", "monthly"], ["-m", "gate"], [], ["-m", "not slow"]):
        names = _collected(pytester, *args)
        assert not {n for n in names if "drill" in n} - {"check_backup_restore_drill"}, (args, names)
    assert _collected(pytester, "-m", "drill") == DRILLS | {"check_own_drill"}


def test_a_drill_marker_on_a_class_a_module_or_a_case_makes_a_drill(pytester: pytest.Pytester) -> None:
    """``marked_drills`` finds what ``get_closest_marker("drill")`` finds, however the marker reaches the item."""
    pytester.makefile(".toml", aide="[reports]\narchive = false\n")
    pytester.makepyfile(
        check_mixed="""
        import pytest

        @pytest.mark.drill
        class CheckMarked:
            def check_in_class(self):
                pass

        class CheckPlain:
            def check_plain_method(self):
                pass

        @pytest.mark.parametrize("n", [1, pytest.param(2, marks=pytest.mark.drill), 3])
        def check_cases(n):
            pass
        """,
        check_module="import pytest\n\npytestmark = pytest.mark.drill\n\ndef check_in_module():\n    pass\n",
    )
    pytester.makeini("[pytest]\npython_classes = Check\n")
    items, _ = pytester.inline_genitems(
        "-m", "drill or not drill", "-p", "no:cacheprovider", "check_mixed.py", "check_module.py"
    )
    drills = [item.name for item in marked_drills(items)]
    assert drills == [item.name for item in items if item.get_closest_marker("drill") is not None]
    assert drills == ["check_in_class", "check_cases[2]", "check_in_module"]
    assert _collected(pytester, "check_mixed.py", "check_module.py") == {"check_plain_method", "check_cases"}


def test_the_ci_templates_select_no_drill() -> None:
    templates = Path(__file__).resolve().parents[1] / "ci"
    texts = {path.name: path.read_text(encoding="utf-8") for path in templates.rglob("*") if path.is_file()}
    seen = set()
    for name, text in texts.items():
        for expression in re.findall(r"-m[ =]+['\"]?([\w ]+)", text):
            seen.add(expression.strip())
            assert not drills_chosen(expression), (name, expression)
    assert {"gate", "daily", "weekly"} <= {expression.split()[0] for expression in seen}  # the scan found them


@pytest.mark.parametrize(
    ("expression", "chosen"),
    [
        ("drill", True),
        ("drill and not slow", True),
        ("(drill)", True),
        ("", False),
        ("daily", False),
        ("not slow", False),
        ("drills_extra", False),
        ("monthly or gate", False),
    ],
)
def test_only_an_expression_naming_drill_chooses_drills(expression: str, chosen: bool) -> None:
    assert drills_chosen(expression) is chosen


def test_refusal_names_the_target_and_the_setting() -> None:
    assert refusal(started_by_run=True, allowed=False, url="http://a") is None
    assert refusal(started_by_run=False, allowed=True, url="http://a") is None
    message = refusal(started_by_run=False, allowed=False, url="http://prod:80")
    assert message is not None
    assert "http://prod:80 was not started by this run" in message
    assert "[drills] allow_unstarted_target = true" in message
    assert refusal(started_by_run=True, allowed=True, url=None) == "drills need a target: [app] url is not set"
    under_xdist = refusal(started_by_run=True, allowed=False, url="http://a", workers=2)
    assert under_xdist is not None
    assert under_xdist.startswith("drills run in one process, not 2 xdist workers: run pytest -m drill without -n")


def test_exit_descriptions_and_sqlite_files() -> None:
    assert exit_description(-9) == "exited with status -9 (killed by SIGKILL)"
    assert exit_description(3) == "exited with status 3"
    assert exit_description(None).startswith("exited (status unknown")
    assert sqlite_file("sqlite:///demo/data/database.db") == "demo/data/database.db"
    assert sqlite_file("sqlite:////abs/app.db?mode=ro") == "/abs/app.db"
    assert sqlite_file("postgresql://db/app") is None
    assert sqlite_file(None) is None


def test_the_health_check_names_the_exit_status_and_last_output_of_a_target_that_died(
    pytester: pytest.Pytester,
) -> None:
    port = free_port()
    pytester.makefile(".toml", aide=drill_toml(port, free_port(), free_port()))
    pytester.makepyfile(
        check_kill="""
        import os, signal

        def check_a_kill(aide_drill_target, aide_target_exit):
            assert aide_target_exit() is None  # it runs
            os.kill(aide_drill_target.started_pid(), signal.SIGKILL)
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-k", "a_kill or check_api_health", timeout=120)
    result.assert_outcomes(passed=1, failed=1)
    assert re.search(
        r"CRITICAL aide/check_api.py::check_api_health: GET http://127\.0\.0\.1:\d+/api/health: connection refused:"
        r" the target this run started \(pid \d+\) exited with status -9 \(killed by SIGKILL\); last output: demo"
        r" serving on http://127\.0\.0\.1:\d+ \(data in .*\) \| demo upstream on",
        result.stdout.str(),
    ), result.stdout.str()
