"""The wiring of alert rules: at the end of a run, on the controller, hand the decided summary to
:mod:`pytest_aide.alerts` with the configured webhooks and the notifiers plugins return.

Nothing here can fail the health run: a notifier, a plugin's hook or the history database that fails is a line
of the verdict block and of ``health.json`` (``alerts``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest

from pytest_aide.alerts import Notifier
from pytest_aide.alerts.engine import AlertReport, DigestSchedule, Now, run_alerts, utc_now
from pytest_aide.alerts.rules import rules_of
from pytest_aide.alerts.store import AlertStore, database_path
from pytest_aide.alerts.webhook import url_secrets, webhook_notifiers
from pytest_aide.resilience._text import error_line

if TYPE_CHECKING:
    from pytest_aide.state import AideState
    from pytest_aide.summary import RunSummary

NOW: Now = utc_now
"""The clock of alerting (a test sets its own: cooldowns and digests are about wall time)."""


def judge(config: pytest.Config, state: AideState, summary: RunSummary) -> AlertReport | None:
    """The run's alerting, or None when no rule is configured."""
    settings = state.config.settings.alerts
    if not settings.rules:
        return None
    if state.archive is None:
        return AlertReport(error="archiving is off, and the rules' state lives in the archive's history database")
    webhooks, problems = webhook_notifiers(settings.webhooks, os.environ)
    state.redactor.add(url_secrets(webhooks))  # the whole URL is a secret already; its path and query too
    notifiers: list[Notifier] = [*webhooks]
    try:
        batches: list[Any] = config.hook.pytest_aide_notifiers(config=config)
        notifiers.extend(notifier for batch in batches for notifier in batch or [])
    except Exception as exc:  # a plugin's hook failed: the webhooks still go
        problems.append(f"pytest_aide_notifiers failed: {error_line(exc, state.redactor)}")
    try:
        report = run_alerts(
            rules_of(settings),
            summary,
            AlertStore(database_path(state.archive)),
            notifiers,
            schedule=DigestSchedule.from_settings(settings.digest),
            now=NOW,
            redact=state.redactor,
            timeout=settings.notify_timeout,
        )
    except Exception as exc:  # a bug of ours must not cost the run its reports and exit status either
        report = AlertReport(error=f"alerting failed: {error_line(exc, state.redactor)}")
    report.problems.extend(problems)
    return report
