"""The commented starter ``aide.toml`` that ``aide init`` writes for an operator's own system.

Every table of the configuration is present and says what it does. A key the operator gave a value for on
the command line is written as a setting; every other key is written commented out (``# key = example``),
so the file is valid as written and each example becomes a setting by removing its ``# ``. Values are
rendered as TOML basic strings through :func:`json.dumps`, whose escapes are a subset of TOML's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

Value = str | int | Sequence[str] | Sequence[int]


@dataclass(frozen=True)
class StarterOptions:
    """What ``aide init`` was told about the system; empty means "write the commented example"."""

    app_url: str | None = None
    health_path: str | None = None
    db_url: str | None = None
    db_url_env: str | None = None
    tables: Sequence[str] = ()
    cache_url: str | None = None
    cache_url_env: str | None = None
    disk_paths: Sequence[str] = ()
    log_files: Sequence[str] = ()
    processes: Sequence[str] = ()
    ports: Sequence[int] = ()
    pidfiles: Sequence[str] = ()
    config_files: Sequence[str] = ()
    python: str | None = None


def toml_value(value: Value) -> str:
    """``value`` as TOML: a basic string, an integer, or an inline array of them."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")  # TOML also escapes DEL
    if isinstance(value, int):
        return str(value)
    return "[" + ", ".join(toml_value(item) for item in value) + "]"


def _key(key: str, value: Value | None, example: str, note: str = "") -> str:
    """A setting when ``value`` is given (callers pass None for an empty list), else the commented ``example``
    (TOML text as written)."""
    line = f"{key} = {toml_value(value)}" if value is not None else f"# {key} = {example}"
    return f"{line.ljust(50)}  # {note}" if note else line


