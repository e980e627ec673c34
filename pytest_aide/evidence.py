"""What an operator needs when a check fails: the check's own evidence plus the host's top processes.

:func:`failure_text` turns it, with the check's message and measurements, into the block that the terminal,
JUnit and pytest-html show instead of a traceback when the check failed on a fact about the system.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

from pytest_aide.health import Measurement
from pytest_aide.probes.resources import ProcessInfo, top_processes
from pytest_aide.status import Status

MAX_EVIDENCE_CHARS = 8000
TOP_PROCESSES = 5
SNAPSHOT_TTL_S = 10.0

_snapshot: tuple[float, list[tuple[str, str]]] = (0.0, [])


def process_table(processes: list[ProcessInfo]) -> str:
    """A small fixed-width table: pid, name, RSS, CPU, threads."""
    lines = [f"{'pid':>7}  {'rss MB':>8}  {'cpu %':>6}  {'threads':>7}  name"]
    for proc in processes:
        rss = f"{proc.rss_bytes / 2**20:.1f}" if proc.rss_bytes is not None else "?"
        cpu = f"{proc.cpu_percent:.1f}" if proc.cpu_percent is not None else "?"
        threads = str(proc.threads) if proc.threads is not None else "?"
        lines.append(f"{proc.pid:>7}  {rss:>8}  {cpu:>6}  {threads:>7}  {proc.name}")
    return "\n".join(lines)


def host_snapshot(*, now: Callable[[], float] = time.monotonic) -> list[tuple[str, str]]:
    """Top processes by memory and CPU, taken at most once per ``SNAPSHOT_TTL_S``.

    A run where the target is down fails hundreds of checks within seconds; walking every process for
    each of them would cost more than the checks (about 8 ms apiece) and show the same picture.
    """
    global _snapshot
    taken_at, items = _snapshot
    if items and now() - taken_at < SNAPSHOT_TTL_S:
        return items
    items = [
        ("top processes by memory", process_table(top_processes(TOP_PROCESSES, by="memory"))),
        ("top processes by CPU", process_table(top_processes(TOP_PROCESSES, by="cpu"))),
    ]
    _snapshot = (now(), items)
    return items


def collect(own: list[tuple[str, str]], redact: Callable[[str], str]) -> list[tuple[str, str]]:
    """The check's evidence followed by the top processes, each redacted and bounded in size."""
    items = [*own, *host_snapshot()]
    return [(title, _bounded(redact(text))) for title, text in items]


def _bounded(text: str) -> str:
    if len(text) <= MAX_EVIDENCE_CHARS:
        return text
    return text[:MAX_EVIDENCE_CHARS] + f"\n… ({len(text) - MAX_EVIDENCE_CHARS} more characters cut)"


def failure_text(message: str, measurements: Sequence[Measurement], items: Sequence[tuple[str, str]]) -> str:
    """A failed check as health facts: its message, every measurement, the actions and the evidence.

    ``items`` come from :func:`collect` (already redacted); the caller redacts the whole block once more.
    """
    lines = [message or "(no message)"]
    if measurements:
        lines.append("measurements:")
        lines.extend(f"  {measurement_line(m)}" for m in measurements)
    actions: dict[str, list[str]] = {}  # action -> the failing measurements that call for it, worst first
    for m in sorted(measurements, key=lambda m: -m.status.rank):
        if m.status is not Status.OK and m.action:
            actions.setdefault(m.action, []).append(m.name)
    if len(actions) == 1:
        lines.append(f"action: {next(iter(actions))}")
    else:
        lines.extend(f"action ({', '.join(names)}): {action}" for action, names in actions.items())
    for title, text in items:
        lines.append(f"evidence: {title}")
        lines.extend(f"    {line}" for line in text.splitlines() or [""])
    return "\n".join(lines)


def measurement_line(measurement: Measurement) -> str:
    """``disk_percent = 95.5 %  CRITICAL  (warning 80, critical 90)``: value, status and both ranges."""
    data = measurement.to_dict()
    unit = f" {measurement.unit}" if measurement.unit else ""
    ranges = ", ".join(f"{level} {data[level]}" for level in ("warning", "critical") if data[level] is not None)
    return (
        f"{measurement.name} = {_number(measurement.value)}{unit}  {measurement.status.value}"
        f"  ({ranges or 'no thresholds'})"
    )


def _number(value: float) -> str:
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"
