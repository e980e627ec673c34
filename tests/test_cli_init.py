"""``aide init``: a commented starter aide.toml that loads as written, with and without options, and never
replaces an existing file."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from aide_testing import run_aide
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_aide import cli, cli_ops, starter
from pytest_aide.config import load_config
from pytest_aide.discovery import PYTEST_INI_FILES
from pytest_aide.errors import ConfigError
from pytest_aide.settings import FileSettings
from pytest_aide.shipped import validate_exclusions

EXAMPLE = re.compile(r"^# (\[\[?[\w.]+\]\]?$|\w+ = .*)")  # a commented-out table header or key, not prose

ALL_OPTIONS = [
    "--app-url=http://127.0.0.1:8000",
    "--health-path=/healthz",
    "--db-url=postgresql://aide_monitor@db.internal:5432/app",
    "--table=orders",
    "--table=public.customers",
    "--cache-url=redis://cache.internal:6379/1",
    "--disk=/",
    "--disk=/var/lib/postgresql",
    "--log=/var/log/gunicorn/error.log",
    "--log=logs/app.log",
    "--process=gunicorn",
    "--process=nginx",
    "--port=80",
    "--port=8000",
    "--pidfile=/run/nginx.pid",
    "--env-file=/srv/app/.env",
    "--python=/srv/app/venv/bin/python",
]


def aide(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_aide(cwd, *args)


def load(path: Path) -> FileSettings:
    """Validate ``path`` as a run would (the environment left out) and return its settings."""
    config = load_config(path, rootdir=path.parent, environ={})
    validate_exclusions(config.settings.suite.exclude, where=str(path))
    return config.settings


def uncomment_examples(text: str) -> str:
    return "\n".join(line[2:] if EXAMPLE.match(line) else line for line in text.splitlines()) + "\n"


def test_init_without_options_writes_a_valid_commented_starter(tmp_path: Path) -> None:
    done = aide(tmp_path, "init")
    assert done.returncode == 0, done.stderr
    written = tmp_path / "aide.toml"
    assert done.stdout.strip() == (
        f"wrote {written} and pytest.ini (runs from its subfolders find aide.toml): describe your system in it,"
        f" then run `pytest -m daily` in {tmp_path}"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aide.toml", "pytest.ini"]  # no temporary file left
    assert load(written) == FileSettings()  # nothing set: every default holds
    umask = os.umask(0)
    os.umask(umask)
    assert written.stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_run_from_a_subfolder_of_the_starters_folder_uses_its_configuration(tmp_path: Path) -> None:
    """pytest takes the folder of the pytest.ini init writes for its rootdir, so aide's search, which stops at
    the rootdir, reaches aide.toml from a subfolder; without it such a run collected nothing (exit 5)."""
    assert aide(tmp_path, "init", "--disk=.").returncode == 0
    inner = tmp_path / "notes" / "2026"
    inner.mkdir(parents=True)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "daily", "-p", "no:cacheprovider", "-k", "check_disk"],
        cwd=inner,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("AIDE_")},
    )
    assert done.returncode in (0, 1), done.stdout[-2000:] + done.stderr[-2000:]
    assert "pytest-aide verdict" in done.stdout
    assert f"aide: config {tmp_path / 'aide.toml'} (found from {inner})" in done.stdout
    assert list((tmp_path / "reports").glob("2*/health.json"))  # archived beside aide.toml


@pytest.mark.parametrize("existing", PYTEST_INI_FILES)
def test_a_folder_with_its_own_pytest_configuration_gets_no_pytest_ini(tmp_path: Path, existing: str) -> None:
    (tmp_path / existing).write_text("")
    done = aide(tmp_path, "init")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["aide.toml", existing])
    assert (tmp_path / existing).read_text() == ""
    assert "pytest.ini" not in done.stdout


def test_every_table_is_in_the_starter_with_a_comment_saying_what_it_does(tmp_path: Path) -> None:
    text = starter.render(starter.StarterOptions(), version="1.2.3")
    lines = text.splitlines()
    assert "(pytest-aide 1.2.3)" in lines[0]
    headers = {}
    for number, line in enumerate(lines):
        match = re.match(r"^(?:# )?\[\[?([\w]+)[\w.]*\]\]?$", line)
        if match and match.group(1) not in headers:
            headers[match.group(1)] = number
    tables = {f.name for f in dataclasses.fields(FileSettings)}
    assert set(headers) == tables  # a new table in the schema must reach the starter
    for table, number in headers.items():
        above = lines[number - 1]
        assert above.startswith("# "), f"[{table}] has no comment above it"
        assert not EXAMPLE.match(above), f"[{table}] has no comment above it"


def test_every_commented_example_is_valid_once_uncommented(tmp_path: Path) -> None:
    path = tmp_path / "aide.toml"
    path.write_text(uncomment_examples(starter.render(starter.StarterOptions(), version="1")))
    environ = {"APP_DB_URL": "postgresql://db.internal/app", "APP_REDIS_URL": "redis://cache.internal:6379/0"}
    settings = load_config(path, rootdir=path.parent, environ=environ).settings
    validate_exclusions(settings.suite.exclude, where=str(path))
    assert settings.db.url == "postgresql://db.internal/app"  # url_env names the variable that wins
    assert settings.app.headers_env == {"Authorization": "APP_HEALTH_TOKEN"}
    assert settings.suite.exclude == ["check_cpu", "check_tls.py"]
    assert settings.endpoints[0].name == "login-page"
    assert settings.backup is not None
    assert settings.thresholds["response_time_s"].critical == "2"
    assert settings.metrics["invoice_queue"].unit == "invoices"


def test_init_with_options_sets_exactly_those_values(tmp_path: Path) -> None:
    done = aide(tmp_path, "init", *ALL_OPTIONS)
    assert done.returncode == 0, done.stderr
    settings = load(tmp_path / "aide.toml")
    assert settings.app.url == "http://127.0.0.1:8000"
    assert settings.app.health_path == "/healthz"
    assert settings.db.url == "postgresql://aide_monitor@db.internal:5432/app"
    assert settings.db.tables == ["orders", "public.customers"]
    assert settings.cache.url == "redis://cache.internal:6379/1"
    assert settings.resources.disk_paths == ["/", "/var/lib/postgresql"]
    assert settings.resources.processes == ["gunicorn", "nginx"]
    assert settings.resources.ports == [80, 8000]
    assert settings.resources.pidfiles == ["/run/nginx.pid"]
    assert settings.logs.files == ["/var/log/gunicorn/error.log", "logs/app.log"]
    assert settings.preflight.config_files == ["/srv/app/.env"]
    assert settings.preflight.python == "/srv/app/venv/bin/python"
    untouched = FileSettings()
    assert (settings.reports, settings.gate, settings.suite, settings.run) == (
        untouched.reports,
        untouched.gate,
        untouched.suite,
        untouched.run,
    )
    assert settings.endpoints == []
    assert settings.backup is None


names = st.text(min_size=1, max_size=30)


@settings(max_examples=200, deadline=None)
@given(
    url=names,
    paths=st.lists(names, min_size=1, max_size=3),
    ports=st.lists(st.integers(1, 65535), min_size=1, max_size=3),
)
def test_any_value_round_trips_through_the_starter(url: str, paths: list[str], ports: list[int]) -> None:
    options = starter.StarterOptions(
        app_url=url, health_path=url, tables=paths, log_files=paths, disk_paths=paths, ports=ports, python=url
    )
    data = tomllib.loads(starter.render(options, version="1"))
    assert data["app"] == {"url": url, "health_path": url}
    assert data["db"]["tables"] == data["logs"]["files"] == data["resources"]["disk_paths"] == paths
    assert data["resources"]["ports"] == ports
    assert data["preflight"]["python"] == url


def test_init_refuses_to_replace_an_existing_file(tmp_path: Path) -> None:
    existing = tmp_path / "aide.toml"
    existing.write_text("[app]\nurl = 'http://mine'\n")
    done = aide(tmp_path, "init", "--app-url=http://other")
    assert done.returncode == 2
    assert done.stderr == (f"aide: error: {existing} already exists: edit it, or move it away to write a new starter\n")
    assert existing.read_text() == "[app]\nurl = 'http://mine'\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aide.toml"]


def test_a_dangling_symlink_counts_as_existing(tmp_path: Path) -> None:
    (tmp_path / "aide.toml").symlink_to(tmp_path / "elsewhere.toml")
    done = aide(tmp_path, "init")
    assert done.returncode == 2
    assert "already exists" in done.stderr
    assert not (tmp_path / "elsewhere.toml").exists()


def test_a_file_appearing_before_the_final_step_is_kept(tmp_path: Path) -> None:
    """The last step links the validated file to its name, which fails when the name exists (rename would not)."""
    target = tmp_path / "aide.toml"
    target.write_text("# written meanwhile by someone else\n")
    with pytest.raises(ConfigError, match="already exists"):
        cli_ops.write_new_config(target, starter.render(starter.StarterOptions(), version="1"))
    assert target.read_text() == "# written meanwhile by someone else\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aide.toml"]


def test_an_invalid_starter_never_reaches_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(starter, "render", lambda options, version: "[app]\nurll = 'x'\n")
    assert cli.main(["init"]) == 2
    target = tmp_path / "aide.toml"
    assert capsys.readouterr().err == f"aide: error: {target}: [app] urll: unknown key\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("option", "variable"),
    [
        ("--db-url=postgresql://monitor:s3cr3t-pw@db:5432/app", "AIDE_DB_URL"),
        ("--cache-url=redis://:s3cr3t-pw@cache:6379/0", "AIDE_CACHE_URL"),
        ("--app-url=https://app.example.com/?token=s3cr3t-pw", "AIDE_APP_URL"),
    ],
)
def test_a_secret_in_a_url_is_refused_without_being_shown(tmp_path: Path, option: str, variable: str) -> None:
    done = aide(tmp_path, "init", option)
    assert done.returncode == 2
    assert "s3cr3t-pw" not in done.stdout + done.stderr
    assert done.stderr.count("\n") == 1
    assert "holds a secret, which does not belong in aide.toml: give the URL without it" in done.stderr
    assert f"put the full one in {variable} in the run's environment" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_path_names_a_file_or_a_folder(tmp_path: Path) -> None:
    made = aide(tmp_path, "init", "--path", "etc/aide")
    assert made.returncode == 0, made.stderr
    assert load(tmp_path / "etc" / "aide" / "aide.toml") == FileSettings()
    named = aide(tmp_path, "init", "--path", "site.toml", "--port", "8000")
    assert named.returncode == 0, named.stderr
    assert load(tmp_path / "site.toml").resources.ports == [8000]
    existing_folder = aide(tmp_path / "etc", "init", "--path", ".")
    assert existing_folder.returncode == 0, existing_folder.stderr
    assert (tmp_path / "etc" / "aide.toml").is_file()


def test_usage_mistakes_are_one_line_errors(tmp_path: Path) -> None:
    pyproject = aide(tmp_path, "init", "--path", "pyproject.toml")
    assert pyproject.returncode == 2
    assert "aide init writes aide.toml (copy its tables under [tool.aide] yourself)" in pyproject.stderr
    config = aide(tmp_path, "--config", "x.toml", "init")
    assert config.returncode == 2
    assert config.stderr == (
        "aide: error: aide init writes a new file: name it with --path (--config names an existing one)\n"
    )
    port = aide(tmp_path, "init", "--port", "0")
    assert port.returncode == 2
    assert "argument --port: '0' is not a TCP port (1-65535)" in port.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_folder_is_a_one_line_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    done = aide(tmp_path, "init", "--path", "file/sub")
    assert done.returncode == 2
    assert done.stderr.startswith(f"aide: error: {blocker / 'sub' / 'aide.toml'}: cannot write here: ")
    assert done.stderr.count("\n") == 1
