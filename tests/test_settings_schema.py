"""The settings schema: plain dataclasses that pydantic validates, rebuilt without pydantic once validated.

The property test generates valid configurations from the schema itself and checks that the no-pydantic
path (``schema.build``) returns exactly what pydantic returns; the cache tests show that a second run with
the same input does not import pydantic, and that nothing invalid or secret is kept.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import stat
import subprocess
import sys
import textwrap
import types
import typing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from pytest_aide import shipped
from pytest_aide.config import load_config
from pytest_aide.errors import ConfigError
from pytest_aide.schema import Bound, Check, build
from pytest_aide.settings import FileSettings, InstanceSettings, PathItem, ThresholdSettings, TlsHostItem
from pytest_aide.validated import ValidatedInputs, cache_folder, schema_context

VALIDATE = TypeAdapter(FileSettings).validate_python

# Values that pass the fields checked by a function (the generator cannot guess a valid regex or encoding).
CHECKED = {
    "pattern": st.sampled_from(["ERROR", r"\b5\d\d\b", "a+b"]),
    "error_pattern": st.sampled_from(["ERROR", r"\b5\d\d\b"]),
    "encoding": st.sampled_from(["utf-8", "latin-1", "ascii"]),
    "essential": st.sampled_from(sorted(shipped.known_names())),  # each entry of the list
    "upstream": st.sampled_from(["127.0.0.1:5001", "[::1]:8080", "upstream.internal"]),
    "grace": st.sampled_from(["0s", "90m", "2h", "1.5d"]),
    "intervals": st.sampled_from(["1h", "24h", "7d", "1w"]),  # each value of the table
    "hosts": st.lists(
        st.one_of(st.sampled_from(["db.example.com:5432", "[::1]:443", "h"]), st.deferred(lambda: table(TlsHostItem))),
        max_size=2,
    ),
    "rules": st.sampled_from(  # one [alerts.rules.NAME] table
        [
            {"metric": "health_score", "condition": "< 50", "severity": "critical", "cooldown_minutes": 2},
            {"check": "check_api_health", "condition": ">= CRITICAL", "failure_threshold": 3},
            {"metric": "disk_percent", "check": "check_disk", "condition": "> 85.5", "send_on_resolved": False},
        ]
    ),
    # each condition of [[endpoints]] conditions and [app] health_conditions
    "conditions": st.sampled_from(["status == healthy", "queue.size < 100", 'name != "x y"']),
    "health_conditions": st.sampled_from(["database.ok == true", "load <= 2.5"]),
    "webhooks": st.sampled_from([{"url": "https://hooks.example.test/x"}, {"url_env": "HOOK", "timeout": 2.5}]),
    "send_at": st.sampled_from(["08:00", "23:59"]),
    "timezone": st.sampled_from(["UTC", "Europe/Berlin"]),
}
# Fields of the same name checked by different functions (every table's ``url``): by the function's name.
CHECKED_BY_FUNCTION = {
    "_check_http_url": st.sampled_from([None, "http://127.0.0.1:8000", "https://app.example.com/base"]),
    "_check_endpoint_url": st.sampled_from([None, "/api/health", "https://api.example.com/v1/status"]),
    "_check_db_url": st.sampled_from([None, "sqlite:///app.db", "postgresql://aide@db.internal/app"]),
    "_check_cache_url": st.sampled_from([None, "redis://127.0.0.1:6379/0", "unix:///run/redis.sock"]),
}
WORDS = st.text(alphabet="abcxyz_./", min_size=1, max_size=6)


def strategy(hint: Any, name: str = "") -> st.SearchStrategy[Any]:
    """Valid TOML-shaped input for ``hint`` (a settings type), honouring its constraints."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:
        return _constrained(args[0], hint.__metadata__, name)
    if origin is typing.Union or origin is types.UnionType:
        return st.one_of(*(strategy(arg, name) for arg in args))
    if origin is list:
        return st.lists(strategy(args[0], name), max_size=2)
    if origin is dict:
        return st.dictionaries(WORDS, strategy(args[1], name), max_size=2)
    if origin is typing.Literal:
        return st.sampled_from(args)
    if dataclasses.is_dataclass(hint):
        return table(typing.cast(type, hint))
    simple: dict[Any, st.SearchStrategy[Any]] = {
        str: WORDS,
        bool: st.booleans(),
        int: st.integers(-5, 5),
        float: st.one_of(st.floats(-5, 5, allow_nan=False), st.integers(-5, 5)),
        type(None): st.none(),
        object: st.none(),
    }
    return simple[hint]


