"""No MariaDB/MySQL password in any output, for every URL form (``mysql://``, ``mariadb://``, ``?password=``).

``mariadb-dump`` and the ``mariadb`` client are reached through shims that record ``/proc/<pid>/cmdline`` of
the running tool process (and the mode of the option file it is given) before exec'ing the real one; every
file and line the operator sees is searched. The password holds characters an option file must quote.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pymysql
import pytest
from aide_testing import run_aide
from hypothesis import example, given, settings
from hypothesis import strategies as st

from conftest import unavailable
from pytest_aide.backup import mysql_source
from pytest_aide.errors import BackupError

SECRET = "Zq7\"pw #x\\y'SECRET="
ENCODED = quote(SECRET, safe="")

SHIM = """#!/bin/sh
tr '\\0' ' ' < /proc/$$/cmdline >> "{log}"
echo >> "{log}"
for arg in "$@"; do
  case "$arg" in --defaults-extra-file=*) stat -c 'option-file-mode=%a' "${{arg#*=}}" >> "{log}";; esac
done
exec "{real}" "$@"
"""


@pytest.fixture
def shimmed_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """mariadb-dump and mariadb (and their mysql names) first on PATH, each logging its command line."""
    shims, log = tmp_path / "shims", tmp_path / "cmdlines.log"
    shims.mkdir()
    for tool in ("mariadb-dump", "mysqldump", "mariadb", "mysql"):
        real = shutil.which(tool)
        if real is None:
            continue
        shim = shims / tool
        shim.write_text(SHIM.format(log=log, real=real))
        shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{shims}{os.pathsep}{os.environ['PATH']}")
    return log


@pytest.fixture
def app_user(mysql_database: str) -> Iterator[str]:
    """A user with a password (and the rights a restore needs), dropped afterwards; yields its name."""
    name = f"aide_u_{uuid.uuid4().hex[:10]}"
    target = mysql_source.parse_url(mysql_database)
    conn = pymysql.connect(
        host=target.host, port=target.port, user="root", password="", autocommit=True, ssl_disabled=True
    )
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE USER '{name}'@'%%' IDENTIFIED BY %s", (SECRET,))
            cur.execute(f"GRANT ALL PRIVILEGES ON *.* TO '{name}'@'%'")
        yield name
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{name}'@'%'")
            cur.execute(f"SHOW DATABASES LIKE '{target.database}\\_%'")
            for (kept,) in cur.fetchall():
                cur.execute(f"DROP DATABASE `{kept}`")
        conn.close()


def forms(user: str, database: str) -> dict[str, str]:
    return {
        "mysql-userinfo": f"mysql://{user}:{ENCODED}@127.0.0.1:3306/{database}",
        "mariadb-userinfo": f"mariadb://{user}:{ENCODED}@127.0.0.1:3306/{database}",
        "query": f"mysql://{user}@127.0.0.1:3306/{database}?password={ENCODED}",
    }


@pytest.mark.parametrize("form", ["mysql-userinfo", "mariadb-userinfo", "query"])
def test_no_password_on_a_command_line_in_a_manifest_or_a_printed_line(
    tmp_path: Path, mysql_database: str, app_user: str, shimmed_tools: Path, form: str
) -> None:
    database = mysql_source.parse_url(mysql_database).database
    conn = mysql_source.connect(mysql_database, database=database)
    mysql_source.query(conn, f"CREATE TABLE `{database}`.accounts (id int PRIMARY KEY) ENGINE=InnoDB")
    mysql_source.query(conn, f"INSERT INTO `{database}`.accounts SELECT seq FROM seq_1_to_100")
    conn.close()
    (tmp_path / "aide.toml").write_text(
        '[backup]\ndir = "backups"\n[[backup.components]]\nname = "appdb"\nkind = "mysql"\nurl_env = "APP_DB_URL"\n'
    )
    env = {**os.environ, "APP_DB_URL": forms(app_user, database)[form]}

    backup = run_aide(tmp_path, "backup", env=env)
    assert backup.returncode == 0, backup.stdout + backup.stderr
    (set_dir,) = [d for d in (tmp_path / "backups").iterdir() if (d / "manifest.json").is_file()]
    restore = run_aide(tmp_path, "restore", set_dir.name, "--yes", env=env)
    assert restore.returncode == 0, restore.stdout + restore.stderr
    listing = run_aide(tmp_path, "backups", env=env)

    cmdlines = shimmed_tools.read_text()
    assert "mariadb-dump" in cmdlines or "mysqldump" in cmdlines
    assert cmdlines.count("--database=aide_") >= 2, "verify and restore loaded through the client shim"
    assert SECRET not in cmdlines
    assert ENCODED not in cmdlines
    assert set(line for line in cmdlines.splitlines() if line.startswith("option-file-mode")) == {
        "option-file-mode=600"
    }
    printed = backup.stdout + backup.stderr + restore.stdout + restore.stderr + listing.stdout + listing.stderr
    assert SECRET not in printed
    assert ENCODED not in printed
    scheme = env["APP_DB_URL"].split(":", 1)[0]
    assert f"restored appdb -> {scheme}://{app_user}" in restore.stdout
    assert f"{database}_before_restore_" in listing.stdout, "`aide backups` lists the kept database"
    for path in (tmp_path / "backups").rglob("*"):
        if path.is_file() and path.suffix in {".json", ".log", ".txt"}:
            text = path.read_text(errors="replace")
            assert SECRET not in text, path
            assert ENCODED not in text, path
    assert "***" in (set_dir / "manifest.json").read_text(), "the manifest names the source, password masked"


def test_the_option_file_is_private_and_removed_even_when_the_tool_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    target = mysql_source.parse_url(f"mysql://u:{ENCODED}@127.0.0.1:1/d")
    with mysql_source.option_file(target) as path:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.parent == tmp_path
    with pytest.raises(BackupError, match=r"mysql://u:\*\*\*@127.0.0.1:1/d failed: .*127.0.0.1"):
        mysql_source.dump(f"mysql://u:{ENCODED}@127.0.0.1:1/d", io.BytesIO(), timeout=30)
    assert list(tmp_path.iterdir()) == []


@settings(max_examples=60)
@example('"#x')  # an unescaped quote would end the value and make '#x' a comment
@example("  spaces around  ")
@example("ends with a backslash\\")
@given(
    st.text(
        st.sampled_from("\"'\\#; =\t\n\r[]") | st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
        max_size=24,
    )
)
def test_the_option_file_carries_any_password_exactly(password: str) -> None:
    """What the MariaDB client library reads back from the option file is the password, character for character."""
    reader = shutil.which("my_print_defaults")
    if reader is None:
        unavailable("my_print_defaults (mariadb-client-core) is not installed")
    target = mysql_source.Target("127.0.0.1", 3306, "u", "d", password)
    with mysql_source.option_file(target) as path:
        done = subprocess.run(
            [str(reader), f"--defaults-file={path}", "client"], capture_output=True, timeout=30, check=True
        )
    printed = done.stdout.decode()
    assert printed.endswith("\n")
    assert printed[printed.index("\n--password=") + len("\n--password=") : -1] == password
