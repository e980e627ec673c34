"""Secrets never reach a line we print: URL passwords, auth headers, token queries and known secret values."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pytest_aide.redact import (
    _HEADER_NAMES,
    MASK,
    Redactor,
    _may_name_a_header,
    dotenv_values,
    redact_url,
    secret_env_values,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:pw@h/db", "postgresql://u:***@h/db"),
        ("redis://:s3cret@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("mysql+pymysql://root:p%40ss@db:3306/app", "mysql+pymysql://root:***@db:3306/app"),
        ("postgresql://postgres@127.0.0.1:5432/test", "postgresql://postgres@127.0.0.1:5432/test"),
        ("http://127.0.0.1:5000/api/health", "http://127.0.0.1:5000/api/health"),
    ],
)
def test_redact_url_masks_only_the_password(url: str, expected: str) -> None:
    assert redact_url(url) == expected
    assert Redactor().redact(url) == expected


def test_urls_inside_longer_text_are_masked() -> None:
    text = "connect failed: postgresql://app:hunter2@db/x (timeout); retry redis://:pw9@cache/0"
    redacted = Redactor().redact(text)
    assert "hunter2" not in redacted
    assert "pw9" not in redacted
    assert "postgresql://app:***@db/x (timeout)" in redacted


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer eyJhbGciOi.abc", "eyJhbGciOi.abc"),
        ("authorization: Basic dXNlcjpwdw==", "dXNlcjpwdw=="),
        ("X-Api-Key: k-123456", "k-123456"),
        ("{'Authorization': 'Bearer tok123', 'Accept': 'json'}", "tok123"),
        ('{"x-api-key": "abcdef", "a": 1}', "abcdef"),
        ("Cookie: session=abcdef123", "abcdef123"),
        ("GET /api?token=tok-9876&page=2", "tok-9876"),
        ("https://h/cb?access_token=ya29.xyz#frag", "ya29.xyz"),
        ("/login?user=a&password=opensesame", "opensesame"),
    ],
)
def test_secret_shaped_text_is_masked(text: str, secret: str) -> None:
    redacted = Redactor().redact(text)
    assert secret not in redacted
    assert MASK in redacted


def test_header_masking_keeps_the_rest_of_the_text() -> None:
    assert Redactor().redact("{'Authorization': 'Bearer tok123', 'Accept': 'json'}") == (
        "{'Authorization': '***', 'Accept': 'json'}"
    )
    assert Redactor().redact("GET /api?token=tok-9876&page=2") == "GET /api?token=***&page=2"


def test_ordinary_text_is_untouched() -> None:
    text = "memory_percent = 93.2 % (critical > 90): clear caches or restart the app"
    assert Redactor(["unrelated-secret"]).redact(text) == text
    assert Redactor().redact("") == ""


def test_secret_env_values_pick_secret_looking_names() -> None:
    environ = {
        "GITHUB_TOKEN": "ghp_aaaa",
        "DB_PASSWORD": "pw-1234",
        "MY_PASSWORD_FILE": "/x",
        "API_KEY": "k-key",
        "AWS_SECRET_ACCESS_KEY": "aws-secret",
        "HOME": "/root",
        "PATH": "/bin",
        "EMPTY_TOKEN": "",
    }
    assert sorted(secret_env_values(environ)) == sorted(["ghp_aaaa", "pw-1234", "/x", "k-key", "aws-secret"])


def test_from_environment_masks_environment_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIDE_TEST_SERVICE_TOKEN", "tok-from-env-42")
    assert Redactor.from_environment().redact("auth with tok-from-env-42 failed") == "auth with *** failed"
    assert Redactor.from_environment(extra=["extra-secret"]).redact("x extra-secret") == "x ***"


def test_dotenv_values_are_secrets() -> None:
    text = "# comment\n\nSECRET_KEY=abc123def\nexport DB_URL='postgresql://u:p@h/d'\nEMPTY=\nnot a pair\n"
    values = dotenv_values(text)
    assert values == ["abc123def", "postgresql://u:p@h/d"]
    assert Redactor(values).redact("key abc123def used") == "key *** used"


def test_short_values_are_ignored() -> None:
    redactor = Redactor(["abc", "", "1"])
    assert redactor.redact("abc 1 abcd") == "abc 1 abcd"


def test_longest_secret_is_masked_whole() -> None:
    assert Redactor(["pass", "password123"]).redact("x password123 y pass") == "x *** y ***"


def test_redact_data_walks_nested_structures() -> None:
    redactor = Redactor(["s3cr3t-value"])
    data = {
        "url": "postgresql://u:pw@h/db",
        "s3cr3t-value": ["ok", ("s3cr3t-value", 5, None)],
        "nested": {"headers": {"note": "Authorization: Bearer zzzz"}},
        "n": 1.5,
    }
    assert redactor.redact_data(data) == {
        "url": "postgresql://u:***@h/db",
        "***": ["ok", ("***", 5, None)],
        "nested": {"headers": {"note": "Authorization: ***"}},
        "n": 1.5,
    }


def test_callable_is_redact() -> None:
    assert Redactor(["abcd"])("xabcdx") == "x***x"


@pytest.mark.parametrize(
    ("secret", "text"),
    [("a***", "aa***"), ("****", "*****"), ("ab*", "x"), ("x***y", "xx***yy"), ("aaab", "aaaabb")],
)
def test_masking_never_rebuilds_the_secret(secret: str, text: str) -> None:
    assert secret not in Redactor([secret]).redact(text)


printable = st.characters(min_codepoint=32, max_codepoint=126)


@given(
    secret=st.text(printable, min_size=4, max_size=12),
    before=st.text(printable, max_size=20),
    after=st.text(printable, max_size=20),
    repeat=st.integers(1, 3),
)
@example(secret="a***", before="a", after="", repeat=1)
@example(secret="****", before="*", after="*", repeat=2)
@example(secret="p@ss", before="postgresql://u:", after="@h/db", repeat=1)
def test_a_known_secret_never_survives(secret: str, before: str, after: str, repeat: int) -> None:
    text = before + (secret + " ") * repeat + after
    assert secret not in Redactor([secret]).redact(text)


@given(
    secrets=st.lists(st.text(printable, min_size=4, max_size=8), min_size=1, max_size=4),
    text=st.text(printable, max_size=40),
)
def test_no_known_secret_survives_among_several(secrets: list[str], text: str) -> None:
    text = text + " ".join(secrets) + text
    redacted = Redactor(secrets).redact(text)
    assert [s for s in secrets if s in redacted] == []


@given(text=st.text(max_size=60))
def test_redacting_twice_changes_nothing(text: str) -> None:
    redactor = Redactor(["topsecret"])
    once = redactor.redact(text)
    assert redactor.redact(once) == once


def _walk(redactor: Redactor, data: object) -> object:
    """The reference redact_data: every string of the structure through ``redact``, keys included."""
    if isinstance(data, str):
        return redactor.redact(data)
    if isinstance(data, dict):
        return {_walk(redactor, k): _walk(redactor, v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return type(data)(_walk(redactor, v) for v in data)
    return data


_PIECES = st.sampled_from(
    [
        "ok",
        "dump-\udcff",
        "s3cret",
        's3"cr\\et',
        "Authorİzation: Bearer zz",
        "cookie\t: a",
        "x://u:p@h",
        "?token=t",
        "\n",
        "K",
        "",
    ]
)
_STRINGS = st.lists(_PIECES | st.text(max_size=8), max_size=4).map("".join)
_DATA = st.recursive(
    _STRINGS | st.integers() | st.floats(allow_nan=False) | st.none(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_STRINGS, inner, max_size=4),
    max_leaves=12,
)


@given(data=_DATA, secrets=st.lists(st.sampled_from(["s3cret", 's3"cr\\et', "zzzz"]), max_size=2))
@example(data={"note": "Authorİzation: Bearer zz"}, secrets=[])
@example(data=["cookie\t: a"], secrets=[])
@example(data=["COO\u212aIE: a"], secrets=[])  # the Kelvin sign folds to k in the pattern's case folding
@example(data={"X-Auth-Token": "zzzz zzzz"}, secrets=[])
@example(data={"k": ['a s3"cr\\et b']}, secrets=['s3"cr\\et'])
def test_redact_data_of_clean_looking_data_is_the_walk_of_every_string(data: object, secrets: list[str]) -> None:
    # redact_data skips the walk when one JSON text of the data holds nothing to mask: never wrongly
    redactor = Redactor(secrets)
    assert redactor.redact_data(data) == _walk(redactor, data)


@given(
    text=st.lists(
        st.sampled_from(["Cookie", "API-KEY", "x-Auth-Token", "AUTHORIZATION", "coo\u212aie"]) | st.text(), max_size=4
    ).map("".join)
)
def test_the_header_name_prefilter_agrees_with_the_pattern(text: str) -> None:
    # redact_data trusts it to skip the walk: it may never miss a header name the pattern finds
    assert _may_name_a_header(text) == (_HEADER_NAMES.search(text) is not None)


@given(data=_DATA, secrets=st.lists(st.sampled_from(["s3cret", 's3"cr\\et', "zzzz"]), max_size=2))
def test_redacted_json_is_the_redacted_data_and_its_json(data: object, secrets: list[str]) -> None:
    # the summary is encoded once for health.json: the text must be exactly that of the redacted data
    redactor = Redactor(secrets)
    cleaned, text = redactor.redacted_json(data)
    assert cleaned == _walk(redactor, data)
    assert json.loads(text) == json.loads(json.dumps(cleaned))


def test_a_lone_surrogate_is_written_as_its_escape() -> None:
    # an undecodable file name in a message: no UTF-8 report or terminal could hold it
    name = os.fsdecode(b"dump-\xff.sql")
    assert Redactor().redact(f"missing {name}") == "missing dump-\\udcff.sql"
    assert Redactor().redacted_json({"message": name})[1] == '{"message": "dump-\\\\udcff.sql"}'


@pytest.mark.parametrize("password", ["Zk8@q2+Lw", "Zk8/q2+Lw", "Zk8:q2@+Lw/"])
def test_a_known_password_with_an_at_or_a_slash_is_masked_whole_in_its_url(password: str) -> None:
    """The URL pattern stops at the password's own "@" or "/": known secrets are masked before it runs."""
    line = Redactor([password]).redact(f"could not open oracle://ops:{password}@db.internal/app")
    assert "Zk8" not in line
    assert "+Lw" not in line
    assert line.endswith("@db.internal/app")
