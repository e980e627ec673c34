"""Restoring real SQLite files, folders and files: content back, safety copies kept, bad sets refused."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from pytest_aide.backup import BackupManager, parse_backup_config
from pytest_aide.errors import BackupError, ConfigError
from pytest_aide.redact import Redactor


def manager_for(tmp_path: Path, components: list[dict[str, Any]]) -> BackupManager:
    config = parse_backup_config({"components": components}, source="aide.toml", base_dir=tmp_path)
    return BackupManager(config, redactor=Redactor())


def make_db(path: Path, marker: str, *, wal: bool = True) -> None:
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode=wal")
    conn.execute("CREATE TABLE IF NOT EXISTS marker (v TEXT)")
    conn.execute("DELETE FROM marker")
    conn.execute("INSERT INTO marker VALUES (?)", (marker,))
    conn.commit()
    conn.close()


def read_marker(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return str(conn.execute("SELECT v FROM marker").fetchone()[0])
    finally:
        conn.close()


@pytest.fixture
def site(tmp_path: Path) -> tuple[BackupManager, Path]:
    make_db(tmp_path / "app.db", "old")
    conf = tmp_path / "conf"
    (conf / "sub").mkdir(parents=True)
    (conf / "app.ini").write_text("version = 1\n")
    (conf / "sub" / "a.txt").write_text("a")
    (conf / ".env").write_text("TOKEN=xyz12345\n")
    (tmp_path / "notes.txt").write_text("old notes")
    manager = manager_for(
        tmp_path,
        [
            {"name": "db", "kind": "sqlite", "source": "app.db"},
            {"name": "conf", "kind": "folder", "source": "conf"},
            {"name": "notes", "kind": "file", "source": "notes.txt"},
        ],
    )
    return manager, tmp_path


def test_restore_puts_everything_back_and_keeps_safety_copies(site: tuple[BackupManager, Path]) -> None:
    manager, root = site
    created = manager.create()
    # A live writer leaves recent rows in the WAL: the safety copy must include them.
    conn = sqlite3.connect(root / "app.db")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("UPDATE marker SET v = 'new'")
    conn.commit()
    (root / "conf" / "app.ini").write_text("version = 2\n")
    (root / "conf" / "added.txt").write_text("added later")
    (root / "notes.txt").write_text("new notes")

    result = manager.restore(created.set_id)
    conn.close()

    assert [c.name for c in result.restored] == ["db", "conf", "notes"]
    assert read_marker(root / "app.db") == "old"
    assert (root / "conf" / "app.ini").read_text() == "version = 1\n"
    assert not (root / "conf" / "added.txt").exists()
    assert (root / "conf" / ".env").read_text() == "TOKEN=xyz12345\n", "excluded secrets are carried over"
    assert (root / "notes.txt").read_text() == "old notes"
    safety = {c.name: Path(c.safety_copy or "") for c in result.restored}
    assert safety["db"].name.startswith("app_before_restore_")
    assert safety["db"].suffix == ".db"
    assert read_marker(safety["db"]) == "new"
    assert (safety["conf"] / "app.ini").read_text() == "version = 2\n"
    assert (safety["conf"] / "added.txt").exists()
    assert safety["notes"].read_text() == "new notes"
    assert not list(root.glob(".*aide-restore*")), "no temp files left next to the targets"


def test_restore_of_missing_targets_creates_them_without_safety_copy(site: tuple[BackupManager, Path]) -> None:
    manager, root = site
    created = manager.create()
    (root / "app.db").unlink()
    (root / "notes.txt").unlink()
    result = manager.restore(created.set_id, ["db", "notes"])
    assert [c.safety_copy for c in result.restored] == [None, None]
    assert read_marker(root / "app.db") == "old"
    assert (root / "notes.txt").read_text() == "old notes"


def test_restore_only_the_chosen_component(site: tuple[BackupManager, Path]) -> None:
    manager, root = site
    created = manager.create()
    (root / "notes.txt").write_text("new notes")
    make_db(root / "app.db", "new")
    manager.restore(created.set_id, ["notes"])
    assert (root / "notes.txt").read_text() == "old notes"
    assert read_marker(root / "app.db") == "new"
    with pytest.raises(BackupError, match="no component named 'nope'"):
        manager.restore(created.set_id, ["nope"])


def test_a_set_failing_verification_is_refused_unless_forced(site: tuple[BackupManager, Path]) -> None:
    manager, root = site
    created = manager.create()
    manifest = created.path / "manifest.json"
    data = json.loads(manifest.read_text())
    data["components"][0]["summary"]["tables"]["marker"] = 99
    manifest.write_text(json.dumps(data))
    make_db(root / "app.db", "new")
    with pytest.raises(BackupError, match=r"failed verification: db: table marker: manifest says 99 rows.*--force"):
        manager.restore(created.set_id)
    assert read_marker(root / "app.db") == "new", "nothing is restored from a refused set"
    manager.restore(created.set_id, ["db"], force=True)
    assert read_marker(root / "app.db") == "old"


def test_restore_refuses_a_component_the_configuration_no_longer_has(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    created = manager_for(tmp_path, [{"name": "notes", "kind": "file", "source": "notes.txt"}]).create()
    other = manager_for(tmp_path, [{"name": "other", "kind": "file", "source": "other.txt"}])
    with pytest.raises(ConfigError, match="no component named 'notes'"):
        other.restore(created.set_id, force=True)


def test_restore_drill_never_touches_the_live_targets(site: tuple[BackupManager, Path]) -> None:
    manager, root = site
    manager.create()
    make_db(root / "app.db", "new")
    (root / "notes.txt").write_text("new notes")
    before = sorted(p.name for p in root.iterdir())
    drill = manager.restore_drill()
    assert drill.ok, drill.problems
    assert read_marker(root / "app.db") == "new"
    assert (root / "notes.txt").read_text() == "new notes"
    assert sorted(p.name for p in root.iterdir()) == before


def test_restore_drill_without_sets_says_what_to_do(tmp_path: Path) -> None:
    manager = manager_for(tmp_path, [{"name": "notes", "kind": "file", "source": "notes.txt"}])
    drill = manager.restore_drill()
    assert not drill.ok
    assert drill.set_id is None
    assert "run `aide backup`" in drill.problems[0]


def test_restore_refuses_a_database_held_by_another_process(site: tuple[BackupManager, Path]) -> None:
    manager, root = site
    created = manager.create()
    make_db(root / "app.db", "new")
    reader = sqlite3.connect(root / "app.db", isolation_level=None)
    writer = sqlite3.connect(root / "app.db")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("UPDATE marker SET v = 'newer'")
    writer.commit()
    reader.execute("BEGIN")
    reader.execute("SELECT * FROM marker").fetchall()  # an open reader pins the WAL
    writer.execute("UPDATE marker SET v = 'newest'")
    writer.commit()
    try:
        with pytest.raises(BackupError, match=r"in use by another process.*stop the application"):
            manager.restore(created.set_id, ["db"])
    finally:
        reader.execute("ROLLBACK")
        reader.close()
        writer.close()
    assert read_marker(root / "app.db") == "newest"
