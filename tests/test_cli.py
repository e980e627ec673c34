"""The ``aide`` console script, run as a real subprocess (and under a pty for its questions)."""

from __future__ import annotations

import importlib.metadata
import os
import pty
import select
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aide_testing import run_aide

from pytest_aide import cli_ops

CONFIG = """
[backup]
dir = "backups"
[[backup.components]]
name = "db"
kind = "sqlite"
source = "app.db"
[[backup.components]]
name = "notes"
kind = "file"
source = "notes.txt"
"""


def aide(cwd: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return run_aide(cwd, *args, stdin=stdin)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "aide.toml").write_text(CONFIG)
    conn = sqlite3.connect(tmp_path / "app.db")
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES (1)")
    conn.commit()
    conn.close()
    (tmp_path / "notes.txt").write_text("v1")
    return tmp_path


def set_ids(project: Path) -> list[str]:
    return [line.split()[0] for line in aide(project, "backups").stdout.splitlines()]


def test_backup_list_verify_restore_prune(project: Path) -> None:
    done = aide(project, "backup")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("backup ")
    assert ": complete, 2 components" in done.stdout
    (set_id,) = set_ids(project)
    listed = aide(project, "backups").stdout
    assert "complete" in listed
    assert "unverified" in listed

    verified = aide(project, "verify", set_id)
    assert (verified.returncode, verified.stdout.strip()) == (0, f"set {set_id}: verified (db, notes)")
    assert " verified " in aide(project, "backups").stdout

    (project / "notes.txt").write_text("v2")
    restored = aide(project, "restore", set_id, "--component", "notes", "--yes")
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout.startswith("restored notes -> ")
    assert "previous content kept in" in restored.stdout
    assert (project / "notes.txt").read_text() == "v1"

    pruned = aide(project, "prune", "--dry-run")
    assert (pruned.returncode, pruned.stdout.strip()) == (0, "kept 1 sets, would remove 0")


def test_exit_codes_and_one_line_errors(project: Path, tmp_path: Path) -> None:
    missing = aide(project, "--config", str(tmp_path / "nope.toml"), "backups")
    assert missing.returncode == 2
    assert missing.stderr.startswith("aide: error: ")
    assert missing.stderr.count("\n") == 1
    (project / "bad.toml").write_text(
        '[backup]\ncompression = "lz4"\n[[backup.components]]\nname = "x"\nkind = "file"\nsource = "x"\n'
    )
    bad = aide(project, "--config", str(project / "bad.toml"), "backups")
    assert bad.returncode == 2
    assert "compression: 'lz4' is not one of zstd, zip" in bad.stderr
    unknown = aide(project, "verify", "20200101T000000.000000Z-abcd")
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("aide: error: no backup set")
    usage = aide(project, "frobnicate")
    assert usage.returncode == 2
    assert "aide: error:" in usage.stderr


def test_partial_backup_and_failed_verify_exit_1(project: Path) -> None:
    (project / "notes.txt").unlink()
    done = aide(project, "backup")
    assert done.returncode == 1
    assert "partial" in done.stdout
    assert "aide: component notes failed: file" in done.stderr
    (set_id,) = set_ids(project)
    verified = aide(project, "verify", set_id)
    assert verified.returncode == 1
    assert "notes: was not captured" in verified.stderr


def test_restore_without_a_terminal_needs_a_set_and_yes(project: Path) -> None:
    aide(project, "backup")
    (set_id,) = set_ids(project)
    no_set = aide(project, "restore")
    assert no_set.returncode == 2
    assert "restore needs a SET when stdin is not a terminal" in no_set.stderr
    no_yes = aide(project, "restore", set_id)
    assert no_yes.returncode == 2
    assert "pass --yes" in no_yes.stderr


def run_in_pty(cwd: Path, args: list[str], answers: list[str]) -> tuple[int, str]:
    """Run ``aide`` with a pty as its terminal, answering each question in turn."""
    pid, fd = pty.fork()
    if pid == 0:  # child
        os.chdir(cwd)
        os.execv(sys.executable, [sys.executable, "-m", "pytest_aide.cli", *args])
    output = b""
    deadline = time.monotonic() + 60
    pending = list(answers)
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                output += chunk
                if pending and output.rstrip().endswith((b"]", b"[y/N]")):
                    os.write(fd, pending.pop(0).encode() + b"\n")
    finally:
        os.close(fd)
        _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


def test_restore_asks_which_set_and_for_confirmation_on_a_terminal(project: Path) -> None:
    aide(project, "backup")
    (project / "notes.txt").write_text("v2")
    aide(project, "backup")
    newest, oldest = set_ids(project)
    code, out = run_in_pty(project, ["restore", "--component", "notes"], ["2", "y"])
    assert code == 0, out
    assert f"  1. {newest}" in out
    assert f"  2. {oldest}" in out
    assert f"Restore set {oldest} over: notes (" in out
    assert (project / "notes.txt").read_text() == "v1"

    code, out = run_in_pty(project, ["restore", newest], ["n"])
    assert code == 1
    assert "restore cancelled" in out
    assert (project / "notes.txt").read_text() == "v1"


