"""MariaDB/MySQL backup, verify and restore against the machine's real server (fixture ``mysql_database``).

Restore swaps tables in with one ``RENAME TABLE`` after checking a side database: every failure before it
(a bad dump, a count mismatch, a kill) must leave the target exactly as it was, and nothing behind.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest
import zstandard

from pytest_aide.backup import BackupManager, mysql_source, parse_backup_config
from pytest_aide.backup.compress import sha256_file
from pytest_aide.errors import BackupError, ConfigError
from pytest_aide.redact import Redactor


def connect(url: str) -> Any:
    target = mysql_source.parse_url(url)
    return pymysql.connect(
        host=target.host, port=target.port, user="root", password="", database=target.database,
        autocommit=True, connect_timeout=5, read_timeout=60, ssl_disabled=True,
    )  # fmt: skip


def sql(url: str, *statements: str) -> list[tuple[Any, ...]]:
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
            return list(cur.fetchall())
    finally:
        conn.close()


@pytest.fixture
def db_url(mysql_database: str) -> Iterator[str]:
    """The test database; afterwards also the ``<db>_before_restore_*`` / side databases restores made."""
    yield mysql_database
    name = mysql_source.parse_url(mysql_database).database
    for (other,) in sql(mysql_database, f"SHOW DATABASES LIKE '{name}\\_%'"):
        sql(mysql_database, f"DROP DATABASE `{other}`")


def manager_for(tmp_path: Path, url: str) -> BackupManager:
    component = {"name": "appdb", "kind": "mysql", "url": url}
    config = parse_backup_config({"components": [component]}, source="aide.toml", base_dir=tmp_path)
    return BackupManager(config, redactor=Redactor())


def fill(url: str) -> None:
    sql(
        url,
        "CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL, note text) ENGINE=InnoDB",
        "INSERT INTO accounts SELECT seq, 1000, CONCAT('it''s (', seq, '),(\\\\ \\n', seq) FROM seq_1_to_500",
        "CREATE TABLE `odd(name``x` (id int) ENGINE=InnoDB",
        "INSERT INTO `odd(name``x` VALUES (1), (2)",
        "CREATE TABLE empty_one (id int) ENGINE=InnoDB",
        "CREATE VIEW rich AS SELECT id FROM accounts WHERE balance > 500",
    )


def server_state(url: str) -> dict[str, Any]:
    """Tables, their checksums and the databases of the test's name: what 'exactly as it was' means."""
    name = mysql_source.parse_url(url).database
    tables = [row[0] for row in sql(url, "SHOW FULL TABLES WHERE Table_type = 'BASE TABLE'")]
    sums = {t: sql(url, f"CHECKSUM TABLE `{t.replace('`', '``')}` EXTENDED")[0][1] for t in tables}
    others = sorted(row[0] for row in sql(url, f"SHOW DATABASES LIKE '{name}\\_%'"))
    mine = mysql_source.scratch_prefix(url).replace("_", "\\_")  # this test's only: other tests verify meanwhile
    scratch = sql(url, f"SHOW DATABASES LIKE '{mine}%'")
    return {"tables": sums, "databases": others, "scratch": len(scratch)}


