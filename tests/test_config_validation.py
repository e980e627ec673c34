"""Every configuration mistake is a usage error naming file, key and value: unknown metrics (with the nearest
known name), invalid regular expressions, bad ``[metrics.NAME]`` declarations — and what stays easy: declared
metrics and inline levels for undeclared names."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
from aide_testing import aide_run, latest_health
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pytest_aide import cli
from pytest_aide.config import AideConfig, Overrides, load_config
from pytest_aide.errors import ConfigError
from pytest_aide.options import threshold_type
from pytest_aide.status import Status


def load(tmp_path: Path, toml: str, *cli_thresholds: str) -> AideConfig:
    (tmp_path / "aide.toml").write_text(toml, encoding="utf-8")
    changes = dict(threshold_type(text) for text in cli_thresholds)
    return load_config(None, rootdir=tmp_path, environ={}, overrides=Overrides(thresholds=changes))


def error(tmp_path: Path, toml: str, *cli_thresholds: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, toml, *cli_thresholds)
    message = str(info.value)
    assert "\n" not in message
    return message


# --- thresholds only for shipped or declared metrics --------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "guess"),
    [("respons_time_s", "response_time_s"), ("memory_pct", "memory_percent"), ("disk_percnt", "disk_percent")],
)
def test_threshold_for_a_misspelt_metric_names_file_table_and_nearest_name(
    tmp_path: Path, metric: str, guess: str
) -> None:
    message = error(tmp_path, f'[thresholds.{metric}]\nwarning = "2"\n')
    assert message.startswith(f"{tmp_path / 'aide.toml'}: [thresholds.{metric}]: unknown metric {metric!r}")
    assert f"did you mean {guess!r}?" in message
    assert f"[metrics.{metric}]" in message  # the remedy for a metric of one's own


def test_threshold_for_a_name_like_no_other_offers_no_guess(tmp_path: Path) -> None:
    message = error(tmp_path, '[thresholds.xyzzy]\ncritical = "1"\n')
    assert "did you mean" not in message
    assert message.endswith("(declare your own in [metrics.xyzzy])")


def test_command_line_threshold_for_an_unknown_metric_names_the_option_and_nearest_name(tmp_path: Path) -> None:
    message = error(tmp_path, "", "memory_percnt=80,90")
    assert message.startswith("--aide-threshold memory_percnt: unknown metric 'memory_percnt'")
    assert "did you mean 'memory_percent'?" in message


def test_endpoint_metric_must_be_known(tmp_path: Path) -> None:
    toml = '[[endpoints]]\nname = "home"\npath = "/"\n[[endpoints]]\nname = "api"\npath = "/api"\nmetric = "api_s"\n'
    message = error(tmp_path, toml)
    assert message.startswith(f"{tmp_path / 'aide.toml'}: [[endpoints]] #2 metric: unknown metric 'api_s'")


def test_declared_metric_takes_thresholds_from_file_command_line_and_endpoints(tmp_path: Path) -> None:
    toml = (
        '[metrics.queue_depth]\nunit = "jobs"\naction = "scale the workers"\n'
        '[thresholds.queue_depth]\ncritical = "500"\n'
        '[metrics.api_s]\nunit = "s"\nwarning = 0.5\n'
        '[[endpoints]]\nname = "api"\npath = "/api"\nmetric = "api_s"\n'
    )
    thresholds = load(tmp_path, toml, "queue_depth=100").thresholds
    assert thresholds.get("queue_depth").to_dict() == {"warning": "100", "critical": "500"}
    assert thresholds.get("api_s").to_dict() == {"warning": "0.5", "critical": None}
    spec = thresholds.spec("queue_depth")
    assert spec is not None
    assert (spec.unit, spec.action) == ("jobs", "scale the workers")


def test_an_empty_declaration_is_enough(tmp_path: Path) -> None:
    thresholds = load(tmp_path, '[metrics.orders_open]\n[thresholds.orders_open]\nwarning = "10"\n').thresholds
    assert thresholds.get("orders_open").evaluate(11) is Status.WARNING


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[metrics.cpu_percent]\nunit = "%"\n', "[metrics.cpu_percent]: 'cpu_percent' is a shipped metric"),
        ('[metrics.q]\nwarning = "9:1"\n', "[metrics.q] warning: '9:1' is not a Nagios range"),
        ('[metrics.q]\nunits = "jobs"\n', "[metrics.q] units: unknown key"),
        ("[metrics.q]\ncritical = false\n", "[metrics.q] critical: "),  # removing is for [thresholds], not here
    ],
)
def test_bad_declarations_are_errors(tmp_path: Path, toml: str, expected: str) -> None:
    assert error(tmp_path, toml).startswith(f"{tmp_path / 'aide.toml'}: {expected}")


# --- regular expressions ------------------------------------------------------------------------------------


def test_invalid_error_pattern_names_file_key_value_and_the_regex_error(tmp_path: Path) -> None:
    message = error(tmp_path, '[logs]\nerror_pattern = "(ERROR|FATAL"\n')
    assert message == (
        f"{tmp_path / 'aide.toml'}: [logs] error_pattern: invalid regular expression: "
        "missing ), unterminated subpattern at position 0 (got '(ERROR|FATAL')"
    )


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(pattern="[[")  # compiles with a FutureWarning: loads, does not crash under -W error
@given(pattern=st.text(alphabet="()[]{}*+?|\\^$.aE1,-", max_size=8))
def test_a_pattern_loads_exactly_when_python_compiles_it(tmp_path: Path, pattern: str) -> None:
    toml = f"[logs]\nerror_pattern = '{pattern}'\n"  # TOML literal string: backslashes are kept as written
    problem = _regex_error(pattern)
    if problem is None:
        assert load(tmp_path, toml).settings.logs.error_pattern == pattern
    else:
        message = error(tmp_path, toml)
        assert message.startswith(f"{tmp_path / 'aide.toml'}: [logs] error_pattern: invalid regular expression:")
        assert problem in message
        assert repr(pattern) in message


def _regex_error(pattern: str) -> str | None:
    try:
        with warnings.catch_warnings():  # FutureWarning "possible nested set": the pattern still compiles
            warnings.simplefilter("ignore")
            re.compile(pattern)
    except re.error as exc:
        return str(exc)
    return None


# --- JSON conditions of endpoints and of the health document -----------------------------------------------


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (
            '[[endpoints]]\nname = "a"\npath = "/a"\nconditions = ["status == ok", "queue ~ 5"]\n',
            "[[endpoints]] #1 conditions[1]: not a condition: 'queue ~ 5'; expected '<dotted.path> <op> <value>'"
            " with op one of == != < <= > >=",
        ),
        (
            '[app]\nhealth_conditions = ["db.ok == true", "load < [1]"]\n',
            "[app] health_conditions[1]: < needs a number or a string, not array, in 'load < [1]'",
        ),
        (
            '[app]\nhealth_conditions = ["a..b == 1"]\n',
            "[app] health_conditions[0]: empty segment in path 'a..b' of condition 'a..b == 1'",
        ),
    ],
)
def test_a_condition_that_cannot_be_read_is_a_configuration_error(tmp_path: Path, toml: str, expected: str) -> None:
    """Found only at probe time, it failed its endpoint's check with a traceback, and a run under xdist with an
    INTERNALERROR."""
    assert error(tmp_path, toml) == f"{tmp_path / 'aide.toml'}: {expected}"


def test_readable_conditions_load_as_written(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        '[app]\nhealth_conditions = ["status == healthy"]\n\n'
        '[[endpoints]]\nname = "a"\npath = "/a"\nconditions = ["queue.size < 100", \'name == "x y"\']\n',
    )
    assert config.settings.app.health_conditions == ["status == healthy"]
    assert config.settings.endpoints[0].conditions == ["queue.size < 100", 'name == "x y"']


# --- URLs: what the probes can open ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[app]\nurl = "ftp//nohost"\n', "[app] url: not an http:// or https:// URL with a host: 'ftp//nohost'"),
        ('[app]\nurl = "127.0.0.1:8000"\n', "[app] url: not an http:// or https:// URL with a host: '127.0.0.1:8000'"),
        (
            '[[endpoints]]\nname = "a"\nurl = "localhost:8080/x"\n',
            "[[endpoints]] #1 url: not an http:// or https:// URL with a host: 'localhost:8080/x'",
        ),
        (
            '[db]\nurl = "oracle://ops:s3cret-pw@db.internal/app"\n',
            "[db] url: unsupported database URL oracle://ops:***@db.internal/app: expected sqlite:///, "
            "postgresql://, postgres://, mysql:// or mariadb://",
        ),
        (
            '[cache]\nurl = "memcached://:s3cret-pw@cache.internal"\n',
            "[cache] url: unsupported cache URL memcached://:***@cache.internal: expected redis://, rediss:// or unix://",
        ),
    ],
)
def test_a_url_no_probe_can_open_is_a_configuration_error(tmp_path: Path, toml: str, expected: str) -> None:
    """They stopped no run: the app's checks reported it down, the database's and cache's were UNKNOWN."""
    assert error(tmp_path, toml) == f"{tmp_path / 'aide.toml'}: {expected}"


