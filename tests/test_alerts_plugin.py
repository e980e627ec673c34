"""Alert rules through pytest runs (pytester), posting to a real webhook receiver on 127.0.0.1: the AIDE example
as written, cooldown across runs, resolution, a failing and a hanging webhook that never fail the run, secrets,
a plugin's notifier, the digest, xdist, and configuration mistakes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aide_testing import aide_run, latest_health
from webhook_receiver import Receiver, receiving

from conftest import HANG_S
from pytest_aide import alerting

# One check whose disk figure the test sets in disk.txt: 95 is CRITICAL (score 0), 10 is OK (score 100).
CHECKS = """
import pathlib

def check_disk_figure(aide_health):
    aide_health.record("disk_percent", float(pathlib.Path("disk.txt").read_text()))
"""

AIDE_EXAMPLE = """
[alerts.rules.low_health_score]
metric = "health_score"
condition = "< 50"
severity = "critical"
cooldown_minutes = 2
"""


def webhook(url: str, **keys: object) -> str:
    extra = "".join(f"{key} = {json.dumps(value)}\n" for key, value in keys.items())
    return f'\n[alerts.webhooks.ops]\nurl = "{url}"\n{extra}'


class Clock:
    """The wall clock alerting reads in the inner runs (they run in this process)."""

    def __init__(self) -> None:
        self.at = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, minutes: float) -> None:
        self.at += timedelta(minutes=minutes)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(alerting, "NOW", fake)
    return fake


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    monkeypatch.setenv("AIDE_RESILIENCE_INSTANT", "1")  # backoff between a webhook's attempts costs no time
    with receiving() as running:
        yield running


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(check_figures=CHECKS)
    return pytester


def disk(pytester: pytest.Pytester, percent: float) -> None:
    (pytester.path / "disk.txt").write_text(str(percent))


def configure(pytester: pytest.Pytester, text: str) -> None:
    (pytester.path / "aide.toml").write_text(text)


def test_the_aide_example_alerts_once_per_cooldown_and_when_resolved(
    project: pytest.Pytester, receiver: Receiver, clock: Clock
) -> None:
    configure(project, AIDE_EXAMPLE + webhook(receiver.url()))
    disk(project, 95)
    result = aide_run(project)
    result.stdout.fnmatch_lines(
        [
            "CRITICAL  score 0/100*",
            "alerts: 1 rule(s): low_health_score firing: notified",
            "  sent: [[]CRITICAL] low_health_score: health_score < 50 (the run's score: 0)",
        ]
    )
    assert receiver.texts[0].splitlines()[1] == "[CRITICAL] low_health_score: health_score < 50 (the run's score: 0)"
    health = latest_health(project.path)
    assert health["alerts"]["sent"][0]["rule"] == "low_health_score"
    assert health["alerts"]["deliveries"] == [
        {"notifier": "ops", "message": "alerts", "ok": True, "seconds": pytest.approx(0, abs=HANG_S)}
    ]

    clock.advance(1)
    aide_run(project).stdout.fnmatch_lines(
        ["alerts: 1 rule(s): low_health_score firing, in cooldown until *06:02:00 UTC"]
    )
    assert len(receiver.posts) == 1

    clock.advance(2)
    aide_run(project)
    assert len(receiver.posts) == 2

    disk(project, 10)
    clock.advance(5)
    aide_run(project).stdout.fnmatch_lines(["HEALTHY  score 100/100*", "  sent: [[]RESOLVED] low_health_score: *"])
    assert receiver.bodies[-1]["aide"]["events"][0]["kind"] == "resolved"
    assert (project.path / "reports" / "history.sqlite3").is_file()


def test_a_failing_webhook_never_fails_the_health_run(
    project: pytest.Pytester, receiver: Receiver, clock: Clock
) -> None:
    disk(project, 95)
    configure(project, "")
    plain = aide_run(project).ret
    receiver.status = 500
    configure(project, AIDE_EXAMPLE + webhook(receiver.url(), attempts=2, timeout=1))
    result = aide_run(project)
    assert result.ret == plain == 1
    result.stdout.fnmatch_lines(
        [
            "CRITICAL  score 0/100*",
            "alerts: notifier 'ops' failed (alerts): HTTP 500 on each of 2 attempts",
            "alerts: the notification reached no notifier: the next run sends it again",
            "exit 1*",
        ]
    )
    assert len(receiver.posts) == 2
    delivery = latest_health(project.path)["alerts"]["deliveries"][0]
    assert (delivery["ok"], delivery["error"]) == (False, "HTTP 500 on each of 2 attempts")
    page = sorted((project.path / "reports").glob("2*/health.html"))[-1].read_text()
    assert "<code>low_health_score</code>" in page
    assert "Notifier <code>ops</code> failed (alerts): HTTP 500 on each of 2 attempts" in page

    receiver.status = 204
    clock.advance(1)  # within the cooldown: but nothing went out, so this run sends it
    aide_run(project)
    assert len(receiver.posts) == 3
    assert latest_health(project.path)["alerts"]["deliveries"][0]["ok"] is True


def test_a_hanging_webhook_costs_at_most_its_timeouts(
    project: pytest.Pytester, receiver: Receiver, clock: Clock
) -> None:
    receiver.hang = True
    disk(project, 95)
    configure(project, AIDE_EXAMPLE + webhook(receiver.url(), attempts=2, timeout=1))
    began = time.monotonic()
    result = aide_run(project)
    assert time.monotonic() - began < HANG_S
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["CRITICAL  score 0/100*", "alerts: notifier 'ops' failed (alerts): no answer within 1 s on each of 2 attempts"]
    )


def test_a_notifier_past_the_notify_timeout_is_left_behind(
    project: pytest.Pytester, receiver: Receiver, clock: Clock
) -> None:
    receiver.hang = True
    disk(project, 95)
    configure(
        project, AIDE_EXAMPLE + webhook(receiver.url(), attempts=3, timeout=5) + "\n[alerts]\nnotify_timeout = 1\n"
    )
    result = aide_run(project)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["alerts: notifier 'ops' failed (alerts): did not finish within 1 s"])


def test_the_webhook_url_and_other_secrets_never_reach_output(
    project: pytest.Pytester, receiver: Receiver, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_path = "/services/T0AIDE/B0AIDE/s3cr3tW3bh00kT0k3n"
    monkeypatch.setenv("AIDE_TEST_ALERT_HOOK", receiver.url(token_path))
    monkeypatch.setenv("AIDE_TEST_API_TOKEN", "tok-9f8e7d6c5b4a")
    receiver.status = 404
    project.makepyfile(
        check_leaky="""
