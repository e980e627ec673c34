"""Notifiers, and handing them a run's messages so that none can fail or stall the health run.

A notifier is any object with a ``name`` and a ``send(message)`` method (:class:`Notifier`): the built-in
webhook (:mod:`pytest_aide.alerts.webhook`), or one a plugin returns from the ``pytest_aide_notifiers`` hook.
:func:`deliver` runs each notifier in its own daemon thread and waits for all of them at most ``timeout``
seconds together: an exception is a failed delivery, a notifier still running at the end is one that "did not
answer in time" (its thread is left behind, and ends with the process). Either is reported, never raised.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

from pytest_aide.alerts.messages import AlertMessage, MessageKind
from pytest_aide.errors import AideError
from pytest_aide.resilience._text import Redact, error_line


@runtime_checkable
class Notifier(Protocol):
    """Receives alert messages. ``send`` raises to say the message did not get through."""

    name: str

    def send(self, message: AlertMessage) -> None: ...


@dataclass
class Delivery:
    """How one message went to one notifier."""

    notifier: str
    message: MessageKind
    ok: bool = False
    error: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "notifier": self.notifier,
            "message": self.message,
            "ok": self.ok,
            **({"error": self.error} if self.error else {}),
            "seconds": round(self.seconds, 3),
        }


@dataclass
class _Worker:
    notifier: Notifier
    messages: Sequence[AlertMessage]
    redact: Redact
    deliveries: list[Delivery] = field(default_factory=list)

    def run(self) -> None:
        name = _name(self.notifier)
        for message in self.messages:
            delivery = Delivery(name, message.kind)
            self.deliveries.append(delivery)
            began = time.monotonic()
            try:
                self.notifier.send(message)
            except Exception as exc:  # any notifier's failure is reported, never the run's
                delivery.error = self.redact(str(exc)) if isinstance(exc, AideError) else error_line(exc, self.redact)
            else:
                delivery.ok = True
            delivery.seconds = time.monotonic() - began


def deliver(
    messages: Sequence[AlertMessage], notifiers: Sequence[Notifier], *, timeout: float, redact: Redact
) -> list[Delivery]:
    """Send every message to every notifier (in parallel, one thread each); how each delivery went."""
    if not messages:
        return []
    workers = [_Worker(notifier, messages, redact) for notifier in notifiers]
    threads = [threading.Thread(target=w.run, name=f"aide-notify-{_name(w.notifier)}", daemon=True) for w in workers]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    deliveries: list[Delivery] = []
    for worker, thread in zip(workers, threads, strict=True):
        done = [replace(d) for d in worker.deliveries]  # a thread still running may change them: a snapshot
        if thread.is_alive():
            for delivery in done:
                if not delivery.ok and not delivery.error:
                    delivery.error = f"did not finish within {timeout:g} s"
            sent = {d.message for d in done}
            missing = (m.kind for m in messages if m.kind not in sent)
            done += [
                Delivery(_name(worker.notifier), kind, error=f"not tried: {timeout:g} s passed") for kind in missing
            ]
        deliveries.extend(done)
    return deliveries


def delivered(kind: MessageKind, deliveries: Sequence[Delivery], notifiers: int) -> bool:
    """Whether a message got through: to at least one notifier, or there is none (the report is then its record)."""
    return notifiers == 0 or any(d.ok for d in deliveries if d.message == kind)


def _name(notifier: object) -> str:
    return str(getattr(notifier, "name", "") or type(notifier).__name__)
