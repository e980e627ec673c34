"""With the package installed, a project without an aide configuration is left exactly as it was; with one, aide's
fixtures and inventory arguments never shadow those of pytest or of widely used plugins."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
from aide_testing import activate

from conftest import unavailable
from pytest_aide import discovery

PLAIN_TESTS = """
import pytest

def check_helper(value):          # a helper named like a check: not a test in a plain project
    assert value

def test_uses_the_builtin_cache(cache):
    cache.set("plain/key", 41)
    assert cache.get("plain/key", None) == 41

def test_uses_a_port_fixture(port):
    check_helper(port)
    assert port == 8080

@pytest.mark.daily                # an unknown marker in this project: strict markers must reject it
def test_marked():
    pass
"""


@pytest.fixture
def plain(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("AIDE_CONFIG", raising=False)
    pytester.makeconftest("import pytest\n\n@pytest.fixture\ndef port():\n    return 8080\n")
    pytester.makepyfile(test_plain=PLAIN_TESTS.replace("@pytest.mark.daily                # an unknown", "# an"))
    return pytester


def _outcome(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*args, timeout=120)


def test_a_plain_project_is_unchanged_by_the_installed_plugin(plain: pytest.Pytester) -> None:
    with_aide = _outcome(plain, "--collect-only", "-q")
    without = _outcome(plain, "--collect-only", "-q", "-p", "no:aide")
    assert with_aide.stdout.lines[:3] == without.stdout.lines[:3]
    assert "check_helper" not in with_aide.stdout.str()
    result = _outcome(plain, "--html=out.html", "-v")
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=3)  # the builtin cache fixture works, the project's own `port` too
    output = result.stdout.str()
    assert not [line for line in result.stdout.lines if line.startswith("aide:")]  # no report header
    assert "pytest-aide" not in output
    assert "verdict" not in output
    assert "score" not in output
    assert not (plain.path / "reports").exists()
    html = (plain.path / "out.html").read_text()
    assert '<title id="head-title">out.html</title>' in html
    assert "pytest-aide" not in html


def test_a_plain_project_gets_no_aide_fixture_marker_or_collection_rule(plain: pytest.Pytester) -> None:
    fixtures = _outcome(plain, "--fixtures").stdout.lines
    assert not [line for line in fixtures if line.startswith("aide_")]
    markers = _outcome(plain, "--markers").stdout.str()
    assert "@pytest.mark.daily" not in markers
    plain.makepyfile(check_like="def check_something():\n    raise AssertionError('collected')\n")
    result = _outcome(plain, "-q")
    result.assert_outcomes(passed=3)


def test_an_aide_toml_above_the_rootdir_or_in_home_does_not_switch_aide_on(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIDE_CONFIG", raising=False)
    (pytester.path / "aide.toml").write_text("")  # e.g. ~/aide.toml or /srv/aide.toml
    (pytester.path / "pyproject.toml").write_text("[tool.black]\n")  # makes pytest choose ~ as the rootdir
    monkeypatch.setenv("HOME", str(pytester.path))
    project = pytester.mkdir("project")
    (project / "test_p.py").write_text("def test_p():\n    pass\n")
    monkeypatch.chdir(project)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(passed=1)
    assert "verdict" not in result.stdout.str()
    assert not (project / "reports").exists()
    assert not (pytester.path / "reports").exists()


def test_a_run_from_a_subfolder_finds_the_projects_aide_toml(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    activate(pytester)
    pytester.makeini("[pytest]\n")
    sub = pytester.mkdir("sub")
    (sub / "check_sub.py").write_text("def check_x(aide_health):\n    aide_health.record('memory_percent', 1.0)\n")
    monkeypatch.setenv("HOME", "/nonexistent-home")  # pytester's HOME is the project itself
    result = pytester.run(sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(sub), timeout=120)
    result.stdout.fnmatch_lines(["*pytest-aide verdict*"])
    monkeypatch.chdir(sub)
    result = pytester.run(sys.executable, "-m", "pytest", "-p", "no:cacheprovider", timeout=120)
    result.stdout.fnmatch_lines(["aide: config */aide.toml (found from */sub)*", "*pytest-aide verdict*"])


def test_search_stops_at_rootdir_pytest_ini_vcs_root_and_below_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    repo = home / "repo"
    deep = repo / "a" / "b"
    deep.mkdir(parents=True)
    (repo / ".git").mkdir()
    assert list(discovery.search_folders(deep, home=home)) == [deep, deep.parent, repo]
    (deep.parent / "tox.ini").write_text("")
    assert list(discovery.search_folders(deep, home=home)) == [deep, deep.parent]
    assert list(discovery.search_folders(deep, rootdir=deep, home=home)) == [deep]
    loose = home / "x" / "y"
    loose.mkdir(parents=True)
    assert list(discovery.search_folders(loose, home=home)) == [loose, loose.parent]  # never home itself
    assert list(discovery.search_folders(home, home=home)) == [home]  # unless the run starts there


def test_the_command_takes_the_rootdir_pytest_takes_setup_py_included(tmp_path: Path) -> None:
    """Without an ini file pytest takes the first folder holding a setup.py for its rootdir: the ``aide``
    command's search stops where the plugin's does."""
    project = tmp_path / "project"
    deep = project / "a" / "b"
    deep.mkdir(parents=True)
    assert discovery.command_rootdir(deep) == deep
    (project / "setup.py").write_text("")
    assert discovery.command_rootdir(deep) == project
    (deep.parent / "tox.ini").write_text("")
    assert discovery.command_rootdir(deep) == deep.parent  # an ini file first, as pytest looks
    (deep.parent / "tox.ini").unlink()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--co", "-p", "no:cacheprovider", "-p", "no:aide"],
        cwd=deep,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert f"rootdir: {project}" in done.stdout  # pytest agrees


def test_found_config_names_its_origin_and_pyproject_needs_a_tool_aide_table(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    assert discovery.find_config(tmp_path, environ={}, home=tmp_path.parent) is None
    (tmp_path / "pyproject.toml").write_text("[tool.aide.app]\nurl = 'http://x'\n")
    found = discovery.find_config(tmp_path / ".", environ={}, home=tmp_path.parent)
    assert found is not None
    assert found.path == tmp_path / "pyproject.toml"
    env = discovery.find_config(tmp_path, environ={"AIDE_CONFIG": str(tmp_path / "pyproject.toml")})
    assert env is not None
    assert env.origin == "AIDE_CONFIG"


_FIXTURE_LINE = re.compile(r"^(\w+)(?: \[[\w ]+\])? -- (\S+?):\d+$")


@pytest.mark.benchmark_plugin
def test_aide_fixtures_shadow_nothing_of_pytest_or_widely_used_plugins(pytester: pytest.Pytester) -> None:
    for plugin in ("pytest_django", "pytest_flask", "testinfra", "pytest_benchmark"):
        if importlib.util.find_spec(plugin) is None:
            unavailable(f"{plugin} is not installed (the test extras have it)")  # CI fails rather than skips
    activate(pytester)
    result = pytester.runpytest_subprocess("--fixtures", "-v", timeout=120)
    defined: dict[str, set[str]] = {}
    for line in result.stdout.lines:
        match = _FIXTURE_LINE.match(line.strip())
        if match:
            owner = "aide" if "pytest_aide" in match.group(2) else match.group(2)
            defined.setdefault(match.group(1), set()).add(owner)
    aide = {name for name, owners in defined.items() if "aide" in owners}
    others = {name for name, owners in defined.items() if owners - {"aide"}}
    assert {"cache", "db", "benchmark", "host", "client", "monkeypatch"} <= others  # the plugins are really loaded
    assert {"aide_health", "aide_app", "aide_db", "aide_cache", "aide_config"} <= aide
    assert all(name.startswith("aide_") for name in aide), sorted(aide)
    assert not aide & others


def test_inventory_arguments_reach_only_aides_own_checks(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", aide="[resources]\nports = [1, 2, 3]\ndisk_paths = ['.']\n")
    activate(pytester)
    pytester.makeconftest("import pytest\n\n@pytest.fixture\ndef port():\n    return 8080\n")
    pytester.makepyfile(
        test_mine="def test_port(port):\n    assert port == 8080\n",
        check_ports="def check_port(aide_port, aide_health):\n    aide_health.record('memory_percent', 1.0)\n",
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(passed=4)  # test_port once, check_port once per configured port
