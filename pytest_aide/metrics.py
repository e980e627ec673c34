"""The shipped metric catalogue: unit, default thresholds and the recommended action for each metric.

Figures are those of the two operations manuals behind the project (see SEEDS.md); ``[thresholds.<metric>]``
in the configuration changes them level by level, and ``[metrics.<name>]`` declares an operator's own metric.
The action is what an operator is told to do when the metric alerts. Every name the shipped suite records is
listed (a test scans ``pytest_aide/suite``), so a threshold for a misspelt name can be refused with the nearest
known one. Metrics without a default threshold are recorded for the report and the trends; an operator gives
them thresholds when the figures matter on their system.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class MetricSpec:
    """Defaults for one named measurement."""

    unit: str
    warning: str | None
    critical: str | None
    action: str


_DISK = "free disk space: rotate logs, prune old backups"
_LOGS = "read the log's recent error entries (attached) and fix their cause"
_PROCESS = "compare with the process's usual figures; restart it if it leaks"
_COMPONENTS = "read the app's error statistics by category and component"
_SLOW_BENCHMARK = "compare with the saved benchmark runs (pytest-benchmark compare); profile the slow path"
_LOAD = "the app is slow under load: check its workers, pool sizes and upstream calls"
_NETWORK = "compare with the usual traffic; look for a runaway client or a transfer"

DEFAULT_METRICS: dict[str, MetricSpec] = {
    # the app and its endpoints
    "response_time_s": MetricSpec("s", "1", "3", "check the app's rate limits, upstream calls and the network"),
    "health_status": MetricSpec("", None, None, "read the app's health document: it names the part that is degraded"),
    "throughput_ops": MetricSpec("ops/s", "100:", "50:", "look for a bottleneck (run the weekly benchmark)"),
    "error_rate_percent": MetricSpec("%", "1", "5", "read the error log and fix the failing component"),
    # a check's pytest-benchmark statistics (judged like a response time and a throughput: the seeds' figures)
    "benchmark_mean_s": MetricSpec("s", "1", "3", _SLOW_BENCHMARK),
    "benchmark_p95_s": MetricSpec("s", "1", "3", _SLOW_BENCHMARK),
    "benchmark_ops": MetricSpec("ops/s", "100:", "50:", _SLOW_BENCHMARK),
    # the load probe ([load]): latency percentiles, throughput and error rate at the configured concurrency
    "load_p50_s": MetricSpec("s", "1", "3", _LOAD),
    "load_p95_s": MetricSpec("s", "1", "3", _LOAD),
    "load_p99_s": MetricSpec("s", "1", "3", _LOAD),
    # measured throughput is at most concurrency / latency: fit these to [load] concurrency (README)
    "load_throughput_ops": MetricSpec("ops/s", "100:", "50:", _LOAD),
    "load_error_rate_percent": MetricSpec("%", "1", "5", "read the app's error log for the failed requests"),
    # the host
    "cpu_percent": MetricSpec("%", "70", "85", "stop needless processes or add CPU"),
    "load_per_cpu": MetricSpec("", "2", "4", "find the busy processes; add capacity if the load persists"),
    "memory_percent": MetricSpec("%", "80", "90", "clear caches or restart the app"),
    "memory_available_gb": MetricSpec("GB", None, None, "clear caches or restart the app"),
    "swap_percent": MetricSpec("%", "50", "80", "find the process that swaps; add memory"),
    "disk_percent": MetricSpec("%", "80", "90", _DISK),
    "free_disk_percent": MetricSpec("%", None, "5:", _DISK),  # free space scales with the volume: any size fits
    "free_disk_gb": MetricSpec("GB", None, None, "free disk space before starting the app (needs > 1 GB)"),
    "network_bytes_sent_per_s": MetricSpec("B/s", None, None, _NETWORK),
    "network_bytes_recv_per_s": MetricSpec("B/s", None, None, _NETWORK),
    "network_bytes_sent_total": MetricSpec("B", None, None, _NETWORK),
    "network_bytes_recv_total": MetricSpec("B", None, None, _NETWORK),
    # the target's processes
    "processes": MetricSpec("processes", None, None, "start the missing processes, or stop the extra ones"),
    "rss_mb": MetricSpec("MB", None, None, _PROCESS),
    "threads": MetricSpec("threads", None, None, _PROCESS),
    "open_files": MetricSpec("files", None, None, "look for leaked file handles; raise the open-files limit"),
    "unseen_listeners": MetricSpec("sockets", None, None, "run as root (or the service's user) to see its process"),
    # logs
    "log_errors": MetricSpec("entries", "10", None, _LOGS),
    "log_error_share_percent": MetricSpec("%", None, None, _LOGS),
    "log_errors_last_window": MetricSpec("entries", None, None, _LOGS),
    # the seeds' "at most 10 error lines in the last 100", read per run: more than 10 new error entries warn
    "new_log_errors": MetricSpec("entries", "10", None, _LOGS),
    "new_log_lines": MetricSpec("lines", None, None, "check that the app is running and still logging"),
    "log_size_mb": MetricSpec("MB", "100", None, "rotate the log file"),
    "log_age_minutes": MetricSpec("min", None, None, "check that the app is running and still logging"),
    # API costs
    "monthly_cost_jpy": MetricSpec("JPY", "3000", "5000", "review API usage; lower call volume or the model tier"),
    "daily_cost_jpy": MetricSpec("JPY", None, None, "review API usage; lower call volume or the model tier"),
    "cost_bad_lines": MetricSpec("lines", None, None, "fix the app's cost log lines (JSON with the cost field)"),
    # database
    "db_query_s": MetricSpec("s", "1", None, "the database is slow: consider VACUUM / ANALYZE and check indexes"),
    "db_ping_s": MetricSpec("s", "1", "3", "check the database server's load and the network path to it"),
    "db_connections": MetricSpec("connections", None, None, "look for connection leaks; size the app's pool"),
    # superuser, pg_*_server_* member, FILE/SUPER/ALL: a read-only transaction does not contain them (always warns)
    "db_role_privileges": MetricSpec("privileges", "0", None, "connect as a monitoring role (the message names it)"),
    "db_size_mb": MetricSpec("MB", None, None, "archive or delete old rows; plan disk for the growth"),
    "rows": MetricSpec("rows", None, None, "compare with the table's usual size; look for lost or runaway writes"),
    # cache and background tasks
    "cache_hit_rate_percent": MetricSpec("%", None, None, "check cache sizing and expiry"),
    "cache_ping_s": MetricSpec("s", "0.5", "2", "check the cache server's load and the network path to it"),
    "cache_memory_mb": MetricSpec("MB", None, None, "check cache sizing, expiry and the eviction policy"),
    "cache_keys": MetricSpec("keys", None, None, "check cache expiry; look for keys written without a TTL"),
    "cache_entries": MetricSpec("entries", None, None, "check cache sizing and expiry"),
    # the app's own component statistics ([app] component_stats_path; the AIDE guide's component health)
    "component_errors": MetricSpec("errors", None, None, _COMPONENTS),
    "component_errors_auto_resolved": MetricSpec("errors", None, None, _COMPONENTS),
    "component_errors_unresolved": MetricSpec(
        "errors", "0", None, "a component of the app keeps failing: read its errors by category and fix the cause"
    ),
    "open_circuits": MetricSpec(
        "circuits", "0", None, "a dependency of the app is failing: fix it (its circuit closes by itself), then reset"
    ),
    "retry_success_rate_percent": MetricSpec(
        "%", "90:", "50:", "retries rarely save a call: the dependency is down rather than flaky; fix it"
    ),
    "fallback_success_rate_percent": MetricSpec(
        "%", "90:", "50:", "the fallbacks fail too (no cached data?): the app cannot degrade gracefully; fix them"
    ),
    "task_queue_size": MetricSpec("tasks", None, None, "check that the background workers are running"),
    "tasks_total": MetricSpec("tasks", None, None, "check that the background workers are running"),
    # pre-flight, TLS, backups
    "config_file_bytes": MetricSpec("B", None, None, "restore the configuration file from the deploy or a backup"),
    "tls_days_left": MetricSpec("days", "14:", "7:", "renew the TLS certificate"),
    "backup_age_hours": MetricSpec("h", None, "26", "take a backup now (`aide backup`) and check the backup job"),
    "backup_size_pct_of_median": MetricSpec(
        "%",
        None,
        "50:",
        "the newest backup is far smaller than usual: check what it left out and whether data vanished",
    ),
    "backup_duration_pct_of_median": MetricSpec(
        "%", "300", None, "the newest backup took far longer than usual: check the disk and the database's load"
    ),
    "restore_drill_s": MetricSpec(
        "s",
        "1800",
        "3600",
        "restoring takes longer than the recovery-time objective: plan for it (faster disk, smaller sets)",
    ),
    # the run and its trends (mean of the last 10 archived runs)
    "health_score": MetricSpec("", "90:", "40:", "see the failing checks of the run"),
    "trend_cpu_percent": MetricSpec("%", "80", None, "stop needless processes or add CPU"),
    "trend_memory_percent": MetricSpec("%", "85", None, "clear caches or restart the app"),
    "trend_api_s": MetricSpec("s", "5", None, "check the app's rate limits, upstream calls and the network"),
    "trend_db_query_s": MetricSpec("s", "1", None, "the database is slow: consider VACUUM / ANALYZE"),
    # capacity forecast: days until a growing metric reaches its limit (100 % for a used share)
    "forecast_days": MetricSpec("days", "30:", "7:", "plan capacity now: free space, archive data or grow the volume"),
}


def nearest(name: str, known: Iterable[str]) -> str | None:
    """The known metric name closest to ``name`` (a likely typo), or None when none is close."""
    found = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return found[0] if found else None


def unknown_metric(name: str, known: Iterable[str]) -> str:
    """Why ``name`` is refused, with the nearest known name and how to declare a metric of one's own."""
    guess = nearest(name, known)
    hint = f"did you mean {guess!r}? " if guess else ""
    return f"unknown metric {name!r}: neither shipped nor declared ({hint}declare your own in [metrics.{name}])"
