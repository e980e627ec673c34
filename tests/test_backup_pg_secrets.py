"""No PostgreSQL password in any output, for every libpq connection-string form.

The backup issue's finding: ``host=… password=…`` landed in clear in ``manifest.json`` and on ``pg_dump``'s
command line (visible in ``ps``); ``postgresql://…?password=…`` showed in ``ps`` and ``aide restore`` printed it.
Here ``pg_dump``/``pg_restore`` are reached through shims that record ``/proc/<pid>/cmdline`` of the running
tool process before exec'ing the real one, and every file and line the operator sees is searched.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import psycopg
import pytest
from aide_testing import run_aide

SECRET = "Zq7pw-SECRET"

SHIM = """#!/bin/sh
tr '\\0' ' ' < /proc/$$/cmdline >> "{log}"
echo >> "{log}"
exec "{real}" "$@"
"""


def forms(database_url: str) -> dict[str, str]:
    name = database_url.rsplit("/", 1)[1]
    return {
        "uri-userinfo": f"postgresql://postgres:{SECRET}@127.0.0.1:5432/{name}",
        "uri-query": f"postgresql://postgres@127.0.0.1:5432/{name}?password={SECRET}&connect_timeout=5",
        "key-value": f"host=127.0.0.1 port=5432 user=postgres password='{SECRET}' dbname={name}",
    }


@pytest.fixture
def shimmed_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """pg_dump and pg_restore first on PATH, each logging its own command line as it runs."""
    shims, log = tmp_path / "shims", tmp_path / "cmdlines.log"
    shims.mkdir()
    for tool in ("pg_dump", "pg_restore"):
        real = shutil.which(tool)
        assert real is not None, f"{tool} is needed (postgresql-client)"
        shim = shims / tool
        shim.write_text(SHIM.format(log=log, real=real))
        shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{shims}{os.pathsep}{os.environ['PATH']}")
    return log


@pytest.mark.parametrize("form", ["uri-userinfo", "uri-query", "key-value"])
def test_no_password_on_a_command_line_in_a_manifest_or_a_printed_line(
    tmp_path: Path, pg_database: str, shimmed_tools: Path, form: str
) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE accounts (id int PRIMARY KEY)")
        conn.execute("INSERT INTO accounts SELECT generate_series(1, 100)")
    (tmp_path / "aide.toml").write_text(
        '[backup]\ndir = "backups"\n[[backup.components]]\nname = "appdb"\nkind = "postgresql"\n'
        'url_env = "APP_DB_URL"\n'
    )
    env = {**os.environ, "APP_DB_URL": forms(pg_database)[form]}

    backup = run_aide(tmp_path, "backup", env=env)
    assert backup.returncode == 0, backup.stderr
    (set_dir,) = [d for d in (tmp_path / "backups").iterdir() if (d / "manifest.json").is_file()]
    restore = run_aide(tmp_path, "restore", set_dir.name, "--yes", env=env)
    assert restore.returncode == 0, restore.stderr

    cmdlines = shimmed_tools.read_text()
    assert "pg_dump" in cmdlines
    assert "pg_restore" in cmdlines, "verify and restore ran pg_restore through the shim"
    assert SECRET not in cmdlines
    printed = backup.stdout + backup.stderr + restore.stdout + restore.stderr
    assert SECRET not in printed
    assert "restored appdb" in restore.stdout
    for path in (tmp_path / "backups").rglob("*"):
        if path.is_file() and path.suffix in {".json", ".log", ".txt"}:
            assert SECRET not in path.read_text(errors="replace"), path
    manifest = (set_dir / "manifest.json").read_text()
    assert "***" in manifest, "the manifest names the source with its password masked"
