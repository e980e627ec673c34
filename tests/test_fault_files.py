"""Files and folders made unavailable and always restored: renamed aside (works against root too) or chmod 000
(proved against a process running as ``nobody``; root ignores it, as the docs say)."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import HANG_S, unavailable
from pytest_aide.faults import FaultError, FileFaults


def listing(folder: Path) -> dict[str, bytes | None]:
    return {p.name: p.read_bytes() if p.is_file() else None for p in folder.iterdir()}


def test_a_renamed_file_is_gone_for_everyone_and_comes_back(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    db.write_bytes(b"orders")
    faults = FileFaults()
    fault = faults.make_unavailable(db)
    with pytest.raises(FileNotFoundError):
        db.read_bytes()  # this run is root: a rename stops root too
    assert fault.aside is not None
    assert fault.aside.parent == tmp_path
    faults.restore(db)
    assert listing(tmp_path) == {"app.db": b"orders"}


def test_a_folder_is_made_unavailable_with_its_content(tmp_path: Path) -> None:
    uploads = tmp_path / "uploads"
    (uploads / "2026").mkdir(parents=True)
    (uploads / "2026" / "a.txt").write_text("a")
    faults = FileFaults()
    with faults.unavailable(uploads):
        assert not uploads.exists()
    assert (uploads / "2026" / "a.txt").read_text() == "a"
    assert [p.name for p in tmp_path.iterdir()] == ["uploads"]


def test_restored_when_an_exception_is_raised_inside(tmp_path: Path) -> None:
    config = tmp_path / "app.ini"
    config.write_text("[app]")
    faults = FileFaults()
    with pytest.raises(RuntimeError, match="check failed"), faults.unavailable(config):
        raise RuntimeError("check failed")
    assert config.read_text() == "[app]"
    assert faults.active == []


def test_restored_on_keyboard_interrupt(tmp_path: Path) -> None:
    config = tmp_path / "app.ini"
    config.write_text("[app]")
    with pytest.raises(KeyboardInterrupt), FileFaults().unavailable(config):
        raise KeyboardInterrupt
    assert config.read_text() == "[app]"


def test_what_the_target_created_meanwhile_is_kept_aside_not_deleted(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    db.write_bytes(b"orders")
    faults = FileFaults()
    faults.make_unavailable(db)
    db.write_bytes(b"")  # SQLite creates an empty database where the file was
    fault = faults.restore(db)
    assert db.read_bytes() == b"orders"
    assert fault.created_aside is not None
    assert fault.created_aside.read_bytes() == b""
    assert fault.to_dict()["created_aside"] == str(fault.created_aside)


def test_restore_all_restores_newest_first_and_reports_every_failure(tmp_path: Path) -> None:
    names = ["a", "b", "c"]
    for name in names:
        (tmp_path / name).write_text(name)
    faults = FileFaults()
    for name in names:
        faults.make_unavailable(tmp_path / name)
    lost = faults.active[1]
    assert lost.aside is not None
    lost.aside.unlink()  # someone deleted what we put aside: its restore fails, the others still happen
    with pytest.raises(FaultError, match=r"could not restore: cannot rename .*\.b\.aide-unavailable-\w+ to b:"):
        faults.restore_all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "c"]
    assert [f.path.name for f in faults.restored] == ["c", "a"]


def test_mistakes_are_one_line(tmp_path: Path) -> None:
    faults = FileFaults()
    with pytest.raises(FaultError, match=f"cannot make {tmp_path / 'missing'} unavailable: it does not exist"):
        faults.make_unavailable(tmp_path / "missing")
    (tmp_path / "f").write_text("x")
    faults.make_unavailable(tmp_path / "f")
    with pytest.raises(FaultError, match="already unavailable"):
        faults.make_unavailable(tmp_path / "f")
    with pytest.raises(FaultError, match="was not made unavailable by these faults"):
        faults.restore(tmp_path / "other")
    with pytest.raises(FaultError, match="how= must be 'rename' or 'chmod', got 'delete'"):
        faults.make_unavailable(tmp_path / "g", how="delete")  # type: ignore[arg-type]
    faults.restore_all()


@given(name=st.text(st.characters(exclude_characters="/\x00"), min_size=1, max_size=60))
def test_any_file_name_is_put_back_exactly(name: str) -> None:
    if name in (".", ".."):
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, name)
        try:
            if len(os.fsencode(name)) > 200:  # room for the aside name's prefix and suffix
                return
            path.write_bytes(b"data")
        except (OSError, UnicodeEncodeError):
            return  # a name this file system refuses
        with FileFaults().unavailable(path):
            assert listing(Path(folder)).keys() != {name}
        assert listing(Path(folder)) == {name: b"data"}


def test_chmod_records_and_restores_the_mode(tmp_path: Path) -> None:
    path = tmp_path / "secret.conf"
    path.write_text("x")
    path.chmod(0o640)
    faults = FileFaults()
    with faults.unavailable(path, how="chmod"):
        assert stat.S_IMODE(path.stat().st_mode) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


READ = """
import sys
try:
    open(sys.argv[1]).read()
    print("read")
except OSError as exc:
    print(type(exc).__name__)
"""


@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """A folder ``nobody`` may enter (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="aide_faults_"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def read_as_nobody(path: Path) -> str:
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        unavailable("reading as another user needs root and setpriv (util-linux)")
    nobody = pwd.getpwnam("nobody")
    command = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]
    done = subprocess.run(
        [*command, sys.executable, "-c", READ, str(path)], capture_output=True, text=True, timeout=HANG_S, check=True
    )
    return done.stdout.strip()


def test_chmod_stops_a_process_of_another_user_but_not_root(shared_folder: Path) -> None:
    path = shared_folder / "app.conf"
    path.write_text("x")
    path.chmod(0o644)
    faults = FileFaults()
    assert read_as_nobody(path) == "read"
    with faults.unavailable(path, how="chmod"):
        assert read_as_nobody(path) == "PermissionError"
        assert path.read_text() == "x"  # root ignores permission bits: why rename is the default
    assert read_as_nobody(path) == "read"
