"""Host-resource probes against the real machine and real child processes started here."""

from __future__ import annotations

import json
import os
import re
import selectors
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from conftest import HANG_S
from pytest_aide.errors import ProbeError
from pytest_aide.probes import resources
from pytest_aide.probes.resources import ProcessInfo, ResourceSampler

CHILD_SOURCE = """
import socket, sys, time
memory = b"x" * (int(sys.argv[1]) << 20)  # written, so it is resident
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen()
print(listener.getsockname()[1], flush=True)
if sys.argv[2] == "spin":
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pass
else:
    sys.stdin.read()  # until the test closes our stdin
"""


@dataclass
class Child:
    proc: subprocess.Popen[str]
    port: int
    script: Path
    pidfile: Path


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """A line of the child's output, or a failure after ``timeout`` seconds (never a hang)."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            pytest.fail(f"child {proc.pid} printed nothing within {timeout} s")
    return proc.stdout.readline()


def _start_child(tmp_path: Path, *, megabytes: int = 0, mode: str = "wait") -> Child:
    script = tmp_path / f"aide_probe_{uuid.uuid4().hex[:8]}.py"
    script.write_text(CHILD_SOURCE, encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, str(script), str(megabytes), mode], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    pidfile = tmp_path / f"{script.stem}.pid"
    pidfile.write_text(f"{proc.pid}\n", encoding="utf-8")
    return Child(proc, int(_read_line(proc, timeout=10)), script, pidfile)


def _stop(child: Child) -> None:
    assert child.proc.stdin is not None
    assert child.proc.stdout is not None
    child.proc.stdin.close()
    child.proc.kill()
    child.proc.wait(timeout=5)
    child.proc.stdout.close()


@pytest.fixture
def child(tmp_path: Path) -> Iterator[Child]:
    started = _start_child(tmp_path)
    yield started
    _stop(started)


def _builtin_only(data: Any) -> bool:
    return bool(json.loads(json.dumps(data)) == data)


# --- memory, swap, disk, load --------------------------------------------------------------------------------


def test_memory_and_swap_are_in_range() -> None:
    mem, sw = resources.memory(), resources.swap()
    assert 0 <= mem.percent <= 100
    assert 0 < mem.available_bytes <= mem.total_bytes
    assert mem.available_gb <= mem.total_gb == pytest.approx(mem.total_bytes / 2**30, abs=1e-3)
    assert 0 <= sw.percent <= 100
    assert sw.used_bytes <= sw.total_bytes
    assert sw.free_bytes <= sw.total_bytes
    assert _builtin_only(mem.to_dict())
    assert _builtin_only(sw.to_dict())


def test_disk_usage_is_in_range(tmp_path: Path) -> None:
    disk = resources.disk_usage(tmp_path)
    assert 0 <= disk.percent <= 100
    assert 0 < disk.free_bytes <= disk.total_bytes
    assert disk.free_gb <= disk.total_gb
    assert disk.to_dict()["path"] == str(tmp_path)
    assert _builtin_only(disk.to_dict())


def test_disk_usage_of_a_missing_path_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such"
    with pytest.raises(ProbeError, match=f"^disk path not found: {re.escape(str(missing))}$"):
        resources.disk_usage(missing)


def test_load_average_per_cpu() -> None:
    load = resources.load_average()
    assert load.cpu_count >= 1
    assert min(load.one, load.five, load.fifteen) >= 0
    assert load.per_cpu_five == pytest.approx(load.five / load.cpu_count, abs=1e-2)
    assert _builtin_only(load.to_dict())


# --- sampler -------------------------------------------------------------------------------------------------


class CpuTimes(NamedTuple):
    user: float
    system: float
    idle: float
    iowait: float


class FakeHost:
    """A scripted ``psutil.cpu_times()`` and a manual clock: the sampler's arithmetic, free of the real load."""

    def __init__(self, cores: int = 2) -> None:
        self.cores = cores
        self.now = 1000.0
        self.busy = 0.0
        self.idle = 0.0
        self.own = 0.0  # CPU seconds of the checker's own processes (pytest, its workers)
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.run(seconds, busy_cores=0.0)

    def run(self, seconds: float, *, busy_cores: float, own_cores: float = 0.0) -> None:
        """``seconds`` pass with ``busy_cores`` of the host's cores busy, ``own_cores`` of them by the checker."""
        self.now += seconds
        self.busy += seconds * busy_cores
        self.idle += seconds * (self.cores - busy_cores)
        self.own += seconds * own_cores

    def cpu_times(self) -> CpuTimes:
        return CpuTimes(user=self.busy * 0.75, system=self.busy * 0.25, idle=self.idle * 0.9, iowait=self.idle * 0.1)


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> FakeHost:
    fake = FakeHost()
    monkeypatch.setattr(resources.psutil, "cpu_times", fake.cpu_times)
    return fake


