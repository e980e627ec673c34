"""Helpers shared by the plugin's end-to-end tests (pytester runs)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

CHECKS = """
import pytest

def check_ok(aide_health):
    aide_health.record("memory_percent", 42.0)

def check_warning(aide_health):
    aide_health.record("memory_percent", 85.0)

def check_critical(aide_health):
    aide_health.record("disk_percent", 95.5)
    aide_health.record("memory_percent", 12.0)

@pytest.fixture
def broken_target():
    raise ConnectionError("target unreachable")

def check_unknown(broken_target, aide_health):
    pass

def check_assertion(aide_health):
    assert 1 + 1 == 3, "the sum is wrong"
"""


def run_dirs(root: Path, reports: str = "reports") -> list[Path]:
    """Archived run folders, oldest first (not pytest-benchmark's storage beside them)."""
    base = root / reports
    if not base.exists():
        return []
    return sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name != "benchmarks")


def latest_health(root: Path, reports: str = "reports") -> dict[str, Any]:
    dirs = run_dirs(root, reports)
    assert dirs, f"no archived run under {root / reports}"
    return json.loads((dirs[-1] / "health.json").read_text())


def statuses(health: dict[str, Any]) -> dict[str, str]:
    return {check["nodeid"].split("::")[-1]: check["status"] for check in health["checks"]}


def junit_suite(path: Path) -> ElementTree.Element:
    root = ElementTree.parse(path).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    assert suite is not None
    return suite


def junit_suite_properties(path: Path) -> dict[str, str]:
    suite = junit_suite(path)
    return {p.get("name", ""): p.get("value", "") for p in suite.findall("./properties/property")}


def junit_case_properties(path: Path) -> dict[str, dict[str, str]]:
    cases = {}
    for case in junit_suite(path).findall("testcase"):
        props = {p.get("name", ""): p.get("value", "") for p in case.findall("./properties/property")}
        cases[case.get("name", "")] = props
    return cases


# Inner-run source: attempt() counts the tries of a check in a file of the run's folder (1, 2, 3...), so a
# check can fail on its first tries and pass later (retries, reruns).
ATTEMPT_COUNTER = """
import pathlib

import pytest

def attempt():
    counter = pathlib.Path("attempts.txt")
    number = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(number))
    return number
"""

SUITE_OFF = "\n[suite]\nenabled = false  # these tests run their own checks, not the shipped suite\n"


def activate(pytester: pytest.Pytester) -> None:
    """Give the project an aide configuration (the plugin is inert without one), shipped suite off."""
    pyproject = pytester.path / "pyproject.toml"
    if pyproject.exists() and "[tool.aide" in pyproject.read_text():
        return
    config = pytester.path / "aide.toml"
    text = config.read_text() if config.exists() else ""
    if "[suite]" not in text:
        config.write_text(text + SUITE_OFF)


def aide_run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """An in-process pytest run of an aide project (see :func:`activate`)."""
    activate(pytester)
    # The outer run imported pytest_aide already, so the inner run cannot assert-rewrite it: expected.
    return pytester.runpytest("-p", "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning", *args)


def run_aide(
    cwd: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The ``aide`` command in a subprocess, from ``cwd``, with no ``AIDE_*`` variable of the outer run."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AIDE_") or k == "AIDE_REQUIRE_SERVICES"}
    return subprocess.run(
        [sys.executable, "-m", "pytest_aide.cli", *args],
        cwd=cwd,
        input=stdin,
        text=True,
        capture_output=True,
        timeout=60,
        env={**clean, **(env or {})},
        check=False,
    )


SHIPPED_CHECKS = Path(__file__).resolve().parents[1] / "pytest_aide" / "suite" / "aide"


def shipped_health_check(
    pytester: pytest.Pytester, url: str, *, path: str = "/health", timeout: float = 3, extra: str = ""
) -> dict[str, Any]:
    """The shipped check_api_health run in-process against ``url``; its entry in health.json."""
    config = pytester.path / "aide.toml"
    config.write_text(f'[app]\nurl = "{url}"\nhealth_path = "{path}"\ntimeout = {timeout}\n{extra}')
    result = pytester.runpytest_inprocess(
        "-p",
        "no:cacheprovider",
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",  # the outer run imported pytest_aide already
        str(SHIPPED_CHECKS / "check_api.py"),
        "-k",
        "check_api_health",
        f"--aide-config={config}",
        "-q",
    )
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output
    run = sorted((pytester.path / "reports").glob("2*/health.json"))[-1]
    checks = [c for c in json.loads(run.read_text())["checks"] if c["nodeid"].endswith("check_api_health")]
    assert len(checks) == 1, output
    assert "\n" not in checks[0]["message"]
    return dict(checks[0])


def serve(handle: Callable[[socket.socket], None]) -> Iterator[int]:
    """Accept connections on a free port and hand each to ``handle`` until the test ends."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.05)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                handle(conn)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(30)
        listener.close()


def run_as_nobody(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` from ``cwd`` as ``nobody`` with CAP_DAC_READ_SEARCH only: it reads this checkout wherever
    it lies, but sees no other user's processes and writes only where ``nobody`` may (``setpriv``, util-linux)."""
    import pwd
    import shutil

    from conftest import unavailable

    if not shutil.which("setpriv"):
        unavailable("setpriv is not installed (Debian package util-linux)")
    nobody = pwd.getpwnam("nobody")
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd), "LANG": "C.UTF-8"}
    if os.environ.get("PYTHONPATH"):  # the code under test, when it is not the installed checkout
        base["PYTHONPATH"] = os.environ["PYTHONPATH"]
    command = [
        "setpriv",
        f"--reuid={nobody.pw_uid}",
        f"--regid={nobody.pw_gid}",
        "--clear-groups",
        "--inh-caps=+dac_read_search",
        "--ambient-caps=+dac_read_search",
        sys.executable,
        *args,
    ]
    env = {**base, **(env or {})}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
