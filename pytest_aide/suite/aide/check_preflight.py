"""Start-up pre-flight items: configuration files present, installed dependencies consistent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # annotations only: nothing more is imported when the suite is collected
    from pytest_aide.config import AideConfig
    from pytest_aide.health import HealthRecorder

pytestmark = [pytest.mark.aide(component="preflight")]

PIP_CHECK_TIMEOUT_S = 120


@pytest.mark.daily
@pytest.mark.weekly
@pytest.mark.monthly
def check_config_file(aide_config_file: Path, aide_health: HealthRecorder) -> None:
    """The app's configuration file (for example config/.env) is present and not empty."""
    assert aide_config_file.is_file(), (
        f"{aide_config_file} is missing: restore it from the newest backup (`aide restore`)"
    )
    aide_health.record("config_file_bytes", float(aide_config_file.stat().st_size), "B", critical="1:")


@pytest.mark.weekly
@pytest.mark.monthly
@pytest.mark.aide(timeout=PIP_CHECK_TIMEOUT_S + 60)  # `pip check` has its own limit; this one only backs it up
def check_dependencies_consistent(aide_config: AideConfig) -> None:
    """What `pip check` verifies: every installed distribution's requirements are met."""
    if not aide_config.settings.preflight.pip_check:
        pytest.skip("disabled: [preflight] pip_check = false")
    configured = aide_config.settings.preflight.python
    python = str(aide_config.path(configured)) if configured else sys.executable
    try:
        result = subprocess.run(
            [python, "-m", "pip", "check"], capture_output=True, text=True, timeout=PIP_CHECK_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"pip check did not finish within {PIP_CHECK_TIMEOUT_S} s", pytrace=False)
    except OSError as exc:
        pytest.fail(f"[preflight] python: cannot run {python}: {exc.strerror}", pytrace=False)
    problems = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, f"pip check: {problems.splitlines()[0] if problems else 'failed'}: reinstall them"
