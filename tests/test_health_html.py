"""health.html, the operator report: verdict first, failing checks in full, groups by status, skipped last.

The domain module is tested directly (ordering, escaping, redaction, no external URLs); a real run through
pytest shows the file is written beside health.json and agrees with it, that the index links it, and that
report.html links back to it. tests/test_browser.py opens the same files in Chromium.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from aide_testing import CHECKS, aide_run, latest_health, run_dirs
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import escape

from pytest_aide import archive_index, health_html
from pytest_aide.metrics import DEFAULT_METRICS
from pytest_aide.redact import Redactor
from pytest_aide.results import CheckResult
from pytest_aide.status import Status
from pytest_aide.summary import RunSummary

_VOID = {"meta", "link", "br", "img", "input", "hr", "col", "area", "base", "source", "wbr"}


class Page(HTMLParser):
    """The parts of a page the tests look at: element ids in order, text per id, every attribute."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: list[str] = []
        self.text: dict[str, str] = {}
        self.attributes: list[tuple[str, str, str]] = []  # (tag, name, value)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.tags: list[str] = []
        self._open: list[tuple[str, str | None]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        found = dict(attrs)
        self.attributes.extend((tag, name, value or "") for name, value in attrs)
        self.elements.append((tag, {name: value or "" for name, value in attrs}))
        element_id = found.get("id")
        if element_id:
            self.ids.append(element_id)
            self.text.setdefault(element_id, "")
        if tag not in _VOID:
            self._open.append((tag, element_id))
        self.handle_data(" ")  # cells and blocks read apart: words() folds the runs of spaces

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        for _, element_id in self._open:
            if element_id:
                self.text[element_id] += data

    def words(self, element_id: str) -> str:
        return " ".join(self.text[element_id].split())


def measurement(value: float, status: str, warning: str | None = "80", critical: str | None = "90") -> dict[str, Any]:
    return {"value": value, "unit": "%", "status": status, "warning": warning, "critical": critical}


def mixed_summary() -> RunSummary:
    """Checks in run order OK, SKIPPED, WARNING, CRITICAL, UNKNOWN, OK."""
    checks = [
        CheckResult(
            "check_a.py::check_memory_ok", status=Status.OK, measurements={"memory_percent": measurement(42, "OK")}
        ),
        CheckResult("check_a.py::check_api", skip_reason="not configured: [app] url"),
        CheckResult(
            "check_a.py::check_memory_high",
            status=Status.WARNING,
            message="memory_percent = 85 % (warning > 80)",
            measurements={"memory_percent": measurement(85, "WARNING")},
        ),
        CheckResult(
            "check_a.py::check_disk",
            component="host",
            status=Status.CRITICAL,
            message="disk_percent = 95.5 % (critical > 90)",
            measurements={"disk_percent": measurement(95.5, "CRITICAL"), "memory_percent": measurement(12, "OK")},
            evidence=[{"title": "df -h", "text": "/dev/sda1  95%  /"}],
        ),
        CheckResult("check_a.py::check_db", status=Status.UNKNOWN, message="could not run: ConnectionError: refused"),
        CheckResult("check_a.py::check_load_ok", status=Status.OK),
    ]
    return RunSummary.build(
        checks=checks,
        run_id="20260101-000000-000000",
        started="2026-01-01T00:00:00+00:00",
        finished="2026-01-01T00:00:05+00:00",
        host="web-1",
        target={"app": "http://app.example:8000", "config": "/srv/app/aide.toml"},
        selection="daily",
    )


DISK = "check-3"  # the anchor of mixed_summary's check_disk (anchors number the checks in run order)


def render(summary: RunSummary, redactor: Redactor | None = None) -> Page:
    return Page(health_html.render_summary(summary, redactor or Redactor()))


def test_the_page_opens_on_verdict_score_and_advice() -> None:
    summary = mixed_summary()
    page = render(summary)
    assert page.ids[:2] == ["verdict", "aide-verdict"]
    assert page.words("aide-verdict") == summary.verdict.value
    assert page.words("aide-score") == f"{summary.score:g}"
    assert page.words("aide-advice") == summary.verdict.advice
    assert page.ids.index("verdict") < page.ids.index("coverage") < page.ids.index("attention")


def test_coverage_counts_checks_run_and_skipped_and_names_the_selection() -> None:
    page = render(mixed_summary())
    assert page.words("aide-ran") == "5 of 6"
    assert page.words("aide-skipped-count") == "1"
    assert page.words("aide-selection") == "-m daily"
    assert "1 critical, 1 unknown, 1 warning, 2 ok, 1 skipped" in page.words("coverage")


def test_a_run_without_selection_says_so() -> None:
    summary = mixed_summary()
    summary.selection = ""
    assert page_words(summary, "aide-selection") == "all checks (no -m)"


def page_words(summary: RunSummary, element_id: str) -> str:
    return render(summary).words(element_id)


def test_failing_checks_come_first_worst_first_with_message_measurements_action_and_evidence() -> None:
    page = render(mixed_summary())
    attention = [i for i in page.ids if i.startswith("check-")]
    assert [page.words(i).split()[:2] for i in attention] == [
        ["CRITICAL", "check_a.py::check_disk"],
        ["UNKNOWN", "check_a.py::check_db"],
        ["WARNING", "check_a.py::check_memory_high"],
    ]
    disk = page.words(attention[0])
    assert "disk_percent = 95.5 % (critical > 90)" in disk
    assert "disk_percent 95.5 % CRITICAL 80 90" in disk  # value, unit, status, thresholds
    assert "memory_percent 12 % OK 80 90" in disk  # every measurement, not only the broken one
    assert f"Action: {DEFAULT_METRICS['disk_percent'].action}" in disk
    assert DEFAULT_METRICS["memory_percent"].action not in disk  # an OK measurement asks for nothing
    assert "Evidence: df -h /dev/sda1 95% /" in disk
    assert "could not run: ConnectionError: refused" in page.words(attention[1])
    assert "check_memory_ok" not in page.words("attention")


def test_a_measurement_without_a_catalogue_action_has_none_and_a_recorded_action_wins() -> None:
    own = measurement(7, "CRITICAL")
    recorded = {**measurement(95, "CRITICAL"), "action": "call the storage team"}
    summary = RunSummary.build(
        checks=[
            CheckResult("c.py::check_own", status=Status.CRITICAL, measurements={"queue_depth_custom": own}),
            CheckResult("c.py::check_disk", status=Status.CRITICAL, measurements={"disk_percent": recorded}),
        ],
        run_id="r",
        started="s",
        finished="f",
        host="h",
    )
    page = render(summary)
    assert "Action" not in page.words("check-0")
    assert "Action: call the storage team" in page.words("check-1")
    assert DEFAULT_METRICS["disk_percent"].action not in page.words("check-1")


def test_groups_by_status_critical_unknown_warning_ok_then_skipped_last() -> None:
    page = render(mixed_summary())
    groups = [i for i in page.ids if i.startswith("group-")]
    assert groups == ["group-CRITICAL", "group-UNKNOWN", "group-WARNING", "group-OK", "group-SKIPPED"]
    assert page.ids.index("group-SKIPPED") > max(page.ids.index(g) for g in groups[:-1])
    assert [i for i in page.ids if i.startswith(("group-", "check-"))][-1] == "group-SKIPPED"


def test_warning_is_its_own_group_not_counted_with_ok() -> None:
    page = render(mixed_summary())
    assert "check_memory_high" in page.words("group-WARNING")
    assert "check_memory_high" not in page.words("group-OK")
    assert page.words("group-WARNING").startswith("WARNING (1)")
    assert page.words("group-OK").startswith("OK (2)")


def test_skipped_checks_are_one_compact_line_each_with_their_reason() -> None:
    html = health_html.render_summary(mixed_summary(), Redactor())
    page = Page(html)
    assert page.words("group-SKIPPED") == "Skipped (1) check_a.py::check_api — not configured: [app] url"
    skipped_block = html[html.index('id="group-SKIPPED"') :]
    assert "<table" not in skipped_block
    assert skipped_block.count("<li>") == 1
    assert "check_api" not in page.words("attention")


def test_a_group_that_is_empty_is_not_shown_and_a_clean_run_says_nothing_needs_attention() -> None:
    summary = RunSummary.build(
        checks=[CheckResult("c.py::check_ok", status=Status.OK)], run_id="r", started="s", finished="f", host="h"
    )
    page = render(summary)
    assert [i for i in page.ids if i.startswith("group-")] == ["group-OK"]
    assert page.words("aide-nothing") == "No check needs attention."


def test_partial_runs_and_the_exit_rule_are_shown_when_the_summary_carries_them() -> None:
    summary = mixed_summary()
    assert not {"aide-partial", "aide-exit-rule"} & set(render(summary).ids)
    summary.partial_reason = "narrowed by -k disk"
    summary.exit_rule = "exit 1: score 62.0 below --aide-fail-under 70"
    page = render(summary)
    assert page.words("aide-exit-rule") == "exit 1: score 62.0 below --aide-fail-under 70"
    assert page.words("aide-partial").startswith("Partial run: narrowed by -k disk")
    assert page.ids.index("aide-partial") < page.ids.index("coverage")


def test_text_of_the_target_is_escaped_never_markup() -> None:
    summary = mixed_summary()
    summary.checks[3].message = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    summary.checks[3].evidence = [{"title": "</pre><b>", "text": "&lt; & <i>"}]
    summary.checks[1].skip_reason = "<a href='http://evil.example'>click</a>"
    page = render(summary)
    assert set(page.tags) <= {
        *("html", "head", "meta", "link", "title", "style", "body", "header", "h1", "h2", "h3", "p", "span"),
        *("section", "dl", "dt", "dd", "code", "article", "table", "thead", "tbody", "tr", "th", "td"),
        *("details", "summary", "pre", "ul", "li", "a", "footer"),
    }
    assert '<script>alert("x")</script><img src=x onerror=alert(1)>' in page.words(DISK)
    assert "Evidence: </pre><b> &lt; & <i>" in page.words(DISK)
    assert "<a href='http://evil.example'>click</a>" in page.words("group-SKIPPED")


@given(st.text())
def test_rows_escape_text_as_markupsafe_does(text: str) -> None:
    """The rows of "All checks" escape as the template's autoescape would (markupsafe), without its Markup."""
    assert health_html._escaped(text) == str(escape(text))
    assert health_html._escaped("<a href='x'>&\"</a>") == "&lt;a href=&#39;x&#39;&gt;&amp;&#34;&lt;/a&gt;"


@given(text=st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1))
def test_any_message_comes_back_exactly_as_text(text: str) -> None:
    check = CheckResult("c.py::check_x", status=Status.CRITICAL, message=text)
    summary = RunSummary.build(checks=[check], run_id="r", started="s", finished="f", host="h")
    page = Page(health_html.render(summary.to_dict()))  # unredacted: the text must survive unchanged
    assert text in page.text["check-0"]
    assert text in page.text["group-CRITICAL"]


