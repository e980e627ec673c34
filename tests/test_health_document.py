"""The health-document rule (issue 8 point 7): the health path must answer 200 *with a health document*.

Two tiers: the rule itself (``probes/healthdoc.py``) on every word and body kind, and the shipped
``check_api_health`` in an inner pytest run against local ``http.server`` variants serving each kind of answer.
The same rule against nginx in front of gunicorn is in ``test_health_nginx.py``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from aide_testing import shipped_health_check
from hypothesis import given
from hypothesis import strategies as st
from quiet_http import QuietHTTPServer

from conftest import free_port
from pytest_aide.probes.healthdoc import (
    CRITICAL_WORDS,
    OK_WORDS,
    WARNING_WORDS,
    looks_like_html,
    read_health_document,
)
from pytest_aide.status import Status

HANG_S = 30.0  # only a hang takes this long
CHECKS = Path(__file__).resolve().parents[1] / "pytest_aide" / "suite" / "aide"
KNOWN = {w.lower() for w in OK_WORDS | WARNING_WORDS | CRITICAL_WORDS}
MAINTENANCE_PAGE = """<!DOCTYPE html>
<html><head><title>Down for maintenance</title></head>
<body><h1>We'll be back soon</h1></body></html>
"""
LOGIN_PAGE = "\n  <html lang='en'><body><form action='/login'><input name='password'></form></body></html>"


# --- the rule ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "status"),
    [
        *[(w, Status.OK) for w in ("pass", "ok", "up", "healthy", "green")],
        *[(w, Status.WARNING) for w in ("warn", "warning", "degraded")],
        *[
            (w, Status.CRITICAL)
            for w in ("fail", "failed", "failure", "down", "error", "unhealthy", "critical", "out_of_service")
        ],
    ],
)
@pytest.mark.parametrize("field", ["status", "state", "Status"])
@pytest.mark.parametrize("case", [str.lower, str.upper, str.title])
def test_status_words_map_case_insensitively(word: str, status: Status, field: str, case: object) -> None:
    shown = case(word)  # type: ignore[operator]
    body = json.dumps({field: shown, "checks": {}})
    document = read_health_document(body, json.loads(body))
    assert document.status is status
    assert document.word == shown
    assert repr(shown) in document.reason


@given(st.text(min_size=1, max_size=80).filter(lambda w: w.strip().lower() not in KNOWN))
def test_an_unknown_word_is_a_warning_that_names_it(word: str) -> None:
    document = read_health_document(json.dumps({"status": word}), {"status": word})
    assert document.status is Status.WARNING
    assert document.reason.startswith("unknown status ")
    assert document.word == word.strip()
    assert "\n" not in document.reason
    shown = " ".join(word.split())
    if shown.isprintable() and not set(shown) & set("'\"\\"):
        assert shown[:40] in document.reason


def test_status_wins_over_state_and_a_non_string_field_is_no_status() -> None:
    assert read_health_document("", {"state": "down", "status": "ok"}).status is Status.OK
    assert read_health_document("", {"status": {"code": "DOWN"}}).status is Status.OK  # not a word: by status code
    assert read_health_document("", {"status": {"code": "DOWN"}, "state": "down"}).status is Status.CRITICAL


@pytest.mark.parametrize(
    ("body", "data", "kind"),
    [
        ("", None, "an empty body"),
        ("   \n", None, "an empty body"),
        ("OK\n", None, "text"),
        ("healthy", None, "text"),
        ('{"uptime_s": 12}', {"uptime_s": 12}, "JSON without a status field"),
        ('["a"]', ["a"], "JSON without a status field"),
    ],
)
def test_bodies_without_a_status_word_are_judged_by_their_status_code(body: str, data: object, kind: str) -> None:
    document = read_health_document(body, data)
    assert document.status is Status.OK
    assert kind in document.reason


@pytest.mark.parametrize(
    "page",
    [
        MAINTENANCE_PAGE,
        LOGIN_PAGE,
        "<HTML><BODY>ok</BODY></HTML>",
        "<?xml version='1.0'?>\n<!DOCTYPE html PUBLIC '-//W3C//DTD XHTML 1.0 Strict//EN'><html></html>",
        "<!-- served by the load balancer -->\n<html><body>Sorry</body></html>",
        "<head><title>Sign in</title></head>",
    ],
)
def test_an_html_page_is_critical_and_says_what_it_probably_is(page: str) -> None:
    assert looks_like_html(page)
    document = read_health_document(page, None)
    assert document.status is Status.CRITICAL
    assert "HTML page" in document.reason
    assert "login or maintenance page" in document.reason


@pytest.mark.parametrize("text", ["ok <html> later", "status: up", "<status>up</status>", "<htmlx>"])
def test_text_that_merely_mentions_html_is_not_a_page(text: str) -> None:
    assert not looks_like_html(text)
    assert read_health_document(text, None).status is Status.OK


# --- the shipped check against local servers ---------------------------------------------------------------


class _Answer(BaseHTTPRequestHandler):
    """Answers every GET with the class's ``body`` and ``content_type`` (set per server)."""

    body = b""
    content_type = "application/json"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


