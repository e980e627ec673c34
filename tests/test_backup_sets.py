"""Creating, listing and verifying sets against real SQLite files, folders and a concurrent writer process."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest
import zstandard

from pytest_aide.backup import BackupManager, parse_backup_config
from pytest_aide.backup.sqlite_source import snapshot
from pytest_aide.errors import BackupError
from pytest_aide.redact import Redactor

ACCOUNTS = 2000
TOTAL = ACCOUNTS * 1000

# Moves money between random accounts, one transaction per transfer, until told to stop: the total never
# changes, so any backup that mixes two moments in time shows a different total.
TRANSFER_SCRIPT = """
import random, sqlite3, sys, time, pathlib
db, stop, started = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
conn = sqlite3.connect(db, timeout=30, isolation_level=None)
conn.execute("PRAGMA synchronous=OFF")  # speed: durability is not what this test is about
count = 0
deadline = time.monotonic() + 60
while not stop.exists() and time.monotonic() < deadline:
    a, b = random.sample(range(1, ACCOUNTS + 1), 2)
    amount = random.randint(1, 50)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE accounts SET balance = balance - ? WHERE id = ?", (amount, a))
    conn.execute("UPDATE accounts SET balance = balance + ? WHERE id = ?", (amount, b))
    conn.execute("COMMIT")
    count += 1
    if count == 50:
        started.write_text("go")
