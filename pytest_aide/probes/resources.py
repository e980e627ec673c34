"""Host resources measured with psutil: CPU, memory, swap, disk, load, network and processes.

Every function returns plain data (frozen dataclasses with ``to_dict()`` of builtin types), so checks, the
CLI and reports use the same values. Nothing here blocks for long: CPU usage comes from a :class:`CpuWindow`
sampled in the background from the start of the session instead of psutil's one-second blocking interval.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import psutil

from pytest_aide.errors import ProbeError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

GIB = 2**30  # "GB" in this module means GiB, as df -h and free -g print it
MIN_CPU_INTERVAL_S = 0.1  # shorter deltas of /proc/stat ticks (10 ms each) are too coarse to mean anything
CPU_WINDOW_S = 1.0  # a CPU figure is the mean over at least this much sampling: one instant is noise
CPU_SAMPLE_EVERY_S = 0.25  # the background sampler's period
SATURATED_IDLE_SHARE = 0.02  # an interval with at most this share of idle CPU time had no CPU to spare

_NET_FIELDS = ("bytes_sent", "bytes_recv", "packets_sent", "packets_recv", "errin", "errout", "dropin", "dropout")


def _gb(value: int) -> float:
    return round(value / GIB, 3)


class _AsDict:
    def to_dict(self) -> dict[str, Any]:
        """Builtin types only, ready for JSON reports and ``user_properties``."""
        return dataclasses.asdict(cast("DataclassInstance", self))


# --- CPU and network: a sampler primed once per session -----------------------------------------------------


def _busy_and_total(times: Any) -> tuple[float, float]:
    """Busy and total CPU seconds, counted the way psutil.cpu_percent and htop count them on Linux."""
    total = sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
    idle = times.idle + getattr(times, "iowait", 0.0)
    return total - idle, total


def _net_counters() -> dict[str, int]:
    counters = psutil.net_io_counters()
    if counters is None:  # a host without network interfaces
        return dict.fromkeys(_NET_FIELDS, 0)
    return {name: int(getattr(counters, name)) for name in _NET_FIELDS}


def system_cpu_seconds() -> tuple[float, float]:
    """Busy and total CPU seconds of the whole host since boot (the default source of a :class:`CpuWindow`)."""
    return _busy_and_total(psutil.cpu_times())


@dataclass(frozen=True)
class CpuReading(_AsDict):
    """The host's CPU use averaged over ``window_s`` seconds, made of ``samples`` sampling intervals."""

    percent: float
    window_s: float
    samples: int
    own_percent: float = 0.0  # the checker's own share of the host's CPU over the window (left out of percent)


@dataclass(frozen=True)
class _CpuSample:
    at: float
    busy: float
    total: float
    own: float


def _host_busy(elapsed: float, busy: float, own: float) -> float:
    """CPU seconds of one interval charged to the host without the checker (see :class:`CpuWindow`)."""
    busy = min(elapsed, max(0.0, busy))
    own = min(busy, max(0.0, own))
    others = busy - own
    if elapsed - busy > SATURATED_IDLE_SHARE * elapsed:
        return others
    return others + min(own, others)


