"""The reports of a real run open in headless Chromium (Debian's ``chromium``) without a console error.

Console errors are read over the DevTools protocol: uncaught exceptions (``Runtime.exceptionThrown``),
``console.error``/``console.assert`` calls and the browser's own error log (failed loads, CSP violations), so
a page that only *looks* fine still fails. ``test_the_probe_sees_each_kind_of_console_error`` proves the probe
catches each kind. Every socket read and subprocess wait has a timeout; the browser is stopped by its pid.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import websocket
from aide_testing import CHECKS, aide_run, latest_health, run_dirs

from conftest import unavailable

pytestmark = pytest.mark.slow

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",  # the port chosen is written to DevToolsActivePort in the profile folder
)
START_TIMEOUT_S = 30.0
CALL_TIMEOUT_S = 30.0
BODY_TEXT = "document.body ? document.body.innerText : ''"
QUIET_S = 0.5  # after the load event, errors of late scripts still count until the page is quiet this long


@dataclass
class PageVisit:
    """What a page did while it loaded."""

    url: str
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


class Chromium:
    """A headless browser driven over one DevTools websocket (flat sessions, one per page)."""

    def __init__(self, executable: str, profile: Path) -> None:
        self.profile = profile
        self._log = (profile.parent / "chromium.log").open("wb")
        self.process = subprocess.Popen(
            [executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its renderers share our pid as process group: stopped together
        )
        self._ids = itertools.count(1)
        self.ws = websocket.create_connection(self._endpoint(), timeout=CALL_TIMEOUT_S, suppress_origin=True)

    def _endpoint(self) -> str:
        active = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.process.returncode}: see {self._log.name}")
            lines = active.read_text().split() if active.exists() else []
            if len(lines) == 2:
                return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
            time.sleep(0.05)
        raise TimeoutError(f"chromium did not open its DevTools port within {START_TIMEOUT_S} s")

    def call(self, method: str, session: str | None = None, events: list[dict[str, Any]] | None = None, **params: Any):
        """Send one command and return its result; events that arrive meanwhile go to ``events``."""
        message_id = next(self._ids)
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + CALL_TIMEOUT_S
        while time.monotonic() < deadline:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if events is not None and "method" in reply:
                events.append(reply)
        raise TimeoutError(f"no reply to {method} within {CALL_TIMEOUT_S} s")

    def visit(
        self, url: str, *, javascript: bool = True, expression: str = BODY_TEXT, screenshot: Path | None = None
    ) -> tuple[PageVisit, Any]:
        """Load ``url`` in a new tab; return what it did and the value of ``expression`` (its rendered text).

        ``screenshot``: also save the page as a PNG there (a 1280 px wide window, as tall as the page)."""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        events: list[dict[str, Any]] = []
        for domain in ("Runtime", "Log", "Page", "Network"):
            self.call(f"{domain}.enable", session, events)
        if not javascript:
            self.call("Emulation.setScriptExecutionDisabled", session, events, value=True)
        metrics = {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False}
        self.call("Emulation.setDeviceMetricsOverride", session, events, **metrics)
        self.call("Page.navigate", session, events, url=url)
        self._wait_loaded(session, events)
        text = self.evaluate(session, expression, events)
        if screenshot is not None:
            shot = self.call("Page.captureScreenshot", session, events, format="png", captureBeyondViewport=True)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
        visit = PageVisit(url)
        for event in events:
            _note(visit, event)
        self.call("Target.closeTarget", targetId=target)
        return visit, text

    def evaluate(self, session: str, expression: str, events: list[dict[str, Any]] | None = None) -> Any:
        result = self.call("Runtime.evaluate", session, events, expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def _wait_loaded(self, session: str, events: list[dict[str, Any]]) -> None:
        """Until the load event has fired and no event came for ``QUIET_S``."""
        deadline = time.monotonic() + CALL_TIMEOUT_S
        loaded = False
        self.ws.settimeout(QUIET_S)
        try:
            while time.monotonic() < deadline:
                try:
                    event = json.loads(self.ws.recv())
                except websocket.WebSocketTimeoutException:
                    if loaded:
                        return
                    continue
                if event.get("sessionId") == session:
                    events.append(event)
                    loaded = loaded or event.get("method") == "Page.loadEventFired"
        finally:
            self.ws.settimeout(CALL_TIMEOUT_S)
        raise TimeoutError(f"the page did not finish loading within {CALL_TIMEOUT_S} s")

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (OSError, RuntimeError, TimeoutError, websocket.WebSocketException):
            pass
        finally:
            self.ws.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self._log.close()


def _note(visit: PageVisit, event: dict[str, Any]) -> None:
    """Record a console error or a request of ``event`` on ``visit``."""
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.exceptionThrown":
        details = params["exceptionDetails"]
        visit.errors.append(details.get("exception", {}).get("description") or details.get("text", "exception"))
    elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
        args = params.get("args", [])
        visit.errors.append("console.error: " + " ".join(str(a.get("value", a.get("description"))) for a in args))
    elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
        entry = params["entry"]
        visit.errors.append(f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip())
    elif method == "Network.requestWillBeSent":
        visit.requests.append(params["request"]["url"])


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        unavailable("Debian's chromium is not installed (apt-get install -y chromium)")
    assert executable is not None
    browser = Chromium(executable, tmp_path_factory.mktemp("chromium") / "profile")
    yield browser
    browser.close()


SKIPPED_CHECK = """

