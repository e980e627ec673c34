"""Unprivileged runs: the shipped process checks run for real as ``nobody`` against a process owned by root.

A listening port whose owner cannot be seen is OK for "something listens" (``unseen_listeners`` says so), and the
open files of another user's process are not recorded as 0. The run gets CAP_DAC_READ_SEARCH only, so it can
read this checkout wherever it lies; seeing another user's process would take CAP_SYS_PTRACE, which it lacks (the
test proves it: the owner stays hidden).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aide_testing import latest_health, run_as_nobody

from conftest import HANG_S, unavailable
from pytest_aide.probes.resources import port_listeners

LISTENER = """
import socket, sys, time
server = socket.create_server(("127.0.0.1", 0))
with open(sys.argv[1], "w") as out:
    out.write(str(server.getsockname()[1]))
time.sleep(120)
"""


@dataclass
class RootService:
    """A root-owned process listening on 127.0.0.1, found by its script's name."""

    proc: subprocess.Popen[bytes]
    name: str
    port: int


@pytest.fixture
def root_service(tmp_path: Path) -> Iterator[RootService]:
    if os.geteuid() != 0:
        unavailable("running a check as another user needs root")
    script = tmp_path / f"aide_root_service_{uuid.uuid4().hex[:8]}.py"
    script.write_text(LISTENER)
    port_file = tmp_path / "port"
    proc = subprocess.Popen([sys.executable, str(script), str(port_file)])
    try:
        deadline = time.monotonic() + HANG_S
        while not port_file.exists() or not port_file.read_text():
            assert proc.poll() is None, "the root service died"
            assert time.monotonic() < deadline, "the root service did not start"
            time.sleep(0.05)
        yield RootService(proc, script.name, int(port_file.read_text()))
    finally:
        proc.kill()
        proc.wait(5)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run_as_nobody(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    nobody = pwd.getpwnam("nobody")
    os.chown(project, nobody.pw_uid, nobody.pw_gid)
    return run_as_nobody(project, *args)


@pytest.fixture
def project() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="aide-unprivileged-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_as_nobody_a_root_owned_port_is_ok_and_hidden_figures_are_not_zero(
    root_service: RootService, project: Path
) -> None:
    closed = _closed_port()
    (project / "aide.toml").write_text(
        f'[resources]\nports = [{root_service.port}, {closed}]\nprocesses = ["{root_service.name}"]\n'
        "[suite]\nenabled = true\n"
    )
    who = _run_as_nobody(project, "-c", "import os; print(os.geteuid())")
    assert who.stdout.strip() == str(pwd.getpwnam("nobody").pw_uid), who.stderr
    done = _run_as_nobody(project, "-m", "pytest", "-p", "no:cacheprovider", "-k", "port_listening or process_running")
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]
    checks: dict[str, Any] = {c["nodeid"].split("::")[-1]: c for c in latest_health(project)["checks"]}

    served = checks[f"check_port_listening[{root_service.port}]"]
    assert served["status"] == "OK", json.dumps(served)
    assert served["measurements"]["unseen_listeners"]["value"] == 1  # the note: served, owner hidden from nobody
    assert "processes" not in served["measurements"]

    refused = checks[f"check_port_listening[{closed}]"]
    assert refused["status"] == "CRITICAL"
    assert f"nothing listens on TCP port {closed}" in refused["message"]

    by_name = checks[f"check_process_running[{root_service.name}]"]
    assert by_name["status"] == "OK", json.dumps(by_name)
    assert by_name["measurements"]["processes"]["value"] == 1
    assert by_name["measurements"]["rss_mb"]["value"] > 0  # what the kernel shows any user is still recorded
    assert "open_files" not in by_name["measurements"]  # hidden: not recorded, never a 0


def test_as_root_the_owner_is_seen(root_service: RootService) -> None:
    found = port_listeners(root_service.port)
    assert found.sockets == 1
    assert found.unseen == 0
    assert [p.pid for p in found.processes] == [root_service.proc.pid]
    assert found.processes[0].open_files is not None


def test_a_port_nobody_listens_on_has_no_sockets() -> None:
    found = port_listeners(_closed_port())
    assert (found.sockets, found.unseen, found.processes) == (0, 0, [])
