"""CPU over a window: sampled in the background from the session's start, judged on the mean so far, waiting only
for what is missing of about 1 s; the run's own processes left out; no samples make check_cpu UNKNOWN.

No test asserts a system-wide CPU figure: the sampler's source and clock are injected (a scripted host), and the
end-to-end runs replace the module's source with a constant 37 % host.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from aide_testing import latest_health

from conftest import HANG_S
from pytest_aide.errors import ProbeError
from pytest_aide.probes.resources import CpuWindow, ResourceSampler


class ScriptedHost:
    """CPU-time counters and a clock that move only when the test says so."""

    def __init__(self, cores: int = 2) -> None:
        self.cores = cores
        self.now = 100.0
        self.busy = self.total = self.own = 0.0
        self.sleeps: list[float] = []
        self.failing: Exception | None = None

    def clock(self) -> float:
        return self.now

    def source(self) -> tuple[float, float]:
        if self.failing is not None:
            raise self.failing
        return self.busy, self.total

    def own_cpu_seconds(self) -> float:
        return self.own

    def run(self, seconds: float, *, busy_cores: float, own_cores: float = 0.0) -> None:
        self.now += seconds
        self.busy += seconds * busy_cores
        self.total += seconds * self.cores
        self.own += seconds * own_cores

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.run(seconds, busy_cores=0.0)

    def window(self, **kwargs: Any) -> CpuWindow:
        return CpuWindow(source=self.source, clock=self.clock, sleep=self.sleep, **kwargs)


def test_the_figure_is_the_mean_of_the_window_not_the_last_instant() -> None:
    host = ScriptedHost()
    window = host.window()
    for busy in (2.0, 2.0, 0.0, 0.0, 0.0, 0.0):  # 0.5 s of both cores busy, then 1 s idle
        host.run(0.25, busy_cores=busy)
        window.sample()
    reading = window.read()
    assert reading.percent == pytest.approx(33.3)  # an instant would say 0 %, the first samples 100 %
    assert reading.window_s == 1.5
    assert reading.samples == 6
    assert host.sleeps == []  # 1.5 s already sampled: the check does not wait


def test_a_read_waits_only_for_what_is_missing_of_the_window() -> None:
    host = ScriptedHost()
    window = host.window()
    host.run(0.4, busy_cores=1.0)
    first = window.read()
    assert host.sleeps == [pytest.approx(0.6)]  # 0.4 s sampled: 0.6 s missing, once
    assert first.window_s == pytest.approx(1.0)
    assert first.percent == 20.0  # 0.4 s of one core in 1 s of two
    host.run(0.05, busy_cores=2.0)
    window.read()
    assert host.sleeps == [pytest.approx(0.6)]  # later reads never wait again


def test_two_readers_of_the_same_window_read_the_same_value() -> None:
    """What makes a serial run and -n 2 agree: both judge the mean since the start, not their own instant."""
    host = ScriptedHost()
    serial, worker = host.window(), host.window()
    host.run(3.0, busy_cores=1.0)
    first = serial.read()
    host.run(0.01, busy_cores=2.0)  # a spike at the moment the second one reads
    second = worker.read()
    assert abs(first.percent - second.percent) < 0.5


def test_the_runs_own_cpu_is_left_out_and_never_makes_it_negative() -> None:
    host = ScriptedHost()
    window = host.window(own_cpu_seconds=host.own_cpu_seconds)
    host.run(1.0, busy_cores=1.5, own_cores=1.0)  # the checker burns one core, the host half a core
    window.sample()
    assert window.read().percent == 25.0
    skewed = host.window(own_cpu_seconds=host.own_cpu_seconds)
    host.run(1.0, busy_cores=0.2, own_cores=0.3)  # accounting skew: the checker's share exceeds the host's
    assert skewed.read().percent == 0.0


@pytest.mark.parametrize("checker_cores", [0.05, 0.7, 1.0])
def test_a_saturated_host_reads_the_same_whatever_the_checker_takes(checker_cores: float) -> None:
    """Serial (the checker nearly idle) and -n 2 (workers busy) on a host whose other processes want every CPU:
    subtracting the checker's share would read 97 % serial and 65 % under -n 2 (measured on this machine)."""
    host = ScriptedHost()
    window = host.window(own_cpu_seconds=host.own_cpu_seconds)
    for _ in range(4):
        host.run(0.25, busy_cores=2.0, own_cores=checker_cores)
        window.sample()
    assert window.read().percent == 100.0


@pytest.mark.parametrize("checker_cores", [0.05, 0.7])
def test_a_host_with_cpu_to_spare_reads_the_same_whatever_the_checker_takes(checker_cores: float) -> None:
    host = ScriptedHost()
    window = host.window(own_cpu_seconds=host.own_cpu_seconds)
    for _ in range(4):  # the other processes use one core of two, and get it: some CPU stays idle
        host.run(0.25, busy_cores=1.0 + checker_cores, own_cores=checker_cores)
        window.sample()
    reading = window.read()
    assert reading.percent == 50.0
    assert reading.own_percent == pytest.approx(checker_cores * 50, abs=0.1)


