"""The layering rule of DESIGN.md: domain modules and the ``aide`` command load without pytest or xdist.

One fresh interpreter imports them in turn and names the first that pulled a test framework in.
"""

from __future__ import annotations

import json
import subprocess
import sys

DOMAIN_MODULES = (
    # health model
    "health",
    "thresholds",
    "ranges",
    "status",
    "scoring",
    "results",
    "summary",
    "metrics",
    "trends",
    "forecast",
    "benchmarks",
    "percentiles",
    "evidence",
    "resilience_summary",
    "health_html_resilience",
    # configuration and secrets
    "config",
    "settings",
    "options",
    "errors",
    "redact",
    "discovery",
    # archive
    "runs",
    "archive_index",
    "charts",
    "runshare",
    "history",
    "schedules",
    "durations",
    # process
    "collected",
    # probes, backup, process
    "probes",
    "probes.http",
    "probes.database",
    "probes.cache",
    "probes.resources",
    "probes.endpoints",
    "probes.tls",
    "probes.logs",
    "probes.load",
    "process",
    "backup",
    # resilience helpers
    "resilience",
    "resilience.clock",
    "resilience.retry",
    "resilience.breaker",
    "resilience.registry",
    "resilience.statistics",
    "resilience.fallback",
    # fault injection (drills)
    "faults",
    "faults.proxy",
    "faults.processes",
    "faults.files",
    "faults.experiment",
    "dependencies",
    "rootcause",
    "deadline",
    # alert rules, their state, notifiers
    "alerts",
    "alerts.rules",
    "alerts.state",
    "alerts.store",
    "alerts.engine",
    "alerts.notify",
    "alerts.webhook",
    # the aide command
    "cli",
    "cli_ops",
    "cli_history",
    "diagnostics",
)

PROBE = """
import importlib, json, sys
FRAMEWORKS = ("pytest", "_pytest", "xdist")
for name in json.loads(sys.argv[1]):
    importlib.import_module("pytest_aide." + name)
    pulled = sorted({m.split(".")[0] for m in sys.modules} & set(FRAMEWORKS))
    if pulled:
        print(json.dumps([name, pulled]))
        break
else:
    print(json.dumps(None))
"""


def test_domain_modules_import_without_pytest_or_xdist() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(DOMAIN_MODULES)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) is None, f"imported a test framework (module, frameworks): {done.stdout}"