@pytest.mark.parametrize(
    "toml",
    [
        '[db]\nurl = "mssql://monitor:Zk8/q2+Lw@db.internal/app"\n',  # a "/" in the password
        '[db]\nurl = "oracle://ops:Zk8@q2+Lw@db/app"\n',  # an "@" in it
        f'[db]\nurl = "oracle://ops:Zk8q2+Lw@db/{"x" * 130}"\n',  # longer than the line keeps
        '[cache]\nurl = "memcached://:Zk8/q2+Lw@cache.internal"\n',
        '[app]\nurl = "htp://admin:Zk8/q2+Lw@host"\n',
        '[app]\nurl = "admin:Zk8q2+Lw@host:8000"\n',  # the scheme forgotten
        '[[endpoints]]\nname = "a"\nurl = "ftp://host/?token=Zk8q2+Lw"\n',
        '[db]\nurl = ["postgresql://ops:Zk8q2+Lw@db/app"]\n',  # a wrong type: pydantic's message, our (got ...)
    ],
)
def test_no_part_of_a_password_reaches_the_error_line(tmp_path: Path, toml: str) -> None:
    message = error(tmp_path, toml)
    assert "Zk8" not in message
    assert "q2+Lw" not in message
    assert "***" in message


def test_a_password_from_the_environment_stays_masked_in_the_error(tmp_path: Path) -> None:
    (tmp_path / "aide.toml").write_text("", encoding="utf-8")
    for url in ("mssql://monitor:Zk8/q2+Lw@db.internal/app", "oracle://ops:Zk8@q2+Lw@db/app"):
        with pytest.raises(ConfigError) as info:
            load_config(None, rootdir=tmp_path, environ={"AIDE_DB_URL": url})
        assert "(from AIDE_DB_URL)" in str(info.value)
        assert "Zk8" not in str(info.value)
        assert "q2+Lw" not in str(info.value)


