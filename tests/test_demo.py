"""The bundled demo target: generated data, and the real server run as ``python -m pytest_aide.demo``."""

from __future__ import annotations

import hashlib
import json
import re
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import HANG_S
from pytest_aide.demo import DemoPaths, ensure_demo_data
from pytest_aide.demo.data import COST_MARKER, TABLES, build_logs
from pytest_aide.demo.guard import Dependencies, ErrorStats
from pytest_aide.demo.server import STATS_PATH, DemoServer, MemoryCache
from pytest_aide.demo.upstream import UpstreamError, UpstreamServer, fetch_catalogue
from pytest_aide.faults import FaultProxy
from pytest_aide.resilience import RetryPolicy

HTTP_TIMEOUT = 5.0
START_TIMEOUT = HANG_S
LINE = re.compile(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}),(\d{3}) (INFO|WARNING|ERROR) ([\w.]+): (.+)")
SERVING = re.compile(r"demo serving on (http://127\.0\.0\.1:(\d+)) \(data in (.+)\)")


@dataclass
class Demo:
    proc: subprocess.Popen[str]
    url: str
    data_dir: Path

    def get(self, path: str, session: requests.Session | None = None) -> requests.Response:
        return (session or requests).get(self.url + path, timeout=HTTP_TIMEOUT)

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str, float]:
        """Send ``sig``; return exit code, stderr and seconds until exit."""
        started = time.monotonic()
        self.proc.send_signal(sig)
        _, err = self.proc.communicate(timeout=HANG_S)
        return self.proc.returncode, err, time.monotonic() - started


@contextmanager
def run_demo(data_dir: Path, *args: str) -> Iterator[Demo]:
    """Start the demo on a free port and wait for its one line; the process is always gone afterwards."""
    command = [sys.executable, "-m", "pytest_aide.demo", "--port", "0", "--data-dir", str(data_dir), *args]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], START_TIMEOUT)
        line = proc.stdout.readline() if ready else ""
        match = SERVING.fullmatch(line.strip())
        assert match, f"unexpected first line {line!r}"
        yield Demo(proc, match[1], Path(match[3]))
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)  # reaps the process and closes its pipes


def parse_log(path: Path) -> list[tuple[datetime, str, str, str]]:
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = LINE.fullmatch(line)
        assert match, f"malformed log line in {path.name}: {line!r}"
        when = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S") + timedelta(milliseconds=int(match[2]))
        entries.append((when, match[3], match[4], match[5]))
    return entries


def cost_records(path: Path) -> list[dict[str, object]]:
    return [
        json.loads(message.split(COST_MARKER, 1)[1])
        for *_, message in parse_log(path)
        if message.startswith(COST_MARKER)
    ]


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """Content hash and modification time of every file under ``root``."""
    return {
        str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# --- generated data, without the server ---------------------------------------------------------------


def test_dataset_has_database_logs_config_and_assets(tmp_path: Path) -> None:
    paths = ensure_demo_data(tmp_path / "demo")
    assert paths == DemoPaths.under(tmp_path / "demo")
    conn = sqlite3.connect(paths.database, timeout=5)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        counts = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}
    finally:
        conn.close()
    assert all(20 <= n <= 60 for n in counts.values()), counts
    assert "API_KEY=demo-secret-key-123" in paths.env_file.read_text()
    assert "DB_PASSWORD=" in paths.env_file.read_text()
    assert json.loads(paths.settings.read_text())["database"] == "data/database.db"
    assets = [p.relative_to(paths.assets) for p in paths.assets.rglob("*") if p.is_file()]
    assert len(assets) >= 4
    assert any(len(a.parts) >= 3 for a in assets), "expected a file in a nested subfolder"
    assert not list(tmp_path.rglob("*.tmp")), "temporary files were left behind"


