"""Disk defaults that fit any host: used % at the manuals' 80/90, free space as a share of the volume, and the
seeds' "more than 1 GB free" only on the volume the configuration marks as the app's data.

Real small volumes (tmpfs and an ext4 loop file with its reserved blocks) are mounted and removed by the tests
(root is needed to mount: under AIDE_REQUIRE_SERVICES=1 its absence fails); hypothesis covers 16 MiB-16 TiB.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aide_testing import aide_run, latest_health
from hypothesis import given
from hypothesis import strategies as st

from conftest import unavailable
from pytest_aide.config import load_config
from pytest_aide.health import HealthRecorder
from pytest_aide.probes.resources import GIB, DiskUsage, disk_usage
from pytest_aide.settings import DiskItem
from pytest_aide.status import Status
from pytest_aide.suite.aide.check_resources import record_disk
from pytest_aide.thresholds import ThresholdSet

MIB = 2**20
Mount = Callable[[int], Path]  # tmpfs(size_mib) -> its mount point
REPO = Path(__file__).resolve().parents[1]


def _usage(total: int, used: int, reserved: int) -> DiskUsage:
    """What psutil reports for a volume: ``free`` is what a user may still write, ``percent`` as df counts it."""
    free = max(0, total - used - reserved)
    percent = round(used / (used + free) * 100, 1) if used + free else 0.0
    return DiskUsage(
        path="/v", percent=percent, free_bytes=free, total_bytes=total, free_gb=round(free / GIB, 3), total_gb=0.0
    )


def _judge(usage: DiskUsage, *, data: bool = False) -> HealthRecorder:
    health = HealthRecorder(ThresholdSet.defaults())
    record_disk(usage, health, data=data)
    return health


@given(
    total=st.integers(16 * MIB, 16 * 2**40),
    used_share=st.floats(0, 0.79),
    reserved_share=st.floats(0, 0.9),  # ext4 reserves 5 %; a shared pool or quota can hide far more of the size
)
def test_no_default_fires_on_a_healthy_volume_of_any_size(total: int, used_share: float, reserved_share: float) -> None:
    reserved = int(total * reserved_share)
    used = int((total - reserved) * used_share)  # df's Use% (used over what users may fill) below 80 %
    health = _judge(_usage(total, used, reserved))
    assert health.status is Status.OK, health.message()


@given(total=st.integers(16 * MIB, 16 * 2**40), used_share=st.floats(0.905, 1.0))
def test_a_volume_past_90_percent_is_critical_at_any_size(total: int, used_share: float) -> None:
    health = _judge(_usage(total, int(total * used_share), 0))
    assert health.status is Status.CRITICAL
    assert "disk_percent" in health.message()


@given(total=st.integers(16 * MIB, 16 * 2**40), used_share=st.floats(0.805, 0.895))
def test_a_volume_between_80_and_90_percent_is_a_warning_at_any_size(total: int, used_share: float) -> None:
    health = _judge(_usage(total, int(total * used_share), 0))
    assert health.status is Status.WARNING, health.message()


@given(total=st.integers(16 * MIB, int(0.99 * GIB)), used_share=st.floats(0, 0.79))  # free_gb has 3 decimals
def test_the_data_volume_needs_more_than_1_gb_free(total: int, used_share: float) -> None:
    health = _judge(_usage(total, int(total * used_share), 0), data=True)
    assert health.status is Status.CRITICAL
    assert "free_disk_gb" in health.message()
    assert "needs > 1 GB" in health.message()


def test_a_configured_free_disk_gb_level_wins_over_the_data_minimum() -> None:
    from pytest_aide.thresholds import ThresholdChange

    thresholds = ThresholdSet.defaults().with_changes({"free_disk_gb": ThresholdChange.parse(None, "0.01:")})
    health = HealthRecorder(thresholds)
    record_disk(_usage(64 * MIB, 0, 0), health, data=True)
    assert health.status is Status.OK, health.message()


# --- real volumes -----------------------------------------------------------------------------------------


def _run(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, f"{' '.join(command)}: {done.stderr.strip()}"


def _mountable() -> None:
    if os.geteuid() != 0:
        unavailable("mounting a test volume needs root")
    if not shutil.which("mount"):
        unavailable("mount is not installed")


@pytest.fixture
def tmpfs() -> Iterator[Mount]:
    """``tmpfs(size_mib)`` mounts a fresh tmpfs of that size; every mount is removed after the test."""
    _mountable()
    mounted: list[Path] = []

    def mount(size_mib: int) -> Path:
        point = Path(tempfile.mkdtemp(prefix=f"aide-tmpfs-{size_mib}m-"))
        _run("mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs", str(point))
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", str(point)], capture_output=True, timeout=30, check=False)
        point.rmdir()


@pytest.fixture
def ext4_loop(tmp_path: Path) -> Iterator[Path]:
    """A 32 MiB ext4 file system in a loop file (5 % reserved blocks, a journal), mounted and removed."""
    _mountable()
    for tool in ("mkfs.ext4", "losetup"):
        if not shutil.which(tool):
            unavailable(f"{tool} is not installed (apt-get install e2fsprogs mount)")
    image = tmp_path / "volume.img"
    with image.open("wb") as file:
        file.truncate(32 * MIB)
    _run("mkfs.ext4", "-q", "-F", str(image))
    point = Path(tempfile.mkdtemp(prefix="aide-ext4-"))
    _run("mount", "-o", "loop", str(image), str(point))
    try:
        yield point
    finally:
        subprocess.run(["umount", str(point)], capture_output=True, timeout=30, check=False)
        point.rmdir()


def _fill_to(point: Path, percent: float) -> None:
    """Write a file until the volume is ``percent`` full as df counts it."""
    usage = disk_usage(point)
    used = usage.total_bytes * usage.percent / 100
    wanted = (used + usage.free_bytes) * percent / 100 - used
    with (point / "fill.bin").open("wb") as file:
        file.write(b"\0" * int(wanted))
        file.flush()
        os.fsync(file.fileno())


def _disk_checks(pytester: pytest.Pytester, disk_paths: str) -> dict[str, dict[str, Any]]:
    pytester.makefile(".toml", aide=f"[resources]\ndisk_paths = {disk_paths}\n[suite]\nenabled = true\n")
    aide_run(pytester, "-k", "check_disk")
    health = latest_health(pytester.path)
    return {check["nodeid"].split("::")[-1]: check for check in health["checks"]}


def _toml_path(path: Path) -> str:
    return '"' + str(path) + '"'


def test_empty_small_volumes_are_healthy(pytester: pytest.Pytester, tmpfs: Mount, ext4_loop: Path) -> None:
    mount = tmpfs
    tiny, small = mount(16), mount(64)
    paths = ", ".join(_toml_path(p) for p in (tiny, small, ext4_loop))
    checks = _disk_checks(pytester, f"[{paths}]")
    found = {name: check["status"] for name, check in checks.items()}
    assert found == {f"check_disk[{p.name}]": "OK" for p in (tiny, small, ext4_loop)}, checks
    for check in checks.values():
        measured = check["measurements"]
        assert isinstance(measured, dict)
        assert measured["free_disk_gb"]["value"] < 1  # recorded, below the old 1 GB floor, and no alarm
        assert measured["free_disk_percent"]["value"] > 80


@pytest.mark.parametrize(("percent", "status"), [(85, "WARNING"), (95, "CRITICAL")])
def test_a_filling_small_volume_warns_then_is_critical(
    pytester: pytest.Pytester, tmpfs: Mount, percent: int, status: str
) -> None:
    mount = tmpfs
    point = mount(64)
    _fill_to(point, percent)
    checks = _disk_checks(pytester, f"[{_toml_path(point)}]")
    check = checks[f"check_disk[{point.name}]"]
    assert check["status"] == status, check
    assert "disk_percent" in str(check["message"])


def test_a_filling_ext4_volume_with_reserved_blocks_warns(pytester: pytest.Pytester, ext4_loop: Path) -> None:
    _fill_to(ext4_loop, 85)
    checks = _disk_checks(pytester, f"[{_toml_path(ext4_loop)}]")
    assert checks[f"check_disk[{ext4_loop.name}]"]["status"] == "WARNING", checks


def test_the_1_gb_minimum_applies_to_the_marked_data_volume_only(pytester: pytest.Pytester, tmpfs: Mount) -> None:
    mount = tmpfs
    logs, data = mount(32), mount(64)
    checks = _disk_checks(pytester, f'[{_toml_path(logs)}, {{ path = "{data}", data = true }}]')
    assert checks[f"check_disk[{logs.name}]"]["status"] == "OK"
    marked = checks[f"check_disk[{data.name}]"]
    assert marked["status"] == "CRITICAL"
    assert "free_disk_gb" in str(marked["message"])
    assert "needs > 1 GB" in str(marked["message"])


def test_a_large_data_volume_passes_the_minimum(pytester: pytest.Pytester) -> None:
    if disk_usage(pytester.path).free_bytes < 2 * GIB:
        unavailable("the test folder's volume has under 2 GiB free")
    checks = _disk_checks(pytester, f'[{{ path = "{pytester.path}", data = true }}]')
    (check,) = checks.values()
    assert check["status"] == "OK", check
    assert check["measurements"]["free_disk_gb"]["critical"] == "1:"


def test_the_demo_configuration_marks_its_data_volume() -> None:
    config = load_config(REPO / "aide.toml", rootdir=REPO, environ={})
    marked = [item for item in config.settings.resources.disk_paths if isinstance(item, DiskItem) and item.data]
    assert [item.path for item in marked] == ["."]