def test_empty_urls_mean_not_configured_as_before(tmp_path: Path) -> None:
    config = load(tmp_path, '[app]\nurl = ""\n[db]\nurl = ""\n[cache]\nurl = ""\n[[endpoints]]\nname = "a"\nurl = ""\n')
    assert (config.settings.app.url, config.settings.db.url, config.settings.cache.url) == ("", "", "")


def test_an_endpoint_url_may_be_a_path_joined_to_the_app_url(tmp_path: Path) -> None:
    config = load(tmp_path, '[app]\nurl = "http://127.0.0.1:9"\n[[endpoints]]\nname = "a"\nurl = "/api/x"\n')
    assert config.settings.endpoints[0].url == "/api/x"


def test_pydantic_s_own_messages_keep_the_value(tmp_path: Path) -> None:
    """Only aide's own checks quote the value: "warn" is inside "warning", and must still be shown."""
    message = error(tmp_path, '[gate]\nfail_on = "warn"\n')
    assert message.endswith("Input should be 'critical' or 'warning' (got 'warn')")


def test_a_url_from_the_environment_or_the_command_line_is_named_as_such(tmp_path: Path) -> None:
    (tmp_path / "aide.toml").write_text('[app]\nurl = "http://127.0.0.1:9"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(None, rootdir=tmp_path, environ={"AIDE_DB_URL": "mongodb://u:s3cret-pw@h/x"})
    assert str(info.value).startswith(f"{tmp_path / 'aide.toml'}: [db] url (from AIDE_DB_URL): unsupported database")
    assert "s3cret" not in str(info.value)
    with pytest.raises(ConfigError, match=r"\[app\] url \(from --aide-app-url\): not an http"):
        load_config(None, rootdir=tmp_path, environ={}, overrides=Overrides(app_url="localhost:5000"))


@pytest.mark.parametrize(
    "toml",
    [
        '[app]\nurl = "https://app.example.com/base"\n[db]\nurl = "postgresql://ops@db.internal/app"\n',
        '[db]\nurl = "sqlite:///data/app.db"\n[cache]\nurl = "rediss://cache.internal:6380/1"\n',
        '[app]\nurl = "http://[::1]:8000"\n[db]\nurl = "mariadb://ops@db/app"\n[cache]\nurl = "unix:///run/r.sock"\n',
    ],
)
def test_urls_the_probes_open_load(tmp_path: Path, toml: str) -> None:
    assert load(tmp_path, toml).source == tmp_path / "aide.toml"


# --- through pytest (exit 4) and through the aide command (exit 2) -----------------------------------------

SIDE_EFFECT = """
import pathlib
def check_touch(aide_health):
    pathlib.Path("ran").write_text("yes")
"""


@pytest.mark.parametrize(
    ("toml", "args", "expected"),
    [
        (
            '[thresholds.respons_time_s]\nwarning = "2"',
            (),
            "ERROR: *aide.toml: [[]thresholds.respons_time_s[]]: unknown metric 'respons_time_s'*"
            "did you mean 'response_time_s'?*",
        ),
        (
            "",
            ("--aide-threshold=memory_percnt=80",),
            "ERROR: --aide-threshold memory_percnt: unknown metric 'memory_percnt'*did you mean 'memory_percent'?*",
        ),
        (
            "[logs]\nerror_pattern = '[ERROR'",
            (),
            "ERROR: *aide.toml: [[]logs[]] error_pattern: invalid regular expression: unterminated character set*",
        ),
        (
            "[app]\nurl = 'http://127.0.0.1:9'\n[[endpoints]]\nname = 'a'\npath = '/a'\nconditions = ['ok = yes']",
            (),
            "ERROR: *aide.toml: [[][[]endpoints[]][]] #1 conditions[[]0[]]: not a condition: 'ok = yes'*",
        ),
    ],
)
def test_mistakes_stop_pytest_with_exit_4_and_one_error_line(
    pytester: pytest.Pytester, toml: str, args: tuple[str, ...], expected: str
) -> None:
    pytester.makepyfile(check_side_effect=SIDE_EFFECT)
    pytester.makefile(".toml", aide=toml or "[suite]\nenabled = false")
    result = aide_run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([expected])
    assert len([line for line in result.stderr.lines if line.startswith("ERROR:")]) == 1
    assert not (pytester.path / "ran").exists()


def test_mistake_stops_the_aide_command_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "aide.toml"
    config.write_text('[thresholds.respons_time_s]\nwarning = "2"\n', encoding="utf-8")
    assert cli.main([f"--config={config}", "backups"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"aide: error: {config}: [thresholds.respons_time_s]: unknown metric")
    assert "did you mean 'response_time_s'?" in err[0]


def test_levels_merge_and_declared_metrics_reach_the_checks(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        check_levels="""
        def check_response(aide_health):
            aide_health.record("response_time_s", 3.5)

        def check_queue(aide_health):
            aide_health.record("queue_depth", 150)

        def check_inline(aide_health):
            aide_health.record("orders_open", 7, "orders", warning="5", action="close old orders")
    """
    )
    pytester.makefile(
        ".toml",
        aide='[thresholds.response_time_s]\nwarning = "2"\n'
        '[metrics.queue_depth]\nunit = "jobs"\naction = "scale the workers"\nwarning = "100"\n',
    )
    aide_run(pytester, "check_levels.py")
    checks = {c["nodeid"].split("::")[-1]: c for c in latest_health(pytester.path)["checks"]}
    response = checks["check_response"]
    assert response["status"] == "CRITICAL"  # the shipped critical 3 s survived warning = "2"
    assert response["measurements"]["response_time_s"]["warning"] == "2"
    assert response["measurements"]["response_time_s"]["critical"] == "3"
    queue = checks["check_queue"]
    assert queue["status"] == "WARNING"
    assert queue["measurements"]["queue_depth"]["unit"] == "jobs"
    assert queue["message"].endswith(": scale the workers")
    inline = checks["check_inline"]  # an undeclared name with inline levels keeps working
    assert inline["status"] == "WARNING"
    assert inline["message"].endswith(": close old orders")