def test_backup_verify_restore_round_trip(tmp_path: Path, db_url: str) -> None:
    fill(db_url)
    manager = manager_for(tmp_path, db_url)
    created = manager.create()
    assert created.complete, created.components
    entry = created.component("appdb")
    assert entry.file == "appdb.sql.zst"
    assert entry.summary == {"tables": {"accounts": 500, "odd(name`x": 2, "empty_one": 0}}

    result = manager.verify(created.set_id)
    assert result.ok, result.problems
    assert server_state(db_url)["scratch"] == 0, "the scratch database is dropped after verification"
    sql(
        db_url,
        "UPDATE accounts SET balance = 0 WHERE id <= 10",
        "DROP TABLE `odd(name``x`",
        "CREATE TABLE later (x int)",
    )

    restored = manager.restore(created.set_id)

    kept = restored.restored[0].safety_copy or ""
    name = mysql_source.parse_url(db_url).database
    assert kept.startswith(f"mysql://root@127.0.0.1:3306/{name}_before_restore_")
    assert sql(db_url, "SELECT SUM(balance), COUNT(*) FROM accounts") == [(500_000, 500)]
    assert sql(db_url, "SELECT COUNT(*) FROM `odd(name``x`") == [(2,)]
    assert sql(db_url, "SELECT note FROM accounts WHERE id = 7") == [("it's (7),(\\ \n7",)]
    assert sql(db_url, "SELECT COUNT(*) FROM rich") == [(500,)], "the target's view reads the restored table"
    tables = {row[0] for row in sql(db_url, "SHOW FULL TABLES WHERE Table_type = 'BASE TABLE'")}
    assert tables == {"accounts", "odd(name`x", "empty_one"}, "a table added after the backup moved out"
    old = kept.rsplit("/", 1)[1]
    assert sql(db_url, f"SELECT SUM(balance) FROM `{old}`.accounts") == [(490_000,)]
    assert sql(db_url, f"SELECT COUNT(*) FROM `{old}`.later") == [(0,)]
    assert [path for path, _ in manager.database_copies()] == [kept], "`aide backups` lists the kept database"
    assert server_state(db_url)["databases"] == [old], "no side database left behind"


def test_a_concurrent_writer_never_breaks_the_invariant_in_the_restored_copy(tmp_path: Path, db_url: str) -> None:
    sql(
        db_url,
        "CREATE TABLE ledger (id int AUTO_INCREMENT PRIMARY KEY, amount int NOT NULL, pad char(200)) ENGINE=InnoDB",
        "INSERT INTO ledger (amount, pad) SELECT IF(seq % 2, 5, -5), 'x' FROM seq_1_to_40000",
    )
    stop, commits = threading.Event(), [0]

    def writer() -> None:  # pairs of rows in one transaction: count even, sum zero, at every commit
        conn = connect(db_url)
        conn.autocommit(False)
        with conn.cursor() as cur:
            while not stop.is_set():
                cur.execute("INSERT INTO ledger (amount, pad) VALUES (7, 'w'), (-7, 'w')")
                conn.commit()
                commits[0] += 1
        conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while commits[0] < 20:
            time.sleep(0.01)
        before = commits[0]
        manager = manager_for(tmp_path, db_url)
        created = manager.create()
        during = commits[0] - before
    finally:
        stop.set()
        thread.join(timeout=30)
    assert created.complete, created.components
    assert during > 0, "the writer committed while the backup ran"
    rows = created.component("appdb").summary["tables"]["ledger"]
    assert rows % 2 == 0
    assert manager.verify(created.set_id).ok

    manager.restore(created.set_id)

    assert sql(db_url, "SELECT COUNT(*), SUM(amount) FROM ledger") == [(rows, 0)]


def rewrite_archive(set_dir: Path, text: bytes) -> None:
    """Replace the set's dump by ``text`` with a valid frame and a matching manifest: only the content is bad."""
    archive = set_dir / "appdb.sql.zst"
    archive.write_bytes(zstandard.ZstdCompressor(write_checksum=True).compress(text))
    manifest = json.loads((set_dir / "manifest.json").read_text())
    manifest["components"][0].update(size=archive.stat().st_size, sha256=sha256_file(archive))
    (set_dir / "manifest.json").write_text(json.dumps(manifest))


def original_dump(set_dir: Path) -> bytes:
    return zstandard.ZstdDecompressor().decompressobj().decompress((set_dir / "appdb.sql.zst").read_bytes())


