"""No vacuous pass: nothing to measure yet is SKIPPED, a target not read is UNKNOWN, and every report shows
coverage (checks that measured something / checks selected): health.json, the verdict block, health.html."""

from __future__ import annotations

import json
import re

import pytest
from aide_testing import aide_run, latest_health, run_dirs, statuses

from pytest_aide import health_html

MIXED = """
import pytest
from pytest_aide.errors import ProbeError

def check_ok(aide_health):
    aide_health.record("memory_percent", 42.0)

def check_warning(aide_health):
    aide_health.record("memory_percent", 85.0)

def check_critical(aide_health):
    aide_health.record("disk_percent", 95.5)

@pytest.fixture
def broken_target():
    raise ConnectionError("target unreachable")

def check_setup_unknown(broken_target, aide_health):
    pass

def check_probe_unknown(aide_health):
    raise ProbeError("log app.log: 40 recent lines, none with a timestamp of format '%Y-%m-%d'")

def check_nothing_yet(aide_health):
    pytest.skip("nothing to measure yet: 1 archived run, trends need 3")
"""


def _coverage_text(page: str) -> str:
    found = re.search(r'<dd id="aide-coverage">([^<]*)</dd>', page)
    assert found, "health.html has no coverage line"
    return found.group(1)


def test_every_report_shows_coverage(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(check_mixed=MIXED)
    result = aide_run(pytester)
    health = latest_health(pytester.path)
    assert statuses(health) == {
        "check_ok": "OK",
        "check_warning": "WARNING",
        "check_critical": "CRITICAL",
        "check_setup_unknown": "UNKNOWN",
        "check_probe_unknown": "UNKNOWN",
        "check_nothing_yet": "SKIPPED",
    }
    assert health["coverage"] == {"measured": 3, "selected": 6}
    result.stdout.fnmatch_lines(
        [
            "checks: 1 ok, 1 warning, 1 critical, 2 unknown, 1 skipped",
            "coverage: 3/6 checks measured (1 skipped, 2 unknown)",
        ]
    )
    [run] = run_dirs(pytester.path)
    page = (run / "health.html").read_text()
    assert _coverage_text(page) == "3 of 6 checks measured something (3 skipped or unknown)"


def test_a_probe_error_in_the_body_is_unknown_with_its_message_not_critical(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(check_mixed=MIXED)
    result = aide_run(pytester, "-k", "probe_unknown")
    [check] = latest_health(pytester.path)["checks"]
    assert check["status"] == "UNKNOWN"
    assert check["message"].startswith("log app.log: 40 recent lines, none with a timestamp")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["UNKNOWN check_mixed.py::check_probe_unknown - log app.log*"])


def test_a_full_coverage_run_says_so(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(check_mixed=MIXED)
    result = aide_run(pytester, "-k", "check_ok or check_warning")
    assert latest_health(pytester.path)["coverage"] == {"measured": 2, "selected": 2}
    result.stdout.fnmatch_lines(["coverage: 2/2 checks measured"])
    [run] = run_dirs(pytester.path)
    assert _coverage_text((run / "health.html").read_text()) == "2 of 2 checks measured something"


def test_shipped_checks_with_nothing_to_measure_yet_skip_and_count(pytester: pytest.Pytester) -> None:
    """A fresh install: no archive for trends, no backup set, an empty inventory — skipped, never OK, never
    UNKNOWN, each with its reason, and the run is not failing for it."""
    (pytester.path / "notes.txt").write_text("hi")
    (pytester.path / "aide.toml").write_text(
        '[backup]\n[[backup.components]]\nname = "notes"\nkind = "file"\nsource = "notes.txt"\n'
        "[suite]\nenabled = true\n"
    )
    result = aide_run(pytester, "-m", "weekly", "-k", "trends or backup or table_rows")
    health = latest_health(pytester.path)
    reasons = {c["nodeid"].split("::")[-1]: (c["status"], c.get("skip_reason", "")) for c in health["checks"]}
    backups = pytester.path / "backups"
    assert reasons == {
        **{
            f"check_trends[{source}]": ("SKIPPED", "not enough history (0 of 10 runs)")
            for source in ("cpu_percent", "memory_percent", "response_time_s", "db_query_s")
        },
        "check_capacity_forecast": ("SKIPPED", "not enough history (0 of 5 runs)"),
        "check_backup_fresh_and_verified": ("SKIPPED", f"no backup set yet in {backups}: run `aide backup`"),
        "check_backup_restore_drill": ("SKIPPED", f"no backup set yet in {backups}: run `aide backup`"),
        "check_backup_size_and_duration": (
            "SKIPPED",
            "not enough backup history to compare with (0 of 3 complete sets)",
        ),
        "check_table_rows[not-configured]": ("SKIPPED", "not configured: [db] tables lists nothing"),
    }
    assert health["coverage"] == {"measured": 0, "selected": 9}
    assert (health["status"], health["score"], result.ret) == ("HEALTHY", None, 0)


def test_coverage_travels_under_xdist(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("xdist")
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    pytester.makepyfile(
        check_mixed=MIXED
        + """
@pytest.mark.aide(essential=True)
def check_essential_unread(aide_health):
    raise ProbeError("app http://127.0.0.1:1: connection refused")
"""
    )
    (pytester.path / "aide.toml").write_text("[suite]\nenabled = false\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    result.stdout.fnmatch_lines_random(["*2 workers*", "coverage: 3/7 checks measured (1 skipped, 3 unknown)"])
    health = latest_health(pytester.path)
    assert health["coverage"] == {"measured": 3, "selected": 7}
    assert statuses(health)["check_essential_unread"] == "UNKNOWN"
    assert health["status"] == "CRITICAL"
    assert health["verdict_rule"] == "CRITICAL (essential check): check_mixed.py::check_essential_unread is UNKNOWN"


def test_health_html_shows_the_verdict_rule_and_counts_coverage_of_older_files() -> None:
    older = {
        "status": "CRITICAL",
        "score": 75.0,
        "verdict_rule": "CRITICAL (essential check): aide/check_api.py::check_api_health is CRITICAL",
        "checks": [
            {"nodeid": "a", "status": "OK"},
            {"nodeid": "b", "status": "CRITICAL"},
            {"nodeid": "c", "status": "UNKNOWN"},
            {"nodeid": "d", "status": "SKIPPED", "skip_reason": "not configured: [backup]"},
        ],
    }
    page = health_html.render(json.loads(json.dumps(older)))
    assert _coverage_text(page) == "2 of 4 checks measured something (2 skipped or unknown)"
    assert (
        '<p id="aide-verdict-rule">CRITICAL (essential check): aide/check_api.py::check_api_health is CRITICAL</p>'
        in (page)
    )
