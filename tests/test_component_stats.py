"""The shipped component-statistics check (``[app] component_stats_path``): the demo's, and thresholds that alert."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from aide_testing import latest_health
from quiet_http import QuietHTTPServer

from conftest import HANG_S
from pytest_aide.demo import DemoServer, ensure_demo_data
from pytest_aide.demo.server import STATS_PATH


def serve_forever(server: QuietHTTPServer | DemoServer) -> Iterator[str]:
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(HANG_S)


@pytest.fixture
def demo_url(tmp_path: Path) -> Iterator[str]:
    yield from serve_forever(DemoServer(("127.0.0.1", 0), ensure_demo_data(tmp_path / "demo")))


STATS: dict[str, Any] = {
    "errors": {"total": 5, "auto_resolved": 2},
    "circuits": {"healthy": ["database"], "unhealthy": ["upstream"]},
    "retry": {"success_rate": 0.95},
    "fallback": {"success_rate": 0.4},
}


@pytest.fixture
def crafted_url() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = json.dumps(STATS).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    yield from serve_forever(QuietHTTPServer(("127.0.0.1", 0), Handler))


def run_check(pytester: pytest.Pytester, url: str, stats_path: str | None) -> dict[str, Any]:
    line = f'component_stats_path = "{stats_path}"\n' if stats_path else ""
    pytester.makefile(".toml", aide=f'[app]\nurl = "{url}"\n{line}')
    pytester.runpytest_subprocess("-m", "daily", "-k", "check_component_stats", "-p", "no:cacheprovider", timeout=120)
    [check] = latest_health(pytester.path)["checks"]
    return dict(check)


def test_the_demos_statistics_pass_and_rates_nothing_needed_are_left_out(
    pytester: pytest.Pytester, demo_url: str
) -> None:
    check = run_check(pytester, demo_url, STATS_PATH)
    assert check["status"] == "OK", check
    values = {name: m["value"] for name, m in check["measurements"].items() if name != "response_time_s"}
    assert values == {
        "component_errors": 0,
        "component_errors_auto_resolved": 0,
        "component_errors_unresolved": 0,
        "open_circuits": 0,
    }


def test_open_circuits_unresolved_errors_and_a_failing_fallback_alert(
    pytester: pytest.Pytester, crafted_url: str
) -> None:
    check = run_check(pytester, crafted_url, "/stats")
    measured = {n: (m["value"], m["status"]) for n, m in check["measurements"].items() if n != "response_time_s"}
    assert measured == {
        "component_errors": (5, "OK"),
        "component_errors_auto_resolved": (2, "OK"),
        "component_errors_unresolved": (3, "WARNING"),
        "open_circuits": (1, "WARNING"),
        "retry_success_rate_percent": (95, "OK"),
        "fallback_success_rate_percent": (40, "CRITICAL"),
    }
    assert check["status"] == "CRITICAL"
    assert check["message"].startswith("fallback_success_rate_percent = 40 % (critical < 50, range 50:): the fallbacks")


def test_skipped_unless_the_statistics_path_is_configured(pytester: pytest.Pytester, crafted_url: str) -> None:
    check = run_check(pytester, crafted_url, None)
    assert check["status"] == "SKIPPED"
    assert check["skip_reason"] == "not configured: [app] component_stats_path"
