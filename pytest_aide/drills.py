"""What the shipped drills (``pytest -m drill``) need of the target: may they touch it, how does it say it is,
and what became of a process they killed.

Drills inject faults, so they act only on a target this run started (``[app] command``, recorded in the run's
pidfile) unless ``[drills] allow_unstarted_target`` says otherwise (:func:`refusal`). :class:`DrillTarget`
observes the app without the run's circuits — a drill wants to see the recovery the moment it happens, not
after the run's own breaker has waited its recovery timeout — and turns a killed process into the report an
operator needs: its exit status and its last output lines.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from pytest_aide.errors import ProbeError

DOWN = "CRITICAL"
"""The word an observation starts with when the app does not answer at all."""

_POLL_S = 0.25


def refusal(*, started_by_run: bool, allowed: bool, url: str | None, workers: int = 1) -> str | None:
    """Why drills must not run against this target (None: they may)."""
    if not url:
        return "drills need a target: [app] url is not set"
    if workers > 1:
        return (
            f"drills run in one process, not {workers} xdist workers: run pytest -m drill without -n (they act on "
            "one target, one at a time, and their upstream proxy listens on one port)"
        )
    if started_by_run or allowed:
        return None
    return (
        f"drills refused: the target at {url} was not started by this run (no [app] command started it); "
        "they cut its dependencies and kill its process. Run them against a target the run starts, or set "
        "[drills] allow_unstarted_target = true to accept that risk"
    )


def exit_description(code: int | None) -> str:
    """``exited with status 3``, ``exited with status -9 (killed by SIGKILL)``, or unknown for a non-child."""
    if code is None:
        return "exited (status unknown: the process was not started by this process)"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"exited with status {code} (killed by {name})"
    return f"exited with status {code}"


@dataclass
class DrillTarget:
    """The app under drill: its health URL, and the pid and output of the process the run started."""

    health_url: str
    timeout: float
    pidfile: Path
    output: Path
    started_pid: Callable[[], int | None]
    exit_report: Callable[[], str | None]  # target.exit_report: None while the process the run started runs
    restart: Callable[[], Any]  # starts [app] command again under the run's pidfile; returns its process handle
    verify: bool | str = True

    def observe(self) -> str:
        """The app's health word (``healthy``, ``degraded``, ``unhealthy``...), or a line starting with
        :data:`DOWN` when it does not answer (with the process's exit status and last output lines if it ended)."""
        try:
            response = requests.get(self.health_url, timeout=self.timeout, verify=self.verify)
        except requests.RequestException as exc:
            gone = self.exit_report()
            ended = f"{gone}; " if gone else ""
            return f"{DOWN}: {ended}{self.health_url} does not answer ({type(exc).__name__})"
        return _status_word(response)

    def answer(self) -> tuple[str, float]:
        """One GET of the health path: the health word and the seconds the answer took (raises when none)."""
        began = time.perf_counter()
        try:
            response = requests.get(self.health_url, timeout=self.timeout, verify=self.verify)
        except requests.RequestException as exc:
            raise ProbeError(f"GET {self.health_url}: no answer within {self.timeout:g} s: {exc}") from None
        return _status_word(response), time.perf_counter() - began

    def settle(self, within: float, want: str = "healthy") -> None:
        """Wait until the app says ``want`` (a drill starts from the steady state); ProbeError after ``within`` s."""
        deadline = time.monotonic() + within
        seen = self.observe()
        while seen != want:
            if time.monotonic() >= deadline:
                raise ProbeError(f"the app was not {want} within {within:g} s before the drill: it said {seen!r}")
            time.sleep(_POLL_S)
            seen = self.observe()


def _status_word(response: requests.Response) -> str:
    try:
        body: Any = response.json()
    except ValueError:
        return f"HTTP {response.status_code} without JSON"
    word = body.get("status") if isinstance(body, dict) else None
    return str(word) if isinstance(word, str) else f"HTTP {response.status_code} without a status word"


def is_running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped is not)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def sqlite_file(db_url: str | None) -> str | None:
    """The file of a ``sqlite:///`` URL (None for any other kind): the database drill's default file."""
    if not db_url or not db_url.startswith("sqlite:///"):
        return None
    path = db_url.removeprefix("sqlite:///").split("?", 1)[0]
    return path or None
