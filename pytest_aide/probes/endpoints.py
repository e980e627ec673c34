"""Probe many endpoints at once and judge their JSON bodies against one-line conditions.

Health endpoints are I/O bound: probed one after another, N endpoints cost N x latency. A bounded pool of
threads brings that to about latency x ceil(N / concurrency), while the bound keeps the health suite from
becoming a load spike on the very target it checks.
"""

from __future__ import annotations

import json
import math
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from pytest_aide.errors import ProbeError
from pytest_aide.probes.http import HttpClient, HttpProbe, json_type, pick

_ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_OPERATORS = ("==", "!=", *_ORDERING)
_CONDITION = re.compile(r"\s*(?P<path>[^\s=!<>]+)\s*(?P<op>==|!=|<=|>=|<|>)\s*(?P<literal>.*?)\s*", re.DOTALL)
_SHOWN_CHARS = 80


@dataclass(frozen=True)
class Condition:
    """``<dotted.path> <op> <literal>``, checked against a parsed JSON body."""

    path: str
    op: str
    expected: Any

    def __str__(self) -> str:
        return f"{self.path} {self.op} {json.dumps(self.expected, ensure_ascii=False)}"

    def evaluate(self, data: Any) -> str | None:
        """None when ``data`` satisfies the condition, else one line saying what was found instead."""
        try:
            actual = pick(data, self.path)
        except ProbeError as exc:
            return f"{self.path}: {exc}"
        found = f"{self.path} = {_show(actual)}, expected {self.op} {_show(self.expected)}"
        if self.op in ("==", "!="):
            return None if _json_equal(actual, self.expected) == (self.op == "==") else found
        if not _comparable(actual, self.expected):
            return f"{found} (cannot compare {json_type(actual)} with {json_type(self.expected)})"
        return None if _ORDERING[self.op](actual, self.expected) else found


@dataclass(frozen=True)
class EndpointSpec:
    """One endpoint to probe. ``path`` is joined to the client's base URL unless it is an absolute URL;
    ``expect_status=None`` accepts any status. Conditions are parsed here, so a typo fails early."""

    name: str
    path: str
    method: str = "GET"
    expect_status: int | None = 200
    conditions: tuple[str, ...] = ()
    parsed_conditions: tuple[Condition, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "conditions", tuple(self.conditions))
        try:
            parsed = tuple(parse_condition(text) for text in self.conditions)
        except ValueError as exc:
            raise ValueError(f"endpoint {self.name!r}: {exc}") from None
        object.__setattr__(self, "parsed_conditions", parsed)


def parse_condition(text: str) -> Condition:
    """Parse ``"<dotted.path> <op> <literal>"``; ops ``== != < <= > >=``.

    The literal is JSON (``50``, ``12.5``, ``true``, ``null``, ``"quoted"``) or else a bare string, so
    ``status == healthy`` works; quote a string that looks like JSON (``"true"``). Raises ValueError with a
    one-line message for anything else.
    """
    match = _CONDITION.fullmatch(text)
    if match is None:
        raise ValueError(
            f"not a condition: {_quote(text)}; expected '<dotted.path> <op> <value>' "
            f"with op one of {' '.join(_OPERATORS)}"
        )
    path, op, literal = match["path"], match["op"], match["literal"]
    if "" in path.split("."):
        raise ValueError(f"empty segment in path {_quote(path)} of condition {_quote(text)}")
    expected = _parse_literal(literal, text)
    if op in _ORDERING and not _orderable(expected):
        raise ValueError(f"{op} needs a number or a string, not {json_type(expected)}, in {_quote(text)}")
    return Condition(path, op, expected)


def probe_all(client: HttpClient, specs: Iterable[EndpointSpec], *, concurrency: int = 64) -> dict[str, HttpProbe]:
    """Probe every endpoint with at most ``concurrency`` requests in flight; results keyed by name, in
    the order of ``specs``. Give ``client`` a ``pool_size`` of at least ``concurrency`` so connections are
    reused rather than opened per request."""
    with ProbeStream(client, specs, concurrency=concurrency) as stream:
        return dict(stream.items())