class CpuWindow:
    """System-wide CPU use (0-100 %) averaged from its creation to the moment it is read.

    A background thread (:meth:`start`) samples the CPU-time counters every ``every_s``; a read takes one more
    sample, so the window ends at the read, and waits only for what is missing of ``min_window_s``. The
    figure is the time-weighted mean of the intervals' host CPU use, the checker's own CPU
    (``own_cpu_seconds``) left out so that a serial run and ``-n 2`` workers read the same value:

    - an interval with idle CPU: the other processes used what they wanted, so host use = their busy time
      over all CPU time;
    - a saturated interval (idle at most 2 %): they used all the checker left them and may have wanted more,
      so the checker's CPU time is given back to them, up to as much as they got themselves (what they would
      have taken with the checker gone, under fair scheduling). Subtracting the checker's whole share there
      would make a busy host look calmer the harder the checker works (measured: 97 % serial, 65 % under
      ``-n 2``); a checker that alone saturates an idle host still reads near 0.

    ``source``, ``clock`` and ``sleep`` are injectable so tests never depend on the real load.
    """

    def __init__(
        self,
        *,
        source: Callable[[], tuple[float, float]] = system_cpu_seconds,
        own_cpu_seconds: Callable[[], float] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        min_window_s: float = CPU_WINDOW_S,
        every_s: float = CPU_SAMPLE_EVERY_S,
    ) -> None:
        self._source, self._own, self._clock, self._sleep = source, own_cpu_seconds, clock, sleep
        self._min_window_s, self._every_s = min_window_s, every_s
        self._lock = threading.Lock()  # one sample at a time: the thread and a read never interleave
        self._first: _CpuSample | None = None
        self._last: _CpuSample | None = None
        self._busy = self._total = self._own_busy = 0.0
        self._intervals = 0
        self._error = ""
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self.sample()

    def sample(self) -> bool:
        """Take one sample now; False (the error kept for the read's message) when the counters cannot be read."""
        with self._lock:
            try:
                busy, total = self._source()
                own = self._own() if self._own else 0.0
            except (psutil.Error, OSError, ValueError) as exc:
                self._error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                return False
            now = _CpuSample(self._clock(), busy, total, own)
            last = self._last
            if last is None:
                self._first = self._last = now
                return True
            elapsed = total - last.total
            if elapsed <= 0:  # no clock tick since the last sample: nothing to add yet
                return True
            self._busy += _host_busy(elapsed, busy - last.busy, own - last.own)
            own_busy = min(elapsed, max(0.0, own - last.own))
            self._own_busy += own_busy
            self._total += elapsed
            self._intervals += 1
            self._last = now
            return True

    def start(self) -> CpuWindow:
        """Sample in a daemon thread until :meth:`stop`; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="aide-cpu-window", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stopped.wait(self._every_s):
            self.sample()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=max(1.0, self._every_s * 4))

    def _covered(self) -> float:
        with self._lock:
            return 0.0 if self._first is None or self._last is None else self._last.at - self._first.at

    def read(self) -> CpuReading:
        """The mean so far, after waiting for what is missing of the minimum window.

        Raises ProbeError when no sampling interval could be measured (the CPU counters were unreadable).
        """
        self.sample()
        missing = self._min_window_s - self._covered()
        if missing > 0 and self._first is not None:
            self._sleep(missing)
            self.sample()
        with self._lock:
            if self._intervals == 0 or self._total <= 0 or self._first is None or self._last is None:
                why = f": {self._error}" if self._error else ""
                raise ProbeError(f"the CPU sampler got no samples{why}")
            return CpuReading(
                percent=round(min(100.0, self._busy / self._total * 100), 1),
                window_s=round(self._last.at - self._first.at, 3),
                samples=self._intervals,
                own_percent=round(min(100.0, self._own_busy / self._total * 100), 1),
            )


class ResourceSampler:
    """CPU and network rates without a blocking interval per check.

    Create it once per test session. With a :class:`CpuWindow` (the ``aide_resources`` fixture starts one with
    the session) the CPU figure is the window's mean; without one, it is measured since the previous read. It
    keeps its own CPU-times baseline instead of relying on ``psutil.cpu_percent(interval=None)``, whose
    baseline is global per thread and moved by any other caller.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        own_cpu_seconds: Callable[[], float] | None = None,
        window: CpuWindow | None = None,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._own = own_cpu_seconds
        self._window = window
        self._own_base = own_cpu_seconds() if own_cpu_seconds else 0.0
        self._cpu_base = psutil.cpu_times()
        self._cpu_base_at = clock()
        self._cpu_last: float | None = None
        self._net_base = _net_counters()
        self._net_base_at = self._cpu_base_at

    def cpu_window(self) -> CpuReading:
        """The CPU window's mean so far (a sampler made without a window starts one now and waits ~1 s)."""
        if self._window is None:
            self._window = CpuWindow(own_cpu_seconds=self._own, clock=self._clock, sleep=self._sleep)
        return self._window.read()

    def cpu_percent(self) -> float:
        """System-wide CPU use (0-100 %): the window's mean when this sampler has a window.

        Without a window: since the previous read, or since creation for the first read. The first read
        blocks for what remains of 0.1 s after creation, at most once; a later read less than 0.1 s after the
        previous one returns the previous value instead of a meaningless tiny delta.
        """
        if self._window is not None:
            return self._window.read().percent
        elapsed = self._clock() - self._cpu_base_at
        if elapsed < MIN_CPU_INTERVAL_S:
            if self._cpu_last is not None:
                return self._cpu_last
            self._sleep(MIN_CPU_INTERVAL_S - elapsed)
        now_times = psutil.cpu_times()
        own_now = self._own() if self._own else 0.0
        busy_before, total_before = _busy_and_total(self._cpu_base)
        busy_now, total_now = _busy_and_total(now_times)
        total = total_now - total_before
        busy = busy_now - busy_before - max(0.0, own_now - self._own_base)  # the checker's own load is not the host's
        self._own_base = own_now
        percent = 0.0 if total <= 0 else min(100.0, max(0.0, busy / total * 100))
        self._cpu_base, self._cpu_base_at = now_times, self._clock()
        self._cpu_last = round(percent, 1)
        return self._cpu_last

    def network_counters(self) -> dict[str, int]:
        """Cumulative counters of all interfaces since boot: bytes, packets, errors and drops each way."""
        return _net_counters()

    def network_rates(self) -> dict[str, float]:
        """Bytes sent and received per second since this sampler was created."""
        now = _net_counters()
        interval = self._clock() - self._net_base_at
        if interval <= 0:
            return {"bytes_sent_per_s": 0.0, "bytes_recv_per_s": 0.0, "interval_s": 0.0}
        # Counters can wrap or reset (interface re-created): never report a negative rate.
        sent = max(0, now["bytes_sent"] - self._net_base["bytes_sent"])
        recv = max(0, now["bytes_recv"] - self._net_base["bytes_recv"])
        return {
            "bytes_sent_per_s": round(sent / interval, 1),
            "bytes_recv_per_s": round(recv / interval, 1),
            "interval_s": round(interval, 3),
        }


