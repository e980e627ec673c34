"""Log severity out of the box: each common format's error rule, its timestamps, entries with their tracebacks,
per-file settings, and a time window that says UNKNOWN instead of a silent 0 when no time can be read.

The samples in ``tests/log_samples`` were written by the real software (nginx 1.22 with two 404s, a refused
upstream and a missing upstream socket; gunicorn 27 with a failing request and a worker timeout; uvicorn with a
failing ASGI app; PostgreSQL 15's server log; redis-server 7.0 failing a background save; Python's logging),
so each rule is checked on lines as those programs write them.
"""

from __future__ import annotations

import json
import os
import string
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

import pytest_aide.suite
from pytest_aide.errors import ProbeError
from pytest_aide.probes.logformats import FORMATS, detect, get_format
from pytest_aide.probes.logs import LogFile, LogRules
from pytest_aide.settings import LogFormatName, LogItem, LogsSettings

SAMPLES = Path(__file__).parent / "log_samples"
SUITE = Path(pytest_aide.suite.__file__).parent / "aide"

# sample file -> (detected format, error entries, a text each error entry's first line has, in order)
EXPECTED = {
    "nginx-error.log": ("nginx", ["connect() failed (111: Connection refused)", "[crit]"]),
    "nginx-access.log": ("access", ['"GET /app/x HTTP/1.1" 502', '"GET /sock/y HTTP/1.1" 502']),
    "gunicorn-error.log": ("gunicorn", ["[ERROR] Error handling request GET /boom", "WORKER TIMEOUT", "GET /slow"]),
    "uvicorn.log": ("uvicorn", ["ERROR:    Exception in ASGI application"]),
    "postgresql.log": (
        "postgresql",
        ['"aide_nobody"', '"aide_no_such_db"', '"no_such_aide_user"', "relation", "syntax"],
    ),
    "redis.log": ("redis", ["Failed opening the temp RDB file", "Background saving error"]),
    "python.log": ("python", ["ERROR app.orders: order 18 failed", "CRITICAL app.orders: database unreachable"]),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_samples_count_what_an_operator_counts(name: str) -> None:
    lines = (SAMPLES / name).read_text().splitlines()
    fmt, firsts = EXPECTED[name]
    rules = LogFile(SAMPLES / name).rules()
    assert rules.format.name == fmt
    entries = rules.error_entries(lines)
    assert len(entries) == len(firsts)
    for entry, text in zip(entries, firsts, strict=True):
        assert text in entry[0]
    assert LogFile(SAMPLES / name).errors_in_tail(100) == len(firsts)


def test_nginx_client_404s_are_not_server_errors_but_a_missing_upstream_socket_is() -> None:
    text = (SAMPLES / "nginx-error.log").read_text()
    assert text.count("failed (2: No such file or directory), client") == 2  # the two 404s, logged at [error]
    entries = LogFile(SAMPLES / "nginx-error.log").rules().error_entries(text.splitlines())
    assert not any("open()" in entry[0] for entry in entries)
    assert any("nope.sock failed (2: No such file or directory) while connecting to upstream" in e[0] for e in entries)


def test_a_traceback_belongs_to_its_entry_and_counts_once() -> None:
    lines = (SAMPLES / "gunicorn-error.log").read_text().splitlines()
    first = LogFile(SAMPLES / "gunicorn-error.log").rules().error_entries(lines)[0]
    assert first[0].endswith("[ERROR] Error handling request GET /boom")
    assert first[-1] == "ValueError: boom"
    assert len(first) == 10


def test_redis_startup_advice_about_the_host_is_no_error() -> None:
    advice = next(line for line in (SAMPLES / "redis.log").read_text().splitlines() if "overcommit" in line)
    assert "fail" in advice  # it speaks of failures, at Redis's warning level...
    assert FORMATS["redis"].head(advice) == (False, datetime(2026, 11, 30, 9, 32, 32, 47000))  # ...yet is advice


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("2026-11-30 10:00:00 web [error] upstream gone", True),
        ("2026-11-30 10:00:00 web [crit] disk", True),
        ("2026-11-30 10:00:00 web [CRITICAL] disk", True),
        ("2026-11-30 10:00:00 web <alert> x", True),
        ("2026-11-30 10:00:00 web level=error msg=x", True),
        ("2026-11-30 10:00:00 web FATAL x", True),
        ("2026-11-30 10:00:00 web handled the error politely", False),
        ("2026-11-30 10:00:00 web ERRORS=0", False),
    ],
)
def test_level_words_in_any_usual_spelling(tmp_path: Path, line: str, error: bool) -> None:
    log = tmp_path / "app.log"
    log.write_text(f"2026-11-30 09:59:59 web started\n{line}\n")
    assert LogFile(log).errors_in_tail(10) == int(error)