def test_real_sampler_reads_a_percentage() -> None:
    assert 0 <= ResourceSampler().cpu_percent() <= 100


def test_fresh_sampler_blocks_at_most_once_and_briefly(host: FakeHost) -> None:
    sampler = ResourceSampler(clock=host.clock, sleep=host.sleep)
    host.run(0.03, busy_cores=1.0)
    first = sampler.cpu_percent()
    assert host.sleeps == [pytest.approx(0.07)]  # what remains of 0.1 s after creation, once
    assert first == 15.0  # 0.03 s of one core busy in 0.1 s of 2 cores
    for _ in range(50):
        host.run(0.001, busy_cores=2.0)
        assert sampler.cpu_percent() == first  # under 0.1 s since the last read: the last value, not noise
    assert host.sleeps == [pytest.approx(0.07)]  # no sleep at all after the first read


def test_sampler_measures_since_the_previous_read(host: FakeHost) -> None:
    sampler = ResourceSampler(clock=host.clock, sleep=host.sleep)
    host.run(0.5, busy_cores=0.5)
    assert sampler.cpu_percent() == 25.0
    host.run(0.5, busy_cores=2.0)
    assert sampler.cpu_percent() == 100.0  # since creation it would be 62.5
    host.run(2.0, busy_cores=0.0)
    assert sampler.cpu_percent() == 0.0
    assert host.sleeps == []


def test_the_checkers_own_cpu_is_left_out_but_a_started_targets_is_not(host: FakeHost) -> None:
    own = ResourceSampler(clock=host.clock, sleep=host.sleep, own_cpu_seconds=lambda: host.own)
    everything = ResourceSampler(clock=host.clock, sleep=host.sleep)
    host.run(1.0, busy_cores=1.5, own_cores=1.0)  # the checker burns one core, the rest of the host half a core
    assert own.cpu_percent() == 25.0
    assert everything.cpu_percent() == 75.0
    host.run(1.0, busy_cores=0.2, own_cores=0.3)  # accounting skew: the checker's share exceeds the host's
    assert own.cpu_percent() == 0.0  # never negative


SPIN = "import time\nend = time.monotonic() + 60\nwhile time.monotonic() < end:\n    pass\n"