# --- memory, swap, disk, load -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemoryUsage(_AsDict):
    percent: float
    total_bytes: int
    available_bytes: int
    total_gb: float
    available_gb: float


@dataclass(frozen=True)
class SwapUsage(_AsDict):
    percent: float
    total_bytes: int
    used_bytes: int
    free_bytes: int
    total_gb: float
    free_gb: float


@dataclass(frozen=True)
class DiskUsage(_AsDict):
    path: str
    percent: float
    free_bytes: int
    total_bytes: int
    free_gb: float
    total_gb: float


@dataclass(frozen=True)
class LoadAverage(_AsDict):
    """Run-queue averages; ``per_cpu_*`` divide by the logical CPU count (1.0 means every CPU busy)."""

    one: float
    five: float
    fifteen: float
    cpu_count: int
    per_cpu_one: float
    per_cpu_five: float
    per_cpu_fifteen: float


def memory() -> MemoryUsage:
    """Memory in use as the kernel sees it: ``available`` counts reclaimable cache as free."""
    mem = psutil.virtual_memory()
    return MemoryUsage(
        percent=float(mem.percent),
        total_bytes=mem.total,
        available_bytes=mem.available,
        total_gb=_gb(mem.total),
        available_gb=_gb(mem.available),
    )


def swap() -> SwapUsage:
    """Swap in use; a host without swap reports 0 % of 0 bytes."""
    sw = psutil.swap_memory()
    return SwapUsage(
        percent=float(sw.percent),
        total_bytes=sw.total,
        used_bytes=sw.used,
        free_bytes=sw.free,
        total_gb=_gb(sw.total),
        free_gb=_gb(sw.free),
    )


def disk_usage(path: str | Path) -> DiskUsage:
    """Use of the file system holding ``path``; ``percent`` ignores root-reserved blocks, as df does."""
    try:
        usage = psutil.disk_usage(os.fspath(path))
    except FileNotFoundError:
        raise ProbeError(f"disk path not found: {path}") from None
    except OSError as exc:
        raise ProbeError(f"cannot read disk usage of {path}: {exc.strerror or exc}") from None
    return DiskUsage(
        path=os.fspath(path),
        percent=float(usage.percent),
        free_bytes=usage.free,
        total_bytes=usage.total,
        free_gb=_gb(usage.free),
        total_gb=_gb(usage.total),
    )


