"""The suite starts the configured target when nothing answers at its URL, and stops only what it started."""

from __future__ import annotations

import json

import pytest
import requests
from aide_testing import activate

from conftest import free_port

CHECK = """
def check_target_answers(aide_app, aide_health):
    probe = aide_app.probe("/api/health")
    assert probe.ok, probe.error
    aide_health.record("response_time_s", probe.elapsed_s)
"""


def answers(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def demo_toml(port: int) -> str:
    return (
        f'[app]\nurl = "http://127.0.0.1:{port}"\nstop_grace = 5\n'
        f'command = ["{{python}}", "-m", "pytest_aide.demo", "--port", "{port}", "--data-dir", "demo"]\n'
    )


@pytest.mark.parametrize("workers", ["0", "2"])
def test_the_suite_starts_the_target_and_stops_it_at_the_end(
    pytester: pytest.Pytester, workers: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    port = free_port()
    pytester.makefile(".toml", aide=demo_toml(port))
    pytester.makepyfile(check_target=CHECK + CHECK.replace("check_target_answers", "check_target_again"))
    activate(pytester)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", workers, timeout=60)
    result.assert_outcomes(passed=2)
    assert not answers(port)  # stopped at the end of the run
    [run] = sorted((pytester.path / "reports").glob("2*"))
    assert not (run / "target.pid").exists()
    output = (run / "target-output.log").read_text()
    assert output.count("demo serving on") == 1  # started once, even with two workers
    assert (pytester.path / "demo" / "data" / "database.db").exists()


def test_a_target_the_suite_did_not_start_is_never_stopped(pytester: pytest.Pytester, running_demo: int) -> None:
    pytester.makefile(".toml", aide=demo_toml(running_demo))
    pytester.makepyfile(check_target=CHECK)
    activate(pytester)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=60)
    result.assert_outcomes(passed=1)
    assert answers(running_demo)
    assert not (pytester.path / "demo").exists()  # it never ran our command


def test_a_target_that_cannot_start_makes_its_checks_unknown(pytester: pytest.Pytester) -> None:
    port = free_port()
    failing = "print('boom: no config'); raise SystemExit(3)"
    pytester.makefile(
        ".toml",
        aide=f'[app]\nurl = "http://127.0.0.1:{port}"\nstart_timeout = 3\n'
        f'command = ["{{python}}", "-c", "{failing}"]\n',
    )
    pytester.makepyfile(check_target=CHECK + "\n\ndef check_host(aide_health):\n    aide_health.record('x', 1.0)\n")
    activate(pytester)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=60)
    result.assert_outcomes(errors=1, passed=1)  # the host check does not need the app and still runs
    health = json.loads(next((pytester.path / "reports").glob("2*/health.json")).read_text())
    check = next(c for c in health["checks"] if c["nodeid"].endswith("check_target_answers"))
    assert check["status"] == "UNKNOWN"
    assert "boom: no config" in check["message"]
    assert "Traceback" not in result.stdout.str()


def test_secrets_the_target_prints_are_masked_in_its_archived_output(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("APP_DB_PASSWORD", "printed-secret-4711")
    script = pytester.makepyfile(
        chatty_app=f'''
        import os, runpy, sys
        print("connecting with password", os.environ["APP_DB_PASSWORD"], flush=True)
        sys.argv = ["http.server", "--bind", "127.0.0.1", "{port}"]
        runpy.run_module("http.server", run_name="__main__")
    '''
    )
    pytester.makefile(
        ".toml",
        aide=f'[app]\nurl = "http://127.0.0.1:{port}"\nhealth_path = "/"\nstop_grace = 5\n'
        f'command = ["{{python}}", "{script.name}"]\n',
    )
    pytester.makepyfile(check_target="def check_up(aide_app):\n    assert aide_app.probe('/').ok\n")
    activate(pytester)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=60)
    result.assert_outcomes(passed=1)
    [run] = sorted((pytester.path / "reports").glob("2*"))
    output = (run / "target-output.log").read_text()
    assert "connecting with password ***" in output
    assert "printed-secret-4711" not in output
    assert not answers(port)
