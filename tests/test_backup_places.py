"""Read-only media and unwritable folders: verify and restore still work, the rest is one line, never a traceback.

The backup issue's finding: an unwritable backup folder (mode 555 as another user, a read-only mount) gave a
Python traceback for backup, verify and restore, and verify/restore from read-only media was impossible because
the lock file was opened for writing. Both places are real here: a tmpfs remounted read-only, and a root-owned
mode-555 folder used by ``nobody`` (with CAP_DAC_READ_SEARCH only, to read this checkout wherever it lies).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from aide_testing import run_aide, run_as_nobody
from test_backup_restore import make_db, read_marker

from conftest import HANG_S, unavailable

CONFIG = """[backup]
dir = "{dir}"
[[backup.components]]
name = "db"
kind = "sqlite"
source = "app.db"
[[backup.components]]
name = "conf"
kind = "folder"
source = "conf"
"""


def make_site(site: Path, backups: Path) -> None:
    make_db(site / "app.db", "backed-up")
    (site / "conf").mkdir()
    (site / "conf" / "app.ini").write_text("port = 8000\n")
    (site / "aide.toml").write_text(CONFIG.format(dir=backups))


def new_set(site: Path) -> str:
    done = run_aide(site, "backup")
    assert done.returncode == 0, done.stderr
    return done.stdout.split()[1].rstrip(":")


def change_site(site: Path) -> None:
    make_db(site / "app.db", "changed")
    (site / "conf" / "app.ini").write_text("port = 9000\n")


def assert_restored(site: Path) -> None:
    assert read_marker(site / "app.db") == "backed-up"
    assert (site / "conf" / "app.ini").read_text() == "port = 8000\n"


def assert_one_line_error(done: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("aide: error: ")
    for text in expected:
        assert text in lines[0], lines[0]


@pytest.fixture
def read_only_mount() -> Iterator[Path]:
    """A small tmpfs of our own, made read-only by the test (and unmounted afterwards)."""
    folder = Path(tempfile.mkdtemp(prefix="aide-ro-media-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(folder)], capture_output=True, timeout=HANG_S
    )
    if mounted.returncode != 0:
        folder.rmdir()
        unavailable(f"cannot mount a tmpfs (root needed): {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=HANG_S, check=False)
        folder.rmdir()


def test_verify_and_restore_from_read_only_media(tmp_path: Path, read_only_mount: Path) -> None:
    make_site(tmp_path, read_only_mount / "backups")
    set_id = new_set(tmp_path)
    subprocess.run(["mount", "-o", "remount,ro", str(read_only_mount)], check=True, timeout=HANG_S)
    change_site(tmp_path)

    assert run_aide(tmp_path, "backups").returncode == 0
    verified = run_aide(tmp_path, "verify", set_id)
    assert verified.returncode == 0, verified.stderr
    restored = run_aide(tmp_path, "restore", set_id, "--yes")
    assert restored.returncode == 0, restored.stderr
    assert_restored(tmp_path)

    assert_one_line_error(run_aide(tmp_path, "backup"), "backup: cannot write to the backup folder", "read-only")
    assert_one_line_error(run_aide(tmp_path, "prune"), "prune: cannot write to the backup folder", "read-only")
    for done in (verified, restored):
        assert "Traceback" not in done.stdout + done.stderr


def aide_as_nobody(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The ``aide`` command as ``nobody``, its temp folder inside the project (which nobody owns)."""
    return run_as_nobody(project, "-m", "pytest_aide.cli", *args, env={"TMPDIR": str(project / "tmp")})


@pytest.fixture
def nobody_site() -> Iterator[tuple[Path, Path]]:
    """A site owned by nobody, and a backup folder of root's, mode 555, holding one set."""
    top = Path(tempfile.mkdtemp(prefix="aide-places-"))
    top.chmod(0o755)
    site, backups = top / "site", top / "backups"
    site.mkdir()
    make_site(site, backups)
    try:
        yield site, backups
    finally:
        shutil.rmtree(top, ignore_errors=True)


def _give_to_nobody(site: Path) -> None:
    nobody = pwd.getpwnam("nobody")
    (site / "tmp").mkdir(exist_ok=True)
    for path in [site, *site.rglob("*")]:
        os.chown(path, nobody.pw_uid, nobody.pw_gid, follow_symlinks=False)


def test_another_users_read_only_folder_verifies_and_restores(nobody_site: tuple[Path, Path]) -> None:
    site, backups = nobody_site
    set_id = new_set(site)
    backups.chmod(0o555)
    change_site(site)
    _give_to_nobody(site)

    verified = aide_as_nobody(site, "verify", set_id)
    assert verified.returncode == 0, verified.stderr
    restored = aide_as_nobody(site, "restore", set_id, "--yes")
    assert restored.returncode == 0, restored.stderr
    assert_restored(site)

    assert_one_line_error(aide_as_nobody(site, "backup"), "cannot write to the backup folder", "permission denied")
    assert_one_line_error(aide_as_nobody(site, "prune"), "cannot write to the backup folder", "permission denied")
    assert sorted(p.name for p in backups.iterdir() if not p.name.startswith(".")) == [set_id], "nothing added"


BAD_PLACES = ["read-only-parent", "a-file-not-a-folder"]


@pytest.mark.parametrize("place", BAD_PLACES)
def test_no_subcommand_ever_shows_a_traceback(nobody_site: tuple[Path, Path], place: str) -> None:
    site, _backups = nobody_site
    locked = site.parent / "locked"
    locked.mkdir(mode=0o555)
    target = locked / "backups" if place == "read-only-parent" else site / "not-a-folder"
    if place == "a-file-not-a-folder":
        target.write_text("just a file\n")
    (site / "aide.toml").write_text(CONFIG.format(dir=target))
    _give_to_nobody(site)
    missing_set = "20260101T000000.000000Z-abcd"
    for args in (["backup"], ["backups"], ["verify", missing_set], ["prune"], ["prune", "--dry-run"]):
        done = aide_as_nobody(site, *args)
        output = done.stdout + done.stderr
        assert "Traceback" not in output, (args, output)
        assert done.returncode in (0, 1, 2), (args, done.returncode, output)
        if done.returncode:
            assert len(done.stderr.strip().splitlines()) == 1, (args, done.stderr)
    restore = aide_as_nobody(site, "restore", missing_set, "--yes")
    assert "Traceback" not in restore.stdout + restore.stderr
    assert restore.returncode in (1, 2)
    assert len(restore.stderr.strip().splitlines()) == 1, restore.stderr