def test_app_log_is_recent_ordered_and_mildly_unhealthy(tmp_path: Path) -> None:
    now = datetime.now()
    paths = ensure_demo_data(tmp_path)
    entries = parse_log(paths.app_log)
    times = [when for when, *_ in entries]
    assert times == sorted(times)
    assert now - timedelta(minutes=5) <= times[-1] <= now + timedelta(seconds=1)
    requests_seen = [when for when, _, logger, _ in entries if logger == "app.request"]
    assert now - timedelta(hours=4) <= requests_seen[0] <= now - timedelta(hours=1)
    assert 1 <= sum(level == "ERROR" for _, level, *_ in entries[-100:]) <= 5
    assert not [m for _, level, _, m in entries if level != "ERROR" and "error" in m.lower()]
    error_log = parse_log(paths.error_log)
    assert {level for _, level, *_ in error_log} == {"WARNING", "ERROR"}
    assert [e for e in entries if e[1] == "ERROR"] == [e for e in error_log if e[1] == "ERROR"]


def test_cost_lines_cover_this_month_and_stay_under_budget(tmp_path: Path) -> None:
    now = datetime.now()
    records = cost_records(ensure_demo_data(tmp_path).app_log)
    stamps = [datetime.fromisoformat(str(r["timestamp"])) for r in records]
    assert all(r["model"] == "demo" and isinstance(r["cost"], float) for r in records)
    assert all((s.year, s.month) == (now.year, now.month) and s <= now for s in stamps)
    assert any(s.date() == now.date() for s in stamps)
    assert sum(float(str(r["cost"])) for r in records) < 2000


@settings(max_examples=60, deadline=None, database=None)
@given(st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2099, 12, 31)))
def test_log_invariants_hold_at_any_moment(now: datetime) -> None:
    """Month starts, midnight and leap days included: the checks' expectations hold whenever data is made."""
    logs = build_logs(now)
    times = [e.when for e in logs.app]
    assert times == sorted(times)
    assert now - timedelta(minutes=2) <= times[-1] <= now
    assert 1 <= sum(e.level == "ERROR" for e in logs.app[-100:]) <= 5
    costs = [json.loads(e.message.split(COST_MARKER, 1)[1]) for e in logs.app if e.logger == "app.cost"]
    days = {datetime.fromisoformat(c["timestamp"]).date() for c in costs}
    assert days == {now.date().replace(day=d) for d in range(1, now.day + 1)}
    assert sum(c["cost"] for c in costs) < 3000 * 2 / 3


def test_existing_files_are_reused_and_only_missing_ones_made(tmp_path: Path) -> None:
    paths = ensure_demo_data(tmp_path)
    before = snapshot(tmp_path)
    time.sleep(0.01)  # a rewrite would then show in the modification times
    ensure_demo_data(tmp_path, now=datetime.now() + timedelta(days=40))
    assert snapshot(tmp_path) == before
    paths.error_log.unlink()
    ensure_demo_data(tmp_path)
    after = snapshot(tmp_path)
    assert paths.error_log.exists()
    del before["logs/app_error.log"], after["logs/app_error.log"]
    assert after == before


def test_concurrent_first_starts_build_one_consistent_dataset(tmp_path: Path) -> None:
    barrier = threading.Barrier(4)

    def build(_: int) -> DemoPaths:
        barrier.wait(timeout=5)
        return ensure_demo_data(tmp_path)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(build, range(4)))
    assert len(set(results)) == 1
    conn = sqlite3.connect(results[0].database, timeout=5)
    try:
        assert conn.execute("SELECT COUNT(*) FROM design_patterns").fetchone()[0] == 24
    finally:
        conn.close()
    assert not list(tmp_path.rglob("*.tmp"))


def test_memory_cache_counts_hits_misses_expiry_and_eviction() -> None:
    clock = [0.0]
    cache = MemoryCache(max_entries=2, ttl_seconds=10, clock=lambda: clock[0])
    assert cache.get_or_load("a", lambda: 1) == 1
    assert cache.get_or_load("a", lambda: 2) == 1
    clock[0] = 11.0
    assert cache.get_or_load("a", lambda: 3) == 3
    cache.get_or_load("b", lambda: 0)
    cache.get_or_load("c", lambda: 0)
    stats = cache.stats()
    assert (stats["hits"], stats["misses"], stats["expired"], stats["evictions"]) == (1, 4, 1, 1)
    assert stats["memory_cache_size"] == 2
    assert stats["hit_rate_percent"] == 20.0