def test_every_string_goes_through_the_run_redactor() -> None:
    secret = "tok-8f3a9c1d-secret"
    summary = mixed_summary()
    summary.checks[3].message = f"refused with token {secret}"
    summary.checks[3].evidence = [{"title": f"header {secret}", "text": "Authorization: Bearer abc.def.ghi"}]
    summary.checks[1].skip_reason = f"needs {secret}"
    summary.target["db"] = "postgresql://app:pa55w0rd-xyz@db:5432/prod"
    summary.exit_rule = f"exit 1 ({secret})"
    summary.partial_reason = f"-k {secret}"
    html = health_html.render_summary(summary, Redactor([secret]))
    for leaked in (secret, "pa55w0rd-xyz", "abc.def.ghi"):
        assert leaked not in html
    page = Page(html)
    assert "refused with token ***" in page.words(DISK)
    assert "postgresql://app:***@db:5432/prod" in page.words("coverage")
    assert page.words("aide-exit-rule") == "exit 1 (***)"


def test_no_script_no_external_url_and_a_policy_that_forbids_loading_anything() -> None:
    html = health_html.render_summary(mixed_summary(), Redactor())  # the target URL is text in the page
    page = Page(html)
    assert "script" not in page.tags
    links = [(tag, name, value) for tag, name, value in page.attributes if name in {"href", "src", "action"}]
    assert links
    assert all(value.startswith(("#", "data:")) for _, _, value in links), links
    assert not re.search(r"url\(|@import", html)
    [policy] = [a["content"] for t, a in page.elements if a.get("http-equiv") == "Content-Security-Policy"]
    assert policy.startswith("default-src 'none';")


