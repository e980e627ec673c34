"""Start the target app when nothing answers its health URL, and stop only what this helper started.

The pidfile records the process's create time next to its pid. A pid alone is recycled by the OS, and
signalling a recycled pid would hit an unrelated process; :func:`stop_started` therefore signals a pid only
while the process holding it was created at the recorded time. A target that was already running when we
looked is never recorded, so it is never stopped by us either.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import psutil
import requests
import tenacity

from pytest_aide.errors import ProbeError
from pytest_aide.redact import Redactor, redact_url, secret_env_values

StopOutcome = Literal["no-pidfile", "stale", "terminated", "killed"]

_TAIL_LINES = 5
_TAIL_CHARS = 400
_TAIL_BYTES = 16_384
_COMMAND_CHARS = 200
_ABORT_GRACE = 5.0  # a target that failed to start gets this long to exit on SIGTERM
_KILL_WAIT = 5.0  # after SIGKILL only the kernel can delay the exit; this bounds our wait for it
_POLL_INTERVAL = 0.05
_CREATE_TIME_TOLERANCE = 0.005  # psutil reads create_time from clock ticks: identical for the same process

# Popen handles of targets we started and that still run. Holding them stops the interpreter from warning
# "subprocess is still running" when a handle is collected, and lets stop_started reap its own children.
_LAUNCHED: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class StartResult:
    """What :func:`ensure_running` did; ``started`` is False when the target already answered."""

    started: bool
    pid: int | None
    health_url: str
    elapsed_s: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StopResult:
    """What :func:`stop_started` did: ``no-pidfile``, ``stale`` (nothing signalled), ``terminated`` or
    ``killed`` (SIGTERM was not enough within the grace period)."""

    outcome: StopOutcome
    pid: int | None
    elapsed_s: float

    @property
    def signalled(self) -> bool:
        return self.outcome in ("terminated", "killed")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Exited(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def ensure_running(
    command: Sequence[str],
    health_url: str,
    *,
    pidfile: Path,
    output_path: Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    start_timeout: float = 15.0,
    probe_timeout: float = 2.0,
) -> StartResult:
    """Start ``command`` in the background unless something already answers ``health_url``.

    Any HTTP response counts as an answer, a 5xx included: the checks judge its health. ``env`` is added
    to the current environment (the target still needs ``PATH`` and friends). Output is appended to
    ``output_path`` so earlier runs stay readable. Raises ProbeError, after stopping the process and
    removing the pidfile, when the target exits early or does not answer within ``start_timeout`` seconds.
    """
    began = time.monotonic()
    redactor = _redactor(env)
    shown_url = redactor.redact(redact_url(health_url))
    if _answers(health_url, probe_timeout):
        return StartResult(False, None, shown_url, time.monotonic() - began)
    shown_command = _show_command(command, redactor)
    _clear_stale_pidfile(pidfile, shown_url)
    offset = output_path.stat().st_size if output_path.exists() else 0
    proc = _launch(command, output_path, cwd, env, shown_command)
    try:
        _write_pidfile(pidfile, proc.pid, shown_command)
        reason = _wait_until_answering(proc, health_url, start_timeout, probe_timeout)
    except BaseException:  # KeyboardInterrupt included: never leave an unrecorded target behind
        _abort(proc, pidfile)
        raise
    if reason is not None:
        _abort(proc, pidfile)
        tail = redactor.redact(_output_tail(output_path, offset))
        raise ProbeError(f"could not start {shown_command}: {reason} at {shown_url}; last output: {tail}")
    _LAUNCHED[proc.pid] = proc
    return StartResult(True, proc.pid, shown_url, time.monotonic() - began)


def stop_started(pidfile: Path, *, grace: float = 30.0) -> StopResult:
    """Stop the process recorded in ``pidfile`` by :func:`ensure_running`, and remove the pidfile.

    SIGTERM goes to the process (and to its process group when it leads one); after ``grace`` seconds
    SIGKILL follows. A pidfile whose pid is gone or now belongs to another process (different create time)
    is removed without signalling anything.
    """
    began = time.monotonic()
    record = _read_pidfile(pidfile)
    if record is None:
        return StopResult("no-pidfile", None, time.monotonic() - began)
    pid = record["pid"]
    proc = _recorded_process(record)
    if proc is None:
        pidfile.unlink(missing_ok=True)
        return StopResult("stale", pid, time.monotonic() - began)
    leads_group = _leads_group(pid)
    outcome: StopOutcome = "terminated"
    _send(proc, signal.SIGTERM, leads_group)
    if not _wait_gone(proc, grace):
        outcome = "killed"
        _send(proc, signal.SIGKILL, leads_group)
        if not _wait_gone(proc, _KILL_WAIT):
            raise ProbeError(f"pid {pid} from {pidfile} survived SIGKILL for {_KILL_WAIT:g} s; pidfile kept")
    pidfile.unlink(missing_ok=True)
    return StopResult(outcome, pid, time.monotonic() - began)


def launched(pid: int) -> subprocess.Popen[bytes] | None:
    """The handle of a target this process started with :func:`ensure_running` (None for any other pid): the
    one way to learn its exit status once it has ended."""
    return _LAUNCHED.get(pid)


def output_tail(output_path: Path) -> str:
    """The last few non-empty lines of a target's captured output, on one line."""
    return _output_tail(output_path, 0)


def _redactor(env: Mapping[str, str] | None) -> Redactor:
    return Redactor([*secret_env_values(), *secret_env_values(env or {})])


def _show_command(command: Sequence[str], redactor: Redactor) -> str:
    shown = redactor.redact(shlex.join(command))
    if len(shown) > _COMMAND_CHARS:
        shown = shown[: _COMMAND_CHARS - 3] + "..."
    return repr(shown)


