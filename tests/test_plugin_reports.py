"""Reports archived per run: health.json, junit.xml and report.html agree with each other and the terminal."""

from __future__ import annotations

import html
import json
import re

import pytest
from aide_testing import (
    CHECKS,
    activate,
    aide_run,
    junit_case_properties,
    junit_suite_properties,
    latest_health,
    run_dirs,
)


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(check_sample=CHECKS)
    return pytester


def test_reports_agree_with_each_other_and_the_terminal(suite: pytest.Pytester) -> None:
    result = aide_run(suite, "-k", "not unknown")
    [run] = run_dirs(suite.path)
    health = json.loads((run / "health.json").read_text())
    assert health["schema"] == "pytest-aide/health/1"
    assert health["run_id"] == run.name
    assert {"started", "finished", "host", "target", "selection", "counts", "checks"} <= set(health)

    terminal = next(line for line in result.stdout.lines if re.match(r"^(HEALTHY|DEGRADED|UNHEALTHY|CRITICAL)  ", line))
    assert terminal.startswith(f"{health['status']}  score {health['score']:g}/100")

    suite_props = junit_suite_properties(run / "junit.xml")
    assert suite_props["aide.status"] == health["status"]
    assert float(suite_props["aide.score"]) == health["score"]
    assert suite_props["aide.run_id"] == health["run_id"]
    assert int(suite_props["aide.count.critical"]) == health["counts"]["CRITICAL"] == 2

    cases = junit_case_properties(run / "junit.xml")
    for check in health["checks"]:
        name = check["nodeid"].split("::")[-1]
        if check["status"] in ("OK", "WARNING"):
            assert cases[name]["aide.status"] == check["status"]
        for metric, data in check["measurements"].items():
            assert json.loads(cases[name][f"aide.m.{metric}"]) == data

    html = (run / "report.html").read_text()
    assert 'id="aide-verdict" style="color:' in html
    verdict = re.search(r'id="aide-verdict"[^>]*>(\w+) ', html)
    assert verdict is not None
    assert verdict.group(1) == health["status"]
    score = re.search(r'id="aide-score">([\d.]+)<', html)
    assert score is not None
    assert float(score.group(1)) == health["score"]
    assert "col-aidestatus" in html
    assert "disk_percent" in html


def test_index_lists_every_run_newest_first(suite: pytest.Pytester) -> None:
    aide_run(suite, "-k", "ok")
    aide_run(suite, "-k", "critical")
    first, second = run_dirs(suite.path)
    assert first.name < second.name
    page = (suite.path / "reports" / "index.html").read_text()
    headline, index = page.split("<h2>Runs</h2>")  # the latest run's verdict and the charts, then the table
    assert ">CRITICAL</span> score 0/100" in headline
    assert index.index(second.name) < index.index(first.name)
    assert f'href="{second.name}/report.html"' in index
    assert index.count(">CRITICAL<") == 1
    assert index.count(">HEALTHY<") == 1


def test_two_runs_in_the_same_second_get_their_own_folders(suite: pytest.Pytester) -> None:
    for _ in range(3):
        aide_run(suite, "-k", "ok")
    assert len(run_dirs(suite.path)) == 3


def test_archive_can_move_and_can_be_turned_off(suite: pytest.Pytester) -> None:
    aide_run(suite, "-k", "ok", "--aide-reports", "elsewhere")
    assert (run_dirs(suite.path, "elsewhere")[0] / "report.html").exists()
    assert not (suite.path / "reports").exists()
    aide_run(suite, "-k", "ok", "--aide-no-archive")
    assert len(run_dirs(suite.path, "elsewhere")) == 1
    assert not (suite.path / "reports").exists()


def test_archive_off_in_config(suite: pytest.Pytester) -> None:
    suite.makefile(".toml", aide="[reports]\narchive = false\n")
    result = aide_run(suite, "-k", "ok")
    result.stdout.fnmatch_lines(["HEALTHY  score 100/100*"])
    assert not (suite.path / "reports").exists()