def _constrained(base: Any, metadata: tuple[Any, ...], name: str) -> st.SearchStrategy[Any]:
    check = next((m for m in metadata if isinstance(m, Check)), None)
    if check is not None:
        by_function = CHECKED_BY_FUNCTION.get(check.function.__name__)
        return by_function if by_function is not None else CHECKED[name]
    bound = next((m for m in metadata if isinstance(m, Bound)), Bound())
    low, above, high = bound.ge, bound.gt, bound.le
    if bound.min_length is not None:
        return WORDS
    if base not in (int, float):
        return strategy(base, name)  # a marker that is not a constraint (StrOrTable)
    if base is int:
        return st.integers(low if low is not None else int(above or 0) + 1, high if high is not None else 10**6)
    floor = low if low is not None else above
    floats = st.floats(floor, high if high is not None else 1e6, exclude_min=above is not None, allow_nan=False)
    return st.one_of(floats, st.integers(int(floor) + 1, int(high if high is not None else 10**6)))


def table(cls: type) -> st.SearchStrategy[dict[str, Any]]:
    hints = typing.get_type_hints(cls, include_extras=True)
    required, optional = {}, {}
    for f in dataclasses.fields(cls):
        values = strategy(hints[f.name], f.name)
        missing = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        (required if missing else optional)[f.name] = values
    return st.fixed_dictionaries(required, optional=optional)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example])
@given(table(FileSettings))
def test_building_a_validated_input_gives_what_pydantic_gives(raw: dict[str, Any]) -> None:
    validated = VALIDATE(raw)
    assert build(FileSettings, raw) == validated
    assert _types(build(FileSettings, raw)) == _types(validated)  # 3 and 3.0 are equal; their types are not