# --- the time window ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "now", "window_min", "count"),
    [
        ("nginx-error.log", datetime(2026, 11, 30, 9, 40), 10, 2),
        ("gunicorn-error.log", datetime(2026, 11, 30, 9, 32, 30, tzinfo=UTC), 0.2, 2),  # after GET /boom
        ("postgresql.log", datetime(2026, 11, 30, 9, 35, tzinfo=UTC), 5, 3),
        ("redis.log", datetime(2026, 11, 30, 9, 33), 1, 2),
        ("nginx-access.log", datetime(2026, 11, 30, 9, 33, tzinfo=UTC), 5, 2),
    ],
)
def test_the_window_reads_each_formats_own_timestamps(
    tmp_path: Path, name: str, now: datetime, window_min: float, count: int
) -> None:
    log = tmp_path / name
    log.write_bytes((SAMPLES / name).read_bytes())  # written now: not a quiet file
    assert LogFile(log).errors_within(timedelta(minutes=window_min), now=now) == count


def test_recent_lines_without_a_readable_time_are_unknown_not_zero(tmp_path: Path) -> None:
    log = tmp_path / "uvicorn.log"
    log.write_bytes((SAMPLES / "uvicorn.log").read_bytes())
    with pytest.raises(ProbeError) as caught:
        LogFile(log).errors_within(timedelta(hours=1))
    message = str(caught.value)
    assert str(log) in message
    assert "format uvicorn" in message
    assert "timestamp_format" in message
    # a timestamp format the lines do not have: UNKNOWN too, and the message names it
    with pytest.raises(ProbeError, match=r"timestamp_format '%d\.%m\.%Y'"):
        LogFile(log).errors_within(timedelta(hours=1), timestamp_format="%d.%m.%Y")


def test_a_quiet_or_empty_log_is_zero(tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_text("")
    assert LogFile(empty).errors_within(timedelta(hours=1)) == 0
    quiet = tmp_path / "quiet.log"
    quiet.write_bytes((SAMPLES / "uvicorn.log").read_bytes())  # no timestamps, but last written 2 hours ago
    two_hours_ago = time.time() - 7200
    os.utime(quiet, (two_hours_ago, two_hours_ago))
    assert LogFile(quiet).errors_within(timedelta(hours=1)) == 0
    assert LogFile(quiet).errors_in_tail(100) == 1


def test_a_set_timestamp_format_reads_times_the_format_does_not_know(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    now = datetime.now().replace(second=0, microsecond=0)
    log.write_text(
        f"{now - timedelta(hours=2):%d.%m.%Y %H:%M} ERROR old\n"
        f"{now - timedelta(minutes=5):%d.%m.%Y %H:%M} ERROR recent\n"
        "  ERROR continuation of the recent entry\n"
    )
    assert LogFile(log).errors_within(timedelta(hours=1), timestamp_format="%d.%m.%Y %H:%M", now=now) == 1


# --- detection and hypothesis -------------------------------------------------------------------------------

_WORD = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=8)
_MESSAGE = st.lists(_WORD, min_size=1, max_size=6).map(" ".join)
_WHEN = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)).map(
    lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)
)


