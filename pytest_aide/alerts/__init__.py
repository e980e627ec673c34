"""Alert rules judged once per run, their state in the history database, notifiers and the digest.

Importable without pytest (the wiring, :mod:`pytest_aide.alerting`, calls it at the end of a run). A notifier
of your own is any object with a ``name`` and ``send(message)``, returned from the ``pytest_aide_notifiers``
hook; ``message`` is an :class:`AlertMessage` (its ``text``, its ``events``, its JSON ``payload()``).
"""

from __future__ import annotations

from pytest_aide.alerts.messages import AlertEvent, AlertMessage
from pytest_aide.alerts.notify import Delivery, Notifier

__all__ = ["AlertEvent", "AlertMessage", "Delivery", "Notifier"]