def serving(body: str, content_type: str = "application/json") -> Iterator[str]:
    handler = type("Handler", (_Answer,), {"body": body.encode(), "content_type": content_type})
    server = QuietHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(HANG_S)


def health_check(pytester: pytest.Pytester, url: str, extra: str = "") -> dict:
    return shipped_health_check(pytester, url, extra=extra)


@pytest.mark.parametrize(
    ("document", "status", "words"),
    [
        ({"status": "pass", "checks": {"db": "pass"}}, "OK", []),
        ({"status": "UP"}, "OK", []),
        ({"state": "Healthy"}, "OK", []),
        ({"status": "degraded", "reason": "replica lag"}, "WARNING", ["health_status", "degraded"]),
        ({"status": "banana"}, "WARNING", ["unknown status 'banana'"]),
        ({"status": "down"}, "CRITICAL", ["reports itself unhealthy", "status 'down'"]),
        ({"status": "OUT_OF_SERVICE"}, "CRITICAL", ["status 'OUT_OF_SERVICE'"]),
        ({"state": "fail"}, "CRITICAL", ["state 'fail'"]),
    ],
)
def test_the_health_check_reads_the_document(
    pytester: pytest.Pytester, document: dict, status: str, words: list[str]
) -> None:
    for url in serving(json.dumps(document)):
        check = health_check(pytester, url)
        assert check["status"] == status, check["message"]
        for word in words:
            assert word in check["message"]
        assert check["measurements"]["response_time_s"]["status"] == "OK"


@pytest.mark.parametrize(
    ("body", "content_type"), [("", "text/plain"), ("OK", "text/plain"), ('{"version": "1.4.2"}', "application/json")]
)
def test_the_health_check_passes_on_a_200_without_a_status_word(
    pytester: pytest.Pytester, body: str, content_type: str
) -> None:
    for url in serving(body, content_type):
        check = health_check(pytester, url)
        assert check["status"] == "OK", check["message"]


def test_the_health_check_fails_on_a_maintenance_page(pytester: pytest.Pytester) -> None:
    for url in serving(MAINTENANCE_PAGE, "text/html"):
        check = health_check(pytester, url)
        assert check["status"] == "CRITICAL"
        assert "answered 200 with an HTML page" in check["message"]
        assert "login or maintenance page?" in check["message"]


def test_configured_conditions_override_the_document_rule(pytester: pytest.Pytester) -> None:
    document = json.dumps({"status": "down", "database": {"ok": True}})
    for url in serving(document):
        passing = health_check(pytester, url, 'health_conditions = ["database.ok == true"]\n')
        assert passing["status"] == "OK", passing["message"]
    for url in serving(MAINTENANCE_PAGE, "text/html"):
        failing = health_check(pytester, url, 'health_conditions = ["status == ok"]\n')
        assert failing["status"] == "CRITICAL"
        assert "status: no 'status' in the response: it is null" in failing["message"]
        assert "HTML page" not in failing["message"]  # the conditions decided, not the document rule


def test_a_refused_connection_records_no_response_time(pytester: pytest.Pytester) -> None:
    check = health_check(pytester, f"http://127.0.0.1:{free_port()}")
    assert check["status"] == "CRITICAL"
    assert "connection refused" in check["message"]
    assert "response_time_s" not in check["measurements"]


def test_a_refused_endpoint_records_no_response_time(pytester: pytest.Pytester) -> None:
    config = pytester.path / "aide.toml"
    config.write_text(f'[app]\nurl = "http://127.0.0.1:{free_port()}"\n\n[[endpoints]]\nname = "orders"\npath = "/o"\n')
    pytester.runpytest_inprocess(
        "-p",
        "no:cacheprovider",
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",
        str(CHECKS / "check_endpoints.py"),
        f"--aide-config={config}",
        "-q",
    )
    [run] = sorted((pytester.path / "reports").glob("2*/health.json"))
    [check] = json.loads(run.read_text())["checks"]
    assert check["status"] == "CRITICAL"
    assert "connection refused" in check["message"]
    assert "response_time_s" not in check["measurements"]
