"""Seed data of the demo target: a SQLite database, logs, config files and design assets.

The dataset imitates the slide-generator app of SEEDS.md closely enough for every daily check to find
something real to measure. Files are created once and never overwritten (each one is written to a temporary
name and hard-linked into place, so two processes starting at once cannot leave a half-written file), which
keeps a dataset that checks or backups have touched stable across restarts.
"""

from __future__ import annotations

import base64
import json
import os
import random
import sqlite3
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

TABLES = ("design_assets", "generated_presentations", "design_patterns")
COST_MARKER = "API_COST"
LOG_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
ERRORS_IN_TAIL = 3  # ERROR lines among the last 100 of app.log: present, yet far below the threshold of 10
_ERRORS_BEFORE_TAIL = 2
_REQUEST_LINES = 240
_REQUEST_SPAN = timedelta(hours=3)
_SEED = 20261121  # a fixed seed: the same clock gives the same dataset, which eases debugging

_SCHEMA = """
CREATE TABLE design_assets (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    file_path TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE generated_presentations (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    template TEXT NOT NULL,
    slide_count INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('completed', 'processing', 'failed')),
    cost_jpy REAL NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE design_patterns (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    pattern_type TEXT NOT NULL,
    usage_count INTEGER NOT NULL,
    score REAL NOT NULL,
    definition TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX idx_presentations_created_at ON generated_presentations (created_at);
"""

_ENV_FILE = """\
# slide-generator demo: FAKE secrets, present so that checks and backups have a secret file to handle
API_KEY=demo-secret-key-123
DB_PASSWORD=demo-db-password-456
SECRET_KEY=demo-flask-secret-789
DATABASE_URL=sqlite:///data/database.db
"""

_SETTINGS = {
    "app_name": "slide-generator-demo",
    "version": "0.1.0",
    "host": "127.0.0.1",
    "port": 5000,
    "database": "data/database.db",
    "log_dir": "logs",
    "cache": {"max_entries": 128, "ttl_seconds": 300},
    "tasks": {"workers": 1},
    "monthly_budget_jpy": 3000,
}

# A 1x1 transparent PNG: one binary asset, so that archive checks see more than text.
_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)

_ASSETS: dict[str, bytes] = {
    "templates/corporate.json": json.dumps({"name": "corporate", "colors": ["#003366", "#ffffff"]}).encode(),
    "templates/minimal.json": json.dumps({"name": "minimal", "colors": ["#222222", "#fafafa"]}).encode(),
    "images/background.png": _PNG,
    "images/icons/check.svg": b'<svg xmlns="http://www.w3.org/2000/svg"><path d="M1 4l2 2 4-4"/></svg>\n',
    "fonts/README.txt": b"Fonts are referenced by name; none are bundled with the demo.\n",
}

_ROUTES = (
    ("GET", "/api/health", 3.0),
    ("GET", "/api/cache/stats", 1.5),
    ("GET", "/api/tasks/stats", 1.5),
    ("GET", "/api/presentations", 12.0),
    ("GET", "/api/design-patterns", 8.0),
    ("POST", "/api/presentations/generate", 850.0),
    ("GET", "/static/css/main.css", 0.8),
)

_ERROR_MESSAGES = (
    ("app.api", "POST /api/presentations/generate 500 upstream model timed out after 30s"),
    ("app.db", "database is locked; gave up after 5 retries (generated_presentations insert)"),
    ("app.render", "slide 7 of presentation 41 failed to render: image assets/images/missing.png not found"),
    ("app.api", "GET /api/presentations/17/export 500 converter exited with status 1"),
    ("app.cache", "cache write failed: memory limit of 128 entries reached during eviction"),
)


@dataclass(frozen=True)
class DemoPaths:
    """Where each part of a demo dataset lives (all absolute)."""

    root: Path
    database: Path
    app_log: Path
    error_log: Path
    env_file: Path
    settings: Path
    assets: Path

    @classmethod
    def under(cls, root: Path) -> DemoPaths:
        """The layout of a dataset rooted at ``root`` (nothing is created)."""
        root = Path(root).resolve()
        return cls(
            root=root,
            database=root / "data" / "database.db",
            app_log=root / "logs" / "app.log",
            error_log=root / "logs" / "app_error.log",
            env_file=root / "config" / ".env",
            settings=root / "config" / "settings.json",
            assets=root / "assets",
        )