def check_not_configured():
    pytest.skip("not configured: [app] url")
"""


def test_reports_of_a_real_run_open_without_console_errors(chromium: Chromium, pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", aide="")
    pytester.makepyfile(check_sample=CHECKS + SKIPPED_CHECK)
    aide_run(pytester, "check_sample.py")  # a path: the shipped suite (host-dependent statuses) stays out
    [run] = run_dirs(pytester.path)
    health = latest_health(pytester.path)
    verdict = f"{health['status']} — score {health['score']:g}/100"

    page, text = chromium.visit((run / "health.html").as_uri())
    assert page.errors == []
    assert text.lstrip().startswith(verdict)  # the page opens on the verdict
    assert "Needs attention (4)" in text
    assert "check_not_configured — not configured: [app] url" in text
    assert {urlpart.split(":", 1)[0] for urlpart in page.requests} == {"file"}  # nothing from the network

    page, text = chromium.visit((run / "report.html").as_uri())
    assert page.errors == []
    assert verdict in text
    assert "check_sample.py::check_critical" in text  # pytest-html's script drew the results table

    index = (pytester.path / "reports" / "index.html").as_uri()
    page, links = chromium.visit(index, expression="[...document.querySelectorAll('a')].map(a => a.href)")
    assert page.errors == []
    main = links[0]
    assert main == (run / "health.html").as_uri()  # the run's main link is the operator report
    assert set(links[1:]) == {
        (run / name).as_uri() for name in ("health.html", "report.html", "junit.xml", "health.json")
    }


CHARTED_CHECKS = """
import os

def check_app(aide_health):
    aide_health.record("response_time_s", float(os.environ["AIDE_TEST_RT"]))

def check_host(aide_health):
    aide_health.record("cpu_percent", float(os.environ["AIDE_TEST_CPU"]))
    aide_health.record("memory_percent", float(os.environ["AIDE_TEST_CPU"]) - 10)
    aide_health.record("disk_percent", 61.5)