def _types(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return (type(value).__name__, [_types(getattr(value, f.name)) for f in dataclasses.fields(value)])
    if isinstance(value, list):
        return [_types(v) for v in value]
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    return type(value).__name__


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"run": {"concurrency": 0}}, "greater than or equal to 1"),
        ({"run": {"concurrency": 2000}}, "less than or equal to 1024"),
        ({"app": {"timeout": 0}}, "greater than 0"),
        ({"resources": {"processes": [{"name": ""}]}}, "at least 1 character"),
        ({"tls": {"hosts": [{"host": "h", "port": 70000}]}}, "less than or equal to 65535"),
    ],
)
def test_bounds_are_pydantic_constraints(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        VALIDATE(raw)


def test_the_strategy_reaches_every_table() -> None:
    """The property above is worth something only if the generator fills nested tables too."""
    disk = {"path": "/", "data": True, "thresholds": {"disk_percent": {"warning": 2}}}
    example = {"resources": {"disk_paths": [disk]}}
    assert build(FileSettings, example) == VALIDATE(example)
    assert build(FileSettings, example).resources.disk_paths[0].thresholds["disk_percent"].warning == 2.0


LOADS_TWICE = """
import json, sys
from pathlib import Path
from pytest_aide.config import load_config
config = load_config(Path(sys.argv[1]), rootdir=Path(sys.argv[1]).parent)
print(json.dumps({"pydantic": "pydantic" in sys.modules, "url": config.settings.db.url,
                  "files": [str(f) for f in config.settings.logs.files]}))
"""

CONFIG = """
[app]
url = "http://127.0.0.1:8000"
[db]
url = "postgresql://aide:s3cret-pw@127.0.0.1/app"
[logs]
files = ["app.log", {path = "nginx.log", format = "nginx"}]
"""


def _load_in_fresh_interpreter(path: Path, cache: Path) -> dict[str, Any]:
    env = {**os.environ, "AIDE_CACHE_DIR": str(cache)}
    done = subprocess.run(
        [sys.executable, "-c", LOADS_TWICE, str(path)], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    return dict(json.loads(done.stdout))


def test_a_configuration_that_validated_before_loads_without_pydantic(tmp_path: Path) -> None:
    path = tmp_path / "aide.toml"
    path.write_text(CONFIG, encoding="utf-8")
    first = _load_in_fresh_interpreter(path, tmp_path / "cache")
    second = _load_in_fresh_interpreter(path, tmp_path / "cache")
    assert first["pydantic"] is True
    assert second["pydantic"] is False
    assert second["url"] == first["url"] == "postgresql://aide:s3cret-pw@127.0.0.1/app"
    assert second["files"] == first["files"]

    path.write_text(CONFIG.replace("8000", "8001"), encoding="utf-8")  # a changed file is validated again
    assert _load_in_fresh_interpreter(path, tmp_path / "cache")["pydantic"] is True


def test_the_cache_keeps_no_secret_and_only_its_user_can_read_it(tmp_path: Path) -> None:
    path = tmp_path / "aide.toml"
    path.write_text(CONFIG, encoding="utf-8")
    _load_in_fresh_interpreter(path, tmp_path / "cache")
    folder = tmp_path / "cache"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for file in folder.iterdir():
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
        assert b"s3cret-pw" not in file.read_bytes()


def test_an_invalid_input_is_never_remembered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIDE_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "aide.toml"
    path.write_text("[run]\nconcurrency = 0\n", encoding="utf-8")
    for _ in range(2):
        with pytest.raises(ConfigError, match=r"\[run\] concurrency: Input should be greater than or equal to 1"):
            load_config(path, rootdir=tmp_path)


def test_the_cache_folder_is_the_users_unless_named() -> None:
    assert cache_folder({"AIDE_CACHE_DIR": "/srv/aide-cache", "XDG_CACHE_HOME": "/x"}) == Path("/srv/aide-cache")
    assert cache_folder({"XDG_CACHE_HOME": "/x"}) == Path("/x/pytest-aide")
    assert cache_folder({}) == Path.home() / ".cache" / "pytest-aide"


def test_a_schema_change_forgets_what_validated(tmp_path: Path) -> None:
    raw = {"run": {"concurrency": 3}}
    ValidatedInputs(tmp_path, ["schema one"]).remember(raw)
    assert ValidatedInputs(tmp_path, ["schema one"]).knows(raw)
    assert not ValidatedInputs(tmp_path, ["schema two"]).knows(raw)
    assert not ValidatedInputs(tmp_path, ["schema one"]).knows({"run": {"concurrency": 4}})
    assert schema_context() == schema_context()


def test_an_unwritable_cache_only_costs_validation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would be", encoding="utf-8")
    monkeypatch.setenv("AIDE_CACHE_DIR", str(blocked / "pytest-aide"))
    path = tmp_path / "aide.toml"
    path.write_text(textwrap.dedent(CONFIG), encoding="utf-8")
    for _ in range(2):
        assert load_config(path, rootdir=tmp_path).settings.app.url == "http://127.0.0.1:8000"


def _as_generated(value: Any) -> Any:
    """``value`` as a ``@dataclass(eq=True, repr=True)`` twin would compare and print it: a tuple per table."""
    if dataclasses.is_dataclass(value):
        return (type(value), tuple(_as_generated(getattr(value, f.name)) for f in dataclasses.fields(value)))
    if isinstance(value, list):
        return [_as_generated(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_generated(v) for k, v in value.items()}
    return value


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example])
@given(table(FileSettings), table(FileSettings))
def test_tables_compare_and_print_as_generated_dataclasses_would(first: dict[str, Any], second: dict[str, Any]) -> None:
    """Section writes eq, hash and repr once for every table (the tables say eq=False, repr=False)."""
    a, b = build(FileSettings, first), build(FileSettings, second)
    assert (a == b) == (_as_generated(a) == _as_generated(b))
    again = build(FileSettings, first)
    assert a == again
    assert not a.__ne__(again)
    assert a != object()
    assert (a == object()) is False
    fields = dataclasses.fields(a)
    assert repr(a) == f"FileSettings({', '.join(f'{f.name}={getattr(a, f.name)!r}' for f in fields)})"
    threshold = ThresholdSettings(warning="2")
    assert hash(threshold) == hash(ThresholdSettings(warning="2"))
    assert threshold != ThresholdSettings(warning="3")
    with pytest.raises(dataclasses.FrozenInstanceError):
        threshold.warning = "3"  # type: ignore[misc]


def test_tables_are_built_as_a_generated_keyword_only_frozen_init_would_build_them() -> None:
    """Section's one __init__ stands in for ~40 generated ones (compiled at every import: see schema.table)."""
    item = PathItem(path="/srv")
    assert (item.path, item.thresholds) == ("/srv", {})
    assert PathItem(path="/a").thresholds is not PathItem(path="/b").thresholds  # a fresh default each time
    assert FileSettings().app == FileSettings().app
    with pytest.raises(TypeError, match="PathItem\\(\\) missing required keyword argument 'path'"):
        PathItem()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'paht'"):
        PathItem(path="/srv", paht="/x")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        InstanceSettings({})  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del item.path  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        item.extra = 1  # type: ignore[attr-defined]
    changed = dataclasses.replace(item, path="/var")
    assert (changed.path, item.path) == ("/var", "/srv")
    assert [f.name for f in dataclasses.fields(item)] == ["thresholds", "path"]
    assert TypeAdapter(PathItem).validate_python({"path": "/srv"}) == item  # pydantic builds the same table


def test_the_validation_cache_depends_on_the_validators_own_modules() -> None:
    """A newer aide whose condition grammar (or duration or alert-rule check) is stricter must not take an input
    validated by an older one for valid."""
    import hashlib

    import pytest_aide
    from pytest_aide.validated import VALIDATOR_SOURCES

    package = Path(pytest_aide.__file__).parent
    context = schema_context()
    # every aide module settings.py imports, at its top or inside a check function
    imported = re.findall(r"from pytest_aide\.([\w.]+) import", (package / "settings.py").read_text())
    validators = {name.replace(".", "/") + ".py" for name in imported} - {"schema.py"}
    assert validators <= set(VALIDATOR_SOURCES)
    for name in VALIDATOR_SOURCES:
        assert hashlib.sha256((package / name).read_bytes()).hexdigest() in context