# --- the running server ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    with run_demo(tmp_path_factory.mktemp("demo")) as running:
        yield running


def test_health_counts_rows_of_its_database(demo: Demo) -> None:
    response = demo.get("/api/health")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert (body["status"], body["database"]) == ("healthy", "ok")
    assert datetime.fromisoformat(body["timestamp"])
    assert body["tables"] == {"design_assets": 36, "generated_presentations": 48, "design_patterns": 24}


def test_cache_stats_move_with_requests(demo: Demo) -> None:
    # Route lookups go through the cache: look /api/health up once, so the three below are hits whichever tests
    # (on whichever xdist worker) have used this module's demo before.
    demo.get("/api/health")
    first = demo.get("/api/cache/stats").json()
    for _ in range(3):
        demo.get("/api/health")
    second = demo.get("/api/cache/stats").json()
    assert isinstance(second["hit_rate_percent"], float)
    assert 0 <= second["hit_rate_percent"] <= 100
    assert isinstance(second["memory_cache_size"], int)
    assert second["memory_cache_size"] >= 1
    assert second["hits"] >= first["hits"] + 4
    assert second["hit_rate_percent"] > first["hit_rate_percent"]


def test_task_stats_count_background_jobs(demo: Demo) -> None:
    first = demo.get("/api/tasks/stats").json()
    demo.get("/api/health")
    second = demo.get("/api/tasks/stats").json()
    assert isinstance(second["queue_size"], int)
    assert second["queue_size"] >= 0
    assert second["total_tasks"] == first["total_tasks"] + 2
    assert second["worker_alive"] is True


def test_unknown_path_and_other_methods_answer_json(demo: Demo) -> None:
    missing = demo.get("/api/nope?x=1")
    assert missing.status_code == 404
    assert missing.json() == {"error": "not found", "path": "/api/nope"}
    posted = requests.post(demo.url + "/api/health", data=b"x", timeout=HTTP_TIMEOUT)
    assert posted.status_code == 405
    assert posted.headers["Allow"] == "GET, HEAD"


def test_head_sends_headers_of_get_without_body(demo: Demo) -> None:
    head = requests.head(demo.url + "/api/health", timeout=HTTP_TIMEOUT)
    get = demo.get("/api/health")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["Content-Type"] == "application/json"
    assert int(head.headers["Content-Length"]) == len(get.content)


def test_concurrent_requests_each_append_one_whole_log_line(demo: Demo) -> None:
    log = demo.data_dir / "logs" / "app.log"
    before = len(parse_log(log))
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda n: demo.get(f"/api/nope/{n}").status_code, range(48)))
    assert statuses == [404] * 48
    added = [message for *_, message in parse_log(log)[before:] if "/api/nope/" in message]
    assert len(added) == 48
    assert all(re.fullmatch(r"GET /api/nope/\d+ 404 \d+\.\dms", m) for m in added), added


def test_keep_alive_connection_is_reused(demo: Demo) -> None:
    with requests.Session() as session:
        for _ in range(20):
            assert demo.get("/api/health", session).status_code == 200
        adapter = session.get_adapter(demo.url)
        assert isinstance(adapter, requests.adapters.HTTPAdapter)
        pools = adapter.poolmanager.pools
        opened = sum(pools[key].num_connections for key in pools.keys())  # noqa: SIM118 (no __iter__)
        assert opened == 1, "requests did not reuse one keep-alive connection"


def test_accepted_connections_have_nagle_off(tmp_path: Path) -> None:
    """Without TCP_NODELAY each keep-alive response waits ~40 ms (Nagle + delayed ACK on the header/body split).

    Checked on the socket itself rather than by timing requests, which a busy machine slows down anyway.
    """
    server = DemoServer(("127.0.0.1", 0), ensure_demo_data(tmp_path))
    try:
        server.socket.settimeout(HTTP_TIMEOUT)
        with socket.create_connection(server.server_address[:2], timeout=HTTP_TIMEOUT):
            conn, _ = server.get_request()
            with conn:
                assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        server.server_close()


