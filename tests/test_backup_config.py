"""The [backup] parser: defaults, resolved paths, and one precise line for every mistake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_aide.backup import RetentionPolicy, parse_backup_config
from pytest_aide.backup.config import DEFAULT_EXCLUDES
from pytest_aide.errors import ConfigError

BASE = Path("/srv/app")


def parse(raw: dict[str, Any]):
    return parse_backup_config(raw, source="aide.toml", base_dir=BASE)


def db(**extra: Any) -> dict[str, Any]:
    return {"name": "database", "kind": "sqlite", "source": ".demo/data/database.db", **extra}


def test_full_example_parses_with_paths_relative_to_the_config_folder() -> None:
    config = parse(
        {
            "dir": "backups",
            "compression": "zip",
            "max_age_hours": 12,
            "retention": {"keep_last": 3, "keep_daily": 5, "keep_weekly": 2},
            "components": [
                db(),
                {"name": "config", "kind": "folder", "source": ".demo/config", "exclude": ["*.pem"]},
                {"name": "appdb", "kind": "postgresql", "url_env": "AIDE_DB_URL"},
            ],
        }
    )
    assert config.dir == BASE / "backups"
    assert config.compression == "zip"
    assert config.max_age_hours == 12.0
    assert config.retention == RetentionPolicy(keep_last=3, keep_daily=5, keep_weekly=2)
    assert config.components[0].source == BASE / ".demo/data/database.db"
    assert config.components[1].exclude == ("*.pem",)
    assert config.component("appdb").url_env == "AIDE_DB_URL"


def test_defaults() -> None:
    config = parse({"components": [db()]})
    assert (config.dir, config.compression, config.max_age_hours) == (BASE / "backups", "zstd", 26.0)
    assert config.retention == RetentionPolicy(keep_last=7, keep_daily=7, keep_weekly=4)
    assert ".*" in DEFAULT_EXCLUDES
    assert "*.key" in DEFAULT_EXCLUDES


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"components": [db(), db(kind="mongo")]},
            "aide.toml: [backup.components] #2 kind: 'mongo' is not one of sqlite, postgresql, mysql, folder, file",
        ),
        ({"components": [db(), db()]}, "aide.toml: [backup.components] #2 name: 'database' is used by an earlier"),
        ({"components": [db()], "compresion": "zstd"}, "aide.toml: [backup] compresion: unknown key (accepted: dir,"),
        (
            {"components": [db()], "compression": "lz4"},
            "aide.toml: [backup] compression: 'lz4' is not one of zstd, zip",
        ),
        ({"components": [db()], "max_age_hours": "26"}, "aide.toml: [backup] max_age_hours: '26' is not a number"),
        ({"components": [db()], "max_age_hours": 0}, "aide.toml: [backup] max_age_hours: 0 must be greater than 0"),
        ({"components": [db()], "retention": {"keep_last": -1}}, "aide.toml: [backup.retention] keep_last: -1 must be"),
        (
            {"components": [db()], "retention": {"keep_last": 0}},
            "aide.toml: [backup.retention] keep_last: 0 must be at",
        ),
        (
            {"components": [db()], "retention": {"keep_daily": True}},
            "aide.toml: [backup.retention] keep_daily: True is not an integer",
        ),
        ({"components": [db()], "retention": {"keep_hourly": 3}}, "aide.toml: [backup.retention] keep_hourly: unknown"),
        ({"components": []}, "aide.toml: [backup] components: [] needs at least one"),
        ({"components": [db(source=None)]}, "aide.toml: [backup.components] #1 source: None is not a string"),
        ({"components": [{"name": "x", "kind": "file"}]}, "aide.toml: [backup.components] #1 source: missing"),
        ({"components": [db(name="a b")]}, "aide.toml: [backup.components] #1 name: 'a b' must be"),
        ({"components": [db(url="postgresql://u:pw@h/d")]}, "aide.toml: [backup.components] #1 url: only kind"),
        ({"components": [{"name": "p", "kind": "postgresql"}]}, "aide.toml: [backup.components] #1 url/url_env: give"),
        ({"components": [db(exclude="*.pem")]}, "aide.toml: [backup.components] #1 exclude: '*.pem' is not a list"),
    ],
)
def test_mistakes_raise_one_line_naming_file_key_and_value(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(raw)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_a_bad_url_is_reported_without_its_password() -> None:
    with pytest.raises(ConfigError) as info:
        parse({"components": [{"name": "p", "kind": "postgresql", "url": "mysql://u:hunter22@h/d"}]})
    assert "hunter22" not in str(info.value)
    assert "'mysql' is not postgresql://" in str(info.value)


def test_url_is_not_shown_in_repr() -> None:
    config = parse({"components": [{"name": "p", "kind": "postgresql", "url": "postgresql://u:hunter22@h/d"}]})
    assert "hunter22" not in repr(config)


@given(st.dictionaries(st.text(min_size=1, max_size=8), st.integers() | st.text(max_size=5), max_size=4))
def test_arbitrary_tables_either_parse_or_raise_one_line(extra: dict[str, Any]) -> None:
    message = ""
    try:
        parse({"components": [db()], **extra})
    except ConfigError as exc:
        message = str(exc)
    assert "\n" not in message