import os
import pytest

@pytest.mark.aide(component="api")
def check_leaky(aide_health):
    aide_health.record("error_rate_percent", 50, action="token " + os.environ["AIDE_TEST_API_TOKEN"] + " was refused")
"""
    )
    disk(project, 95)
    configure(
        project,
        AIDE_EXAMPLE
        + '\n[alerts.rules.api]\ncheck = "check_leaky"\ncondition = ">= CRITICAL"\n'
        + '\n[alerts.webhooks.ops]\nurl_env = "AIDE_TEST_ALERT_HOOK"\nattempts = 1\n',
    )
    result = aide_run(project)
    result.stdout.fnmatch_lines(["alerts: notifier 'ops' failed (alerts): HTTP 404"])
    [post] = receiver.posts
    assert post["path"] == token_path
    assert b"tok-9f8e7d6c5b4a" not in post["raw"]
    assert "***" in post["json"]["text"]
    run = sorted((project.path / "reports").glob("2*"))[-1]
    written = [result.stdout.str(), result.stderr.str(), *(p.read_text() for p in run.iterdir() if p.is_file())]
    for text in written:
        assert "s3cr3tW3bh00kT0k3n" not in text
        assert "127.0.0.1:" + str(receiver.port) not in text
        assert "tok-9f8e7d6c5b4a" not in text


CONFTEST_NOTIFIERS = """
import json
import pathlib


class FileNotifier:
    name = "file"

    def send(self, message):
        with pathlib.Path("notified.jsonl").open("a") as out:
            out.write(json.dumps(message.payload()) + "\\n")


class BrokenNotifier:
    name = "broken"

    def send(self, message):
        raise RuntimeError("pager service rejected the call")


def pytest_aide_notifiers(config):
    return [BrokenNotifier(), FileNotifier()]