def load_average() -> LoadAverage:
    """The 1/5/15-minute load averages, raw and per logical CPU (what a threshold should compare)."""
    one, five, fifteen = psutil.getloadavg()
    cpus = psutil.cpu_count(logical=True) or 1
    return LoadAverage(
        one=round(one, 2),
        five=round(five, 2),
        fifteen=round(fifteen, 2),
        cpu_count=cpus,
        per_cpu_one=round(one / cpus, 3),
        per_cpu_five=round(five / cpus, 3),
        per_cpu_fifteen=round(fifteen / cpus, 3),
    )


# --- processes ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessInfo(_AsDict):
    """One process. A field the kernel will not show us (another user's process) is None, never an error.

    ``cpu_percent`` is the average over the process's lifetime, in % of one CPU (as ``ps`` shows it): it
    needs no sampling interval, so reading it never blocks.
    """

    pid: int
    name: str | None
    rss_bytes: int | None
    cpu_percent: float | None
    open_files: int | None
    threads: int | None
    uptime_s: float | None


def _field(getter: Callable[[], Any]) -> Any:
    try:
        return getter()
    except (psutil.AccessDenied, psutil.ZombieProcess):
        return None


def _lifetime_cpu(proc: psutil.Process) -> float | None:
    times = _field(proc.cpu_times)
    started = _field(proc.create_time)
    if times is None or started is None:
        return None
    uptime = max(time.time() - float(started), 1e-3)
    return round(float(times.user + times.system) / uptime * 100, 1)


def process_info(proc: psutil.Process) -> ProcessInfo:
    """Snapshot of ``proc``; raises ``psutil.NoSuchProcess`` if it has exited (callers skip it)."""
    with proc.oneshot():
        started = _field(proc.create_time)
        memory_info = _field(proc.memory_info)
        open_files = _field(proc.open_files)
        return ProcessInfo(
            pid=proc.pid,
            name=_field(proc.name),
            rss_bytes=None if memory_info is None else int(memory_info.rss),
            cpu_percent=_lifetime_cpu(proc),
            open_files=None if open_files is None else len(open_files),
            threads=_field(proc.num_threads),
            uptime_s=None if started is None else round(max(0.0, time.time() - started), 3),
        )


def _read_pidfile(pidfile: Path) -> int:
    try:
        text = pidfile.read_text(encoding="utf-8", errors="replace").strip()
    except FileNotFoundError:
        raise ProbeError(f"pid file not found: {pidfile}") from None
    except OSError as exc:
        raise ProbeError(f"pid file not readable: {pidfile} ({exc.strerror or exc})") from None
    if not text.isdigit() or int(text) <= 0:
        raise ProbeError(f"pid file {pidfile} does not hold a process id: {text[:40]!r}")
    return int(text)


def _names_of(proc: psutil.Process) -> set[str]:
    """The process name plus the program and script basenames of its command line (``python app.py``)."""
    cmdline = _field(proc.cmdline) or []
    names = {os.path.basename(arg) for arg in cmdline[:2] if arg}
    name = _field(proc.name)
    if name:
        names.add(name)
    return names


def _listening_pids(port: int) -> set[int]:
    return {
        conn.pid
        for conn in psutil.net_connections(kind="tcp")
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid
    }


@dataclass(frozen=True)
class PortListeners(_AsDict):
    """Who listens on a TCP port: every listening socket, and the processes this user may see behind them.

    ``unseen`` counts sockets whose owner is hidden (another user's process seen by a non-root user): the
    port is served, only not by a process we can describe.
    """

    port: int
    sockets: int
    unseen: int
    processes: list[ProcessInfo]


def port_listeners(port: int) -> PortListeners:
    """The listening sockets (IPv4 and IPv6) on ``port`` and their visible owners."""
    try:
        conns = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:
        raise ProbeError(f"listing the sockets of port {port} needs more privileges on this system") from None
    mine = [c for c in conns if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port]
    processes = []
    for pid in sorted({c.pid for c in mine if c.pid}):
        with contextlib.suppress(psutil.NoSuchProcess):
            processes.append(process_info(psutil.Process(pid)))
    return PortListeners(port=port, sockets=len(mine), unseen=sum(1 for c in mine if not c.pid), processes=processes)


