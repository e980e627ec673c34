"""load_config: where the file comes from, what overrides what, and one-line errors naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_aide.config import AideConfig, Overrides, load_config
from pytest_aide.errors import ConfigError
from pytest_aide.status import Status
from pytest_aide.thresholds import ThresholdChange, ThresholdSet


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load(
    tmp_path: Path, path: Path | None = None, environ: dict[str, str] | None = None, overrides: Overrides | None = None
) -> AideConfig:
    return load_config(path, rootdir=tmp_path, environ=environ or {}, overrides=overrides)


def test_no_file_means_defaults(tmp_path: Path) -> None:
    config = load(tmp_path)
    assert config.source is None
    assert config.source_name == "defaults"
    assert config.base_dir == tmp_path.resolve()
    assert config.settings.app.url is None
    assert config.settings.app.timeout == 5.0
    assert config.settings.gate.fail_on == "critical"
    assert config.thresholds == ThresholdSet.defaults()
    assert config.backup is None


def test_aide_toml_at_the_rootdir_is_read(tmp_path: Path) -> None:
    source = write(tmp_path / "aide.toml", '[app]\nurl = "http://127.0.0.1:5000"\n')
    config = load(tmp_path)
    assert config.source == source
    assert config.settings.app.url == "http://127.0.0.1:5000"


def test_pyproject_tool_aide_is_read(tmp_path: Path) -> None:
    source = write(tmp_path / "pyproject.toml", '[project]\nname = "x"\n[tool.aide.db]\nurl = "sqlite:///a.db"\n')
    config = load(tmp_path)
    assert config.source == source
    assert config.settings.db.url == "sqlite:///a.db"


def test_pyproject_without_tool_aide_is_ignored(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[project]\nname = "x"\n[tool.ruff]\nline-length = 1\n')
    assert load(tmp_path).source is None


def test_aide_toml_wins_over_pyproject(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.aide.app]\nurl = "http://from-pyproject"\n')
    write(tmp_path / "aide.toml", '[app]\nurl = "http://from-aide-toml"\n')
    assert load(tmp_path).settings.app.url == "http://from-aide-toml"


def test_explicit_path_wins_over_aide_config_env_which_wins_over_aide_toml(tmp_path: Path) -> None:
    write(tmp_path / "aide.toml", '[app]\nurl = "http://rootdir"\n')
    from_env = write(tmp_path / "env" / "ops.toml", '[app]\nurl = "http://env"\n')
    explicit = write(tmp_path / "cli" / "ops.toml", '[app]\nurl = "http://cli"\n')
    environ = {"AIDE_CONFIG": str(from_env)}
    assert load(tmp_path, environ=environ).settings.app.url == "http://env"
    assert load(tmp_path, environ=environ).source == from_env.resolve()
    assert load(tmp_path, explicit, environ=environ).settings.app.url == "http://cli"


@pytest.mark.parametrize(("use_env", "origin"), [(False, "--aide-config"), (True, "AIDE_CONFIG")])
def test_missing_named_file_is_an_error_naming_where_the_name_came_from(
    tmp_path: Path, use_env: bool, origin: str
) -> None:
    missing = tmp_path / "nope.toml"
    explicit, environ = (None, {"AIDE_CONFIG": str(missing)}) if use_env else (missing, {})
    with pytest.raises(ConfigError) as info:
        load_config(explicit, rootdir=tmp_path, environ=environ, origin="--aide-config")
    assert str(info.value).startswith(f"{origin}: configuration file not found: {missing}")


def test_environment_urls_beat_the_file(tmp_path: Path) -> None:
    write(tmp_path / "aide.toml", '[app]\nurl = "http://file"\n[db]\nurl = "sqlite:///file.db"\n')
    environ = {
        "AIDE_APP_URL": "http://env:1",
        "AIDE_DB_URL": "postgresql://u:pw@db/x",
        "AIDE_CACHE_URL": "redis://127.0.0.1:6379/0",
    }
    settings = load(tmp_path, environ=environ).settings
    assert (settings.app.url, settings.db.url, settings.cache.url) == (
        "http://env:1",
        "postgresql://u:pw@db/x",
        "redis://127.0.0.1:6379/0",
    )


def test_empty_environment_url_does_not_replace_the_file(tmp_path: Path) -> None:
    write(tmp_path / "aide.toml", '[app]\nurl = "http://file"\n')
    assert load(tmp_path, environ={"AIDE_APP_URL": ""}).settings.app.url == "http://file"


def test_command_line_overrides_beat_environment_and_file(tmp_path: Path) -> None:
    write(
        tmp_path / "aide.toml",
        '[app]\nurl = "http://file"\n[gate]\nfail_on = "critical"\n'
        '[thresholds.cpu_percent]\nwarning = "10"\ncritical = "20"\n',
    )
    overrides = Overrides(
        app_url="http://cli",
        reports_dir="out",
        archive=False,
        fail_on="warning",
        fail_under=75.5,
        concurrency=8,
        thresholds={"cpu_percent": ThresholdChange.parse("50", "60")},
    )
    config = load(tmp_path, environ={"AIDE_APP_URL": "http://env"}, overrides=overrides)
    settings = config.settings
    assert settings.app.url == "http://cli"
    assert (settings.reports.dir, settings.reports.archive) == ("out", False)
    assert (settings.gate.fail_on, settings.gate.fail_under, settings.run.concurrency) == ("warning", 75.5, 8)
    assert config.thresholds.get("cpu_percent").evaluate(55) is Status.WARNING


def test_file_thresholds_overlay_the_defaults(tmp_path: Path) -> None:
    write(
        tmp_path / "aide.toml",
        '[thresholds.cpu_percent]\nwarning = 50\ncritical = "60"\n[thresholds.task_queue_size]\ncritical = "@100:"\n',
    )
    thresholds = load(tmp_path).thresholds
    assert thresholds.get("cpu_percent").to_dict() == {"warning": "50", "critical": "60"}
    assert thresholds.get("task_queue_size").evaluate(150) is Status.CRITICAL
    assert thresholds.get("memory_percent") == ThresholdSet.defaults().get("memory_percent")


# --- per-level merging: shipped < [metrics.NAME] < [thresholds.NAME] < --aide-threshold ---------------------


def levels(tmp_path: Path, toml: str, metric: str, *cli: str) -> dict[str, str | None]:
    """The effective levels of ``metric`` for a file holding ``toml`` and ``--aide-threshold`` values ``cli``."""
    from pytest_aide.options import threshold_type

    write(tmp_path / "aide.toml", toml)
    changes = dict(threshold_type(f"{metric}={text}") for text in cli)
    return load(tmp_path, overrides=Overrides(thresholds=changes)).thresholds.get(metric).to_dict()


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('warning = "2"', {"warning": "2", "critical": "3"}),  # the shipped critical 3 s is kept
        ('critical = "10"', {"warning": "1", "critical": "10"}),
        ("critical = false", {"warning": "1", "critical": None}),  # removed only explicitly
        ('warning = false\ncritical = "4"', {"warning": None, "critical": "4"}),
        ("warning = false\ncritical = false", {"warning": None, "critical": None}),
        ("", {"warning": "1", "critical": "3"}),
    ],
)
def test_a_file_level_keeps_the_other_shipped_level(tmp_path: Path, toml: str, expected: dict[str, str | None]) -> None:
    assert levels(tmp_path, f"[thresholds.response_time_s]\n{toml}\n", "response_time_s") == expected


@pytest.mark.parametrize(
    ("cli", "expected"),
    [
        ("2", {"warning": "2", "critical": "5"}),
        (",9", {"warning": "0.5", "critical": "9"}),
        ("2,none", {"warning": "2", "critical": None}),
        ("none,9", {"warning": None, "critical": "9"}),
        ("none,none", {"warning": None, "critical": None}),
        ("2,9", {"warning": "2", "critical": "9"}),
    ],
)
def test_the_command_line_changes_only_the_levels_it_names(
    tmp_path: Path, cli: str, expected: dict[str, str | None]
) -> None:
    toml = '[thresholds.response_time_s]\nwarning = "0.5"\ncritical = "5"\n'
    assert levels(tmp_path, toml, "response_time_s", cli) == expected


def test_command_line_level_over_shipped_defaults_without_a_file_entry(tmp_path: Path) -> None:
    assert levels(tmp_path, "", "memory_percent", "85") == {"warning": "85", "critical": "90"}


def test_declared_metric_levels_merge_like_shipped_ones(tmp_path: Path) -> None:
    toml = (
        '[metrics.queue_depth]\nunit = "jobs"\naction = "scale the workers"\nwarning = 100\ncritical = "500"\n'
        '[thresholds.queue_depth]\nwarning = "50"\n'
    )
    assert levels(tmp_path, toml, "queue_depth") == {"warning": "50", "critical": "500"}
    assert levels(tmp_path, toml, "queue_depth", ",none") == {"warning": "50", "critical": None}


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("critical = true", "[thresholds.response_time_s] critical: True is not a range"),
        ('warning = ""', "[thresholds.response_time_s] warning: '' is not a range"),
    ],
)
def test_a_level_is_a_range_or_false(tmp_path: Path, toml: str, message: str) -> None:
    source = write(tmp_path / "aide.toml", f"[thresholds.response_time_s]\n{toml}\n")
    with pytest.raises(ConfigError) as info:
        load(tmp_path)
    assert str(info.value).startswith(f"{source}: {message}")
    assert "false to remove it" in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[app\nurl = 'x'\n", "invalid TOML: "),
        ("[app]\nurll = 'http://x'\n", "[app] urll: unknown key"),
        ("[apps]\nurl = 'x'\n", "apps: unknown key"),
        ("[db]\ntimeout = '5'\n", "[db] timeout: "),
        ("[resources]\nports = ['80']\n", "[resources] ports[0]: "),
        ("[app]\ntimeout = 0\n", "[app] timeout: "),
        ("app = 5\n", "app: "),
        ("[thresholds.cpu_percent]\nwarning = 'abc'\n", "[thresholds.cpu_percent] warning: 'abc' is not a Nagios"),
        ("[thresholds.cpu_percent]\ncritical = '20:10'\n", "[thresholds.cpu_percent] critical: '20:10'"),
        ("[thresholds.cpu_percent]\nwarning = true\n", "[thresholds.cpu_percent] warning: "),
        ("[thresholds.cpu_percent]\nwarning = [1]\n", "[thresholds.cpu_percent] warning: "),
        ("[thresholds.cpu_percent]\nwarn = '5'\n", "[thresholds.cpu_percent] warn: unknown key"),
        ("[gate]\nfail_under = 150\n", "[gate] fail_under: "),
        ("[gate]\nfail_under = -1\n", "[gate] fail_under: "),
        ("[gate]\nfail_on = 'sometimes'\n", "[gate] fail_on: "),
        ("[run]\nconcurrency = 0\n", "[run] concurrency: "),
        ("[[endpoints]]\nname = 'x'\nexpect_status = 999\n", "[[endpoints]] #1 expect_status: "),
        ("[[endpoints]]\nname = 'ok'\n[[endpoints]]\npath = '/x'\n", "[[endpoints]] #2 name: "),
    ],
)
def test_every_mistake_is_one_line_naming_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    source = write(tmp_path / "aide.toml", text)
    with pytest.raises(ConfigError) as info:
        load(tmp_path)
    message = str(info.value)
    assert message.startswith(f"{source}: {expected}")
    assert "\n" not in message


def test_wrong_value_is_quoted(tmp_path: Path) -> None:
    write(tmp_path / "aide.toml", "[gate]\nfail_under = 150\n")
    with pytest.raises(ConfigError, match=r"\(got 150\)$"):
        load(tmp_path)


def test_mistake_in_pyproject_names_pyproject(tmp_path: Path) -> None:
    source = write(tmp_path / "pyproject.toml", "[tool.aide.app]\nbogus = 1\n")
    with pytest.raises(ConfigError, match=rf"^{source}: \[app\] bogus: unknown key$"):
        load(tmp_path)


def test_tool_aide_must_be_a_table(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[tool]\naide = 5\n")
    with pytest.raises(ConfigError, match=r"\[tool.aide\] must be a table"):
        load(tmp_path)


def test_out_of_range_override_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[gate\] fail_under \(from --aide-fail-under\): .*\(got 101\)$"):
        load(tmp_path, overrides=Overrides(fail_under=101))


def test_bad_backup_table_is_a_config_error(tmp_path: Path) -> None:
    source = write(tmp_path / "aide.toml", "[backup]\ncompression = 'rar'\n")
    with pytest.raises(ConfigError) as info:
        load(tmp_path)
    assert str(info.value).startswith(f"{source}: [backup]")
    assert "compression" in str(info.value)
    assert "\n" not in str(info.value)


def test_relative_paths_resolve_against_the_config_files_folder(tmp_path: Path) -> None:
    source = write(tmp_path / "ops" / "site.toml", "[logs]\nfiles = ['logs/app.log']\n")
    elsewhere = tmp_path / "rootdir"
    elsewhere.mkdir()
    config = load_config(source, rootdir=elsewhere, environ={})
    assert config.base_dir == source.parent.resolve()
    assert config.path(config.settings.logs.files[0]) == source.parent.resolve() / "logs" / "app.log"
    assert config.path(str(tmp_path / "abs.log")) == tmp_path / "abs.log"
    assert config.path("~/x.log") == Path.home() / "x.log"


def test_secrets_are_the_url_passwords(tmp_path: Path) -> None:
    environ = {
        "AIDE_DB_URL": "postgresql://u:db-pass@h/x",
        "AIDE_CACHE_URL": "redis://:cache-pass@h/0",
        "AIDE_APP_URL": "http://127.0.0.1:5000",
    }
    assert sorted(load(tmp_path, environ=environ).secrets()) == ["cache-pass", "db-pass"]
