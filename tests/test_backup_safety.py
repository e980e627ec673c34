"""Crafted archives (``../``, absolute members, escaping links) are refused with nothing written."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
import zstandard

from pytest_aide.backup import BackupManager, parse_backup_config
from pytest_aide.backup.compress import sha256_file
from pytest_aide.backup.safety import member_problem
from pytest_aide.errors import BackupError
from pytest_aide.redact import Redactor


def member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info


@pytest.mark.parametrize(
    ("info", "reason"),
    [
        (member("../evil.txt"), "absolute path or '..'"),
        (member("a/../../evil.txt"), "absolute path or '..'"),
        (member("/etc/cron.d/evil"), "absolute path or '..'"),
        (member("link", tarfile.SYMTYPE, "/etc/passwd"), "points outside"),
        (member("sub/link", tarfile.SYMTYPE, "../../outside"), "points outside"),
        (member("hard", tarfile.LNKTYPE, "../outside"), "points outside"),
        (member("dev", tarfile.CHRTYPE), "device or fifo"),
    ],
)
def test_unsafe_members(info: tarfile.TarInfo, reason: str) -> None:
    assert reason in (member_problem(info) or "")


@pytest.mark.parametrize(
    "info",
    [
        member("a/b.txt"),
        member("a", tarfile.DIRTYPE),
        member("sub/link", tarfile.SYMTYPE, "../a/b.txt"),
        member("hard", tarfile.LNKTYPE, "a/b.txt"),
    ],
)
def test_safe_members(info: tarfile.TarInfo) -> None:
    assert member_problem(info) is None


def crafted_tar(bad: tarfile.TarInfo) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        good = tarfile.TarInfo("fine.txt")
        good.size = 4
        tar.addfile(good, io.BytesIO(b"fine"))  # a harmless member first: it must not be written either
        if bad.isfile():
            bad.size = 4
            tar.addfile(bad, io.BytesIO(b"evil"))
        else:
            tar.addfile(bad)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "bad",
    [
        member("../evil.txt"),
        member("/tmp/aide-evil-absolute.txt"),
        member("link", tarfile.SYMTYPE, "../outside"),
        member("link", tarfile.SYMTYPE, "/etc"),
    ],
    ids=["dotdot", "absolute", "relative-link", "absolute-link"],
)
def test_restore_of_a_crafted_archive_is_refused_with_nothing_written(tmp_path: Path, bad: tarfile.TarInfo) -> None:
    site = tmp_path / "site"
    (site / "conf").mkdir(parents=True)
    (site / "conf" / "app.ini").write_text("current")
    config = parse_backup_config(
        {"components": [{"name": "conf", "kind": "folder", "source": "conf"}]}, source="aide.toml", base_dir=site
    )
    manager = BackupManager(config, redactor=Redactor())
    created = manager.create()
    archive = created.path / "conf.tar.zst"
    archive.write_bytes(zstandard.ZstdCompressor().compress(crafted_tar(bad)))
    manifest = created.path / "manifest.json"
    data = json.loads(manifest.read_text())
    data["components"][0].update(size=archive.stat().st_size, sha256=sha256_file(archive))
    manifest.write_text(json.dumps(data))  # checksums match: only the member checks stand in the way
    before = sorted(str(p) for p in tmp_path.rglob("*"))

    assert not manager.verify(created.set_id).ok
    with pytest.raises(BackupError, match=r"refused.*nothing was written"):
        manager.restore(created.set_id, force=True)

    assert sorted(str(p) for p in tmp_path.rglob("*")) == before
    assert (site / "conf" / "app.ini").read_text() == "current"
    assert not Path("/tmp/aide-evil-absolute.txt").exists()
