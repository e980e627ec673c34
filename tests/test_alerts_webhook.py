"""The webhook notifier against a real receiver on 127.0.0.1: the JSON it posts, retries, timeouts, and a URL
that never shows in an error."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from webhook_receiver import Receiver, receiving

from conftest import HANG_S
from pytest_aide import resilience
from pytest_aide.alerts import AlertEvent, AlertMessage
from pytest_aide.alerts.webhook import WebhookError, WebhookNotifier, url_secrets, webhook_notifiers
from pytest_aide.settings import WebhookSettings

TOKEN_PATH = "/services/T0AIDE/B0AIDE/s3cr3tW3bh00kT0k3n"

EVENT = AlertEvent(
    rule="low_health_score",
    kind="firing",
    severity="critical",
    watches="health_score",
    condition="< 50",
    value="42",
    detail="the run's score: 42",
    at="2026-11-30T06:00:00+00:00",
    run_id="20261130-060000-000000",
)
MESSAGE = AlertMessage("alerts", (EVENT,), EVENT.run_id, "UNHEALTHY", 42.0, EVENT.at)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as running, resilience.instant():  # backoff between attempts costs no real time
        yield running


def test_a_message_is_posted_as_json_with_a_slack_text(receiver: Receiver) -> None:
    WebhookNotifier("ops", receiver.url(TOKEN_PATH)).send(MESSAGE)
    [post] = receiver.posts
    assert post["path"] == TOKEN_PATH
    assert post["headers"]["Content-Type"] == "application/json"
    assert post["json"]["text"] == (
        "pytest-aide: 1 alert(s) firing (run 20261130-060000-000000: UNHEALTHY, score 42/100)\n"
        "[CRITICAL] low_health_score: health_score < 50 (the run's score: 42)"
    )
    assert post["json"]["aide"]["events"] == [EVENT.to_dict()]


def test_a_server_error_is_tried_again(receiver: Receiver) -> None:
    receiver.answers = [503, 500]
    WebhookNotifier("ops", receiver.url(), attempts=3).send(MESSAGE)
    assert len(receiver.posts) == 3


def test_every_attempt_failing_says_so_without_the_url(receiver: Receiver) -> None:
    receiver.status = 500
    with pytest.raises(WebhookError) as failed:
        WebhookNotifier("ops", receiver.url(TOKEN_PATH), attempts=2).send(MESSAGE)
    assert str(failed.value) == "HTTP 500 on each of 2 attempts"
    assert len(receiver.posts) == 2


def test_a_client_error_is_not_tried_again(receiver: Receiver) -> None:
    receiver.status = 404
    with pytest.raises(WebhookError, match=r"^HTTP 404$"):
        WebhookNotifier("ops", receiver.url(), attempts=3).send(MESSAGE)
    assert len(receiver.posts) == 1


def test_a_hanging_receiver_costs_the_timeout_per_attempt(receiver: Receiver) -> None:
    receiver.hang = True
    began = time.monotonic()
    with pytest.raises(WebhookError) as failed:
        WebhookNotifier("ops", receiver.url(TOKEN_PATH), timeout=0.5, attempts=2).send(MESSAGE)
    assert time.monotonic() - began < HANG_S
    assert str(failed.value) == "no answer within 0.5 s on each of 2 attempts"
    assert len(receiver.posts) == 2


def test_a_closed_port_is_a_refused_connection_without_the_url() -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    url = f"http://127.0.0.1:{port}{TOKEN_PATH}"
    with resilience.instant(), pytest.raises(WebhookError) as failed:
        WebhookNotifier("ops", url, attempts=2).send(MESSAGE)
    assert str(failed.value) == "connection refused on each of 2 attempts"
    assert TOKEN_PATH not in repr(failed.value)
    assert failed.value.__cause__ is None  # not the HTTP library's error, which quotes the URL


def test_webhooks_come_from_the_configuration_and_the_environment() -> None:
    tables = {
        "ops": WebhookSettings(url="https://hooks.example.test/services/T0/B0/token?key=abcd1234"),
        "pager": WebhookSettings(url_env="AIDE_TEST_PAGER_URL"),
        "gone": WebhookSettings(url_env="AIDE_TEST_UNSET_URL"),
    }
    notifiers, problems = webhook_notifiers(tables, {"AIDE_TEST_PAGER_URL": "https://pager.example.test/x/y"})
    assert [n.name for n in notifiers] == ["ops", "pager"]
    assert problems == ["[alerts.webhooks.gone] url_env: environment variable AIDE_TEST_UNSET_URL is not set"]
    assert "token" not in repr(notifiers[0])
    secrets = url_secrets(notifiers)
    assert "/services/T0/B0/token?key=abcd1234" in secrets
    assert "key=abcd1234" in secrets