@dataclass(frozen=True)
class LogEntry:
    """One log record before formatting; ``when`` is naive local time, as the app writes it."""

    when: datetime
    level: str
    logger: str
    message: str

    def line(self) -> str:
        return format_log_line(self.when, self.level, self.logger, self.message)


@dataclass(frozen=True)
class DemoLogs:
    """The generated contents of ``app.log`` and ``app_error.log``, oldest first."""

    app: list[LogEntry]
    errors: list[LogEntry]


def format_log_line(when: datetime, level: str, logger: str, message: str) -> str:
    """One line in Python logging's default layout: ``2026-11-21 19:40:00,123 INFO app.request: ...``."""
    return f"{when.strftime(LOG_TIME_FORMAT)},{when.microsecond // 1000:03d} {level} {logger}: {message}"


def ensure_demo_data(data_dir: Path, *, now: datetime | None = None) -> DemoPaths:
    """Create whatever part of the dataset under ``data_dir`` is missing; existing files are kept as they are.

    ``now`` (naive local time, default: the clock) anchors log and cost timestamps; tests pass it to reach
    edge cases such as the first minutes of a month.
    """
    paths = DemoPaths.under(data_dir)
    now = datetime.now() if now is None else now
    for folder in (paths.database.parent, paths.app_log.parent, paths.env_file.parent, paths.assets):
        folder.mkdir(parents=True, exist_ok=True)
    _create_once(paths.database, lambda tmp: _write_database(tmp, random.Random(_SEED), now))
    logs = build_logs(now)
    _create_once(paths.app_log, lambda tmp: _write_lines(tmp, (e.line() for e in logs.app)))
    _create_once(paths.error_log, lambda tmp: _write_lines(tmp, (e.line() for e in logs.errors)))
    _create_once(paths.env_file, lambda tmp: tmp.write_text(_ENV_FILE, encoding="utf-8"))
    _create_once(paths.settings, lambda tmp: tmp.write_text(json.dumps(_SETTINGS, indent=2) + "\n", "utf-8"))
    for relative, content in _ASSETS.items():
        target = paths.assets / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        _create_once(target, _bytes_writer(content))
    return paths