@pytest.mark.parametrize("damage", ["cut-mid-insert", "count-mismatch", "missing-table"])
def test_a_failed_restore_leaves_the_target_exactly_as_it_was(tmp_path: Path, db_url: str, damage: str) -> None:
    fill(db_url)
    manager = manager_for(tmp_path, db_url)
    created = manager.create()
    sql(db_url, "UPDATE accounts SET balance = 1 WHERE id = 3", "CREATE TABLE later (x int)")
    text = original_dump(created.path)
    if damage == "cut-mid-insert":  # a dump that breaks off inside its data: the load itself fails
        rewrite_archive(created.path, text[: text.index(b"\n(300,")])
    elif damage == "missing-table":  # loads fine, but a table the manifest names is gone
        start = text.index(b"LOCK TABLES `odd(name``x` WRITE;")
        rewrite_archive(created.path, text[:start] + text[text.index(b"UNLOCK TABLES;", start) + 15 :])
    else:  # loads fine, but the manifest expects other counts
        manifest = json.loads((created.path / "manifest.json").read_text())
        manifest["components"][0]["summary"]["tables"]["accounts"] = 501
        (created.path / "manifest.json").write_text(json.dumps(manifest))
    before = server_state(db_url)

    assert not manager.verify(created.set_id).ok
    with pytest.raises(BackupError, match="failed verification"):
        manager.restore(created.set_id)
    with pytest.raises(BackupError) as forced:
        manager.restore(created.set_id, force=True)

    assert "\n" not in str(forced.value)
    assert server_state(db_url) == before
    assert sql(db_url, "SELECT balance FROM accounts WHERE id = 3") == [(1,)]