print(count)
""".replace("ACCOUNTS", str(ACCOUNTS))


def make_bank(path: Path, journal_mode: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA journal_mode={journal_mode}")
    conn.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL, pad BLOB)")
    conn.executemany("INSERT INTO accounts VALUES (?, 1000, randomblob(2000))", [(i,) for i in range(1, ACCOUNTS + 1)])
    conn.commit()
    conn.close()


def manager_for(tmp_path: Path, components: list[dict[str, Any]], **backup: Any) -> BackupManager:
    config = parse_backup_config({"components": components, **backup}, source="aide.toml", base_dir=tmp_path)
    return BackupManager(config, redactor=Redactor())


def total_and_integrity(path: Path) -> tuple[int, str]:
    conn = sqlite3.connect(path)
    try:
        return (
            conn.execute("SELECT sum(balance) FROM accounts").fetchone()[0],
            conn.execute("PRAGMA integrity_check").fetchone()[0],
        )
    finally:
        conn.close()


@pytest.mark.parametrize("journal_mode", ["wal", "delete"])
def test_backup_while_another_process_transfers_money_restores_a_consistent_total(
    tmp_path: Path, journal_mode: str
) -> None:
    bank = tmp_path / "bank.db"
    make_bank(bank, journal_mode)
    manager = manager_for(tmp_path, [{"name": "bank", "kind": "sqlite", "source": "bank.db"}])
    stop, started = tmp_path / "stop", tmp_path / "started"
    writer = subprocess.Popen(
        [sys.executable, "-c", TRANSFER_SCRIPT, str(bank), str(stop), str(started)], stdout=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 20
        while not started.exists():
            assert writer.poll() is None, "the writer died"
            assert time.monotonic() < deadline, "the writer did not start"
            time.sleep(0.01)
        sets = [manager.create() for _ in range(3)]
        assert writer.poll() is None, "the writer must still be running during every backup"
    finally:
        stop.write_text("stop")
        out, _ = writer.communicate(timeout=30)
    assert writer.returncode == 0
    assert int(out) > 50
    for backup_set in sets:
        assert backup_set.complete
        assert manager.verify(backup_set.set_id).ok
        restored = tmp_path / f"restored-{backup_set.set_id}.db"
        with zstandard.open(backup_set.path / "bank.sqlite.zst", "rb") as src:
            restored.write_bytes(src.read())
        assert total_and_integrity(restored) == (TOTAL, "ok")
    assert total_and_integrity(bank) == (TOTAL, "ok")


def test_snapshot_waits_for_the_busy_timeout_then_gives_up(tmp_path: Path) -> None:
    bank = tmp_path / "bank.db"
    make_bank(bank, "delete")
    holder = sqlite3.connect(bank, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # no reader may start while this is held (rollback journal)
    try:
        started = time.monotonic()
        with pytest.raises(BackupError, match=r"SQLite backup of .*bank.db failed: database is locked"):
            snapshot(bank, tmp_path / "copy.db", timeout=0.3)
        assert 0.25 < time.monotonic() - started < 20  # it waited its 0.3 s, not the 30 s default
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_manifest_describes_every_component(tmp_path: Path) -> None:
    make_bank(tmp_path / "bank.db", "wal")
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "app.ini").write_text("debug = false\n")
    (tmp_path / "notes.txt").write_text("hello")
    manager = manager_for(
        tmp_path,
        [
            {"name": "bank", "kind": "sqlite", "source": "bank.db"},
            {"name": "conf", "kind": "folder", "source": "conf"},
            {"name": "notes", "kind": "file", "source": "notes.txt"},
        ],
    )
    created = manager.create()
    data = json.loads((created.path / "manifest.json").read_text())
    assert data["format"] == "pytest-aide-backup/1"
    assert data["status"] == "complete"
    assert data["set_id"] == created.set_id
    assert data["tool_version"]
    assert data["host"]
    assert data["created"].endswith("+00:00")
    by_name = {c["name"]: c for c in data["components"]}
    assert by_name["bank"]["summary"] == {"tables": {"accounts": ACCOUNTS}}
    assert by_name["conf"]["summary"]["files"] == 1
    assert by_name["conf"]["summary"]["bytes"] == 14
    assert by_name["notes"]["summary"] == {"files": 1, "bytes": 5}
    for comp in data["components"]:
        assert (created.path / comp["file"]).stat().st_size == comp["size"]
        assert len(comp["sha256"]) == 64
        assert comp["status"] == "ok"
        assert comp["error"] is None
    assert [s.set_id for s in manager.list_sets()] == [created.set_id]


def test_set_ids_sort_by_time_and_are_unique_within_a_second(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    manager = manager_for(tmp_path, [{"name": "notes", "kind": "file", "source": "notes.txt"}])
    ids = [manager.create().set_id for _ in range(5)]
    assert len(set(ids)) == 5
    assert sorted(ids) == ids
    assert [s.set_id for s in manager.list_sets()] == ids[::-1]


def test_dotfiles_and_secret_names_never_enter_an_archive_or_manifest(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    (conf / "sub").mkdir(parents=True)
    (conf / "app.ini").write_text("ok")
    (conf / ".env").write_text("DB_PASSWORD=hunter22-secret")
    (conf / "server.key").write_text("KEY")
    (conf / "cert.pem").write_text("PEM")
    (conf / "my_secret.txt").write_text("S")
    (conf / ".git").mkdir()
    (conf / ".git" / "config").write_text("token")
    (conf / "sub" / "data.txt").write_text("data")
    manager = manager_for(
        tmp_path,
        [
            {"name": "conf", "kind": "folder", "source": "conf", "exclude": ["*.pem"]},
            {"name": "pg", "kind": "postgresql", "url": "postgresql://app:hunter22@127.0.0.1:1/x"},
        ],
    )
    created = manager.create()
    with zstandard.open(created.path / "conf.tar.zst", "rb") as raw, tarfile.open(fileobj=raw, mode="r|") as tar:
        names = sorted(m.name for m in tar)
    assert names == ["app.ini", "sub", "sub/data.txt"]
    manifest = (created.path / "manifest.json").read_text()
    assert "hunter22" not in manifest
    assert "postgresql://app:***@127.0.0.1:1/x" in manifest


def test_a_failing_component_makes_the_set_partial_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    manager = manager_for(
        tmp_path,
        [
            {"name": "notes", "kind": "file", "source": "notes.txt"},
            {"name": "gone", "kind": "sqlite", "source": "missing.db"},
        ],
    )
    created = manager.create()
    assert created.status == "partial"
    gone = created.component("gone")
    assert gone.status == "failed"
    assert "missing.db does not exist" in (gone.error or "")
    assert not (tmp_path / "missing.db").exists(), "a backup must never create the database it reads"
    assert created.component("notes").ok
    result = manager.verify(created.set_id)
    assert not result.ok
    assert result.problems == (f"gone: was not captured: {gone.error}",)
    assert result.checked == ("notes",)


@pytest.mark.parametrize("compression", ["zstd", "zip"])
def test_verify_detects_a_corrupted_archive(tmp_path: Path, compression: str) -> None:
    make_bank(tmp_path / "bank.db", "wal")
    manager = manager_for(tmp_path, [{"name": "bank", "kind": "sqlite", "source": "bank.db"}], compression=compression)
    created = manager.create()
    assert manager.verify(created.set_id).ok
    assert manager.newest_verified() is not None
    archive = created.path / created.component("bank").file  # type: ignore[operator]
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    result = manager.verify(created.set_id)
    assert not result.ok
    assert result.problems == (f"bank: {archive.name} checksum does not match the manifest (corrupted or altered)",)


def test_verify_restores_sqlite_into_scratch_and_compares_row_counts(tmp_path: Path) -> None:
    make_bank(tmp_path / "bank.db", "wal")
    manager = manager_for(tmp_path, [{"name": "bank", "kind": "sqlite", "source": "bank.db"}])
    created = manager.create()
    manifest_path = created.path / "manifest.json"
    data = json.loads(manifest_path.read_text())
    data["components"][0]["summary"]["tables"]["accounts"] = 5  # the manifest claims another content
    manifest_path.write_text(json.dumps(data))
    result = manager.verify(created.set_id)
    assert result.problems == (f"bank: table accounts: manifest says 5 rows, restored copy has {ACCOUNTS}",)
    assert not list(tmp_path.joinpath("backups").glob(".scratch-*")), "scratch space is cleaned up"


def test_unknown_set_and_foreign_directories(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    manager = manager_for(tmp_path, [{"name": "notes", "kind": "file", "source": "notes.txt"}])
    manager.create()
    (tmp_path / "backups" / "20200101T000000.000000Z-abcd").mkdir()  # looks like a set, has no manifest
    (tmp_path / "backups" / "README").write_text("not a set")
    assert len(manager.list_sets()) == 1
    with pytest.raises(BackupError, match=r"no backup set '20200101T000000\.000000Z-abcd'"):
        manager.verify("20200101T000000.000000Z-abcd")