def _create_once(target: Path, write: Callable[[Path], object]) -> None:
    """Write ``target`` through a temporary file unless it exists; never replaces an existing file."""
    if target.exists():
        return
    tmp = target.with_name(f".{target.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(tmp)
        try:
            os.link(tmp, target)  # atomic and fails if another process got there first
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links: a tiny race is acceptable there
            if not target.exists():
                os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _bytes_writer(content: bytes) -> Callable[[Path], object]:
    return lambda tmp: tmp.write_bytes(content)


def _write_lines(path: Path, lines: Iterable[str]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        handle.writelines(line + "\n" for line in lines)


def _write_database(path: Path, rng: random.Random, now: datetime) -> None:
    conn = sqlite3.connect(path, timeout=5.0)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(_SCHEMA)
        seeds = {
            "design_assets": _asset_rows,
            "generated_presentations": _presentation_rows,
            "design_patterns": _pattern_rows,
        }
        with conn:
            for table, make_rows in seeds.items():
                rows = make_rows(rng, now)
                marks = ", ".join("?" * len(rows[0]))
                conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
    finally:
        conn.close()  # the last connection checkpoints the WAL into the file and removes it


def _days_ago(rng: random.Random, now: datetime, days: int) -> str:
    return (now - timedelta(seconds=rng.uniform(0, days * 86400))).isoformat(timespec="seconds")


def _asset_rows(rng: random.Random, now: datetime) -> list[tuple[object, ...]]:
    categories = ("background", "icon", "template", "chart", "photo", "font")
    rows: list[tuple[object, ...]] = []
    for ident in range(1, 37):
        category = categories[ident % len(categories)]
        path = f"assets/{category}s/{category}_{ident:03d}.{'svg' if category == 'icon' else 'png'}"
        size = rng.randint(800, 250_000)
        rows.append((ident, f"{category} {ident}", category, path, size, _days_ago(rng, now, 60)))
    return rows


def _presentation_rows(rng: random.Random, now: datetime) -> list[tuple[object, ...]]:
    topics = ("Quarterly review", "Product launch", "Onboarding", "Roadmap", "Budget plan", "Retrospective")
    rows: list[tuple[object, ...]] = []
    for ident in range(1, 49):
        status = "failed" if ident % 16 == 0 else "processing" if ident == 48 else "completed"
        rows.append(
            (
                ident,
                f"{topics[ident % len(topics)]} #{ident}",
                rng.choice(("corporate", "minimal")),
                rng.randint(5, 40),
                status,
                round(rng.uniform(5, 30), 2),
                _days_ago(rng, now, 30),
            )
        )
    return rows


def _pattern_rows(rng: random.Random, now: datetime) -> list[tuple[object, ...]]:
    kinds = ("layout", "color", "typography", "chart")
    rows: list[tuple[object, ...]] = []
    for ident in range(1, 25):
        kind = kinds[ident % len(kinds)]
        accent = f"#{rng.randrange(16**6):06x}"
        definition = json.dumps({"kind": kind, "columns": rng.randint(1, 3), "accent": accent})
        rows.append(
            (
                ident,
                f"{kind}-{ident:02d}",
                kind,
                rng.randint(0, 500),
                round(rng.uniform(0.4, 1.0), 3),
                definition,
                _days_ago(rng, now, 90),
            )
        )
    return rows


def build_logs(now: datetime) -> DemoLogs:
    """The log contents for a dataset generated at ``now``: pure, so its invariants are testable directly.

    app.log holds API cost lines for each earlier day of the month and for today, then ~3 hours of request
    lines ending within the last minute, with ``ERRORS_IN_TAIL`` errors among the last 100 lines and a few
    before. app_error.log holds the WARNING and ERROR records, as a logging handler at WARNING level would.
    """
    rng = random.Random(_SEED)
    entries = sorted(_cost_entries(rng, now) + _request_entries(rng, now), key=lambda e: e.when)
    _inject_errors(rng, entries)
    return DemoLogs(app=entries, errors=[e for e in entries if e.level in ("WARNING", "ERROR")])


def cost_message(when: datetime, cost: float) -> str:
    """The app's structured cost line: the marker, then JSON with a naive local ISO-8601 timestamp."""
    payload = {"timestamp": when.isoformat(timespec="seconds"), "cost": cost, "model": "demo"}
    return f"{COST_MARKER} {json.dumps(payload)}"


def _cost_entries(rng: random.Random, now: datetime) -> list[LogEntry]:
    """Two calls on each earlier day of this month and three today; at most ~1,900 JPY even on day 31."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    times = [
        midnight.replace(day=day, hour=rng.randint(9, 18), minute=rng.randint(0, 59))
        for day in range(1, now.day)
        for _ in range(2)
    ]
    times += [max(midnight, now - timedelta(minutes=m)) for m in (150, 75, 12)]
    return [LogEntry(t, "INFO", "app.cost", cost_message(t, round(rng.uniform(5, 30), 2))) for t in times]


def _request_entries(rng: random.Random, now: datetime) -> list[LogEntry]:
    start = now - _REQUEST_SPAN
    span = (_REQUEST_SPAN - timedelta(minutes=2)).total_seconds()
    moments = [start + timedelta(seconds=rng.uniform(0, span)) for _ in range(_REQUEST_LINES - 1)]
    moments.append(now - timedelta(seconds=rng.uniform(5, 60)))  # the newest line: within the last minute
    return [_request_entry(rng, when) for when in sorted(moments)]


def _request_entry(rng: random.Random, when: datetime) -> LogEntry:
    method, path, typical_ms = rng.choice(_ROUTES)
    elapsed = typical_ms * rng.uniform(0.6, 1.8)
    status = 304 if path.startswith("/static") and rng.random() < 0.5 else 200
    if elapsed > 1000:
        return LogEntry(when, "WARNING", "app.request", f"{method} {path} {status} {elapsed:.1f}ms (slow)")
    return LogEntry(when, "INFO", "app.request", f"{method} {path} {status} {elapsed:.1f}ms")


def _inject_errors(rng: random.Random, entries: list[LogEntry]) -> None:
    """Turn request lines into ERROR lines at chosen places, keeping each line's time (so order holds)."""
    tail_start = len(entries) - 100
    requests = [i for i, e in enumerate(entries) if e.logger == "app.request"]
    tail = rng.sample([i for i in requests if i >= tail_start], ERRORS_IN_TAIL)
    before = rng.sample([i for i in requests if i < tail_start], _ERRORS_BEFORE_TAIL)
    for n, index in enumerate(sorted(before + tail)):
        logger, message = _ERROR_MESSAGES[n % len(_ERROR_MESSAGES)]
        entries[index] = LogEntry(entries[index].when, "ERROR", logger, message)