@pytest.mark.slow
def test_a_killed_restore_leaves_the_target_and_the_next_restore_cleans_up(tmp_path: Path, db_url: str) -> None:
    sql(
        db_url,
        "CREATE TABLE big (id int PRIMARY KEY, pad char(250)) ENGINE=InnoDB",
        "INSERT INTO big SELECT seq, 'p' FROM seq_1_to_200000",
    )
    (tmp_path / "aide.toml").write_text(
        f'[backup]\ndir = "backups"\n[[backup.components]]\nname = "appdb"\nkind = "mysql"\nurl = "{db_url}"\n'
    )
    manager = manager_for(tmp_path, db_url)
    created = manager.create()
    sql(db_url, "DELETE FROM big WHERE id > 100")
    before = server_state(db_url)
    name = mysql_source.parse_url(db_url).database
    restore = subprocess.Popen(
        [sys.executable, "-m", "pytest_aide.cli", "restore", created.set_id, "--yes", "--force"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not sql(db_url, f"SHOW DATABASES LIKE '{name}\\_aide\\_side\\_%'") and time.monotonic() < deadline:
            time.sleep(0.02)
        os.killpg(restore.pid, signal.SIGKILL)  # the aide process and its mariadb client, mid-load
    finally:
        restore.wait(timeout=30)
    assert sql(db_url, f"SHOW DATABASES LIKE '{name}\\_aide\\_side\\_%'"), "killed while loading the side copy"
    assert server_state(db_url)["tables"] == before["tables"]
    assert sql(db_url, "SELECT COUNT(*) FROM big") == [(100,)]

    manager.restore(created.set_id)

    assert sql(db_url, "SELECT COUNT(*) FROM big") == [(200_000,)]
    assert [d for d in server_state(db_url)["databases"] if "_aide_side_" in d] == []


@pytest.mark.timeout(120)  # without the deadline the dump would wait for the lock for ever
def test_dump_and_load_are_bounded_by_a_timeout(db_url: str, tmp_path: Path) -> None:
    sql(db_url, "CREATE TABLE held (id INT PRIMARY KEY)")
    holder = connect(db_url)  # a table locked for writing: the dump waits for it for ever, only the deadline ends it
    try:
        with holder.cursor() as cur:
            cur.execute("LOCK TABLES held WRITE")
        with pytest.raises(BackupError, match=r"mariadb-dump of mysql://root@.* timed out after 0.5 s"):
            mysql_source.dump(db_url, io.BytesIO(), timeout=0.5)
    finally:
        holder.close()
    dump_file = tmp_path / "x.sql"
    dump_file.write_text("SELECT SLEEP(5);\n")
    with pytest.raises(BackupError, match=r"loading x.sql into .* timed out after 0.2 s"):
        mysql_source.load(db_url, mysql_source.parse_url(db_url).database, dump_file, timeout=0.2)


def test_a_server_that_never_answers_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as silent:  # accepts (the backlog) and never sends the server greeting
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        monkeypatch.setattr(mysql_source, "STATEMENT_TIMEOUT", 0.5)
        started = time.monotonic()
        with pytest.raises(BackupError, match=r"cannot connect to mysql://u:\*\*\*@127.0.0.1"):
            mysql_source.connect(f"mysql://u:hunter22@127.0.0.1:{port}/d")
        assert time.monotonic() - started < 30


@pytest.mark.parametrize(
    ("component", "message"),
    [
        (
            {"url": "postgresql://u:hunter22@h/d"},
            "aide.toml: [backup.components] #1 url: scheme 'postgresql' is not mysql:// or mariadb://",
        ),
        ({"url": "mysql://h/d", "url_env": "X"}, "aide.toml: [backup.components] #1 url/url_env: give exactly one"),
        ({"source": "db.sql"}, "aide.toml: [backup.components] #1 source: kind 'mysql' takes url or url_env"),
        ({"url": 3306}, "aide.toml: [backup.components] #1 url: <hidden> is not a string"),
    ],
)
def test_config_mistakes_are_one_line_naming_file_key_and_value(component: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_backup_config(
            {"components": [{"name": "appdb", "kind": "mysql", **component}]}, source="aide.toml", base_dir=Path()
        )
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)
    assert "hunter22" not in str(info.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u:hunter22@h:3306/d?ssl=1", "unsupported parameter 'ssl' in MySQL URL mysql://u:***@h:3306/d?ssl=1"),
        ("mysql://u:hunter22@h:3306", "no database in MySQL URL mysql://u:***@h:3306 (name one"),
        ("mariadb://u@h:port/d?password=hunter22", "invalid port in MySQL URL mariadb://u@h:port/d?password=*** ("),
    ],
)
def test_bad_urls_are_one_line_without_their_password(tmp_path: Path, url: str, message: str) -> None:
    created = manager_for(tmp_path, url).create()
    error = created.component("appdb").error or ""
    assert error.startswith(message)
    assert "hunter22" not in (created.path / "manifest.json").read_text()


def test_url_forms_are_read_with_their_password() -> None:
    assert mysql_source.parse_url("mariadb://app:p%40ss%2Fw@db.example:3307/shop") == mysql_source.Target(
        "db.example", 3307, "app", "shop", "p@ss/w"
    )
    target = mysql_source.parse_url("mysql://app@db/shop?password=a%26b")
    assert (target.port, target.password) == (3306, "a&b")
    assert "a&b" not in repr(target)


def test_a_failing_archive_write_stops_the_dump(db_url: str) -> None:
    fill(db_url)

    class FullDisk:
        def write(self, data: bytes) -> int:
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left on device"):
        mysql_source.dump(db_url, FullDisk())  # type: ignore[arg-type]


def test_a_database_with_triggers_is_refused_before_anything_moves(tmp_path: Path, db_url: str) -> None:
    """RENAME TABLE cannot move a table with triggers to another database: the restore says so, in one line."""
    fill(db_url)
    sql(db_url, "CREATE TRIGGER keep_balance BEFORE UPDATE ON accounts FOR EACH ROW SET NEW.balance = NEW.balance")
    manager = manager_for(tmp_path, db_url)
    created = manager.create()
    assert manager.verify(created.set_id).ok, "the dump with its trigger loads into a scratch database"
    sql(db_url, "DELETE FROM accounts WHERE id > 250")
    before = server_state(db_url)

    with pytest.raises(BackupError, match=r"has triggers, which RENAME TABLE cannot move .*; .* untouched$"):
        manager.restore(created.set_id)

    assert server_state(db_url) == before


def test_the_dump_reaches_the_counter_and_the_compressor_in_whole_blocks(db_url: str) -> None:
    """mariadb-dump writes ~9 KB at a time; handing each piece on alone cost 1.5 s of CPU per 540 MB and made
    the backup 1.2x the plain pipeline (bench/bench_backup_mysql.py). Every block but the last is 1 MiB."""
    sql(
        db_url,
        "CREATE TABLE wide (id int PRIMARY KEY, body text) ENGINE=InnoDB",
        "INSERT INTO wide SELECT seq, REPEAT(SHA2(seq, 256), 8) FROM seq_1_to_8000",  # ~4 MB of dump
    )
    blocks: list[int] = []

    class Sink:
        def write(self, data: bytes) -> int:
            blocks.append(len(data))
            return len(data)

    summary = mysql_source.dump(db_url, Sink())  # type: ignore[arg-type]
    assert summary["tables"] == {"wide": 8000}
    assert len(blocks) >= 3
    assert set(blocks[:-1]) == {1 << 20}, blocks