def _cpu_seconds(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def _until_it_has_spun(spinner: subprocess.Popen[Any], seconds: float) -> None:
    """Wait (on a busy machine as long as it takes, within HANG_S) until ``spinner`` has used ``seconds`` of CPU."""
    deadline = time.monotonic() + HANG_S
    while _cpu_seconds(spinner.pid) < seconds:
        assert spinner.poll() is None, "the spinner died"
        assert time.monotonic() < deadline, f"the spinner got under {seconds} s of CPU in {HANG_S} s"
        time.sleep(0.05)


def test_tree_cpu_seconds_counts_children_except_the_excluded_ones() -> None:
    import psutil

    spinner = subprocess.Popen([sys.executable, "-c", SPIN])
    try:
        _until_it_has_spun(spinner, 0.3)
        me = psutil.Process()
        mine = _cpu_seconds(me.pid)  # read in this order: every figure only grows, so each holds the earlier ones
        without_child = resources.tree_cpu_seconds(me, exclude={spinner.pid})
        spun = _cpu_seconds(spinner.pid)
        with_child = resources.tree_cpu_seconds(me)
    finally:
        spinner.kill()
        spinner.wait(5)
    assert spun >= 0.3
    assert with_child >= without_child + spun  # the excluded child's CPU, and only ours, is left out
    assert without_child >= mine  # our own CPU is counted


def test_sampler_network_rates_see_loopback_traffic() -> None:
    sampler = ResourceSampler()
    before = sampler.network_counters()
    payload = b"x" * 2**20
    with (
        socket.create_server(("127.0.0.1", 0)) as server,
        socket.create_connection(server.getsockname(), timeout=5) as left,
    ):
        right, _ = server.accept()
        with right:
            right.settimeout(5)
            left.sendall(payload)
            received = 0
            while received < len(payload):
                received += len(right.recv(65536))
    time.sleep(0.05)
    after, rates = sampler.network_counters(), sampler.network_rates()
    assert after["bytes_sent"] - before["bytes_sent"] >= len(payload)
    assert after["bytes_recv"] - before["bytes_recv"] >= len(payload)
    assert rates["bytes_sent_per_s"] >= len(payload) / rates["interval_s"] * 0.99
    assert set(before) >= {"bytes_sent", "bytes_recv", "packets_sent", "packets_recv"}


# --- processes -----------------------------------------------------------------------------------------------


def _assert_is_child(found: list[ProcessInfo], child: Child) -> None:
    assert [info.pid for info in found] == [child.proc.pid]
    info = found[0]
    assert info.name
    assert info.rss_bytes
    assert info.rss_bytes > 0
    assert info.threads is not None
    assert info.threads >= 1
    assert info.open_files is not None
    assert info.uptime_s is not None
    assert info.uptime_s >= 0
    assert info.cpu_percent is not None
    assert info.cpu_percent >= 0
    assert _builtin_only(info.to_dict())


def test_find_process_by_pidfile(child: Child) -> None:
    _assert_is_child(resources.find_processes(pidfile=child.pidfile), child)


def test_find_process_by_script_name(child: Child) -> None:
    _assert_is_child(resources.find_processes(name=child.script.name), child)


def test_find_process_by_listening_port(child: Child) -> None:
    _assert_is_child(resources.find_processes(port=child.port), child)
    assert child.port in resources.listening_ports()


def test_find_process_criteria_combine(child: Child, tmp_path: Path) -> None:
    _assert_is_child(resources.find_processes(pidfile=child.pidfile, name=child.script.name, port=child.port), child)
    assert resources.find_processes(pidfile=child.pidfile, name="not-this-one") == []
    other = tmp_path / "other.pid"
    other.write_text(str(os.getpid()), encoding="utf-8")
    assert resources.find_processes(pidfile=other, port=child.port) == []


def test_pidfile_of_an_exited_process_finds_nothing(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=10)
    pidfile = tmp_path / "app.pid"
    pidfile.write_text(str(proc.pid), encoding="utf-8")
    assert resources.find_processes(pidfile=pidfile) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "pid file not found: {pidfile}"),
        ("abc\n", "pid file {pidfile} does not hold a process id: 'abc'"),
        ("", "pid file {pidfile} does not hold a process id: ''"),
    ],
)
def test_bad_pidfile_raises_a_one_line_probe_error(tmp_path: Path, content: str | None, message: str) -> None:
    pidfile = tmp_path / "app.pid"
    if content is not None:
        pidfile.write_text(content, encoding="utf-8")
    with pytest.raises(ProbeError) as caught:
        resources.find_processes(pidfile=pidfile)
    assert str(caught.value) == message.format(pidfile=pidfile)


def test_find_processes_needs_a_criterion() -> None:
    with pytest.raises(ValueError, match="pidfile, name or port"):
        resources.find_processes()


def test_top_processes_by_memory_ranks_a_big_process_first(tmp_path: Path) -> None:
    small, big = _start_child(tmp_path), _start_child(tmp_path, megabytes=300)
    try:
        top = resources.top_processes(n=10_000, by="memory")
        pids = [info.pid for info in top]
        assert pids.index(big.proc.pid) < pids.index(small.proc.pid)
        rss = [info.rss_bytes or -1 for info in top]
        assert rss == sorted(rss, reverse=True)
        first_three = resources.top_processes(3)
        assert len(first_three) == 3
        assert first_three[0].rss_bytes is not None
        assert first_three[0].rss_bytes >= 300 * 2**20
    finally:
        _stop(small)
        _stop(big)


def test_top_processes_by_cpu_ranks_a_busy_process_first(tmp_path: Path) -> None:
    idle = _start_child(tmp_path)
    busy = _start_child(tmp_path, mode="spin")
    try:
        _until_it_has_spun(busy.proc, 0.3)  # CPU time, not wall time: on a busy machine the spinner waits its turn
        top = resources.top_processes(n=10_000, by="cpu")
        pids = [info.pid for info in top]
        assert pids.index(busy.proc.pid) < pids.index(idle.proc.pid)
        cpu = [info.cpu_percent if info.cpu_percent is not None else -1 for info in top]
        assert cpu == sorted(cpu, reverse=True)
    finally:
        _stop(idle)
        _stop(busy)


def test_top_processes_rejects_an_unknown_ranking() -> None:
    with pytest.raises(ValueError, match="by must be 'memory' or 'cpu'"):
        resources.top_processes(by="disk")  # type: ignore[arg-type]
