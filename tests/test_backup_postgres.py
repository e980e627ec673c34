"""PostgreSQL backup, verify and restore against the real server (fixture ``pg_database``)."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from pytest_aide.backup import BackupManager, parse_backup_config, postgres_source
from pytest_aide.backup.postgres_source import run_tool, tool_env
from pytest_aide.errors import BackupError
from pytest_aide.redact import Redactor


def manager_for(tmp_path: Path) -> BackupManager:
    component = {"name": "appdb", "kind": "postgresql", "url_env": "AIDE_TEST_BACKUP_URL"}
    config = parse_backup_config({"components": [component]}, source="aide.toml", base_dir=tmp_path)
    return BackupManager(config, redactor=Redactor())


def fill(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL)")
        conn.execute("INSERT INTO accounts SELECT g, 1000 FROM generate_series(1, 500) g")
        conn.execute("CREATE SCHEMA billing")
        conn.execute('CREATE TABLE billing."Invoices" (id int)')
        conn.execute('INSERT INTO billing."Invoices" VALUES (1), (2)')


def test_backup_verify_restore_round_trip(tmp_path: Path, pg_database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIDE_TEST_BACKUP_URL", pg_database)
    fill(pg_database)
    manager = manager_for(tmp_path)
    created = manager.create()
    assert created.complete, created.components
    entry = created.component("appdb")
    assert entry.summary == {"tables": {"billing.Invoices": 2, "public.accounts": 500}}
    assert entry.file == "appdb.pgdump.zst"

    result = manager.verify(created.set_id)
    assert result.ok, result.problems
    with psycopg.connect(pg_database, autocommit=True) as conn:
        mine = postgres_source.scratch_prefix(pg_database).replace("_", "\\_") + "%"  # others verify meanwhile
        scratch = conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE %s", (mine,)).fetchone()
        conn.execute("UPDATE accounts SET balance = 0 WHERE id <= 10")
        conn.execute('DROP TABLE billing."Invoices"')
        conn.execute("CREATE TABLE added_later (x int)")
    assert scratch == (0,), "the scratch database is dropped after verification"

    restored = manager.restore(created.set_id)

    safety = Path(restored.restored[0].safety_copy or "")
    assert safety.name.startswith("appdb_before_restore_")
    assert safety.stat().st_size > 0
    with psycopg.connect(pg_database, autocommit=True) as conn:
        assert conn.execute("SELECT sum(balance) FROM accounts").fetchone() == (500_000,)
        assert conn.execute('SELECT count(*) FROM billing."Invoices"').fetchone() == (2,)


def test_password_never_reaches_manifest_command_line_or_errors(
    tmp_path: Path, pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = pg_database.replace("postgresql://postgres@", "postgresql://postgres:s3cretpw@")
    bare, env = tool_env(url)
    assert "s3cretpw" not in bare
    assert env["PGPASSWORD"] == "s3cretpw"
    monkeypatch.setenv("AIDE_TEST_BACKUP_URL", url.replace("127.0.0.1:5432", "127.0.0.1:1"))
    created = manager_for(tmp_path).create()  # nothing listens on port 1: the component fails
    assert created.status == "partial"
    manifest = (created.path / "manifest.json").read_text()
    assert "s3cretpw" not in manifest
    assert "postgres:***@127.0.0.1:1" in json.loads(manifest)["components"][0]["error"]


def test_pg_tools_are_bounded_by_a_timeout(pg_database: str, tmp_path: Path) -> None:
    with pytest.raises(BackupError, match=r"pg_dump on .* timed out after 0.001 s"):
        run_tool(["pg_dump", "--format=custom", f"--file={tmp_path / 'x.dump'}"], pg_database, timeout=0.001)


def test_missing_environment_variable_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIDE_TEST_BACKUP_URL", raising=False)
    created = manager_for(tmp_path).create()
    assert created.component("appdb").error == "component appdb: environment variable AIDE_TEST_BACKUP_URL is not set"
