"""Hooks pytest-aide offers to conftest files and other plugins."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_aide.summary import RunSummary


@pytest.hookspec
def pytest_aide_verdict(summary: RunSummary, config: pytest.Config) -> None:
    """Called on the controller once the run's verdict is known, before reports are written.

    Use it to alert or to export figures elsewhere; ``summary.to_dict()`` is what ``health.json`` holds.

    .. code-block:: python

        def pytest_aide_verdict(summary, config):
            if summary.verdict.value in ("UNHEALTHY", "CRITICAL"):
                page_the_on_call(summary.headline())
    """


@pytest.hookspec
def pytest_aide_secrets(config: pytest.Config) -> list[str]:
    """Return extra secret strings to mask in every output (terminal, reports, logs).

    .. code-block:: python

        def pytest_aide_secrets(config):
            return [os.environ["VAULT_TOKEN"]]
    """
    return []