def test_version_is_the_installed_distributions() -> None:
    done = aide(Path.cwd(), "--version")
    assert (done.returncode, done.stdout) == (0, f"pytest-aide {importlib.metadata.version('pytest-aide')}\n")


OWN_CHECKS = """
import os
import pytest

@pytest.mark.daily
def check_own(aide_health):
    with open("pid.txt", "w") as handle:
        handle.write(str(os.getpid()))
    aide_health.record("own_queue", float(os.environ.get("OWN_QUEUE", "3")), "jobs", warning="10", critical="20")

@pytest.mark.weekly
def check_weekly_only(aide_health):
    aide_health.record("own_queue", 1.0, "jobs")
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A folder with the operator's own checks and a configuration in a folder whose name has a space."""
    (tmp_path / "my config").mkdir()
    (tmp_path / "my config" / "aide.toml").write_text("[suite]\nenabled = false\n[reports]\narchive = false\n")
    checks = tmp_path / "checks"
    checks.mkdir()
    (checks / "check_own.py").write_text(OWN_CHECKS)
    return checks


def test_pytest_command_joins_the_config_option_to_its_path() -> None:
    command = cli_ops.pytest_command("weekly", Path("/srv/my config/aide.toml"), ["-x", "--tb=short"])
    assert command == [
        sys.executable,
        "-m",
        "pytest",
        "-m",
        "weekly",
        "--aide-config=/srv/my config/aide.toml",
        "-x",
        "--tb=short",
    ]


def test_check_becomes_pytest_with_the_schedule_and_the_found_config(site: Path) -> None:
    config = site.parent / "my config" / "aide.toml"
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest_aide.cli", "--config", str(config), "check", "daily", "-p", "no:cacheprovider"],
        cwd=site,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith(("AIDE_", "PYTEST_"))},
    )
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, out + err
    assert int((site / "pid.txt").read_text()) == process.pid  # aide replaced itself: cron sees pytest's status
    assert f"aide: config {config} (--aide-config); target" in out
    assert "check_own.py ." in out
    assert "1 passed, 1 deselected" in out  # -m daily: the weekly-only check is left out
    assert "pytest-aide verdict" in out


def test_check_finds_the_config_as_the_plugin_does_and_exits_as_pytest(site: Path) -> None:
    (site / "aide.toml").write_text("[suite]\nenabled = false\n[reports]\narchive = false\n")
    found = aide(site, "check", "weekly", "-p", "no:cacheprovider", "-q")
    assert found.returncode == 0, found.stdout + found.stderr
    assert "1 passed, 1 deselected" in found.stdout
    failing = subprocess.run(
        [sys.executable, "-m", "pytest_aide.cli", "check", "daily", "-p", "no:cacheprovider"],
        cwd=site,
        capture_output=True,
        text=True,
        timeout=120,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("AIDE_")}, "OWN_QUEUE": "25"},
        check=False,
    )
    assert failing.returncode == 1  # a CRITICAL check: pytest-aide's exit status, through aide check
    (site / "aide.toml").write_text("[suite]\nenabld = false\n")
    broken = aide(site, "check", "daily", "-p", "no:cacheprovider")
    assert broken.returncode == 4  # pytest's usage error, not aide's
    assert f"{site / 'aide.toml'}: [suite] enabld: unknown key" in broken.stdout + broken.stderr


def test_check_without_a_configuration_or_with_its_own_config_option_is_refused(site: Path) -> None:
    nothing = aide(site, "check", "daily")
    assert nothing.returncode == 2
    assert nothing.stderr == (
        f"aide: error: no aide configuration found from {site} (aide.toml, or [tool.aide] in pyproject.toml): "
        "write one with `aide init`, or name one with --config=PATH or AIDE_CONFIG\n"
    )
    (site / "aide.toml").write_text("")
    for given in (["--aide-config", "x.toml"], ["--aide-config=x.toml"]):
        refused = aide(site, "check", "daily", *given)
        assert refused.returncode == 2
        assert "name the configuration before the command: aide --config=PATH check ..." in refused.stderr
    unknown = aide(site, "check", "hourly")
    assert unknown.returncode == 2
    assert "invalid choice: 'hourly'" in unknown.stderr
    assert not (site / "pid.txt").exists()  # no check ran in any of these


def test_the_command_loads_the_backup_history_and_settings_stacks_only_for_commands_that_use_them() -> None:
    """`aide check` (cron's entry point) and `aide --version` start without them: ~70 ms of imports each run."""
    probe = (
        "import sys, pytest_aide.cli as cli\n"
        "cli._parser().parse_args(['check', 'daily'])\n"
        "stacks = ('pytest_aide.backup', 'pytest_aide.history', 'pytest_aide.config')\n"
        "print(sorted(m for m in stacks if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stdout) == (0, "[]\n"), done.stderr