def _line(fmt: str, when: datetime, level: str, message: str) -> tuple[str, datetime]:
    """A line as the software writes it, and the time a reader must get back."""
    ms = f"{when.microsecond // 1000:03d}"
    whole = when.replace(microsecond=0)
    utc = when.replace(tzinfo=UTC)
    return {
        "nginx": (f"{when:%Y/%m/%d %H:%M:%S} [{level}] 7#7: *1 {message}", whole),
        "gunicorn": (f"[{when:%Y-%m-%d %H:%M:%S} +0000] [12] [{level.upper()}] {message}", whole.replace(tzinfo=UTC)),
        "postgresql": (f"{when:%Y-%m-%d %H:%M:%S}.{ms} UTC [12] app@db {level.upper()}:  {message}", utc),
        "python": (f"{when:%Y-%m-%d %H:%M:%S},{ms} {level.upper()} app.x: {message}", when),
        "apache": (
            f"[{when:%a %b %d %H:%M:%S}.{when.microsecond:06d} {when:%Y}] [core:{level}] [pid 1] {message}",
            when,
        ),
        "json": (json.dumps({"level": level, "timestamp": when.isoformat(), "msg": message}), when),
    }[fmt]


_LEVELS = [
    "debug",
    "info",
    "notice",
    "warn",
    "warning",
    "error",
    "crit",
    "critical",
    "alert",
    "emerg",
    "fatal",
    "panic",
]
_ERRORS = {
    "nginx": {"error", "crit", "alert", "emerg"},
    "gunicorn": {"error", "critical"},
    "postgresql": {"error", "fatal", "panic"},
    "python": {"error", "critical", "fatal"},
    "apache": {"error", "crit", "alert", "emerg"},
    "json": {"error", "crit", "critical", "alert", "emerg", "fatal", "panic"},
}
_LEVELS_OF = {
    "nginx": ["debug", "info", "notice", "warn", "error", "crit", "alert", "emerg"],
    "gunicorn": ["debug", "info", "warning", "error", "critical"],
    "postgresql": ["debug1", "log", "info", "notice", "warning", "error", "fatal", "panic"],
    "python": ["debug", "info", "warning", "error", "critical"],
    "apache": ["debug", "info", "notice", "warn", "error", "crit", "alert", "emerg"],
    "json": _LEVELS,
}


@st.composite
def _written(draw: st.DrawFn) -> tuple[str, str, datetime, bool]:
    fmt = draw(st.sampled_from(sorted(_LEVELS_OF)))
    level = draw(st.sampled_from(_LEVELS_OF[fmt]))
    line, when = _line(fmt, draw(_WHEN), level, draw(_MESSAGE))
    return fmt, line, when, level in _ERRORS[fmt]


@given(_written())
def test_each_format_reads_back_the_time_and_severity_it_was_written_with(
    written: tuple[str, str, datetime, bool],
) -> None:
    fmt, line, when, error = written
    head = get_format(fmt).head(line)
    assert head is not None
    assert head.when == when
    assert head.error is error


@given(st.lists(_written(), min_size=3, max_size=20))
def test_detection_picks_the_format_that_wrote_the_lines(lines: list[tuple[str, str, datetime, bool]]) -> None:
    fmt = lines[0][0]
    texts = [_line(fmt, when, "info", "x")[0] for _, _, when, _ in lines]
    assert detect(texts).name == fmt


@given(st.text())
def test_no_text_breaks_any_format(text: str) -> None:
    for fmt in FORMATS.values():
        for line in text.splitlines() or [text]:
            head = fmt.head(line)
            assert head is None or isinstance(head.error, bool)
    LogRules.build(text.splitlines()).error_entries(text.splitlines())


def test_settings_know_every_format() -> None:
    assert set(get_args(LogFormatName)) == {"auto", *FORMATS}


# --- per-file settings --------------------------------------------------------------------------------------