def render(options: StarterOptions, *, version: str) -> str:
    """The whole starter file for ``options`` (pytest-aide ``version`` named in its first line)."""
    o = options
    lines = [
        f"# pytest-aide configuration of this system, written by `aide init` (pytest-aide {version}).",
        "#",
        "# Run the health checks from this folder:  pytest -m daily    (from cron or systemd: aide check daily)",
        "# Every table is optional: the checks of a part left unconfigured are skipped, each with its reason.",
        "# A mistake (unknown key, wrong type, bad range) stops the run with one line naming it (exit 4).",
        "# Relative paths are taken from this file's folder. A line `# key = value` is an example or the",
        "# default: remove the `# ` to use it. Keep secrets out of this file: AIDE_APP_URL, AIDE_DB_URL and",
        "# AIDE_CACHE_URL in the run's environment override the url keys below.",
        "",
        "# The web application (nginx in front of gunicorn, for example): GET url + health_path must answer",
        "# 200 within the timeout with a health document (an HTML page fails; a JSON status or state word",
        "# decides; an empty or plain-text body passes), and its response time is measured.",
        "[app]",
        _key("url", o.app_url, '"https://app.example.com"', "or AIDE_APP_URL"),
        _key("health_path", o.health_path, '"/api/health"', "default /api/health"),
        _key("timeout", None, "5.0", "seconds to wait for the answer"),
        _key("verify_tls", None, "true", "false, or the CA bundle of a private CA"),
        _key("headers_env", None, '{ Authorization = "APP_HEALTH_TOKEN" }', "header value read from that variable"),
        _key("health_conditions", None, '["database.ok == true"]', "replace the health-document rule"),
        _key("cache_stats_path", None, '"/api/cache/stats"', "app-specific JSON statistics: checked only"),
        _key("tasks_stats_path", None, '"/api/tasks/stats"', "when set (see the README)"),
        _key("component_stats_path", None, '"/api/components/stats"', "errors, circuits, retry/fallback rates"),
        "",
        "# The application database, probed read-only: connection and query time, row counts of the key",
        "# tables, size. postgresql:// needs pytest-aide[postgres], mysql:// pytest-aide[mysql]. Keep a URL with",
        "# a password out of this file: url_env names the variable holding it (or set AIDE_DB_URL); without",
        "# one, libpq reads ~/.pgpass. Use a monitoring role with CONNECT on the database and SELECT on the key",
        "# tables: a superuser or a FILE/SUPER account is refused (see the README's Database roles).",
        "[db]",
        _key("url", o.db_url, '"postgresql://aide_monitor@127.0.0.1:5432/app"', "or AIDE_DB_URL"),
        _key("url_env", o.db_url_env, '"APP_DB_URL"', "or: the environment variable holding the URL"),
        _key("tables", o.tables or None, '["users", "orders"]', "key tables whose rows are counted"),
        _key("timeout", None, "5.0", "seconds"),
        "",
        "# Redis, read-only: PING latency, memory used, keys, hit rate (needs pytest-aide[redis]).",
        "[cache]",
        _key("url", o.cache_url, '"redis://127.0.0.1:6379/0"', "or AIDE_CACHE_URL (password there)"),
        _key("url_env", o.cache_url_env, '"APP_REDIS_URL"', "or: the environment variable holding the URL"),
        "",
        "# The host and the app's processes. Disk use and free space are checked for the file system holding",
        "# each of disk_paths (default: this file's folder). Processes are found by name, by the TCP port they",
        "# listen on, or by pid file: one check each. Seeing the owner of another user's port needs root.",
        "[resources]",
        _key("disk_paths", o.disk_paths or None, '["/", "/var/lib/postgresql"]'),
        _key("processes", o.processes or None, '["nginx", "gunicorn"]', "process or script name"),
        _key("ports", o.ports or None, "[80, 443]", "a process must listen on each"),
        _key("pidfiles", o.pidfiles or None, '["/run/nginx.pid"]', "the process of each must run"),
        "",
        "# TLS certificates on their own ports, apart from [app] url (LDAPS, SMTPS, a second site): days left",
        "# until the first certificate of the presented chain expires. host:port, or a table with server_name",
        "# (SNI), ca_bundle (a private CA) and thresholds of its own.",
        "[tls]",
        _key("hosts", None, '["ldap.example.com:636", { host = "10.0.0.5", server_name = "api.example.com" }]'),
        "",
        "# Log files, read from their end (never whole): size, error entries in the last tail_lines and in the",
        "# last error_window_minutes, new ones since the previous run (across rotation). Each file's format is",
        "# detected (nginx, apache, gunicorn, uvicorn, postgresql, redis, syslog, access logs, JSON lines,",
        "# Python logging) and counts what that software's operator counts as an error; a table entry",
        "# { path, format, pattern, timestamp_format, tail_lines, encoding, thresholds } sets them per file.",
        "[logs]",
        _key(
            "files",
            o.log_files or None,
            '["/var/log/gunicorn/error.log", { path = "/var/log/nginx/error.log", format = "nginx" }]',
        ),
        _key("tail_lines", None, "100"),
        _key("error_pattern", None, "'\\bERROR\\b'", "overrides each format's own rule"),
        _key("timestamp_format", None, '"%Y-%m-%d %H:%M:%S"', "overrides each format's own timestamps"),
        _key("error_window_minutes", None, "60"),
        _key("cost_files", None, "[]", "API_COST {json} lines summed (default: files)"),
        "",
        "# Start-up items: configuration files that must exist and not be empty (their KEY=value values are",
        "# masked as secrets in every report: list the app's .env here), and the weekly `pip check` run with",
        "# the app's own interpreter.",
        "[preflight]",
        _key("config_files", o.config_files or None, '["/srv/app/.env"]'),
        _key("python", o.python, '"/srv/app/venv/bin/python"', "default: the one running pytest"),
        _key("pip_check", None, "true"),
        "",
        "# Where each run's report.html, junit.xml and health.json are archived, and for how long.",
        "[reports]",
        _key("dir", None, '"reports"'),
        _key("keep_days", None, "90", "default: keep every run"),
        _key("keep_runs", None, "500", "default: keep every run"),
        "",
        "# The run history (reports/history.sqlite3): trends, forecasts and `aide overdue` read it.",
        "[history]",
        _key("keep_days", None, "400", "default: keep every row (never less than [reports] keep_days)"),
        _key("grace", None, '"1h"', "a schedule is overdue after its interval plus this"),
        _key("intervals", None, '{ hourly = "1h" }', "besides daily 24h, weekly 7d, monthly 31d"),
        "",
        "# Capacity forecast: days until these metrics reach their limit (100 % for a used share), from the",
        "# history; its levels are [thresholds.forecast_days] (warning below 30 days, critical below 7).",
        "[forecast]",
        _key("metrics", None, '["disk_percent"]'),
        _key("min_points", None, "5", "complete runs a forecast needs"),
        "",
        "# When a run exits 1: a CRITICAL or UNKNOWN check (default), also a WARNING, or a low score.",
        "[gate]",
        _key("fail_on", None, '"critical"', 'or "warning"'),
        _key("fail_under", None, "70", "score from 0 to 100"),
        "",
        "# The shipped checks run beside your own check_*.py files in this folder. Switch some off by check",
        "# or file name; to replace one, exclude it and write your own check with the same purpose.",
        "[suite]",
        _key("enabled", None, "true"),
        _key("exclude", None, '["check_cpu", "check_tls.py"]'),
        "",
        "# Essential shipped checks: when one is CRITICAL or UNKNOWN the verdict is CRITICAL (emergency). The",
        "# app's health check and the database reachability check are essential already.",
        "[checks]",
        _key("essential", None, '["check_cache_server"]'),
        "",
        "# Probes performed at once (the [[endpoints]] below).",
        "[run]",
        _key("concurrency", None, "64"),
        "",
        "# What a benchmark that fails --benchmark-compare-fail makes of its check (README: Benchmarks and load).",
        "[benchmark]",
        _key("regression", None, '"critical"', 'or "warning"'),
        "",
        "# The weekly load probe of one app path: opt-in, as it loads the target (skipped without this table).",
        "# Measured throughput is at most concurrency / latency: fit [thresholds.load_throughput_ops] to it.",
        "# [load]",
        _key("path", None, '"/api/health"'),
        _key("concurrency", None, "8", "requests at a time"),
        _key("requests", None, "200", "in all"),
        _key("deadline", None, "60", "seconds: no request starts after it"),
        _key("timeout", None, "5", "seconds per request (default: [app] timeout)"),
        "",
        "# Defaults of aide_retry and aide_breakers, for your own checks (README: Resilience helpers).",
        "# [resilience.retry]",
        _key("attempts", None, "3"),
        _key("deadline", None, "30.0", "seconds from the first try; none starts later"),
        _key("initial_wait", None, "0.5", "then doubling, plus up to jitter s, at most max_wait"),
        "# [resilience.breakers]",
        _key("failure_threshold", None, "5", "consecutive failures that open a circuit"),
        _key("recovery_timeout", None, "30.0", "seconds before a trial call"),
        "# Every check: extra tries when it fails (a pass after one is WARNING 'flaky') and the time its body",
        "# may run before it is UNKNOWN 'timed out' (README: Flaky checks and deadlines).",
        "# [resilience.checks]",
        _key("retries", None, "0"),
        _key("timeout", None, "60.0", "seconds; 0: no limit"),
        _key("timeouts", None, "{ check_backup_restore_drill = 7200 }", "per check, over its own"),
        "",
        "# Fault drills, opt-in (pytest -m drill; no schedule runs them): they cut the app's upstream, hide its",
        "# database file and kill its process, only against a target this run starts ([app] command) unless",
        "# allow_unstarted_target says otherwise, which risks an outage of a live system (README: Drills).",
        "# [drills]",
        _key("upstream", None, '"127.0.0.1:5001"', "the app's TCP dependency; the drills' proxy fronts it"),
        _key("upstream_proxy_port", None, "5002", "where the app is configured to call it"),
        _key("restart_target", None, "false", "start [app] command again after the kill drill"),
        _key("allow_unstarted_target", None, "false", "true: drill a target this run did not start"),
        "",
        "# More HTTP endpoints of the app, one check each, all probed at once: status, JSON conditions, time.",
        "# [[endpoints]]",
        '# name = "login-page"',
        '# path = "/login"',
        "# expect_status = 200",
        '# conditions = ["status == healthy"]                 # for JSON answers',
        "",
        "# Your own metrics, recorded by your checks (aide_health.record): unit, the action shown when one",
        "# alerts, default levels. Thresholds for a metric neither shipped nor declared are a mistake.",
        "# [metrics.invoice_queue]",
        '# unit = "invoices"',
        '# action = "look at the billing worker and its log"',
        '# warning = "100"',
        "",
        '# Thresholds of a metric, in Nagios range syntax: "2" alerts above 2, "10:" below 10. Setting one',
        "# level keeps the shipped other one; false removes a level. Metrics: the README's Thresholds table.",
        "# [thresholds.response_time_s]",
        '# warning = "0.5"',
        '# critical = "2"',
        "",
        "# Alert rules, judged at the end of each run (README: Alert rules): the run's health_score or verdict,",
        "# a check's status or a measurement; notified through webhooks (Slack-compatible JSON) once per cooldown.",
        "# [alerts.rules.low_health_score]",
        '# metric = "health_score"',
        '# condition = "< 50"',
        '# severity = "critical"',
        "# cooldown_minutes = 2",
        "# [alerts.webhooks.ops]",
        '# url_env = "AIDE_ALERT_WEBHOOK"                   # the URL holds a token: keep it out of this file',
        "",
        "# Backups taken by `aide backup` (from cron), checked daily for freshness and verification and",
        "# weekly by a restore drill into scratch space (pg_dump and pg_restore must be installed).",
        "# [backup]",
        '# dir = "/var/backups/aide"',
        "# max_age_hours = 26",
        "# [[backup.components]]",
        '# name = "database"',
        '# kind = "postgresql"',
        '# url_env = "AIDE_DB_URL"',
        "# [[backup.components]]",
        '# name = "config"',
        '# kind = "folder"',
        '# source = "/srv/app/config"',
    ]
    return "\n".join(lines) + "\n"