def _candidates(pidfile: Path | None, port: int | None) -> Iterator[psutil.Process]:
    pids: set[int] | None = None
    if pidfile is not None:
        pids = {_read_pidfile(pidfile)}
    if port is not None:
        listening = _listening_pids(port)
        pids = listening if pids is None else pids & listening
    if pids is None:
        yield from psutil.process_iter()
        return
    for pid in sorted(pids):
        try:
            yield psutil.Process(pid)
        except psutil.NoSuchProcess:
            continue


def find_processes(
    *, pidfile: Path | None = None, name: str | None = None, port: int | None = None
) -> list[ProcessInfo]:
    """Running processes matching every criterion given; an empty list means "not running".

    ``name`` matches the process name or the basename of the program or script on its command line;
    ``port`` matches processes with a TCP socket listening on it. A missing or garbled pid file raises
    ProbeError; a pid file naming a dead process yields an empty list.
    """
    if pidfile is None and name is None and port is None:
        raise ValueError("find_processes needs pidfile, name or port")
    found = []
    for proc in _candidates(pidfile, port):
        try:
            if name is None or name in _names_of(proc):
                found.append(process_info(proc))
        except psutil.NoSuchProcess:
            continue
    return found


def listening_ports() -> list[int]:
    """TCP ports some process listens on, sorted, each once (IPv4 and IPv6 alike)."""
    return sorted(
        {
            conn.laddr.port
            for conn in psutil.net_connections(kind="tcp")
            if conn.status == psutil.CONN_LISTEN and conn.laddr
        }
    )


def _rank_key(proc: psutil.Process, by: str) -> float:
    if by == "memory":
        mem = _field(proc.memory_info)
        return -1.0 if mem is None else float(mem.rss)
    cpu = _lifetime_cpu(proc)
    return -1.0 if cpu is None else cpu


def top_processes(n: int = 5, by: Literal["memory", "cpu"] = "memory") -> list[ProcessInfo]:
    """The ``n`` processes using most memory (RSS) or CPU (lifetime average), biggest first.

    Meant as evidence attached to a failed memory or CPU check.
    """
    if by not in ("memory", "cpu"):
        raise ValueError(f"top_processes: by must be 'memory' or 'cpu', not {by!r}")
    ranked: list[tuple[float, psutil.Process]] = []
    for proc in psutil.process_iter():
        try:
            ranked.append((_rank_key(proc, by), proc))
        except psutil.NoSuchProcess:
            continue
    ranked.sort(key=lambda pair: pair[0], reverse=True)
    result: list[ProcessInfo] = []
    for _, proc in ranked:
        if len(result) >= n:
            break
        try:
            result.append(process_info(proc))
        except psutil.NoSuchProcess:
            continue
    # Values moved a little since ranking: order by what we report, so the evidence reads consistently.
    field = "rss_bytes" if by == "memory" else "cpu_percent"
    return sorted(result, key=lambda info: getattr(info, field) or -1, reverse=True)


def tree_cpu_seconds(root: psutil.Process, *, exclude: Collection[int] = ()) -> float:
    """User + system CPU seconds of ``root`` and its descendants, leaving out ``exclude`` and their subtrees.

    Used to take the health checker's own processes (pytest, xdist workers) out of the host's CPU figure,
    while the target it may have started (``exclude``) still counts.
    """
    skipped: set[int] = set()
    for pid in exclude:
        with contextlib.suppress(psutil.Error):
            skipped.update(child.pid for child in psutil.Process(pid).children(recursive=True))
        skipped.add(pid)
    total = 0.0
    with contextlib.suppress(psutil.Error):
        processes = [root, *root.children(recursive=True)]
        for proc in processes:
            if proc.pid in skipped:
                continue
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                # Children it has reaped (a `pip check` subprocess) move into children_*: the total keeps them.
                total += times.user + times.system + times.children_user + times.children_system
    return total
