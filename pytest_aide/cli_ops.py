"""``aide start | stop | status | diagnose``: the target's lifecycle and the emergency snapshot.

Start and stop follow the operations manual: start the app in the background and keep its PID in a file;
stop with SIGTERM, wait (``[app] stop_grace``, 30 s by default), then SIGKILL, and remove the PID file. Only
a process ``aide start`` started is ever signalled.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pytest_aide.config import AideConfig
from pytest_aide.errors import ConfigError


def add_commands(sub: Any) -> None:
    """Register the commands on the ``aide`` parser's subparsers."""
    sub.add_parser("start", help="start the target ([app] command) unless something answers").set_defaults(run=start)
    sub.add_parser("stop", help="stop the target started by `aide start` (SIGTERM, grace, SIGKILL)").set_defaults(
        run=stop
    )
    sub.add_parser("status", help="does the target answer its health path? (exit 1 when not)").set_defaults(run=status)
    sub.add_parser(
        "diagnose", help="write an emergency diagnostics snapshot (JSON) into the reports folder"
    ).set_defaults(run=diagnose)


def start(config: AideConfig, args: argparse.Namespace) -> int:
    from pytest_aide.target import start_configured

    app = config.settings.app
    pidfile = config.path(app.pidfile)
    result = start_configured(config, pidfile=pidfile, output_path=config.path(app.output))
    if result.started:
        print(f"started pid {result.pid}, answering at {result.health_url} (pid in {pidfile})")
    else:
        print(f"already answering at {result.health_url}: nothing started")
    return 0


def stop(config: AideConfig, args: argparse.Namespace) -> int:
    from pytest_aide.process import stop_started

    pidfile = config.path(config.settings.app.pidfile)
    result = stop_started(pidfile, grace=config.settings.app.stop_grace)
    messages = {
        "no-pidfile": f"nothing to stop: no {pidfile} (aide stops only what `aide start` started)",
        "stale": f"pid {result.pid} is gone (or now another process): removed the stale {pidfile}",
        "terminated": f"stopped pid {result.pid} (SIGTERM) in {result.elapsed_s:.1f} s",
        "killed": f"pid {result.pid} ignored SIGTERM for {config.settings.app.stop_grace:g} s: killed (SIGKILL)",
    }
    print(messages[result.outcome])
    return 0


def status(config: AideConfig, args: argparse.Namespace) -> int:
    from pytest_aide.probes.http import HttpClient

    app = config.settings.app
    if not app.url:
        raise ConfigError(f"{config.source_name}: [app] url is not set (nor AIDE_APP_URL)")
    with HttpClient(
        app.url,
        connect_timeout=app.connect_timeout,
        read_timeout=app.timeout,
        verify=app.verify_tls,
        redactor=config.redactor(),
    ) as client:
        probe = client.probe(app.health_path)
    if probe.ok:
        print(f"{probe.url}: {probe.status_code} in {probe.elapsed_s * 1000:.0f} ms")
        return 0
    print(f"aide: {probe.url}: {probe.error}", file=sys.stderr)
    return 1


def diagnose(config: AideConfig, args: argparse.Namespace) -> int:
    from pytest_aide import diagnostics

    path = diagnostics.write(config, config.path(config.settings.reports.dir), config.redactor())
    print(f"diagnostics written to {path}")
    return 0
