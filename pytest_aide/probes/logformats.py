"""The log formats recognised out of the box: what starts an entry, its time, and whether it is a server error.

Each format says, for one line, whether it starts an entry (its *head*) and if so the entry's time (when the
line carries one) and whether it is an error **as an operator of that software counts one**: nginx's client
404s are logged at ``[error]`` but are not server errors, Redis logs failures at its warning level ``#``.
Lines that start no entry (a traceback, a wrapped message) belong to the entry before them. The rule of each
format is its ``rule`` text, shown in the README. :func:`detect` picks the format whose heads match most of a
file's recent lines; ``generic`` is the fallback. Nothing here reads files or imports pytest.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "FORMATS",
    "GENERIC_ERROR_PATTERN",
    "Head",
    "LogFormat",
    "detect",
    "get_format",
]

_WORDS = r"(?:error|err|crit|critical|fatal|panic|alert|emerg|emergency|severe)"
# Level words as loggers write them: upper case alone (ERROR, CRITICAL), any case when bracketed ([error],
# <crit>) or given as a key (level=error). A lower-case "error" in a sentence is no level.
GENERIC_ERROR_PATTERN = (
    r"\b(?:ERROR|CRITICAL|CRIT|FATAL|PANIC|EMERG|ALERT|SEVERE)\b"
    rf"|(?i:[\[<(]{_WORDS}[\]>)])"
    rf"|(?i:\b(?:level|lvl|severity|levelname)[=:]\s*[\"']?{_WORDS}\b)"
)
GENERIC_ERROR = re.compile(GENERIC_ERROR_PATTERN)
_ERROR_WORDS = frozenset(
    {"error", "err", "crit", "critical", "fatal", "panic", "alert", "emerg", "emergency", "severe"}
)
_DETECT_LINES = 200


class Head(NamedTuple):
    """What the first line of an entry tells: whether the entry is a server error, and its time if written."""

    error: bool
    when: datetime | None


@dataclass(frozen=True)
class LogFormat:
    """One log format: a head regex with groups ``ts`` (timestamp text) and ``level``, and its error rule."""

    name: str
    rule: str  # what counts as a server error, for the README and messages
    head_re: re.Pattern[str] | None
    error_levels: frozenset[str] = frozenset()
    parse_time: Callable[[str], datetime | None] | None = None
    not_errors: tuple[re.Pattern[str], ...] = ()  # client faults logged at an error level
    must_mention: re.Pattern[str] | None = None  # an error line must also say this (Redis: a failure word)
    timestamps: bool = True  # the format carries a time on each entry (uvicorn's default does not)
    custom: Callable[[str], Head | None] | None = field(default=None, repr=False)

    def head(self, line: str) -> Head | None:
        """The entry this line starts, or None when it continues the previous entry."""
        if self.custom is not None:
            return self.custom(line)
        assert self.head_re is not None  # every regex format has one
        match = self.head_re.match(line)
        if match is None:
            return None
        return Head(self._is_error(line, match), self._time(match))

    def _is_error(self, line: str, match: re.Match[str]) -> bool:
        level = (match.groupdict().get("level") or match.groupdict().get("level_basic") or "").lower()
        if level not in self.error_levels:
            return False
        if self.must_mention is not None and not self.must_mention.search(line[match.end() :]):
            return False
        return not any(p.search(line) for p in self.not_errors)

    def _time(self, match: re.Match[str]) -> datetime | None:
        text = match.groupdict().get("ts")
        if not text or self.parse_time is None:
            return None
        try:
            return self.parse_time(text)
        except (ValueError, OverflowError):
            return None


# --- timestamps ---------------------------------------------------------------------------------------------


def _strptime(*formats: str) -> Callable[[str], datetime | None]:
    def parse(text: str) -> datetime | None:
        text = " ".join(text.split())  # "Jan  5" (space-padded day) reads as "Jan 5"
        for fmt in formats:
            try:
                return datetime.strptime(text, fmt)
            except ValueError:
                continue
        return None

    return parse


def _zone(name: str) -> tzinfo | None:
    """A zone abbreviation as PostgreSQL writes it (log_timezone): UTC, an offset, or a name zoneinfo knows."""
    if name in ("UTC", "GMT", "Z"):
        return UTC
    if name in time.tzname:
        return None  # local time: naive, compared as local
    offset = re.fullmatch(r"([+-])(\d{2}):?(\d{2})?", name)
    if offset:
        sign = -1 if offset.group(1) == "-" else 1
        return timezone(sign * timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3) or 0)))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _postgres_time(text: str) -> datetime | None:
    """``%m``/``%t`` of log_line_prefix: local time of log_timezone, its abbreviation or offset after it."""
    match = re.fullmatch(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?) ?(\S*)", text)
    if match is None:
        return None
    when = datetime.fromisoformat(match.group(1))
    tz = _zone(match.group(2)) if match.group(2) else None
    return when.replace(tzinfo=tz) if tz is not None else when


def _iso_time(text: str) -> datetime | None:
    return datetime.fromisoformat(text.replace(",", ".", 1))


def _syslog_time(text: str) -> datetime | None:
    if text[:4].isdigit():
        return _iso_time(text)
    now = datetime.now()
    when = datetime.strptime(f"{now.year} {' '.join(text.split())}", "%Y %b %d %H:%M:%S")
    return when.replace(year=now.year - 1) if when - now > timedelta(days=1) else when  # written last December


def _epoch(value: float) -> datetime:
    while abs(value) > 1e11:  # milliseconds (pino), microseconds...
        value /= 1000
    return datetime.fromtimestamp(value, UTC)


# --- JSON lines ---------------------------------------------------------------------------------------------

_JSON_LEVEL_KEYS = ("level", "levelname", "severity", "log.level", "lvl", "loglevel", "log_level")
_JSON_TIME_KEYS = ("timestamp", "@timestamp", "time", "ts", "asctime", "datetime", "date", "t")


def _json_value(record: dict[str, Any], keys: Sequence[str]) -> Any:
    for key in keys:
        if key in record:
            return record[key]
        outer, _, inner = key.partition(".")
        if inner and isinstance(record.get(outer), dict) and inner in record[outer]:
            return record[outer][inner]  # ECS: {"log": {"level": "error"}}
    return None


def _json_error(level: Any) -> bool:
    if isinstance(level, bool):
        return False
    if isinstance(level, int | float):
        return level >= 50  # pino and bunyan: 50 error, 60 fatal
    return isinstance(level, str) and level.strip().lower() in _ERROR_WORDS


def _json_time(value: Any) -> datetime | None:
    try:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return _epoch(float(value))
        if isinstance(value, str):
            return _iso_time(value.strip())
    except (ValueError, OverflowError, OSError):
        return None
    return None


def _json_head(line: str) -> Head | None:
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    return Head(_json_error(_json_value(record, _JSON_LEVEL_KEYS)), _json_time(_json_value(record, _JSON_TIME_KEYS)))


# --- the generic fallback -----------------------------------------------------------------------------------

_CONTINUATION = re.compile(r"\s|Traceback \(|During handling of|The above exception|[\w.]+(?:Error|Exception|Exit)\b")
_GENERIC_TS = re.compile(
    r"\[?(?P<ts>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"
    r"|\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}|[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2})"
)


def _generic_time(text: str) -> datetime | None:
    if "/" in text[:5]:
        return datetime.strptime(text, "%Y/%m/%d %H:%M:%S")
    if text[:4].isdigit():
        return _iso_time(text.replace(" ", "T", 1))
    return _syslog_time(text)


def _generic_head(line: str) -> Head | None:
    if not line or _CONTINUATION.match(line):
        return None
    match = _GENERIC_TS.match(line)
    when = None
    if match:
        try:
            when = _generic_time(match.group("ts"))
        except (ValueError, OverflowError):
            when = None
    return Head(GENERIC_ERROR.search(line) is not None, when)


# --- the formats --------------------------------------------------------------------------------------------

_ISO = r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?"
_FAILURE = re.compile(
    r"(?i)\b(?:error|errors|fail|failed|failure|failing|can'?t|cannot|unable|crash\w*|corrupt\w*|bad|"
    r"short read|oom|out of memory|misconf\w*|refused|timeout|timed out|bug report|assertion)\b"
)

FORMATS: dict[str, LogFormat] = {
    fmt.name: fmt
    for fmt in (
        LogFormat(
            "json",
            "JSON lines: a `level`/`levelname`/`severity`/`log.level` of error, critical, fatal, alert, emerg "
            "or panic (any case), or a number of 50 and more (pino, bunyan); time from `timestamp`, "
            "`@timestamp`, `time` or `ts` (ISO 8601 or epoch seconds/milliseconds)",
            None,
            custom=_json_head,
        ),
        LogFormat(
            "nginx",
            "nginx error log: `[error]`, `[crit]`, `[alert]`, `[emerg]`, except what a client caused: a missing "
            'file (`open() "…" failed (2: No such file or directory)`, `is not found (2: …)`), '
            '`directory index of "…" is forbidden`, `access forbidden by rule`, `client intended to send too '
            "large body`, and `limiting requests`/`limiting connections` (rate limits at work). An upstream "
            "that refuses, times out or is missing counts",
            re.compile(r"(?P<ts>\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}) \[(?P<level>[a-z]+)\] \d+#\d+: "),
            frozenset({"error", "crit", "alert", "emerg"}),
            _strptime("%Y/%m/%d %H:%M:%S"),
            not_errors=(
                re.compile(r'\bopen\(\) ".*" failed \(2: No such file or directory\)'),
                re.compile(r'" is not found \(2: No such file or directory\)'),
                re.compile(r'directory index of ".*" is forbidden'),
                re.compile(r"access forbidden by rule"),
                re.compile(r"client intended to send too large body"),
                re.compile(r"limiting (?:requests|connections)"),
            ),
        ),
        LogFormat(
            "apache",
            "Apache error log: `[error]`, `[crit]`, `[alert]`, `[emerg]` (also as `[module:error]`), except a "
            "client's missing file (`File does not exist`, AH00128) and `client denied by server "
            "configuration` (AH01630, AH01797)",
            re.compile(
                r"\[(?P<ts>[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}(?:\.\d+)? \d{4})\] "
                r"\[(?:[\w-]+:)?(?P<level>[a-z]+\d?)\]"
            ),
            frozenset({"error", "crit", "alert", "emerg"}),
            _strptime("%a %b %d %H:%M:%S.%f %Y", "%a %b %d %H:%M:%S %Y"),
            not_errors=(
                re.compile(r"AH00128|File does not exist"),
                re.compile(r"AH01630|AH01797|client denied by server configuration"),
            ),
        ),
        LogFormat(
            "gunicorn",
            "gunicorn error log: `[ERROR]` and `[CRITICAL]` (a worker timeout, a worker killed, a request "
            "that raised); the traceback after it is part of the entry",
            re.compile(r"\[(?P<ts>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} [+-]\d{4})\] \[\d+\] \[(?P<level>[A-Z]+)\] "),
            frozenset({"error", "critical"}),
            _strptime("%Y-%m-%d %H:%M:%S %z"),
        ),
        LogFormat(
            "postgresql",
            "PostgreSQL server log (a `log_line_prefix` starting with `%m` or `%t`): `ERROR`, `FATAL` and "
            "`PANIC`, except a statement the client cancelled; PostgreSQL logs a client's bad SQL as ERROR like "
            "a deadlock, so an app that sends bad SQL shows here. `DETAIL`/`STATEMENT`/`HINT` lines are not "
            "counted again",
            re.compile(
                rf"(?P<ts>{_ISO}(?: [A-Za-z][\w/+-]*|[+-]\d{{2}}(?::?\d{{2}})?)?) .*?"
                r"\b(?P<level>DEBUG\d|LOG|INFO|NOTICE|WARNING|ERROR|FATAL|PANIC|DETAIL|HINT|STATEMENT|CONTEXT|"
                r"QUERY|LOCATION):  "
            ),
            frozenset({"error", "fatal", "panic"}),
            _postgres_time,
            not_errors=(re.compile(r"canceling statement due to user request"),),
        ),
        LogFormat(
            "redis",
            "Redis log: Redis has no error level; a line at its warning level `#` counts when it reports a "
            "failure (error, failed, can't, unable, crash, corrupt, bad, short read, out of memory, MISCONF, "
            "refused, timeout, bug report), except Redis's start-up advice about the host (`# WARNING …`)",
            re.compile(
                r"\d+:[XCSM] (?P<ts>\d{1,2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2}(?:\.\d+)?) (?P<level>[.*#-]) "
            ),
            frozenset({"#"}),
            _strptime("%d %b %Y %H:%M:%S.%f", "%d %b %Y %H:%M:%S"),
            not_errors=(re.compile(r"^\S+ \S+ \S+ \S+ \S+ # WARNING\b"),),
            must_mention=_FAILURE,
        ),
        LogFormat(
            "access",
            "access log (Common/Combined Log Format of nginx, Apache, gunicorn): a response status of 500 or "
            "more; a client's 4xx is not a server error",
            re.compile(
                r"\S+ \S+ \S+ \[(?P<ts>\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] "
                r'"[^"]*" (?P<level>\d{3}) '
            ),
            frozenset(str(code) for code in range(500, 600)),
            _strptime("%d/%b/%Y:%H:%M:%S %z"),
        ),
        LogFormat(
            "uvicorn",
            "uvicorn's default log (`ERROR:    …`): `ERROR` and `CRITICAL`; its default lines carry no time, "
            "so the time window needs a `timestamp_format` (uvicorn's `--log-config` with `%(asctime)s`)",
            re.compile(r"(?P<level>TRACE|DEBUG|INFO|WARNING|ERROR|CRITICAL):\s{1,9}\S"),
            frozenset({"error", "critical"}),
            timestamps=False,
        ),
        LogFormat(
            "python",
            "Python logging with `%(asctime)s` before the level (`2024-01-15 10:00:00,123 ERROR …`, "
            "`… - name - ERROR - …`, Flask's `[…] ERROR in app: …`) or logging's default `ERROR:name:message`: "
            "`ERROR`, `CRITICAL` and `FATAL`; the traceback after it is part of the entry",
            re.compile(
                rf"(?:\[?(?P<ts>{_ISO})\]?\b.{{0,80}}?\b(?P<level>DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL)\b"
                r"|(?P<level_basic>DEBUG|INFO|WARNING|ERROR|CRITICAL):(?=\S))"
            ),
            frozenset({"error", "critical", "fatal"}),
            _iso_time,
        ),
        LogFormat(
            "syslog",
            "syslog files (`Jan 15 10:00:00 host prog[pid]: …` or rsyslog's ISO 8601 time): the files carry no "
            "severity, so a message counts when it carries a level word: upper-case ERROR, CRITICAL, FATAL, "
            "PANIC, EMERG, ALERT, or any case in brackets or as `level=` (`[error]`, `<crit>`, `level=error`)",
            re.compile(
                r"(?P<ts>[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?"
                r"(?:Z|[+-]\d{2}:\d{2})) \S+ [^\s:\[]+(?:\[\d+\])?: (?P<level>)"
            ),
            frozenset({""}),
            _syslog_time,
            must_mention=GENERIC_ERROR,
        ),
        LogFormat(
            "generic",
            "any other log: an entry is a line that is not indented and not a traceback line; it counts when it "
            "carries a level word as for syslog; a leading ISO 8601, `YYYY/MM/DD HH:MM:SS` or syslog time is "
            "its time",
            None,
            custom=_generic_head,
        ),
    )
}
_NAMED = tuple(FORMATS)


def get_format(name: str) -> LogFormat:
    """The format named ``name`` (a key of :data:`FORMATS`)."""
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown log format {name!r}; expected one of {', '.join(_NAMED)} or auto") from None


def detect(lines: Iterable[str]) -> LogFormat:
    """The format whose heads match most of ``lines`` (the last ones are enough); ``generic`` if none does.

    Ties go to the earlier format of :data:`FORMATS` (the more specific one: a gunicorn line would also
    read as Python logging).
    """
    sample = [line for line in lines if line.strip()][-_DETECT_LINES:]
    best, best_count = FORMATS["generic"], 0
    for fmt in FORMATS.values():
        if fmt.name == "generic":
            continue
        count = sum(1 for line in sample if fmt.head(line) is not None)
        if count > best_count:
            best, best_count = fmt, count
    return best
