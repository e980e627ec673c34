"""``aide_retry`` and ``aide_breakers`` in a real run, with ``[resilience]`` defaults; the settings' defaults
match the domain's, and a bad value is one line naming file, key and value."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from aide_testing import aide_run

from pytest_aide.config import load_config
from pytest_aide.errors import ConfigError
from pytest_aide.resilience import BreakerPolicy, RetryPolicy
from pytest_aide.settings import BreakerSettings, RetrySettings

CHECKS = """
import pytest
from pytest_aide.resilience import CircuitOpenError, RetryFailed
from pytest_aide.resilience_fixtures import BREAKERS_KEY


def flaky(failures):
    calls = []

    def call():
        calls.append(1)
        if len(calls) <= failures:
            raise ConnectionError("dropped")
        return "up"

    return call


def check_retry_uses_the_configured_defaults(aide_retry):
    outcome = aide_retry(flaky(2))
    assert outcome.value == "up"
    assert outcome.summary == "passed on attempt 3 of 4"
    assert [a.outcome for a in outcome.attempts] == ["error", "error", "ok"]
    with pytest.raises(RetryFailed, match="attempt 2 of 2"):
        aide_retry(flaky(5), attempts=2)


def check_a_dependency_fails_twice(aide_breakers):
    db = aide_breakers.get("db")
    for _ in range(2):
        with pytest.raises(ConnectionError):
            db.call(flaky(9))
    assert db.state == "open"


def check_later_checks_see_the_same_open_circuit(aide_breakers, request):
    assert request.config.stash[BREAKERS_KEY] is aide_breakers  # the run's registry, reachable from hooks
    with pytest.raises(CircuitOpenError, match="circuit 'db' is open"):
        aide_breakers.get("db").call(lambda: "never called")
    aide_breakers.get("cache").call(lambda: None)
    summary = aide_breakers.health_summary()
    assert (summary["healthy"], summary["unhealthy"]) == (["cache"], ["db"])
"""

CONFIG = """
[reports]
archive = false

[resilience.retry]
attempts = 4
initial_wait = 0
jitter = 0

[resilience.breakers]
failure_threshold = 2
recovery_timeout = 600
"""


def test_fixtures_bring_the_configured_helpers_to_checks(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", aide=CONFIG)
    pytester.makepyfile(check_resilience=CHECKS)
    result = aide_run(pytester)
    result.assert_outcomes(passed=3)


def test_fixture_docstrings_show_usage(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", aide="[reports]\narchive = false\n")
    result = aide_run(pytester, "--fixtures", "-v")
    # pytest lists a module's fixtures in the string order of "file:line": not the order they are written in
    result.stdout.fnmatch_lines_random(
        [
            "aide_breakers*",
            '*aide_breakers.get("db").call(*',
            "aide_retry*",
            "*outcome = aide_retry(*",
            "aide_fallback*",
            '*settings = aide_fallback("settings", *',
        ]
    )


def test_settings_defaults_are_the_domain_defaults() -> None:
    assert RetryPolicy(**dataclasses.asdict(RetrySettings())) == RetryPolicy()
    assert BreakerPolicy(**dataclasses.asdict(BreakerSettings())) == BreakerPolicy()
    assert {f.name for f in dataclasses.fields(RetryPolicy)} == {f.name for f in dataclasses.fields(RetrySettings)}
    assert {f.name for f in dataclasses.fields(BreakerPolicy)} == {f.name for f in dataclasses.fields(BreakerSettings)}


@pytest.mark.parametrize(
    ("toml", "key", "detail"),
    [
        ("[resilience.retry]\nattempts = 0\n", "[resilience.retry] attempts", "0"),
        ("[resilience.breakers]\nrecovery_timeout = -5\n", "[resilience.breakers] recovery_timeout", "-5"),
        ("[resilience.breakers]\nfailure_treshold = 3\n", "[resilience.breakers] failure_treshold", "unknown key"),
    ],
)
def test_a_bad_resilience_setting_is_one_line_naming_file_key_and_value(
    tmp_path: Path, toml: str, key: str, detail: str
) -> None:
    (tmp_path / "aide.toml").write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(None, rootdir=tmp_path, environ={})
    message = str(info.value)
    assert "\n" not in message
    assert str(tmp_path / "aide.toml") in message
    assert key in message
    assert detail in message