# --- separate processes: failures, signals, options --------------------------------------------------


def test_health_is_503_when_database_is_corrupt_or_gone(tmp_path: Path) -> None:
    with run_demo(tmp_path) as demo:
        database = tmp_path / "data" / "database.db"
        database.write_bytes(b"this is not a database\n" * 200)
        corrupt = demo.get("/api/health")
        assert corrupt.status_code == 503
        assert corrupt.json()["status"] == "unhealthy"
        assert "data/database.db" in corrupt.json()["reason"]
        assert "not a database" in corrupt.json()["reason"]
        database.unlink()
        gone = demo.get("/api/health")
        assert gone.status_code == 503
        assert gone.json()["status"] == "unhealthy"
        assert not database.exists(), "the health check must not create an empty database"
        assert demo.get("/api/cache/stats").status_code == 200
    assert any(
        level == "ERROR" and "database check failed" in m
        for _, level, _, m in parse_log(tmp_path / "logs" / "app_error.log")
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_promptly_with_exit_0_despite_open_connection(tmp_path: Path, sig: int) -> None:
    with run_demo(tmp_path) as demo, requests.Session() as session:
        assert demo.get("/api/health", session).status_code == 200  # leaves an idle keep-alive connection
        code, stderr, seconds = demo.stop(sig)
    assert code == 0
    assert seconds < HANG_S  # waiting for the idle connection would take its 60 s handler timeout
    assert stderr == "", "the demo logs to app.log, never to stderr"


def test_second_start_reuses_the_dataset(tmp_path: Path) -> None:
    with run_demo(tmp_path) as demo:
        assert demo.data_dir == tmp_path.resolve()
        assert demo.stop()[0] == 0
    before = snapshot(tmp_path)
    with run_demo(tmp_path) as demo:
        assert demo.stop()[0] == 0
    assert snapshot(tmp_path) == before


def test_delay_ms_delays_each_response_but_not_the_others(tmp_path: Path) -> None:
    with run_demo(tmp_path, "--delay-ms", "250") as demo:
        started = time.perf_counter()
        assert demo.get("/api/health").status_code == 200
        assert time.perf_counter() - started >= 0.25
        started = time.perf_counter()
        with ThreadPoolExecutor(20) as pool:
            assert set(pool.map(lambda _: demo.get("/nope").status_code, range(20))) == {404}
        # One at a time they need at least 20 x 0.25 = 5 s: anything less means some were delayed together, the
        # loosest bound that still proves it (no machine is too busy for it).
        assert time.perf_counter() - started < 20 * 0.25, "20 delayed requests did not run concurrently"


def test_threads_option_bounds_concurrent_handlers(tmp_path: Path) -> None:
    with run_demo(tmp_path, "--delay-ms", "100", "--threads", "2") as demo:
        started = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            assert set(pool.map(lambda _: demo.get("/api/tasks/stats").status_code, range(4))) == {200}
        assert time.perf_counter() - started >= 0.19, "4 requests on 2 threads need two rounds of 100 ms"


def test_bad_usage_and_busy_port_fail_with_one_line(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "pytest_aide.demo", "--data-dir", str(tmp_path), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=15)

    bad = run("--port", "70000")
    assert bad.returncode == 2
    assert "--port" in bad.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = run("--port", str(taken.getsockname()[1]))
    assert busy.returncode == 1
    assert busy.stderr.startswith("demo: cannot start on 127.0.0.1:")
    assert busy.stderr.count("\n") == 1


def test_the_demo_has_one_verified_backup_of_what_aide_toml_names(tmp_path: Path) -> None:
    from pytest_aide.backup import BackupManager, parse_backup_config
    from pytest_aide.demo.data import ensure_demo_data
    from pytest_aide.demo.nightly_backup import ensure_first_backup

    paths = ensure_demo_data(tmp_path / "demo")
    first = ensure_first_backup(paths)
    assert first is not None
    assert ensure_first_backup(paths) is None  # never a second one on restart
    config = parse_backup_config(
        {"dir": "backups", "components": [{"name": "database", "kind": "sqlite", "source": str(paths.database)}]},
        source="t",
        base_dir=paths.root,
    )
    newest = BackupManager(config).newest_verified()
    assert newest is not None
    assert newest.set_id == first.set_id
    assert [c.name for c in newest.components] == ["database", "assets", "config"]


# --- resilience: circuits, fallbacks to the last good answer, component statistics ---------------------


@contextmanager
def serving(server: DemoServer) -> Iterator[str]:
    """An in-process demo served from a thread; its URL."""
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(HANG_S)


def health(url: str) -> tuple[int, dict[str, Any]]:
    response = requests.get(url + "/api/health", timeout=HTTP_TIMEOUT)
    return response.status_code, response.json()


def until_healthy(url: str) -> dict[str, Any]:
    """Poll until the demo says healthy again (its circuits wait 1 s before a trial read); only a hang fails."""
    deadline = time.monotonic() + HANG_S
    while True:
        status, body = health(url)
        if body["status"] == "healthy" or time.monotonic() > deadline:
            assert (status, body["status"]) == (200, "healthy"), body
            return body
        time.sleep(0.1)


@pytest.fixture
def upstream() -> Iterator[UpstreamServer]:
    server = UpstreamServer(("127.0.0.1", 0)).start()
    yield server
    server.stop()


def test_a_cut_upstream_degrades_health_to_cached_data_and_recovery_heals_it(
    tmp_path: Path, upstream: UpstreamServer
) -> None:
    with FaultProxy("127.0.0.1", upstream.server_address[1]) as proxy:
        server = DemoServer(
            ("127.0.0.1", 0), ensure_demo_data(tmp_path), upstream_url=f"http://{proxy.address[0]}:{proxy.port}"
        )
        with serving(server) as url:
            assert health(url)[1]["upstream"] == "ok"
            proxy.blackhole()
            for _ in range(3):  # two timeouts open the circuit; the third read is served without waiting
                status, body = health(url)
                assert (status, body["status"], body["upstream"], body["database"]) == (200, "degraded", "cached", "ok")
            assert "upstream unavailable, serving its last good answer (" in body["reason"]
            assert body["circuits"] == {"database": "closed", "upstream": "open"}
            stats = requests.get(url + STATS_PATH, timeout=HTTP_TIMEOUT).json()
            assert stats["circuits"]["unhealthy"] == ["upstream"]
            assert stats["errors"]["by_category"] == {"upstream_timeout": {"total": 2, "auto_resolved": 0}}
            assert (stats["errors"]["total"], stats["errors"]["unresolved"]) == (2, 2)
            assert stats["fallback"] == {"needed": 3, "served": 3, "success_rate": 1.0}
            proxy.pass_through()
            assert until_healthy(url)["upstream"] == "ok"
            stats = requests.get(url + STATS_PATH, timeout=HTTP_TIMEOUT).json()
    assert stats["errors"]["by_component"]["upstream"] == {"total": 2, "auto_resolved": 2}
    assert stats["errors"]["unresolved"] == 0
    assert stats["circuits"]["unhealthy"] == []
    changes = [(c["from"], c["to"]) for c in stats["circuits"]["details"]["upstream"]["state_changes"]]
    assert changes == [("closed", "open"), ("open", "half-open"), ("half-open", "closed")]


def test_without_fallback_a_cut_upstream_leaves_health_unhealthy(tmp_path: Path, upstream: UpstreamServer) -> None:
    with FaultProxy("127.0.0.1", upstream.server_address[1]) as proxy:
        server = DemoServer(
            ("127.0.0.1", 0), ensure_demo_data(tmp_path), upstream_url=f"http://127.0.0.1:{proxy.port}", fallback=False
        )
        with serving(server) as url:
            assert health(url)[1]["status"] == "healthy"
            proxy.refuse()
            status, body = health(url)
            stats = requests.get(url + STATS_PATH, timeout=HTTP_TIMEOUT).json()
    assert (status, body["status"], body["upstream"]) == (503, "unhealthy", "error")
    assert "ConnectionRefusedError" in body["reason"]
    assert stats["fallback_enabled"] is False
    assert stats["fallback"] == {"needed": 1, "served": 0, "success_rate": 0.0}  # nothing could save the call
    assert stats["retry"] == {"calls": 2, "retried": 1, "recovered": 0, "success_rate": 0.0}  # refused: tried twice
    assert stats["errors"]["by_category"] == {"upstream_connection": {"total": 1, "auto_resolved": 0}}


def test_an_unavailable_database_file_serves_the_cached_counts_then_recovers(tmp_path: Path) -> None:
    paths = ensure_demo_data(tmp_path)
    aside = paths.database.with_name("aside.db")
    with serving(DemoServer(("127.0.0.1", 0), paths)) as url:
        tables = health(url)[1]["tables"]
        paths.database.rename(aside)
        status, body = health(url)
        assert (status, body["status"], body["database"], body["tables"]) == (200, "degraded", "cached", tables)
        assert "cannot read data/database.db: OperationalError: unable to open database file" in body["reason"]
        assert not paths.database.exists(), "the demo must not create an empty database"
        aside.rename(paths.database)
        assert until_healthy(url)["tables"] == tables
        stats = requests.get(url + STATS_PATH, timeout=HTTP_TIMEOUT).json()
    assert stats["errors"]["by_category"]["database_unavailable"]["total"] >= 1
    assert stats["errors"]["unresolved"] == 0
    assert "upstream" not in stats["circuits"]["states"]  # no upstream_url: no such dependency


def test_a_read_that_works_on_its_retry_counts_as_a_recovered_retry() -> None:
    deps = Dependencies()
    tries = iter([UpstreamError("connection", "reset"), {"templates": []}])

    def read() -> Any:
        step = next(tries)
        if isinstance(step, Exception):
            raise step from ConnectionResetError()
        return step

    guarded = deps.guard(
        "upstream",
        read,
        retry=RetryPolicy(attempts=2, initial_wait=0, jitter=0),
        retry_if=lambda exc: isinstance(exc.__cause__, ConnectionResetError),
    )
    reading = guarded.read()
    assert (reading.value, reading.source, reading.error) == ({"templates": []}, "live", None)
    assert deps.stats()["retry"] == {"calls": 1, "retried": 1, "recovered": 1, "success_rate": 1.0}
    assert deps.stats()["errors"]["total"] == 0  # the call worked: no error to count


def test_error_stats_resolve_a_components_open_errors_only() -> None:
    errors = ErrorStats()
    errors.record("upstream", "upstream_timeout")
    errors.record("upstream", "upstream_connection")
    errors.record("database", "database_unavailable")
    assert errors.resolve("upstream") == 2
    assert errors.resolve("upstream") == 0
    stats = errors.stats()
    assert (stats["total"], stats["auto_resolved"], stats["unresolved"]) == (3, 2, 1)
    assert stats["by_component"] == {
        "database": {"total": 1, "auto_resolved": 0},
        "upstream": {"total": 2, "auto_resolved": 2},
    }


def test_the_command_line_starts_the_upstream_and_takes_the_broken_mode_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_aide.demo.__main__ import NO_FALLBACK_ENV, build_parser

    assert build_parser().parse_args([]).no_fallback is False
    monkeypatch.setenv(NO_FALLBACK_ENV, "1")
    assert build_parser().parse_args([]).no_fallback is True
    monkeypatch.delenv(NO_FALLBACK_ENV)
    with run_demo(tmp_path) as demo:
        assert demo.proc.stdout is not None
        second = demo.proc.stdout.readline().strip()
        match = re.fullmatch(r"demo upstream on (http://127\.0\.0\.1:(\d+)), called at (\S+)", second)
        assert match, second
        assert match[1] == match[3]
        assert fetch_catalogue(match[1], HTTP_TIMEOUT)["templates"]
        assert demo.get("/api/health").json()["upstream"] == "ok"