def test_a_file_table_takes_its_own_keys_and_the_rest_from_logs() -> None:
    logs = LogsSettings(tail_lines=50, error_pattern="BOOM", files=["a.log", LogItem(path="b.log", format="nginx")])
    a, b = logs.for_file(logs.files[0]), logs.for_file(logs.files[1])
    assert (a.format, a.pattern, a.tail_lines, a.encoding) == ("auto", "BOOM", 50, "utf-8")
    assert (b.format, b.pattern) == ("nginx", "BOOM")


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ('{path = "a.log", format = "ngnix"}', "files.0] format: Input should be 'auto', 'json', 'nginx'"),
        ('{path = "a.log", encoding = "utf-16"}', "files.0] encoding: encoding 'utf-16' does not write a newline"),
        ('{path = "a.log", encoding = "no-such-codec"}', "files.0] encoding: unknown encoding 'no-such-codec'"),
        ('{path = "a.log", pattern = "(x"}', "files.0] pattern: invalid regular expression"),
        ('{path = "a.log", tail_lines = 0}', "files.0] tail_lines: Input should be greater than 0"),
    ],
)
def test_bad_file_settings_name_the_key(tmp_path: Path, entry: str, expected: str) -> None:
    from pytest_aide.config import load_config
    from pytest_aide.errors import ConfigError

    (tmp_path / "aide.toml").write_text(f"[logs]\nfiles = [{entry}]\n")
    with pytest.raises(ConfigError) as caught:
        load_config(None, rootdir=tmp_path, environ={})
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value).strip()


def test_encoding_per_file(tmp_path: Path) -> None:
    log = tmp_path / "latin.log"
    log.write_bytes("2026-11-30 10:00:00,000 ERROR caf\xe9 ferm\xe9\n".encode("latin-1"))
    assert LogFile(log, encoding="latin-1").tail(1) == ["2026-11-30 10:00:00,000 ERROR café fermé"]


def _run(pytester: pytest.Pytester, toml: str, *args: str) -> dict[str, Any]:
    config = pytester.path / "aide.toml"
    config.write_text(toml)
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning",
        str(SUITE / "check_logs.py"), f"--aide-config={config}", "-q", "-k", "check_log_errors", *args,
    )  # fmt: skip
    runs = sorted((pytester.path / "reports").glob("2*/health.json"))
    assert runs, result.stdout.str()
    return {c["nodeid"].split("::")[-1]: c for c in json.loads(runs[-1].read_text())["checks"]}


def test_each_file_is_read_by_its_own_rules_in_a_run(pytester: pytest.Pytester) -> None:
    for name in ("nginx-error.log", "gunicorn-error.log", "uvicorn.log"):
        (pytester.path / name).write_bytes((SAMPLES / name).read_bytes())
    (pytester.path / "app.log").write_text("2026-11-30 10:00:00 BOOM one\n" * 3 + "2026-11-30 10:00:01 fine\n")
    checks = _run(
        pytester,
        "[logs]\nfiles = [\n"
        '  "nginx-error.log",\n'
        '  {path = "gunicorn-error.log", thresholds = {log_errors = {warning = "2"}}},\n'
        '  {path = "app.log", pattern = "BOOM", tail_lines = 2},\n'
        '  {path = "uvicorn.log", format = "uvicorn"},\n'
        "]\n",
    )
    nginx = checks["check_log_errors[nginx-error.log]"]
    assert nginx["measurements"]["log_errors"]["value"] == 2  # the 404s left out; \bERROR\b found none
    assert nginx["status"] == "OK"
    gunicorn = checks["check_log_errors[gunicorn-error.log]"]
    assert gunicorn["measurements"]["log_errors"]["value"] == 3
    assert gunicorn["status"] == "WARNING"  # its own threshold
    assert checks["check_log_errors[app.log]"]["measurements"]["log_errors"]["value"] == 1  # 2 lines, 1 BOOM
    uvicorn = checks["check_log_errors[uvicorn.log]"]
    assert uvicorn["status"] == "UNKNOWN"  # recent lines, no time: never a silent 0
    assert "uvicorn.log" in uvicorn["message"]
    assert "format uvicorn" in uvicorn["message"]
    assert uvicorn["measurements"]["log_errors"]["value"] == 1  # what could be measured is kept


def test_the_readme_states_each_formats_rule_and_its_example_loads(tmp_path: Path) -> None:
    from pytest_aide.config import load_config

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("### Log formats", 1)[1].split("\n## ", 1)[0]
    for fmt in FORMATS.values():
        assert f'| `"{fmt.name}"` | {fmt.rule} |' in section
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "aide.toml").write_text(example)
    files = load_config(None, rootdir=tmp_path, environ={}).settings.logs.files
    assert [LogsSettings().for_file(f).format for f in files] == ["auto", "auto", "auto", "uvicorn", "auto"]
