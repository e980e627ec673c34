"""The built-in notifier: POST each message as JSON to a URL (``[alerts.webhooks.NAME]``).

The body is :meth:`~pytest_aide.alerts.messages.AlertMessage.payload`: Slack (and Mattermost, Rocket.Chat,
Teams' workflows...) show its ``text``; other receivers read ``aide``. Each attempt has a timeout for the
connection and for the answer's headers (the body is never read); a post that gets no answer, a 5xx or a 429 is
tried again with tenacity's backoff (:class:`~pytest_aide.resilience.RetryPolicy`), another 4xx is not.

The URL is a secret: a Slack or Teams URL carries its token in the path. It is never printed; errors name the
webhook by its table's name and say what went wrong in our own words, never in the HTTP library's (which quote
the URL).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pytest_aide.alerts.messages import AlertMessage
from pytest_aide.errors import AideError
from pytest_aide.resilience import Clock, RetryFailed, RetryPolicy

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pytest_aide.settings import WebhookSettings

CONNECT_TIMEOUT_S = 3.05  # at most: the attempt's own timeout when it is shorter
USER_AGENT = "pytest-aide-alerts"


class WebhookError(AideError):
    """A post that did not get through; ``retry``: worth another attempt (no answer, 5xx, 429)."""

    def __init__(self, message: str, *, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


@dataclass
class WebhookNotifier:
    """Posts every message it is given to ``url``; raises :class:`WebhookError` when every attempt failed."""

    name: str
    url: str = field(repr=False)
    timeout: float = 5.0
    attempts: int = 3
    clock: Clock | None = None

    def send(self, message: AlertMessage) -> None:
        body = json.dumps(message.payload()).encode("utf-8")
        policy = RetryPolicy(
            attempts=self.attempts,
            deadline=self.attempts * (self.timeout + CONNECT_TIMEOUT_S) + 10.0,
            initial_wait=0.5,
            max_wait=4.0,
            jitter=0.5,
        )
        try:
            policy.run(
                lambda: self._post(body),
                retry_on=WebhookError,
                retry_if=lambda exc: isinstance(exc, WebhookError) and exc.retry,
                clock=self.clock,
                redact=lambda text: text.replace(self.url, "***"),
            )
        except RetryFailed as failed:
            raise WebhookError(_summary(failed), retry=False) from None

    def _post(self, body: bytes) -> None:
        import requests

        try:
            response = requests.post(
                self.url,
                data=body,
                headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
                timeout=(min(CONNECT_TIMEOUT_S, self.timeout), self.timeout),
                allow_redirects=False,
                stream=True,  # the answer's body is never read: headers within the timeout are enough
            )
        except requests.RequestException as exc:
            raise WebhookError(_request_error(exc, self.timeout), retry=True) from None
        with response:
            status = response.status_code
        if status >= 300:
            raise WebhookError(f"HTTP {status}", retry=status >= 500 or status == 429)


def _request_error(exc: Exception, timeout: float) -> str:
    """Why a post got no answer, without the library's text (it quotes the URL)."""
    import requests

    if isinstance(exc, requests.ConnectTimeout):
        return f"no connection within {min(CONNECT_TIMEOUT_S, timeout):g} s"
    if isinstance(exc, requests.Timeout):
        return f"no answer within {timeout:g} s"
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    text = " ".join(type(e).__name__ for e in chain) + " " + " ".join(str(a) for e in chain for a in e.args)
    if "ConnectionRefused" in text or "Connection refused" in text:
        return "connection refused"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS error"
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        return "not a valid URL"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed"
    return type(exc).__name__


def _summary(failed: RetryFailed) -> str:
    """``HTTP 500 on each of 3 attempts`` / ``no answer within 5 s (attempt 2 of 3, deadline reached)``."""
    errors = [a.error.split(": ", 1)[-1] for a in failed.attempts if a.error]
    last = errors[-1] if errors else "failed"
    if failed.reason == "not retried":
        return last
    if len(set(errors)) == 1 and len(errors) == failed.max_attempts:
        return f"{last} on each of {failed.max_attempts} attempts"
    return f"{last} (attempt {len(failed.attempts)} of {failed.max_attempts}, {failed.reason})"


def webhook_notifiers(
    webhooks: Mapping[str, WebhookSettings], environ: Mapping[str, str], *, clock: Clock | None = None
) -> tuple[list[WebhookNotifier], list[str]]:
    """The configured webhooks, and one line for each that cannot be used (its ``url_env`` is not set)."""
    notifiers, problems = [], []
    for name, table in webhooks.items():
        url = table.url if table.url is not None else environ.get(table.url_env or "", "")
        if not url:
            problems.append(f"[alerts.webhooks.{name}] url_env: environment variable {table.url_env} is not set")
            continue
        notifiers.append(WebhookNotifier(name, url, table.timeout, table.attempts, clock))
    return notifiers, problems


def url_secrets(notifiers: list[WebhookNotifier]) -> list[str]:
    """What of each URL must never be printed: the URL itself and its path and query (tokens live there)."""
    from urllib.parse import urlsplit

    secrets = []
    for notifier in notifiers:
        parts = urlsplit(notifier.url)
        secrets.extend([notifier.url, parts.path + (f"?{parts.query}" if parts.query else ""), parts.query])
    return [s for s in secrets if len(s) > 1 and s != "/"]