def test_explicit_html_and_junit_paths_win(suite: pytest.Pytester) -> None:
    aide_run(suite, "-k", "ok", "--html", "mine.html", "--junitxml", "mine.xml")
    assert (suite.path / "mine.html").exists()
    assert (suite.path / "mine.xml").exists()
    [run] = run_dirs(suite.path)
    assert (run / "health.json").exists()
    assert not (run / "report.html").exists()
    assert not (run / "junit.xml").exists()


def test_a_run_without_checks_leaves_no_archive(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    result = aide_run(pytester)
    result.assert_outcomes(passed=1)
    assert run_dirs(pytester.path) == []
    result.stdout.no_fnmatch_line("*pytest-aide verdict*")
    result.stdout.no_fnmatch_line("*Generated html report*")
    result.stdout.no_fnmatch_line("*generated xml file*")


SECRET_CHECK = """
import os
import pytest

def check_leaky(aide_config, aide_health):
    print("connecting to", aide_config.settings.db.url, "with", os.environ["SERVICE_API_TOKEN"])
    aide_health.attach("env", "API_KEY=" + "dotenv-secret-value-42")
    assert False, f"cannot reach {aide_config.settings.db.url} token={os.environ['SERVICE_API_TOKEN']}"

def check_leaky_setup(leak):
    pass

@pytest.fixture
def leak(aide_config):
    raise ConnectionError(f"refused: {aide_config.settings.db.url} dotenv-secret-value-42")
"""


def test_secrets_never_reach_terminal_or_reports(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICE_API_TOKEN", "tok-8f3a9c1d-secret")
    monkeypatch.setenv("AIDE_DB_URL", "postgresql://app:pa55w0rd-xyz@db.internal:5432/prod")
    (pytester.path / "config").mkdir()
    (pytester.path / "config" / ".env").write_text("API_KEY=dotenv-secret-value-42\n")
    pytester.makefile(".toml", aide='[preflight]\nconfig_files = ["config/.env"]\n')
    pytester.makepyfile(check_secret=SECRET_CHECK)
    result = aide_run(pytester, "-rA", "-v")
    [run] = run_dirs(pytester.path)
    outputs = {
        "stdout": result.stdout.str(),
        "stderr": result.stderr.str(),
        **{p.name: p.read_text() for p in run.iterdir() if p.is_file()},
        "index.html": (pytester.path / "reports" / "index.html").read_text(),
    }
    assert {"health.json", "junit.xml", "report.html"} <= set(outputs)
    for where, text in outputs.items():
        for secret in ("tok-8f3a9c1d-secret", "pa55w0rd-xyz", "dotenv-secret-value-42"):
            assert secret not in text, f"{secret} leaked into {where}"
    assert "postgresql://app:***@db.internal:5432/prod" in outputs["stdout"]
    assert latest_health(pytester.path)["target"]["db"] == "postgresql://app:***@db.internal:5432/prod"


def test_xdist_gives_the_same_checks_statuses_and_score(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("xdist")
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    activate(suite)
    serial = suite.runpytest_subprocess("-p", "no:cacheprovider", "-n", "0")
    serial_health = latest_health(suite.path)
    parallel = suite.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    parallel_health = latest_health(suite.path)
    parallel.stdout.fnmatch_lines_random(["*2 workers*", "*pytest-aide verdict*"])

    def essence(health: dict) -> tuple:
        checks = sorted(
            (c["nodeid"], c["status"], c["component"], json.dumps(c["measurements"], sort_keys=True))
            for c in health["checks"]
        )
        return health["status"], health["score"], health["counts"], checks

    assert essence(serial_health) == essence(parallel_health)
    assert serial.ret == parallel.ret == 1
    assert len(run_dirs(suite.path)) == 2  # one archive per run: workers write none of their own


def test_a_critical_check_carries_redacted_evidence(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROBE_TOKEN", "evidence-secret-77")
    pytester.makepyfile(
        check_ev="""
        import os

        def check_slow(aide_health):
            aide_health.attach("response of /api/health", "upstream said: token " + os.environ["PROBE_TOKEN"])
            aide_health.record("response_time_s", 4.2)
    """
    )
    result = aide_run(pytester, "-rA")
    [run] = run_dirs(pytester.path)
    html = (run / "report.html").read_text()
    junit = (run / "junit.xml").read_text()
    health = (run / "health.json").read_text()
    assert json.loads(health)["checks"][0]["evidence"][0]["title"] == "response of /api/health"
    for text in (html, junit, health, result.stdout.str()):
        assert "upstream said: token ***" in text
        assert "top processes by memory" in text
        assert "top processes by CPU" in text
        assert "evidence-secret-77" not in text


def test_a_warning_check_carries_its_own_evidence(pytester: pytest.Pytester) -> None:
    """A WARNING needs attention too: the log check's action says "read the log's recent error entries
    (attached)", and its only shipped level is a warning, so the entries must reach health.json and health.html."""
    pytester.makepyfile(
        check_ev="""
        def check_log(aide_health):
            aide_health.attach("last error entries of app.log", "ERROR relation missing_table does not exist")
            aide_health.record("log_errors", 12.0)

        def check_quiet(aide_health):
            aide_health.attach("last error entries of quiet.log", "ERROR once")
            aide_health.record("log_errors", 1.0)
    """
    )
    aide_run(pytester)
    [run] = run_dirs(pytester.path)
    checks = {c["nodeid"].split("::")[-1]: c for c in json.loads((run / "health.json").read_text())["checks"]}
    assert checks["check_log"]["status"] == "WARNING"
    assert checks["check_log"]["evidence"][0] == {
        "title": "last error entries of app.log",
        "text": "ERROR relation missing_table does not exist",
    }
    assert "evidence" not in checks["check_quiet"]  # OK: nothing to read
    assert "ERROR relation missing_table does not exist" in (run / "health.html").read_text()
    assert "ERROR relation missing_table does not exist" in (run / "junit.xml").read_text()


def test_keep_days_prunes_old_runs_after_a_run(suite: pytest.Pytester) -> None:
    old = suite.path / "reports" / "20200101-000000-000000"
    old.mkdir(parents=True)
    (old / "health.json").write_text('{"run_id": "20200101-000000-000000", "status": "HEALTHY"}')
    suite.makefile(".toml", aide="[reports]\nkeep_days = 30\n")
    aide_run(suite, "-k", "ok")
    [run] = run_dirs(suite.path)
    assert run.name.startswith("20")
    assert run.name != old.name
    assert "20200101-000000-000000" not in (suite.path / "reports" / "index.html").read_text()


UNDECODABLE_NAME_CHECK = """
import os


def check_dump_exists(tmp_path):
    name = os.fsdecode(b"dump-\\xff.sql")  # a file name that is not UTF-8: a lone surrogate in the text
    assert os.path.exists(tmp_path / name), f"missing {name}"
"""


def test_a_message_that_utf8_cannot_hold_still_archives_the_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(check_dump=UNDECODABLE_NAME_CHECK)
    result = aide_run(pytester)
    result.assert_outcomes(failed=1)
    assert "INTERNALERROR" not in result.stdout.str()
    [run] = run_dirs(pytester.path)
    health = json.loads((run / "health.json").read_text(encoding="utf-8"))
    [check] = health["checks"]
    assert check["status"] == "CRITICAL"
    assert "missing dump-\\udcff.sql" in check["message"]
    assert "dump-\\udcff.sql" in (run / "health.html").read_text(encoding="utf-8")
    assert run.name in (pytester.path / "reports" / "index.html").read_text(encoding="utf-8")


def test_a_property_a_check_records_is_masked_and_the_others_kept(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every report's properties pass the redactor: a secret in one is masked, clean ones are written as given."""
    monkeypatch.setenv("AIDE_TEST_SERVICE_TOKEN", "tok-from-env-42")
    pytester.makefile(".toml", aide="[reports]\narchive = false\n")
    pytester.makepyfile(
        check_props="""
        def check_notes(record_property):
            record_property("note", "sent tok-from-env-42 upstream")
            record_property("plain", "nothing to hide")
            record_property("count", 3)
        """
    )
    result = aide_run(pytester, "--junitxml=junit.xml", "-o", "junit_family=legacy")
    result.assert_outcomes(passed=1)
    junit = (pytester.path / "junit.xml").read_text(encoding="utf-8")
    assert "tok-from-env-42" not in junit
    assert 'name="note" value="sent *** upstream"' in junit.replace("&#42;", "*")
    assert 'name="plain" value="nothing to hide"' in junit
    assert 'name="count" value="3"' in junit


def test_pytest_html_formats_no_passed_setup_or_teardown_and_keeps_teardown_output(pytester: pytest.Pytester) -> None:
    """pytest-html formats every report's cells and log and then drops a passed setup's or teardown's row:
    aide leaves those out through its table-row hook (about a third of pytest-html's work per check). A
    teardown that captured output still reaches the call's row, as pytest-html puts it there."""
    pytester.makepyfile(
        check_rows="""
        import pytest

        @pytest.fixture
        def noisy():
            yield
            print("said at teardown")

        def check_quiet(aide_health):
            aide_health.record("memory_percent", 10.0)

        def check_noisy(noisy, aide_health):
            aide_health.record("memory_percent", 10.0)
        """
    )
    pytester.makeconftest(
        """
        import pathlib

        def pytest_html_results_table_html(report, data):
            with pathlib.Path("formatted.txt").open("a") as f:
                f.write(report.nodeid.split("::")[-1] + " " + report.when + "\\n")
        """
    )
    result = aide_run(pytester)
    result.assert_outcomes(passed=2)
    formatted = sorted((pytester.path / "formatted.txt").read_text().splitlines())
    assert formatted == ["check_noisy call", "check_noisy teardown", "check_quiet call"]
    [run] = run_dirs(pytester.path)
    blob = re.search(r'data-jsonblob="([^"]*)"', (run / "report.html").read_text())
    assert blob is not None
    tests = json.loads(html.unescape(blob.group(1)))["tests"]
    [noisy] = [rows for nodeid, rows in tests.items() if nodeid.endswith("check_noisy")]
    assert len(noisy) == 1
    assert "said at teardown" in noisy[0]["log"]


def test_a_projects_own_row_hook_sees_every_row_with_its_cells(pytester: pytest.Pytester) -> None:
    """pytest-html's user guide removes the Links column with ``cells.pop()`` in both table hooks: aide leaves a
    passed setup's or teardown's row out only after the other hooks have had it (an empty list made that pop
    an INTERNALERROR that stopped the run)."""
    pytester.makepyfile(check_two="def check_a(aide_health):\n    pass\n\ndef check_b(aide_health):\n    pass\n")
    pytester.makeconftest(
        """
        def pytest_html_results_table_header(cells):
            cells.pop()

        def pytest_html_results_table_row(report, cells):
            cells.pop()
        """
    )
    result = aide_run(pytester)
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK
    [run] = run_dirs(pytester.path)
    blob = re.search(r'data-jsonblob="([^"]*)"', (run / "report.html").read_text())
    assert blob is not None
    rows = [row for rows in json.loads(html.unescape(blob.group(1)))["tests"].values() for row in rows]
    assert len(rows) == 2
    assert all(not any("col-links" in cell for cell in row["resultsTableRow"]) for row in rows)  # popped
    assert all(any("col-aidestatus" in cell for cell in row["resultsTableRow"]) for row in rows)  # aide's kept