def _answers(url: str, timeout: float) -> bool:
    """True when something serves ``url``: any HTTP response (a 503 is a running but unhealthy target,
    never a reason to start a second copy), or a connection accepted that does not answer in time."""
    try:
        response = requests.get(url, timeout=timeout, allow_redirects=False)
    except requests.exceptions.ReadTimeout:
        return True
    except requests.RequestException:
        return False
    response.close()
    return True


def _launch(
    command: Sequence[str], output_path: Path, cwd: Path | None, env: Mapping[str, str] | None, shown: str
) -> subprocess.Popen[bytes]:
    output_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **env} if env is not None else None
    with output_path.open("ab") as output:
        try:
            return subprocess.Popen(
                list(command),
                cwd=cwd,
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: one signal reaches the app and its workers
            )
        except OSError as exc:
            raise ProbeError(f"could not start {shown}: {exc.strerror or exc}") from None


def _wait_until_answering(
    proc: subprocess.Popen[bytes], url: str, start_timeout: float, probe_timeout: float
) -> str | None:
    """Poll ``url`` until it answers (None) or return why it never did."""
    deadline = time.monotonic() + start_timeout
    backoff = tenacity.wait_exponential(multiplier=0.05, max=0.5)

    def attempt() -> bool:
        if proc.poll() is not None:
            raise _Exited(proc.returncode)
        return _answers(url, max(0.01, min(probe_timeout, deadline - time.monotonic())))

    def wait(state: tenacity.RetryCallState) -> float:
        return max(0.0, min(backoff(state), deadline - time.monotonic()))

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_delay(start_timeout),
        wait=wait,
        retry=tenacity.retry_if_result(lambda answered: not answered),
    )
    try:
        retrying(attempt)
    except tenacity.RetryError:
        return f"no answer within {start_timeout:g} s"
    except _Exited as exc:
        return f"exited with code {exc.code} before answering"
    return None


def _abort(proc: subprocess.Popen[bytes], pidfile: Path) -> None:
    """Stop a target whose start failed; it is our own child, so Popen can signal and reap it directly."""
    try:
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=_ABORT_GRACE)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait(timeout=_KILL_WAIT)
    finally:
        pidfile.unlink(missing_ok=True)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _output_tail(output_path: Path, offset: int) -> str:
    """The last few non-empty lines this run wrote, on one line."""
    try:
        with output_path.open("rb") as output:
            output.seek(max(offset, output_path.stat().st_size - _TAIL_BYTES))
            text = output.read().decode("utf-8", "replace")
    except OSError:
        return "(output unreadable)"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    tail = " | ".join(lines[-_TAIL_LINES:])
    if len(tail) > _TAIL_CHARS:
        tail = "..." + tail[-_TAIL_CHARS:]
    return tail or "(no output)"


def _write_pidfile(pidfile: Path, pid: int, shown_command: str) -> None:
    record = {
        "pid": pid,
        "create_time": psutil.Process(pid).create_time(),
        "command": shown_command,
        "started_at": datetime.now(UTC).isoformat(),
    }
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    partial = pidfile.with_name(pidfile.name + ".tmp")
    partial.write_text(json.dumps(record) + "\n", encoding="utf-8")
    partial.replace(pidfile)  # atomic: a reader never sees half a pidfile


def _read_pidfile(pidfile: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(pidfile.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ProbeError(f"cannot read pidfile {pidfile}: {exc}") from None
    valid = (
        isinstance(record, dict)
        and isinstance(record.get("pid"), int)
        and isinstance(record.get("create_time"), int | float)
    )
    if not valid:
        raise ProbeError(f"{pidfile} is not a pytest-aide pidfile (needs integer pid and create_time)")
    return dict(record)


def _recorded_process(record: Mapping[str, Any]) -> psutil.Process | None:
    """The live process the record describes, or None when its pid is gone or was given to another one."""
    try:
        proc = psutil.Process(record["pid"])
        same = abs(proc.create_time() - float(record["create_time"])) <= _CREATE_TIME_TOLERANCE
    except psutil.Error:  # gone, or we may not even look at it: either way it is not ours to signal
        return None
    if not same:
        return None
    if _gone(proc):
        return None
    return proc


def _clear_stale_pidfile(pidfile: Path, shown_url: str) -> None:
    """Remove a pidfile whose process is gone; refuse to start a second copy next to a live one."""
    record = _read_pidfile(pidfile)
    if record is None:
        return
    if _recorded_process(record) is not None:
        raise ProbeError(
            f"{shown_url} does not answer, but pid {record['pid']} from {pidfile} still runs; "
            "stop it with stop_started() first"
        )
    pidfile.unlink(missing_ok=True)


def _leads_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except ProcessLookupError:
        return False


def _send(proc: psutil.Process, sig: signal.Signals, leads_group: bool) -> None:
    """Signal the verified process (psutil re-checks its identity), then the rest of its group."""
    try:
        proc.send_signal(sig)
    except psutil.NoSuchProcess:
        return
    if leads_group:
        _signal_group(proc.pid, sig)


def _wait_gone(proc: psutil.Process, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not _gone(proc):
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_INTERVAL)
    return True


def _gone(proc: psutil.Process) -> bool:
    """True once the process exited; a zombie has exited too, and is reaped here when it is our child."""
    try:
        if not proc.is_running():  # also False when the pid now belongs to a newer process
            return True
        if proc.status() != psutil.STATUS_ZOMBIE:
            return False
    except psutil.NoSuchProcess:
        return True
    _reap(proc.pid)
    return True


def _reap(pid: int) -> None:
    launched = _LAUNCHED.get(pid)
    if launched is not None:
        if launched.poll() is not None:
            del _LAUNCHED[pid]
        return
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
