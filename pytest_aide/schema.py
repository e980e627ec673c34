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

    # Every method a dataclass would generate is written once here, for every table (see :func:`table`):
    # ``@dataclass`` compiles its generated methods at import, about 0.5 ms per table and method, and the
    # settings' ~40 tables made that the largest part of aide's start-up, paid by every run.
    def __init__(self, **values: Any) -> None:
        """Keyword-only, as the tables declare: each field from ``values``, else its default (a fresh one from
        its ``default_factory``); missing and unknown keywords are TypeErrors, as a generated ``__init__``'s."""
        cls = type(self)
        for name, default, factory in _init_plan(cls):
            if name in values:
                value = values.pop(name)
            elif factory is not None:
                value = factory()
            elif default is not dataclasses.MISSING:
                value = default
            else:
                raise TypeError(f"{cls.__qualname__}() missing required keyword argument {name!r}")
            object.__setattr__(self, name, value)
        if values:
            raise TypeError(f"{cls.__qualname__}() got an unexpected keyword argument {next(iter(values))!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in _compared(type(self)))

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Section)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(typing.cast(Any, self)) if f.repr
        )
        return f"{type(self).__qualname__}({shown})"

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        schema = handler(source)
        inner = schema["schema"] if schema.get("type") == "definitions" else schema
        if inner.get("type") == "dataclass":
            inner["strict"] = False
        return schema


@typing.dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(dataclasses.field,))
def table(cls: type[T]) -> type[T]:
    """A settings table: a dataclass (fields, ``dataclasses.fields``/``replace``, pydantic's schema) whose
    ``__init__``, ``__setattr__``/``__delattr__`` (frozen), ``__eq__``, ``__hash__`` and ``__repr__`` are
    :class:`Section`'s instead of generated: type checkers read it as frozen and keyword-only (PEP 681)."""
    return dataclasses.dataclass(init=False, repr=False, eq=False, match_args=False)(cls)


_Plan = tuple[tuple[str, Any, Callable[[], Any] | None], ...]


def _init_plan(cls: type) -> _Plan:
    """Each init field of a table with its default and default factory (None: none), worked out once."""
    plan = _PLANS.get(cls)
    if plan is None:
        fields = dataclasses.fields(cls)
        plan = _PLANS[cls] = tuple(
            (f.name, f.default, None if f.default_factory is dataclasses.MISSING else f.default_factory)
            for f in fields
            if f.init
        )
    return plan


_PLANS: dict[type, _Plan] = {}


def _compared(cls: type) -> tuple[str, ...]:
    """The fields a table's equality compares, in order (what ``@dataclass(eq=True)`` would compare)."""
    names = _COMPARED.get(cls)
    if names is None:
        names = _COMPARED[cls] = tuple(f.name for f in dataclasses.fields(cls) if f.compare)
    return names


_COMPARED: dict[type, tuple[str, ...]] = {}


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
