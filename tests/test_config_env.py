"""URLs with passwords stay out of aide.toml: ``url_env`` names the variable that holds them."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_aide.cli import main
from pytest_aide.config import load_config
from pytest_aide.errors import ConfigError


def _load(tmp_path: Path, text: str, environ: dict[str, str]) -> object:
    (tmp_path / "aide.toml").write_text(text)
    return load_config(tmp_path / "aide.toml", rootdir=tmp_path, environ=environ)


def test_url_env_reads_the_named_variable_and_its_password_is_a_secret(tmp_path: Path) -> None:
    url = "postgresql://monitor:s3cret-pw@db.internal:5432/app"
    config = _load(
        tmp_path,
        '[db]\nurl_env = "APP_DB_URL"\n[cache]\nurl_env = "APP_REDIS"\n',
        {
            "APP_DB_URL": url,
            "APP_REDIS": "redis://:r3dis-pw@cache:6379/0",
        },
    )
    assert config.settings.db.url == url  # type: ignore[attr-defined]
    redact = config.redactor()  # type: ignore[attr-defined]
    assert "s3cret-pw" not in redact(f"connecting to {url}")
    assert "r3dis-pw" not in redact("redis://:r3dis-pw@cache:6379/0")


def test_aide_db_url_still_wins_over_url_env(tmp_path: Path) -> None:
    config = _load(
        tmp_path, '[db]\nurl_env = "APP_DB_URL"\n', {"APP_DB_URL": "sqlite:///a.db", "AIDE_DB_URL": "sqlite:///b.db"}
    )
    assert config.settings.db.url == "sqlite:///b.db"  # type: ignore[attr-defined]


def test_a_named_variable_that_is_not_set_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, '[db]\nurl_env = "APP_DB_URL"\n', {})
    assert str(info.value) == f"{tmp_path / 'aide.toml'}: [db] url_env: environment variable APP_DB_URL is not set"


def test_an_env_file_that_is_a_folder_does_not_crash_the_redactor(tmp_path: Path) -> None:
    (tmp_path / "conf.env").mkdir()  # unreadable as a file: the same OSError path as a permission problem
    config = _load(tmp_path, '[preflight]\nconfig_files = ["conf.env"]\n', {})
    assert config.redactor()("nothing secret") == "nothing secret"  # type: ignore[attr-defined]


def test_aide_init_writes_url_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init", "--db-url-env", "APP_DB_URL", "--cache-url-env", "APP_REDIS"]) == 0
    text = (tmp_path / "aide.toml").read_text()
    assert 'url_env = "APP_DB_URL"' in text
    assert 'url_env = "APP_REDIS"' in text
    config = load_config(
        tmp_path / "aide.toml", rootdir=tmp_path, environ={"APP_DB_URL": "sqlite:///x.db", "APP_REDIS": "redis://h"}
    )
    assert config.settings.db.url == "sqlite:///x.db"
    assert config.settings.cache.url == "redis://h"