def test_a_checker_that_alone_saturates_the_host_reads_near_zero() -> None:
    host = ScriptedHost()
    window = host.window(own_cpu_seconds=host.own_cpu_seconds)
    host.run(1.0, busy_cores=2.0, own_cores=1.96)  # the rest of the host got 0.04 of a core
    assert window.read().percent == 4.0  # given back at most what they took: 0.08 of 2 cores


def test_a_saturated_host_shared_one_to_three_reads_the_others_demand() -> None:
    """Fair scheduling: one busy process of the host beside three of the checker gets a quarter of 2 cores."""
    host = ScriptedHost()
    window = host.window(own_cpu_seconds=host.own_cpu_seconds)
    host.run(1.0, busy_cores=2.0, own_cores=1.5)
    assert window.read().percent == 50.0  # with the checker gone it would take its whole core


def test_a_sampler_that_got_no_samples_raises_without_waiting() -> None:
    host = ScriptedHost()
    host.failing = PermissionError("/proc/stat: permission denied")
    window = host.window()
    host.run(5.0, busy_cores=1.0)
    with pytest.raises(ProbeError, match=r"the CPU sampler got no samples: PermissionError: /proc/stat"):
        window.read()
    assert host.sleeps == []  # nothing to wait for


def test_a_window_starts_at_its_first_readable_sample() -> None:
    host = ScriptedHost()
    host.failing = OSError("not yet")
    window = host.window()
    host.run(5.0, busy_cores=2.0)
    host.failing = None
    window.sample()  # the window starts here: the 5 s before were never measured
    host.run(1.0, busy_cores=0.5)
    reading = window.read()
    assert reading.percent == 25.0
    assert reading.window_s == 1.0


def test_the_background_thread_samples_until_stopped() -> None:
    calls: list[float] = []
    lock = threading.Lock()

    def source() -> tuple[float, float]:
        with lock:
            calls.append(time.monotonic())
            return len(calls) * 0.5, len(calls) * 2.0

    window = CpuWindow(source=source, every_s=0.01).start()
    deadline = time.monotonic() + HANG_S
    while len(calls) < 6:
        assert time.monotonic() < deadline, "the background sampler did not sample"
        time.sleep(0.01)
    window.stop()
    with lock:
        stopped_at = len(calls)
    time.sleep(0.1)
    assert len(calls) == stopped_at  # no sampling after stop
    assert window.read().percent == 25.0


def test_a_sampler_with_a_window_reads_the_window() -> None:
    host = ScriptedHost()
    sampler = ResourceSampler(clock=host.clock, sleep=host.sleep, window=host.window())
    host.run(2.0, busy_cores=0.5)
    assert sampler.cpu_percent() == 25.0
    assert sampler.cpu_window().window_s == 2.0


# --- end to end: the shipped check_cpu, serial and under -n 2 ----------------------------------------------

CONSTANT_HOST = """
import time
from pytest_aide.probes import resources

def host_at_37_percent():
    total = time.monotonic() * 2
    return total * 0.37, total

resources.system_cpu_seconds = host_at_37_percent
resources.tree_cpu_seconds = lambda root, exclude=(): 0.0
"""

BROKEN_HOST = """
from pytest_aide.probes import resources

def unreadable():
    raise PermissionError("/proc/stat is not readable here")

resources.system_cpu_seconds = unreadable
"""


def _cpu_check(pytester: pytest.Pytester, conftest: str, *args: str) -> dict[str, Any]:
    pytester.makeconftest(conftest)
    pytester.makefile(".toml", aide="[suite]\nenabled = true\n")
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "-k", "check_cpu or check_memory", *args, timeout=120)
    checks = {c["nodeid"].split("::")[-1]: c for c in latest_health(pytester.path)["checks"]}
    return checks["check_cpu"]


def test_serial_and_two_workers_read_the_same_window(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("xdist")
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    serial = _cpu_check(pytester, CONSTANT_HOST)
    parallel = _cpu_check(pytester, CONSTANT_HOST, "-n", "2")
    assert serial["status"] == parallel["status"] == "OK"
    assert serial["measurements"]["cpu_percent"]["value"] == 37.0
    assert parallel["measurements"]["cpu_percent"]["value"] == 37.0


def test_a_sampler_with_no_samples_makes_check_cpu_unknown(pytester: pytest.Pytester) -> None:
    check = _cpu_check(pytester, BROKEN_HOST)
    assert check["status"] == "UNKNOWN"
    assert "the CPU sampler got no samples: PermissionError: /proc/stat is not readable here" in check["message"]


def test_a_check_that_reads_no_resources_gets_no_resource_fixture(pytester: pytest.Pytester) -> None:
    # An autouse session fixture would sit in every check's fixture closure and cost pytest a lookup per check.
    pytester.makefile(".toml", aide="[reports]\narchive = false\n")
    pytester.makepyfile(
        check_own="def check_closure(request):\n    assert 'aide_resources' not in request.fixturenames\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "check_own.py", timeout=120)
    result.assert_outcomes(passed=1)
