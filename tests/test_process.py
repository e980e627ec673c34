"""ensure_running / stop_started against real subprocesses and a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import requests

from conftest import HANG_S, free_port
from pytest_aide.errors import ProbeError
from pytest_aide.process import ensure_running, stop_started

SERVER = """
import http.server, signal, sys
if "--ignore-term" in sys.argv:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass

print("listening", flush=True)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


def answers(url: str) -> bool:
    try:
        with requests.get(url, timeout=1.0) as response:
            return response.status_code == 200
    except requests.RequestException:
        return False


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
def server_script(tmp_path: Path) -> Path:
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    return script


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "run" / "app.pid", tmp_path / "logs" / "app.out"


@pytest.fixture
def bystander() -> Iterator[subprocess.Popen[bytes]]:
    """A live process this helper did not start."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    proc.kill()
    proc.wait(timeout=5)


@pytest.fixture
def cleanup_pidfile(files: tuple[Path, Path]) -> Iterator[Path]:
    """Stops whatever a test left recorded in the pidfile, so a failing test leaks no process."""
    pidfile = files[0]
    yield pidfile
    if pidfile.exists():
        stop_started(pidfile, grace=0.5)


def test_start_waits_for_health_then_stop_terminates(
    server_script: Path, files: tuple[Path, Path], cleanup_pidfile: Path
) -> None:
    pidfile, output = files
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    result = ensure_running(
        [sys.executable, str(server_script), str(port)], url, pidfile=pidfile, output_path=output, start_timeout=10
    )
    assert result.started
    assert result.pid is not None
    assert answers(url)
    record = json.loads(pidfile.read_text())
    assert record["pid"] == result.pid
    assert record["create_time"] == psutil.Process(result.pid).create_time()
    assert "server.py" in record["command"]
    assert record["started_at"].endswith("+00:00")
    assert "listening" in output.read_text()

    stopped = stop_started(pidfile)
    assert stopped.outcome == "terminated"
    assert stopped.signalled
    assert stopped.pid == result.pid
    assert gone(result.pid)
    assert not pidfile.exists()
    assert not answers(url)


def test_already_answering_target_is_neither_started_nor_stopped(server_script: Path, files: tuple[Path, Path]) -> None:
    pidfile, output = files
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    existing = subprocess.Popen([sys.executable, str(server_script), str(port)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + HANG_S
        while not answers(url) and time.monotonic() < deadline:
            time.sleep(0.05)
        result = ensure_running([sys.executable, "-c", "raise SystemExit(9)"], url, pidfile=pidfile, output_path=output)
        assert not result.started
        assert result.pid is None
        assert not pidfile.exists()
        assert not output.exists()
        assert stop_started(pidfile).outcome == "no-pidfile"
        assert existing.poll() is None
        assert answers(url)
    finally:
        existing.terminate()
        existing.wait(timeout=5)


def test_command_that_exits_at_once_fails_fast_with_its_last_output(
    files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    pidfile, output = files
    monkeypatch.delenv("APP_TOKEN", raising=False)
    output.parent.mkdir()
    output.write_text("line from an earlier run\n")
    code = "import sys; print('booting', sys.argv[1]); sys.stderr.write('fatal: config missing\\n'); sys.exit(3)"
    url = f"http://user:pw-in-url@127.0.0.1:{free_port()}/health"
    began = time.monotonic()
    with pytest.raises(ProbeError) as caught:
        ensure_running(
            [sys.executable, "-c", code, "tok-12345"],
            url,
            pidfile=pidfile,
            output_path=output,
            env={"APP_TOKEN": "tok-12345"},
            start_timeout=120,
        )
    assert time.monotonic() - began < HANG_S  # it saw the exit instead of waiting out the start timeout
    message = str(caught.value)
    assert "\n" not in message
    assert "exited with code 3" in message
    assert "booting *** | fatal: config missing" in message
    assert "earlier run" not in message
    assert "tok-12345" not in message
    assert "pw-in-url" not in message
    assert "http://user:***@127.0.0.1" in message
    assert not pidfile.exists()


def test_command_that_never_answers_hits_start_timeout_and_is_stopped(files: tuple[Path, Path]) -> None:
    pidfile, output = files
    code = "import os, time; print(os.getpid(), flush=True); time.sleep(60)"
    began = time.monotonic()
    with pytest.raises(ProbeError, match=r"no answer within 1 s"):
        ensure_running(
            [sys.executable, "-c", code],
            f"http://127.0.0.1:{free_port()}/",
            pidfile=pidfile,
            output_path=output,
            start_timeout=1.0,
        )
    assert 1.0 <= time.monotonic() - began < HANG_S  # the command sleeps a minute
    assert gone(int(output.read_text().split()[0]))
    assert not pidfile.exists()


def test_missing_executable_is_a_probe_error(files: tuple[Path, Path]) -> None:
    pidfile, output = files
    with pytest.raises(ProbeError, match=r"could not start 'no-such-binary-aide --x': No such file"):
        ensure_running(
            ["no-such-binary-aide", "--x"], f"http://127.0.0.1:{free_port()}/", pidfile=pidfile, output_path=output
        )
    assert not pidfile.exists()


def test_target_ignoring_sigterm_is_killed_after_grace(
    server_script: Path, files: tuple[Path, Path], cleanup_pidfile: Path
) -> None:
    pidfile, output = files
    port = free_port()
    command = [sys.executable, str(server_script), str(port), "--ignore-term"]
    result = ensure_running(command, f"http://127.0.0.1:{port}/", pidfile=pidfile, output_path=output, start_timeout=10)
    assert result.pid is not None
    stopped = stop_started(pidfile, grace=0.5)
    assert stopped.outcome == "killed"
    assert 0.5 <= stopped.elapsed_s < HANG_S  # it ignores SIGTERM for ever
    assert gone(result.pid)
    assert not pidfile.exists()


def test_stop_reaches_the_whole_process_group(
    server_script: Path, files: tuple[Path, Path], cleanup_pidfile: Path
) -> None:
    pidfile, output = files
    port = free_port()
    python = sys.executable
    shell = f"'{python}' -c 'import time; time.sleep(60)' & echo worker=$!; exec '{python}' '{server_script}' {port}"
    ensure_running(
        ["sh", "-c", shell], f"http://127.0.0.1:{port}/", pidfile=pidfile, output_path=output, start_timeout=10
    )
    worker = int(output.read_text().split("worker=")[1].split()[0])
    assert not gone(worker)
    assert stop_started(pidfile, grace=5).outcome == "terminated"
    deadline = time.monotonic() + HANG_S
    while not gone(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(worker)


def test_pidfile_naming_a_process_we_did_not_start_is_never_signalled(
    files: tuple[Path, Path], bystander: subprocess.Popen[bytes]
) -> None:
    pidfile, _ = files
    pidfile.parent.mkdir()
    real_create_time = psutil.Process(bystander.pid).create_time()
    pidfile.write_text(json.dumps({"pid": bystander.pid, "create_time": real_create_time - 100.0}))
    result = stop_started(pidfile, grace=0.5)
    assert result.outcome == "stale"
    assert not result.signalled
    assert not pidfile.exists()
    time.sleep(0.1)
    assert bystander.poll() is None
    assert psutil.Process(bystander.pid).status() != psutil.STATUS_ZOMBIE


def test_pidfile_of_a_finished_process_is_removed(files: tuple[Path, Path]) -> None:
    pidfile, _ = files
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    create_time = psutil.Process(finished.pid).create_time()
    finished.wait(timeout=10)
    pidfile.parent.mkdir()
    pidfile.write_text(json.dumps({"pid": finished.pid, "create_time": create_time}))
    assert stop_started(pidfile).outcome == "stale"
    assert not pidfile.exists()


def test_live_recorded_process_blocks_a_second_start(
    files: tuple[Path, Path], bystander: subprocess.Popen[bytes]
) -> None:
    pidfile, output = files
    pidfile.parent.mkdir()
    record = {"pid": bystander.pid, "create_time": psutil.Process(bystander.pid).create_time()}
    pidfile.write_text(json.dumps(record))
    with pytest.raises(ProbeError, match=r"still runs; stop it with stop_started\(\) first"):
        ensure_running(
            [sys.executable, "-c", "pass"],
            f"http://127.0.0.1:{free_port()}/",
            pidfile=pidfile,
            output_path=output,
            probe_timeout=0.5,
        )
    assert json.loads(pidfile.read_text()) == record
    assert not output.exists()


def test_unreadable_pidfile_is_reported_and_kept(files: tuple[Path, Path]) -> None:
    pidfile, _ = files
    pidfile.parent.mkdir()
    pidfile.write_text("12345\n")
    with pytest.raises(ProbeError, match=r"is not a pytest-aide pidfile"):
        stop_started(pidfile)
    assert pidfile.exists()


@pytest.mark.parametrize("behaviour", ["503", "silent"])
def test_a_running_but_unhealthy_target_is_not_started_again(files: tuple[Path, Path], behaviour: str) -> None:
    """Something already serves the URL (with a 5xx, or accepting and never answering): starting a second
    copy would only fight it for the port, so nothing is started and the checks judge the running one."""
    import threading
    from http.server import BaseHTTPRequestHandler

    from quiet_http import QuietHTTPServer

    class Unhealthy(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    pidfile, output = files
    if behaviour == "503":
        server = QuietHTTPServer(("127.0.0.1", 0), Unhealthy)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        port, close = server.server_address[1], lambda: (server.shutdown(), server.server_close())
    else:
        listener = socket.create_server(("127.0.0.1", 0))
        port, close = listener.getsockname()[1], listener.close
    try:
        result = ensure_running(
            [sys.executable, "-c", "raise SystemExit(9)"],
            f"http://127.0.0.1:{port}/",
            pidfile=pidfile,
            output_path=output,
            probe_timeout=0.5,
        )
    finally:
        close()
    assert not result.started
    assert not pidfile.exists()