def test_a_score_of_none_and_odd_values_render_plainly() -> None:
    summary = RunSummary.build(
        checks=[
            CheckResult(
                "c.py::check_nan",
                status=Status.CRITICAL,
                measurements={"cpu_percent": measurement(float("nan"), "CRITICAL", None, "85")},
            ),
            CheckResult("c.py::check_skip", skip_reason="off"),
        ],
        run_id="r",
        started="s",
        finished="f",
        host="h",
    )
    summary.score = None
    page = render(summary)
    assert page.words("aide-score") == "n/a"
    assert "cpu_percent nan % CRITICAL 85" in page.words("check-0")


# --- through pytest: the file written by a real run, the index and report.html -------------------------------


SKIPPED_CHECK = """

def check_skipped():
    pytest.skip("not configured: [app] url")
"""
LEAKING_CHECK = """
import os

def check_leak(aide_health):
    assert 0, "sent " + os.environ["SERVICE_API_TOKEN"]
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".toml", aide="")
    pytester.makepyfile(
        check_sample=CHECKS + '\n\ndef check_skipped():\n    pytest.skip("not configured: [app] url")\n'
    )
    return pytester


def test_a_run_writes_health_html_beside_health_json_and_they_agree(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVICE_API_TOKEN", "tok-4242-secret")
    suite.makepyfile(check_leak=LEAKING_CHECK)
    aide_run(suite, "check_sample.py", "check_leak.py")
    [run] = run_dirs(suite.path)
    health = latest_health(suite.path)
    html = (run / "health.html").read_text(encoding="utf-8")
    page = Page(html)
    assert page.words("aide-verdict") == health["status"]
    assert page.words("aide-score") == f"{health['score']:g}"
    for check in health["checks"]:
        assert check["nodeid"] in html
    assert "tok-4242-secret" not in html
    assert "sent ***" in page.words("attention")
    assert page.words("group-SKIPPED") == "Skipped (1) check_sample.py::check_skipped — not configured: [app] url"


def test_the_index_links_health_html_first_then_the_other_reports(suite: pytest.Pytester) -> None:
    aide_run(suite, "check_sample.py", "-k", "ok")
    [run] = run_dirs(suite.path)
    page = Page((suite.path / "reports" / "index.html").read_text())
    hrefs = [v for t, n, v in page.attributes if t == "a" and n == "href"]
    assert hrefs == [
        f"{run.name}/{name}" for name in ("health.html", "health.html", "report.html", "junit.xml", "health.json")
    ]


def test_an_index_row_of_a_run_without_health_html_links_report_html(tmp_path: Path) -> None:
    for name, files in {"20250101-000000-000000": [], "20260101-000000-000000": ["health.html"]}.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "health.json").write_text(json.dumps({"run_id": name, "status": "HEALTHY", "score": 100}))
        for file in files:
            (tmp_path / name / file).write_text("x")
    page = Page(archive_index.render_index(archive_index.archived_runs(tmp_path)))
    hrefs = [v for t, n, v in page.attributes if t == "a" and n == "href"]
    new, old = "20260101-000000-000000", "20250101-000000-000000"
    assert hrefs[0] == f"{new}/health.html"
    assert hrefs[5] == f"{old}/report.html"
    assert f"{old}/health.html" not in hrefs


def test_the_index_marks_a_partial_run(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    data = {"run_id": "run", "status": "HEALTHY", "score": 100, "partial": True, "partial_reason": "-k <disk>"}
    (tmp_path / "run" / "health.json").write_text(json.dumps(data))
    html = archive_index.render_index(archive_index.archived_runs(tmp_path))
    assert "partial: -k &lt;disk&gt;" in html


def test_report_html_links_the_operator_report_and_shows_skips_in_one_line(suite: pytest.Pytester) -> None:
    aide_run(suite, "check_sample.py")
    [run] = run_dirs(suite.path)
    html = (run / "report.html").read_text(encoding="utf-8")
    assert 'id="aide-health-link" href="health.html"' in html
    blob = Page(html)
    data = json.loads(next(v for t, n, v in blob.attributes if n == "data-jsonblob"))
    [skipped] = data["tests"]["check_sample.py::check_skipped"]
    assert skipped["log"].strip() == "Skipped: not configured: [app] url"
    assert "pytest-aide health report" in data["title"]


def test_an_html_path_chosen_by_the_user_links_the_operator_report_relatively(suite: pytest.Pytester) -> None:
    aide_run(suite, "check_sample.py", "--html", "out/mine.html")
    [run] = run_dirs(suite.path)
    html = (suite.path / "out" / "mine.html").read_text(encoding="utf-8")
    href = re.search(r'id="aide-health-link" href="([^"]+)"', html)
    assert href is not None
    assert (suite.path / "out" / href.group(1)).resolve() == (run / "health.html").resolve()


def test_a_plain_project_keeps_its_html_title(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    pytester.runpytest("-p", "no:cacheprovider", "--html", "plain.html")  # no aide configuration
    html = (pytester.path / "plain.html").read_text(encoding="utf-8")
    assert "pytest-aide" not in html
    assert not (pytester.path / "reports").exists()
