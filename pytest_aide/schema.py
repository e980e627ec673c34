"""The configuration schema's machinery: plain dataclasses that pydantic validates, and that load without it.

The settings (:mod:`pytest_aide.settings`) are frozen standard-library dataclasses annotated with the three
markers below. pydantic validates them (``TypeAdapter``) when a
configuration is new; a configuration that validated before is rebuilt by :func:`build` without importing
pydantic at all (importing it and building the schema cost ~0.1 s, more than the rest of aide's start-up).
The markers carry pydantic's ``__get_pydantic_core_schema__`` protocol, so pydantic finds them, while this
module imports ``pydantic_core`` only inside those methods, i.e. only when pydantic is validating.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

# Unknown keys and wrong types are errors: a typo in aide.toml must not silently fall back to a default.
STRICT = {"extra": "forbid", "strict": True}


class Section:
    """Base of every settings table: strict fields, unknown keys refused, and a table given as a TOML table.

    pydantic's strict mode would accept only instances for a dataclass-typed field; a table is a dict in TOML,
    so the table itself is validated in lax mode while its fields stay strict (``strict`` of the config).
    """

    __slots__ = ()
    __pydantic_config__: typing.ClassVar[dict[str, Any]] = STRICT

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        schema = handler(source)
        inner = schema["schema"] if schema.get("type") == "definitions" else schema
        if inner.get("type") == "dataclass":
            inner["strict"] = False
        return schema


@dataclass(frozen=True)
class Bound:
    """``Annotated[float, Bound(gt=0)]``: a number's limits, or a string's ``min_length``.

    pydantic's own constraint keys on the field's core schema (so its messages: "Input should be greater than
    0"), declared without importing ``annotated_types`` (and its ``typing_extensions``) into every run.
    """

    gt: float | None = None
    ge: float | None = None
    le: float | None = None
    min_length: int | None = None

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        schema = handler(source)
        schema.update({key: value for key, value in dataclasses.asdict(self).items() if value is not None})
        return schema


class Check:
    """``Annotated[T, Check(fn)]``: ``fn(value)`` runs after the type is validated; a ValueError is the message."""

    def __init__(self, function: Callable[[Any], Any]) -> None:
        self.function = function

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_after_validator_function(self.function, handler(source))


class StrOrTable:
    """``Annotated[str | Item, StrOrTable()]``: a string or a table, validated only as the one it is.

    A mistake inside a table is then reported as its own (``files[0].encoding: …``) instead of as "input
    should be a valid string". The tags read as type names, which configuration errors leave out of key paths.
    """

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        table = next(arg for arg in typing.get_args(source) if arg is not str)
        choices = {"str": handler.generate_schema(str), "dict[table]": handler.generate_schema(table)}
        return core_schema.tagged_union_schema(choices, discriminator=_entry_kind)


def _entry_kind(value: object) -> str:
    return "str" if isinstance(value, str) else "dict[table]"


def build(cls: type[T], raw: dict[str, Any]) -> T:
    """``cls`` from a table that pydantic validated before (same input): what pydantic would return.

    No check is made here: the caller knows this exact input passed validation.
    """
    hints = _hints(cls)
    return cls(**{name: _value(hints[name], value) for name, value in raw.items()})


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


_HINTS: dict[type, dict[str, Any]] = {}


def _value(hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is list:
        return [_value(args[0], item) for item in value]
    if origin is dict:
        return {key: _value(args[1], item) for key, item in value.items()}
    if origin is typing.Union or origin is types.UnionType:
        return _union_value(args, value)
    if dataclasses.is_dataclass(hint):
        return build(typing.cast(type, hint), value)
    if hint is float and type(value) is int:
        return float(value)  # strict mode still takes an integer for a float, as a float
    return value


def _union_value(choices: tuple[Any, ...], value: Any) -> Any:
    if isinstance(value, dict):
        table = next(choice for choice in choices if dataclasses.is_dataclass(choice) or typing.get_origin(choice))
        return _value(table, value)
    if type(value) is int and int not in choices and float in choices:
        return float(value)
    return value