"""


def test_a_plugins_notifier_gets_the_messages_and_a_broken_one_is_reported(
    project: pytest.Pytester, receiver: Receiver, clock: Clock
) -> None:
    project.makeconftest(CONFTEST_NOTIFIERS)
    disk(project, 95)
    configure(project, AIDE_EXAMPLE + webhook(receiver.url()))
    result = aide_run(project)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["alerts: notifier 'broken' failed (alerts): RuntimeError: pager service rejected the call"]
    )
    [line] = (project.path / "notified.jsonl").read_text().splitlines()
    assert json.loads(line)["aide"]["events"][0]["rule"] == "low_health_score"
    assert len(receiver.posts) == 1
    assert "given_back" in latest_health(project.path)["alerts"]
    assert latest_health(project.path)["alerts"]["given_back"] == []  # two notifiers took it


def test_warnings_go_to_the_digest_sent_by_the_first_run_after_its_time(
    project: pytest.Pytester, receiver: Receiver, clock: Clock
) -> None:
    configure(
        project,
        AIDE_EXAMPLE
        + '\n[alerts.rules.disk]\nmetric = "disk_percent"\ncondition = "> 80"\nseverity = "warning"\n'
        + "cooldown_minutes = 1440\n"
        + '\n[alerts.digest]\nseverities = ["warning"]\nsend_at = "08:00"\n'
        + webhook(receiver.url()),
    )
    disk(project, 85)  # WARNING: the score stays above 50, only the warning rule fires
    aide_run(project).stdout.fnmatch_lines(["  for the 08:00 UTC digest: disk", "  waiting for the next digest: 1"])
    assert receiver.posts == []
    disk(project, 95)
    clock.advance(30)
    aide_run(project)
    assert [b["aide"]["kind"] for b in receiver.bodies] == ["alerts"]  # the critical went out at once
    clock.advance(91)  # 08:01
    aide_run(project).stdout.fnmatch_lines(["  digest sent: 1 notification(s)"])
    digest = receiver.bodies[-1]
    assert digest["aide"]["kind"] == "digest"
    assert digest["text"].startswith("pytest-aide digest: 1 alert notification(s) since the last digest")
    assert "[WARNING] disk: disk_percent > 80 (check_figures.py::check_disk_figure: 85 %)" in digest["text"]


def test_the_controller_alone_alerts_under_xdist(project: pytest.Pytester, receiver: Receiver, clock: Clock) -> None:
    pytest.importorskip("xdist")
    project.makepyfile(check_more="def check_a(aide_health):\n    pass\n\ndef check_b(aide_health):\n    pass\n")
    disk(project, 95)
    configure(project, AIDE_EXAMPLE.replace("< 50", "< 90") + webhook(receiver.url()))
    result = aide_run(project, "-n", "2")
    result.stdout.fnmatch_lines(["alerts: 1 rule(s): low_health_score firing: notified"])
    assert len(receiver.posts) == 1


def test_without_an_archive_the_rules_are_not_judged(project: pytest.Pytester, clock: Clock) -> None:
    disk(project, 95)
    configure(project, AIDE_EXAMPLE)
    result = aide_run(project, "--aide-no-archive")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["alerts: not judged: archiving is off, and the rules' state lives in the archive's history database"]
    )


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            'metric = "health_score"\ncondition = "< fifty"',
            "[alerts.rules] bad: condition '< fifty': compare score values with a number",
        ),
        (
            'check = "check_api_health"\ncondition = ">= HEALTHY"',
            "[alerts.rules] bad: condition '>= HEALTHY': status conditions compare with OK or WARNING or *",
        ),
        ('metric = "health_score"\ncondition = "< 50"\ncooldown = 2', "[alerts.rules.bad] cooldown: unknown key"),
    ],
)
def test_a_rule_that_cannot_work_stops_the_run_before_any_check(
    project: pytest.Pytester, table: str, message: str
) -> None:
    configure(project, f"[alerts.rules.bad]\n{table}\n")
    result = aide_run(project)
    assert result.ret == 4
    result.stderr.fnmatch_lines([f"ERROR: *aide.toml: {message}".replace("[", "[[]")])


def test_without_rules_a_run_has_no_alerts(project: pytest.Pytester) -> None:
    disk(project, 95)
    configure(project, "")
    assert "alerts:" not in aide_run(project).stdout.str()
    assert "alerts" not in latest_health(project.path)


def readme_block(language: str) -> str:
    """The first ``language`` code block of the README's "Alert rules" section."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Alert rules\n", 1)[1].split("\n## ", 1)[0]
    return section.split(f"```{language}\n", 1)[1].split("```", 1)[0]


def test_the_readmes_rules_and_notifier_work_as_written(
    project: pytest.Pytester, receiver: Receiver, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIDE_ALERT_WEBHOOK", receiver.url())
    notifier = readme_block("python").replace('with smtplib.SMTP("localhost", timeout=10) as smtp:', "if True:")
    notifier = notifier.replace(
        "smtp.send_message(mail)", 'pathlib.Path("mailed.txt").write_text(mail["Subject"] + "\\n")'
    )
    notifier = "import pathlib\n" + notifier  # an unclosed file's ResourceWarning would be formatted in a thread
    project.makeconftest(notifier)
    configure(project, readme_block("toml"))
    disk(project, 95)
    result = aide_run(project)
    result.stdout.fnmatch_lines(["alerts: 4 rule(s): low_health_score firing: notified; disk_filling pending: *"])
    assert receiver.texts[0].splitlines()[1:] == ["[CRITICAL] low_health_score: health_score < 50 (the run's score: 0)"]
    assert (project.path / "mailed.txt").read_text().startswith("pytest-aide: 1 alert(s) firing")
    assert [e["rule"] for e in latest_health(project.path)["alerts"]["queued"]] == ["unhealthy"]  # a warning