"""
# What the page shows of its charts: each SVG's accessible name and size, and what sits under each marker.
CHARTS_SEEN = """[...document.querySelectorAll('svg.chart')].map(svg => {
  const box = svg.getBoundingClientRect();
  const marks = [...svg.querySelectorAll('circle')].map(c => {
    const r = c.getBoundingClientRect();
    const top = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
    return {title: c.querySelector('title').textContent, onTop: top === c, fill: c.getAttribute('fill')};
  });
  return {title: svg.querySelector('title').textContent, desc: svg.querySelector('desc').textContent,
          width: box.width, height: box.height, marks};
})"""


def test_the_archive_index_charts_open_without_console_errors(
    chromium: Chromium, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A few real runs (one partial): the index draws its charts, each marker visible, and needs nothing else."""
    pytester.makefile(".toml", aide="")
    pytester.makepyfile(check_charted=CHARTED_CHECKS)
    runs = (("0.2", "30", ()), ("1.8", "78", ()), ("0.9", "71", ()), ("1.4", "92", ("-k", "host")))  # apart
    for rt, cpu, args in runs:
        monkeypatch.setenv("AIDE_TEST_RT", rt)
        monkeypatch.setenv("AIDE_TEST_CPU", cpu)
        aide_run(pytester, "check_charted.py", *args)
    assert len(run_dirs(pytester.path)) == 4
    screenshot = pytester.path / "index.png"
    index = (pytester.path / "reports" / "index.html").as_uri()

    page, seen = chromium.visit(index, expression=CHARTS_SEEN, screenshot=screenshot)

    assert page.errors == []
    assert {url.split(":", 1)[0] for url in page.requests} == {"file"}  # nothing from the network
    titles = [chart["title"] for chart in seen]
    assert titles == [f"{name} over time" for name in ("Score", "Response time", "CPU", "Memory", "Disk used")] + [
        "New log errors per run over time"
    ]
    for chart in seen[:-1]:  # the last: no run measured new log errors
        assert chart["width"] > 300, chart
        assert chart["height"] > 90, chart
        assert chart["desc"].startswith("latest ")
        assert chart["marks"], chart
    for chart in seen[:4]:  # values far enough apart that no marker covers another (disk: one value, 4 runs)
        assert all(mark["onTop"] for mark in chart["marks"]), chart
    assert "new log errors" not in seen[-1]["desc"]
    assert seen[-1]["desc"] == "not measured in any archived run."
    assert [mark["fill"] for mark in seen[2]["marks"]] == ["#1a7f37", "#9a6700", "#9a6700", "#fff"]  # partial: hollow
    assert "partial: " in seen[2]["marks"][-1]["title"]
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(f"screenshot: {screenshot}")


def test_health_html_reads_the_same_without_javascript(chromium: Chromium, pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", aide="")
    pytester.makepyfile(check_sample=CHECKS)
    aide_run(pytester, "check_sample.py")
    [run] = run_dirs(pytester.path)
    with_js = chromium.visit((run / "health.html").as_uri())
    without_js = chromium.visit((run / "health.html").as_uri(), javascript=False)
    assert without_js[0].errors == []
    assert without_js[1] == with_js[1]
    assert latest_health(pytester.path)["status"] in without_js[1]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("<script>console.error('deliberate console error')</script>", "deliberate console error"),
        ("<script>throw new Error('deliberate exception')</script>", "deliberate exception"),
        ("<script>window.addEventListener('load', () => null.boom)</script>", "TypeError"),
        ('<img src="missing-image.png" alt="">', "missing-image.png"),
    ],
    ids=["console-error", "uncaught-exception", "error-after-load", "failed-load"],
)
def test_the_probe_sees_each_kind_of_console_error(
    chromium: Chromium, tmp_path: Path, body: str, expected: str
) -> None:
    page = tmp_path / "broken.html"
    page.write_text(f"<!DOCTYPE html><html><head><title>t</title></head><body><p>visible</p>{body}</body></html>")
    visit, text = chromium.visit(page.as_uri())
    assert text == "visible"
    assert any(expected in error for error in visit.errors), visit.errors


def test_javascript_off_is_really_off(chromium: Chromium, tmp_path: Path) -> None:
    page = tmp_path / "scripted.html"
    page.write_text("<!DOCTYPE html><p id=p>static</p><script>document.getElementById('p').textContent='ran'</script>")
    assert chromium.visit(page.as_uri())[1] == "ran"
    assert chromium.visit(page.as_uri(), javascript=False)[1] == "static"
