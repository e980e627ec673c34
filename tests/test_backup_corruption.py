"""Every corruption is caught: zstd frames carry checksums, a cut-off stream is an error, --force never
installs a broken database.

The backup issue's finding: a truncated zstd stream decompressed without error, so ``restore --force`` of a
truncated set installed a malformed database; one flipped byte plus a recomputed manifest sha256 passed verify.
Each case alters a real set and recomputes the manifest's size and sha256, as whoever altered it could.
"""

from __future__ import annotations

import io
import json
import re
import sqlite3
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard
from test_backup_restore import make_db, manager_for, read_marker

from pytest_aide.backup import BackupManager
from pytest_aide.backup.compress import has_frame_checksum, open_reader, sha256_file
from pytest_aide.backup.manifest import BackupSet
from pytest_aide.errors import BackupError


def rewrite(backup_set: BackupSet, name: str, change: Callable[[bytes], bytes]) -> Path:
    """Change one component's archive and make the manifest agree with the change."""
    manifest = backup_set.path / "manifest.json"
    data = json.loads(manifest.read_text())
    entry = next(c for c in data["components"] if c["name"] == name)
    archive = backup_set.path / entry["file"]
    archive.write_bytes(change(archive.read_bytes()))
    entry.update(size=archive.stat().st_size, sha256=sha256_file(archive))
    manifest.write_text(json.dumps(data))
    return archive


def truncate(blob: bytes) -> bytes:
    return blob[: len(blob) * 2 // 3]


def flip_a_byte(blob: bytes) -> bytes:
    middle = len(blob) // 2
    return blob[:middle] + bytes([blob[middle] ^ 0x01]) + blob[middle + 1 :]


def without_checksum(blob: bytes) -> bytes:
    """The same content written as sets were before frame checksums."""
    content = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(blob)).read()
    return zstandard.ZstdCompressor(level=3).compress(content)


@pytest.fixture
def db_site(tmp_path: Path) -> tuple[BackupManager, Path]:
    make_db(tmp_path / "app.db", "old")
    conn_rows = [f"row {i} " * 20 for i in range(3000)]  # a few pages, so a cut falls inside the data
    conn = sqlite3.connect(tmp_path / "app.db")
    conn.execute("CREATE TABLE filler (v TEXT)")
    conn.executemany("INSERT INTO filler VALUES (?)", [(row,) for row in conn_rows])
    conn.commit()
    conn.close()
    return manager_for(tmp_path, [{"name": "db", "kind": "sqlite", "source": "app.db"}]), tmp_path


def test_new_sets_carry_frame_checksums(db_site: tuple[BackupManager, Path]) -> None:
    manager, _root = db_site
    created = manager.create()
    (archive,) = created.path.glob("db.*")
    assert has_frame_checksum(archive)
    result = manager.verify(created.set_id)
    assert result.ok
    assert result.notes == ()


@pytest.mark.parametrize(
    ("change", "reason"),
    [(truncate, "truncated"), (flip_a_byte, "checksum|cannot decompress|Corrupted")],
    ids=["truncated", "flipped-byte"],
)
def test_altered_archive_fails_verify_and_even_forced_restore(
    db_site: tuple[BackupManager, Path], change: Callable[[bytes], bytes], reason: str
) -> None:
    manager, root = db_site
    created = manager.create()
    rewrite(created, "db", change)
    make_db(root / "app.db", "new")
    before = sorted(p.name for p in root.iterdir())

    result = manager.verify(created.set_id)
    assert not result.ok
    assert any(re.search(reason, p) for p in result.problems), result.problems
    with pytest.raises(BackupError) as refused:
        manager.restore(created.set_id, force=True)

    assert "\n" not in str(refused.value)
    assert read_marker(root / "app.db") == "new", "the live database is untouched"
    assert sorted(p.name for p in root.iterdir()) == before, "no safety copy, no leftover temp file"


def test_a_truncated_stream_is_an_error_not_a_short_read(tmp_path: Path) -> None:
    archive = tmp_path / "x.zst"
    archive.write_bytes(truncate(zstandard.ZstdCompressor(write_checksum=True).compress(b"data " * 100_000)))

    def read_all() -> None:
        with open_reader(archive, "zstd") as stream:
            while stream.read(10240):
                pass

    with pytest.raises(BackupError, match="truncated"):
        read_all()


def test_sets_written_before_checksums_still_verify_and_say_so(db_site: tuple[BackupManager, Path]) -> None:
    manager, root = db_site
    created = manager.create()
    rewrite(created, "db", without_checksum)
    result = manager.verify(created.set_id)
    assert result.ok, result.problems
    assert result.notes == (
        f"db: {next(created.path.glob('db.*')).name} carries no zstd frame checksum (written before they were "
        "added): checked by its sha256 and its content only",
    )
    make_db(root / "app.db", "new")
    manager.restore(created.set_id)
    assert read_marker(root / "app.db") == "old"


def test_forced_restore_never_installs_a_database_that_fails_its_check(db_site: tuple[BackupManager, Path]) -> None:
    """A well-formed stream of a broken database (the checksum fits the bad content): refused even forced."""
    manager, root = db_site
    created = manager.create()

    def break_the_database(blob: bytes) -> bytes:
        content = bytearray(zstandard.ZstdDecompressor().stream_reader(io.BytesIO(blob)).read())
        content[100 : 100 + 4096] = b"\xff" * 4096  # the schema page, overwritten
        return zstandard.ZstdCompressor(write_checksum=True).compress(bytes(content))

    rewrite(created, "db", break_the_database)
    make_db(root / "app.db", "new")
    with pytest.raises(BackupError, match=r"restored copy fails its check.*untouched"):
        manager.restore(created.set_id, force=True)
    assert read_marker(root / "app.db") == "new"


@pytest.mark.parametrize("extra", [True, False], ids=["extra-member", "missing-member"])
def test_a_missing_or_extra_member_fails_verify(tmp_path: Path, extra: bool) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "a.ini").write_text("a")
    (conf / "b.ini").write_text("b")
    manager = manager_for(tmp_path, [{"name": "conf", "kind": "folder", "source": "conf"}])
    created = manager.create()

    def change_members(blob: bytes) -> bytes:
        content = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(blob))
        out = io.BytesIO()
        with (
            tarfile.open(fileobj=content, mode="r|") as source,
            tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            for member in source:
                if member.name == "b.ini" and not extra:
                    continue
                tar.addfile(member, source.extractfile(member) if member.isfile() else None)
            if extra:
                info = tarfile.TarInfo("planted.ini")
                info.size = 1
                tar.addfile(info, io.BytesIO(b"x"))
        return zstandard.ZstdCompressor(write_checksum=True).compress(out.getvalue())

    rewrite(created, "conf", change_members)
    result = manager.verify(created.set_id)
    assert not result.ok
    assert f"conf: files: manifest says 2, archive has {3 if extra else 1}" in result.problems
