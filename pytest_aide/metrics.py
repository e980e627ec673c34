"""The shipped metric catalogue: default thresholds and the recommended action for each metric.

Figures are those of the two operations manuals behind the project (see SEEDS.md); ``[thresholds.<metric>]``
in the configuration overrides them. The action is what an operator is told to do when the metric alerts.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricSpec:
    """Defaults for one named measurement."""

    unit: str
    warning: str | None
    critical: str | None
    action: str


DEFAULT_METRICS: dict[str, MetricSpec] = {
    "response_time_s": MetricSpec("s", "1", "3", "check the app's rate limits, upstream calls and the network"),
    "throughput_ops": MetricSpec("ops/s", "100:", "50:", "look for a bottleneck (run the weekly benchmark)"),
    "error_rate_percent": MetricSpec("%", "1", "5", "read the error log and fix the failing component"),
    "cpu_percent": MetricSpec("%", "70", "85", "stop needless processes or add CPU"),
    "load_per_cpu": MetricSpec("", "2", "4", "find the busy processes; add capacity if the load persists"),
    "memory_percent": MetricSpec("%", "80", "90", "clear caches or restart the app"),
    "swap_percent": MetricSpec("%", "50", "80", "find the process that swaps; add memory"),
    "disk_percent": MetricSpec("%", "80", "90", "free disk space: rotate logs, prune old backups"),
    "free_disk_gb": MetricSpec("GB", None, "1:", "free disk space before starting the app (needs > 1 GB)"),
    "log_errors": MetricSpec("lines", "10", None, "read the recent ERROR lines of the log and fix their cause"),
    "log_size_mb": MetricSpec("MB", "100", None, "rotate the log file"),
    "log_age_minutes": MetricSpec("min", None, None, "check that the app is running and still logging"),
    "monthly_cost_jpy": MetricSpec("JPY", "3000", "5000", "review API usage; lower call volume or the model tier"),
    "db_query_s": MetricSpec("s", "1", None, "the database is slow: consider VACUUM / ANALYZE and check indexes"),
    "db_ping_s": MetricSpec("s", "1", "3", "check the database server's load and the network path to it"),
    "cache_hit_rate_percent": MetricSpec("%", None, None, "check cache sizing and expiry"),
    "cache_ping_s": MetricSpec("s", "0.5", "2", "check the cache server's load and the network path to it"),
    "task_queue_size": MetricSpec("tasks", None, None, "check that the background workers are running"),
    "tls_days_left": MetricSpec("days", "14:", "7:", "renew the TLS certificate"),
    "backup_age_hours": MetricSpec("h", None, "26", "take a backup now (`aide backup`) and check the backup job"),
    "health_score": MetricSpec("", "90:", "40:", "see the failing checks of the run"),
    "trend_cpu_percent": MetricSpec("%", "80", None, "stop needless processes or add CPU"),
    "trend_memory_percent": MetricSpec("%", "85", None, "clear caches or restart the app"),
    "trend_api_s": MetricSpec("s", "5", None, "check the app's rate limits, upstream calls and the network"),
    "trend_db_query_s": MetricSpec("s", "1", None, "the database is slow: consider VACUUM / ANALYZE"),
}
