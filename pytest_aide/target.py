"""Start the configured target when nothing answers, once per run, and stop only what we started.

Under xdist every worker may be first to need the target, so starting happens under a file lock in the
run's folder; the controller stops it at the end of the session from the pidfile the starter wrote.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_aide.config import AideConfig
from pytest_aide.errors import ConfigError, ProbeError
from pytest_aide.redact import Redactor
from pytest_aide.runs import write_text_atomic
from pytest_aide.state import AideState

if TYPE_CHECKING:
    from pytest_aide.process import StartResult

PIDFILE = "target.pid"
OUTPUT = "target-output.log"
START_ERROR = "target-start-error.txt"


APP_FIXTURES = frozenset({"aide_app", "aide_endpoint_probe", "aide_endpoint_probes"})


def ensure_target(state: AideState, *, talks_to_app: bool) -> None:
    """Start the target if it is configured and nothing serves its URL, once per run.

    When it cannot be started, checks that talk to the app raise ProbeError (they become UNKNOWN with the
    reason); the others (host resources, files) still run and judge what they find.
    """
    if not state.target_checked:
        state.target_checked = True
        try:
            start_once(state)
        except ProbeError as exc:
            state.target_error = state.redactor(str(exc))
    if state.target_error is not None and talks_to_app:
        raise ProbeError(state.target_error)


def start_once(state: AideState) -> None:
    """Start the target if it is configured and nothing serves its URL, once per run (whichever process of
    the run comes first: the xdist controller while its workers boot, or a worker). A failure is remembered in
    the run's folder too, so the other processes report it instead of trying again."""
    app = state.config.settings.app
    if not (app.url and app.command):
        return
    from filelock import FileLock, Timeout  # only runs that start their target pay for the import

    pidfile = state.work_dir / PIDFILE
    failed = state.work_dir / START_ERROR
    lock = FileLock(str(state.work_dir / "target.lock"), timeout=app.start_timeout + 10)
    try:
        with lock:
            if pidfile.exists():
                return  # another process of this run started it
            if failed.exists():
                raise ProbeError(failed.read_text(encoding="utf-8"))
            try:
                start_configured(state.config, pidfile=pidfile, output_path=state.work_dir / OUTPUT)
            except ProbeError as exc:
                write_text_atomic(failed, state.redactor(str(exc)))
                raise
    except Timeout:
        raise ProbeError(f"timed out waiting for another process to start the target at {app.url}") from None


def start_configured(config: AideConfig, *, pidfile: Path, output_path: Path) -> StartResult:
    """Start ``[app] command`` unless something serves ``[app] url`` (the suite's and ``aide start``'s way).

    ``{python}`` in the command stands for the interpreter running this code.
    """
    from pytest_aide.process import ensure_running

    app = config.settings.app
    if not (app.url and app.command):
        raise ConfigError(f"{config.source_name}: [app] needs url and command to start the target")
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    return ensure_running(
        [sys.executable if part == "{python}" else part for part in app.command],
        app.url.rstrip("/") + app.health_path,
        pidfile=pidfile,
        output_path=output_path,
        cwd=config.path(app.cwd or "."),
        start_timeout=app.start_timeout,
    )


def stop_started_target(state: AideState) -> None:
    """Stop the target if this run started it (a process it did not start is never signalled), then mask
    secrets in its captured output, which is archived with the run's reports."""
    pidfile = state.work_dir / PIDFILE
    if pidfile.exists():
        from pytest_aide.process import stop_started

        stop_started(pidfile, grace=state.config.settings.app.stop_grace)
    redact_file(state.work_dir / OUTPUT, state.redactor)


def redact_file(path: Path, redactor: Redactor) -> None:
    """Rewrite ``path`` with secrets masked (atomically; nothing happens when it is absent or clean)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return
    cleaned = redactor(text)
    if cleaned != text:
        write_text_atomic(path, cleaned)


def started_pids(state: AideState) -> set[int]:
    """The pid of the target this run started, if any (from its pidfile)."""
    try:
        record = json.loads((state.work_dir / PIDFILE).read_text(encoding="utf-8"))
        return {int(record["pid"])}
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def exit_report(state: AideState) -> str | None:
    """Why the target this run started no longer answers: ``the target this run started (pid N) exited with status
    -9 (killed by SIGKILL); last output: ...`` — None while it runs, or when this run started none."""
    pids = started_pids(state)
    if not pids:
        return None
    pid = next(iter(pids))
    from pytest_aide.drills import exit_description, is_running
    from pytest_aide.process import launched, output_tail

    handle = launched(pid)
    code = handle.poll() if handle is not None else None
    if code is None and is_running(pid):
        return None
    what = exit_description(code)
    return state.redactor(
        f"the target this run started (pid {pid}) {what}; last output: {output_tail(state.work_dir / OUTPUT)}"
    )


def header_lines(state: AideState) -> list[str]:
    """What ``pytest_report_header`` shows: config source, target, thresholds and where reports go."""
    settings = state.config.settings
    redact = state.redactor
    parts = [
        f"app={settings.app.url}" if settings.app.url else "",
        f"db={settings.db.url}" if settings.db.url else "",
        f"cache={settings.cache.url}" if settings.cache.url else "",
    ]
    target = " ".join(p for p in parts if p) or "(no target configured)"
    thresholds = ", ".join(
        f"{name} {t.warning.text if t.warning else '-'}/{t.critical.text if t.critical else '-'}"
        for name, t in sorted(state.config.thresholds.thresholds.items())
        if name in ("response_time_s", "cpu_percent", "memory_percent", "disk_percent", "error_rate_percent")
        or name in settings.thresholds
    )
    where = str(state.work_dir) if state.archive else "not archived"
    return [
        redact(f"aide: config {state.config.source_name} ({state.origin}); target {target}"),
        f"aide: thresholds (warning/critical) {thresholds}",
        f"aide: run {state.run_id}; reports {where}",
    ]
