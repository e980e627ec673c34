"""``aide start | stop | status | diagnose`` as an operator runs them: real subprocesses, a real demo."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from aide_testing import run_aide

from conftest import free_port


def aide(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_aide(cwd, *args, env=env)


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, int]:
    port = free_port()
    (tmp_path / "aide.toml").write_text(
        f'[app]\nurl = "http://127.0.0.1:{port}"\nstop_grace = 5\n'
        f'command = ["{{python}}", "-m", "pytest_aide.demo", "--port", "{port}", "--data-dir", "demo"]\n'
        '[logs]\nfiles = ["demo/logs/app.log"]\n'
        '[preflight]\nconfig_files = ["demo/config/.env"]\n'
    )
    return tmp_path, port


def test_start_status_stop_follow_the_manual(project: tuple[Path, int]) -> None:
    root, _port = project
    try:
        started = aide(root, "start")
        assert started.returncode == 0, started.stderr
        assert started.stdout.startswith("started pid ")
        pid = json.loads((root / ".aide" / "app.pid").read_text())["pid"]
        assert aide(root, "status").returncode == 0
        again = aide(root, "start")
        assert "already answering" in again.stdout  # never a second copy
        stopped = aide(root, "stop")
        assert stopped.stdout.startswith(f"stopped pid {pid} (SIGTERM)")
        assert not (root / ".aide" / "app.pid").exists()
        down = aide(root, "status")
        assert down.returncode == 1
        assert "connection refused" in down.stderr
        assert "nothing to stop" in aide(root, "stop").stdout
        assert "demo serving on" in (root / ".aide" / "app-output.log").read_text()
    finally:
        aide(root, "stop")


def test_start_without_a_command_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "aide.toml").write_text('[app]\nurl = "http://127.0.0.1:9"\n')
    result = aide(tmp_path, "start")
    assert result.returncode == 2
    expected = f"aide: error: {tmp_path / 'aide.toml'}: [app] needs url and command to start the target"
    assert result.stderr.strip() == expected


def test_diagnose_writes_a_redacted_snapshot_even_when_the_target_is_down(project: tuple[Path, int]) -> None:
    root, _port = project
    try:
        assert aide(root, "start").returncode == 0  # generates the demo's data, logs and .env
    finally:
        aide(root, "stop")
    result = aide(root, "diagnose", env={"OPS_API_TOKEN": "diag-secret-5150"})
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip().removeprefix("diagnostics written to "))
    assert path.parent == root / "reports"
    assert path.name.startswith("diagnostics_")
    data = json.loads(path.read_text())
    assert data["schema"] == "pytest-aide/diagnostics/1"
    assert data["target"]["error"] == "connection refused"
    assert data["resources"]["memory"]["percent"] > 0
    assert "pid" in data["resources"]["top_by_memory"]
    errors = data["recent_errors"]["demo/logs/app.log"]
    assert errors
    assert all("ERROR" in line for line in errors)
    text = path.read_text()
    env_values = [
        line.split("=", 1)[1]
        for line in (root / "demo" / "config" / ".env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    ]
    for secret in ["diag-secret-5150", *[v for v in env_values if len(v) >= 4]]:
        assert secret not in text
