"""What an operator needs when a check fails: the check's own evidence plus the host's top processes."""

from __future__ import annotations

import time
from collections.abc import Callable

from pytest_aide.probes.resources import ProcessInfo, top_processes

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
