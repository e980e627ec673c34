"""Hooks pytest-aide offers to conftest files and other plugins."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_aide.alerts import Notifier
    from pytest_aide.summary import RunSummary


@pytest.hookspec
def pytest_aide_verdict(summary: RunSummary, config: pytest.Config) -> None:
    """Called on the controller once the run's verdict is known, before reports are written.

    Use it to export figures elsewhere; ``summary.to_dict()`` is what ``health.json`` holds (with the run's
    ``alerts``, judged just before). For alerting, ``[alerts.rules.*]`` with cooldowns, thresholds and a digest
    deliver through ``pytest_aide_notifiers``.

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


@pytest.hookspec
def pytest_aide_notifiers(config: pytest.Config) -> list[Notifier]:
    """Return notifiers that get the run's alert notifications, beside the ``[alerts.webhooks.*]`` ones.

    Called on the controller at the end of a run whose ``[alerts.rules.*]`` called for a notification. A
    notifier is any object with a ``name`` and a ``send(message)`` method; ``message`` is a
    :class:`pytest_aide.alerts.AlertMessage` (``kind`` "alerts" or "digest", ``text``, ``events``,
    ``payload()``), its text already free of secrets. ``send`` raises to say the message did not get through:
    that is reported in the verdict block and ``health.json``, never fails the run, and the next run sends the
    message again. Every notifier runs in its own thread, all within ``[alerts] notify_timeout`` seconds.

    .. code-block:: python

        class PagerNotifier:
            name = "pager"

            def send(self, message):
                if any(event.severity == "critical" for event in message.events):
                    page_the_on_call(message.text)  # raise if the page did not go out

        def pytest_aide_notifiers(config):
            return [PagerNotifier()]
    """
    return []
