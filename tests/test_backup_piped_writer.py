"""``piped_writer``: dumps compressed by the ``zstd`` command (in process without it), the same archive either way."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import zstandard

from pytest_aide.backup import compress
from pytest_aide.backup.compress import decompress_to, has_frame_checksum, piped_writer, sha256_file
from pytest_aide.errors import BackupError

DATA = b"".join(b"INSERT INTO `t` VALUES (%d,'row');\n" % i for i in range(200_000)) + os.urandom(300_000)


@pytest.mark.parametrize("command", [True, False], ids=["zstd-command", "in-process"])
def test_the_archive_decompresses_checksummed_with_its_size_and_sha256(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: bool
) -> None:
    if not command:
        monkeypatch.setattr(compress.shutil, "which", lambda name: None)
    dest = tmp_path / "db.sql.zst"
    with piped_writer(dest, "zstd", "db.sql") as (out, written):
        for start in range(0, len(DATA), 100_000):
            out.write(DATA[start : start + 100_000])
    assert written.size == dest.stat().st_size
    assert written.sha256 == sha256_file(dest)
    assert has_frame_checksum(dest)
    assert decompress_to(dest, "zstd", tmp_path / "back.sql") == len(DATA)
    assert (tmp_path / "back.sql").read_bytes() == DATA


def test_a_zstd_that_fails_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "zstd"
    fake.write_text("#!/bin/sh\ncat > /dev/null\necho 'zstd: error 70 : Write error : No space left' >&2\nexit 70\n")
    fake.chmod(0o755)
    monkeypatch.setattr(compress.shutil, "which", lambda name: str(fake))
    message = r"^zstd compressing db.sql exited with 70: zstd: error 70 : Write error"
    with pytest.raises(BackupError, match=message), piped_writer(tmp_path / "x.zst", "zstd", "db.sql") as (out, _):
        out.write(b"x" * 1000)


def produce_then_fail(dest: Path) -> None:
    with piped_writer(dest, "zstd", "db.sql") as (out, _):
        out.write(b"partial")
        raise RuntimeError("dump failed")


def test_a_failing_producer_ends_the_command_and_raises_its_own_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="dump failed"):
        produce_then_fail(tmp_path / "db.sql.zst")
    archive = (tmp_path / "db.sql.zst").read_bytes()
    assert zstandard.ZstdDecompressor().decompressobj().decompress(archive) == b"partial"


def test_a_zstd_that_never_finishes_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "zstd"
    fake.write_text("#!/bin/sh\ncat > /dev/null\nexec sleep 60\n")
    fake.chmod(0o755)
    monkeypatch.setattr(compress.shutil, "which", lambda name: str(fake))
    monkeypatch.setattr(compress, "PIPED_TIMEOUT", 0.5)
    message = r"^zstd compressing db.sql did not finish within 0.5 s"
    with pytest.raises(BackupError, match=message), piped_writer(tmp_path / "x.zst", "zstd", "db.sql") as (out, _):
        out.write(b"x" * 1000)