class ProbeStream(Mapping[str, HttpProbe]):
    """Endpoints probed in the background, in the order given, at most ``concurrency`` at a time; reading one
    waits for that one only.

    A run that checks its endpoints in the order it probes them can judge the first while the rest are still
    in flight: N checks then take about max(probing, checking) instead of probing + checking. Each probe is
    bounded by the client's timeouts; ``wait`` bounds a reader on top of that. Close it (or use it as a
    context manager) to cancel what has not started and wait for what has.
    """

    def __init__(
        self, client: HttpClient, specs: Iterable[EndpointSpec], *, concurrency: int = 64, wait: float | None = None
    ) -> None:
        specs = list(specs)
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        _require_unique_names(specs)
        self._wait = wait
        self._pool = ThreadPoolExecutor(
            max_workers=min(concurrency, max(len(specs), 1)), thread_name_prefix="aide-probe"
        )
        self._futures: dict[str, Future[HttpProbe]] = {}
        try:
            for spec in specs:  # the pool starts them first come, first served
                self._futures[spec.name] = self._pool.submit(probe_endpoint, client, spec)
        except BaseException:
            self.close()
            raise

    def __getitem__(self, name: str) -> HttpProbe:
        try:
            return self._futures[name].result(timeout=self._wait)
        except TimeoutError:
            raise ProbeError(f"endpoint {name!r}: no result after {self._wait:g} s") from None

    def __contains__(self, name: object) -> bool:
        return name in self._futures  # without waiting for the probe

    def __iter__(self) -> Iterator[str]:
        return iter(self._futures)

    def __len__(self) -> int:
        return len(self._futures)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ProbeStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def probe_endpoint(client: HttpClient, spec: EndpointSpec) -> HttpProbe:
    """Probe one endpoint; failed conditions turn an otherwise good probe into a failed one."""
    probe = client.probe(spec.path, method=spec.method, expect_status=spec.expect_status, name=spec.name)
    if probe.error is not None:
        return probe
    failures = [message for cond in spec.parsed_conditions if (message := cond.evaluate(probe.json))]
    if not failures:
        return probe
    return replace(probe, ok=False, error="; ".join(failures))


def _parse_literal(literal: str, text: str) -> Any:
    if not literal:
        raise ValueError(f"missing value after the operator in {_quote(text)}")
    try:
        value = json.loads(literal)
    except (ValueError, RecursionError):
        if literal[0] in '"[{':
            raise ValueError(f"bad JSON value {_quote(literal)} in {_quote(text)}") from None
        return literal
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"number out of range {_quote(literal)} in {_quote(text)}")
    return value


def _require_unique_names(specs: list[EndpointSpec]) -> None:
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise ValueError(f"endpoint name {spec.name!r} is used twice; names must be unique")
        seen.add(spec.name)


def _orderable(value: Any) -> bool:
    return isinstance(value, int | float | str) and not isinstance(value, bool)


def _comparable(actual: Any, expected: Any) -> bool:
    """Numbers compare with numbers and strings with strings; JSON booleans are not numbers."""
    if not (_orderable(actual) and _orderable(expected)):
        return False
    return isinstance(actual, str) == isinstance(expected, str)


def _json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON means it: 1 == 1.0, but true != 1 (Python says True == 1)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_json_equal, a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[key], b[key]) for key in a)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def _show(value: Any) -> str:
    shown = json.dumps(value, ensure_ascii=False)
    return shown if len(shown) <= _SHOWN_CHARS else shown[: _SHOWN_CHARS - 3] + "..."


def _quote(text: str) -> str:
    """repr() keeps a message on one line even when the text holds newlines."""
    shown = repr(text)
    return shown if len(shown) <= _SHOWN_CHARS else shown[: _SHOWN_CHARS - 3] + "..."
