"""Alert rules as domain code (no pytest run inside): conditions, the state machine, cooldown, thresholds,
resolution, the digest and notifier failures, with a fake clock and a real history database file."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_aide.alerts import AlertMessage
from pytest_aide.alerts.engine import AlertReport, DigestSchedule, run_alerts
from pytest_aide.alerts.rules import AlertRule, Condition, Observation, Subject, names_check, rules_of
from pytest_aide.alerts.state import RuleState, step
from pytest_aide.alerts.store import AlertStore, database_path
from pytest_aide.redact import Redactor
from pytest_aide.results import CheckResult
from pytest_aide.settings import AlertRuleSettings, AlertsSettings, DigestSettings
from pytest_aide.status import Status, Verdict
from pytest_aide.summary import RunSummary

START = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


class FakeNow:
    """The wall clock of alerting, moved by the test."""

    def __init__(self, at: datetime = START) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, minutes: float) -> None:
        self.at += timedelta(minutes=minutes)


@dataclass
class Recorder:
    """A notifier that keeps what it is sent, or fails as told."""

    name: str = "recorder"
    fail: bool = False
    messages: list[AlertMessage] = field(default_factory=list)

    def send(self, message: AlertMessage) -> None:
        if self.fail:
            raise ConnectionError("receiver down")
        self.messages.append(message)

    def events(self, kind: str = "alerts") -> list[tuple[str, str]]:
        return [(e.rule, e.kind) for m in self.messages if m.kind == kind for e in m.events]


def aide_example() -> AlertRule:
    """The AIDE guide's rule, as an operator writes it in ``[alerts.rules.low_health_score]``."""
    table = AlertRuleSettings(metric="health_score", condition="< 50", severity="critical", cooldown_minutes=2)
    return AlertRule.from_settings("low_health_score", table)


def rule(**keys: object) -> AlertRule:
    table = {"metric": "health_score", "condition": "< 50", "severity": "critical", **keys}
    return AlertRule.from_settings("r", AlertRuleSettings(**table))  # type: ignore[arg-type]


def scored(score: float | None, *, partial: str = "", run_id: str = "run") -> RunSummary:
    verdict = Verdict.HEALTHY if score is None or score >= 90 else Verdict.UNHEALTHY
    return RunSummary(run_id, "", "", "host", [], verdict=verdict, score=score, partial_reason=partial)


def with_checks(*checks: CheckResult) -> RunSummary:
    return RunSummary.build(checks=list(checks), run_id="run", started="", finished="", host="host")


def measured(nodeid: str, status: Status | None, **values: float) -> CheckResult:
    return CheckResult(nodeid, status=status, measurements={k: {"value": v, "unit": "%"} for k, v in values.items()})


@dataclass
class Runs:
    """Runs of one configuration against one history database, each at the fake clock's time."""

    store: AlertStore
    rules: list[AlertRule]
    notifier: Recorder = field(default_factory=Recorder)
    now: FakeNow = field(default_factory=FakeNow)
    schedule: DigestSchedule = field(default_factory=DigestSchedule)

    def run(self, summary: RunSummary, *, after_minutes: float = 0) -> AlertReport:
        self.now.advance(after_minutes)
        return run_alerts(self.rules, summary, self.store, [self.notifier], schedule=self.schedule, now=self.now)


@pytest.fixture
def store(tmp_path: Path) -> AlertStore:
    return AlertStore(database_path(tmp_path))


# --- conditions and what a rule reads ---------------------------------------------------------------------


def test_the_aide_example_reads_the_runs_score() -> None:
    example = aide_example()
    assert (example.subject, example.cooldown_s, example.severity) == (Subject.SCORE, 120.0, "critical")
    assert example.observe(scored(42)).holds is True
    assert example.observe(scored(42)).detail == "the run's score: 42"
    assert example.observe(scored(50)).holds is False
    assert example.observe(scored(None)).holds is None


def test_a_partial_run_says_nothing_of_the_score_or_verdict() -> None:
    observation = aide_example().observe(scored(10, partial="-k disk"))
    assert observation.holds is None
    assert "partial run (-k disk)" in observation.detail


@pytest.mark.parametrize(
    ("condition", "status", "holds"),
    [(">= WARNING", Status.UNKNOWN, True), (">= CRITICAL", Status.UNKNOWN, False), ("== ok", Status.OK, True)],
)
def test_a_check_rule_compares_the_decided_status_by_rank(condition: str, status: Status, holds: bool) -> None:
    check_rule = rule(metric=None, check="check_api_health", condition=condition)
    summary = with_checks(measured("aide/check_api.py::check_api_health", status), measured("x.py::check_y", None))
    assert check_rule.observe(summary).holds is holds


def test_a_check_rule_on_a_skipped_or_absent_check_has_no_value() -> None:
    check_rule = rule(metric=None, check="check_api_health", condition=">= CRITICAL")
    assert check_rule.observe(with_checks(measured("a.py::check_api_health", None))).holds is None
    assert check_rule.observe(with_checks(measured("a.py::check_other", Status.CRITICAL))).holds is None


def test_a_verdict_rule_orders_verdicts() -> None:
    verdict_rule = rule(metric="verdict", condition=">= UNHEALTHY")
    assert verdict_rule.observe(scored(42)).holds is True
    assert verdict_rule.observe(scored(95)).holds is False


def test_a_metric_rule_holds_when_any_check_measured_a_value_that_fits() -> None:
    disk_rule = rule(metric="disk_percent", condition="> 85", severity="warning")
    summary = with_checks(
        measured("aide/check_resources.py::check_disk[/]", Status.OK, disk_percent=40),
        measured("aide/check_resources.py::check_disk[/data]", Status.WARNING, disk_percent=88.5),
    )
    observation = disk_rule.observe(summary)
    assert observation.holds is True
    assert observation.value == "88.5 %"
    assert observation.detail == "aide/check_resources.py::check_disk[/data]: 88.5 %"
    narrowed = rule(metric="disk_percent", check="check_memory", condition="> 85")
    assert narrowed.observe(summary).holds is None
    assert rule(metric="disk_precent", condition="> 85").observe(summary).detail == (
        "nothing measured disk_precent in this run"
    )


@pytest.mark.parametrize(
    "name",
    ["check_disk", "check_resources.py", "check_resources.py::check_disk", "aide/check_resources.py::check_disk"],
)
def test_a_check_is_named_by_function_file_or_node_id(name: str) -> None:
    assert names_check(name, "aide/check_resources.py::check_disk[/data]")
    assert not names_check(name, "aide/check_other.py::check_disk_io")


@pytest.mark.parametrize(
    ("text", "subject", "message"),
    [
        ("50", Subject.SCORE, "is not an operator"),
        ("< fifty", Subject.SCORE, "compare score values with a number"),
        ("< nan", Subject.METRIC, "finite number"),
        (">= HEALTHY", Subject.STATUS, "OK or WARNING or UNKNOWN or CRITICAL"),
        (">= OK", Subject.VERDICT, "HEALTHY or DEGRADED or UNHEALTHY or CRITICAL"),
    ],
)
def test_a_condition_that_cannot_fit_says_what_is_accepted(text: str, subject: Subject, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Condition.parse(text, subject)


# --- the state machine ------------------------------------------------------------------------------------


def test_the_aide_example_alerts_at_once_then_once_per_cooldown_then_resolves(store: AlertStore) -> None:
    runs = Runs(store, [aide_example()])
    first = runs.run(scored(42))
    assert runs.notifier.events() == [("low_health_score", "firing")]
    assert [e.line() for e in first.sent] == ["[CRITICAL] low_health_score: health_score < 50 (the run's score: 42)"]
    quiet = runs.run(scored(30), after_minutes=1)
    assert quiet.sent == []
    assert quiet.rules[0].step.note == "firing, in cooldown until 2026-11-30 06:02:00 UTC"
    runs.run(scored(30), after_minutes=1.5)  # 2.5 minutes after the first notification
    assert runs.notifier.events() == [("low_health_score", "firing")] * 2
    resolved = runs.run(scored(95), after_minutes=1)
    assert runs.notifier.events()[-1] == ("low_health_score", "resolved")
    assert (
        resolved.sent[0].line()
        == "[RESOLVED] low_health_score: health_score < 50 no longer holds (the run's score: 95)"
    )


def test_a_check_run_every_5_minutes_alerts_once_per_cooldown(store: AlertStore) -> None:
    runs = Runs(store, [rule(cooldown_minutes=60)])
    for _ in range(24):  # two hours of runs, failing all along
        runs.run(scored(20), after_minutes=5)
    sent_at = [m.at for m in runs.notifier.messages]
    assert sent_at == ["2026-11-30T06:05:00+00:00", "2026-11-30T07:05:00+00:00"]


def test_the_failure_threshold_counts_consecutive_failing_runs(store: AlertStore) -> None:
    runs = Runs(store, [rule(failure_threshold=3)])
    notes = [runs.run(scored(s), after_minutes=5).rules[0].step.note for s in (20, 20, 95, 20, 20)]
    assert notes[:2] == ["pending: held in 1 of 3 consecutive runs", "pending: held in 2 of 3 consecutive runs"]
    assert notes[2] == "ok"  # a good run starts the count again
    assert runs.notifier.messages == []
    runs.run(scored(20), after_minutes=5)
    assert runs.notifier.events() == [("r", "firing")]


def test_a_run_without_a_value_changes_nothing(store: AlertStore) -> None:
    runs = Runs(store, [rule(failure_threshold=2)])
    runs.run(scored(20))
    assert runs.run(scored(None)).rules[0].step.note == "no value: no score"
    runs.run(scored(20, partial="-k disk"))
    assert runs.notifier.messages == []
    runs.run(scored(20))
    assert runs.notifier.events() == [("r", "firing")]


def test_the_success_threshold_counts_clear_runs_before_resolved(store: AlertStore) -> None:
    runs = Runs(store, [rule(success_threshold=2, cooldown_minutes=0)])
    runs.run(scored(20))
    report = runs.run(scored(95), after_minutes=5)
    assert report.rules[0].step.note == "firing, recovering: clear in 1 of 2 runs"
    runs.run(scored(20), after_minutes=5)  # failing again: the count starts over, and cooldown 0 notifies again
    runs.run(scored(95), after_minutes=5)
    assert runs.notifier.events() == [("r", "firing"), ("r", "firing")]
    runs.run(scored(95), after_minutes=5)
    assert runs.notifier.events()[-1] == ("r", "resolved")


def test_without_send_on_resolved_the_resolution_is_quiet(store: AlertStore) -> None:
    runs = Runs(store, [rule(send_on_resolved=False)])
    runs.run(scored(20))
    report = runs.run(scored(95), after_minutes=5)
    assert report.rules[0].step.note == "resolved"
    assert runs.notifier.events() == [("r", "firing")]


def test_a_rule_that_fires_again_within_its_cooldown_stays_quiet(store: AlertStore) -> None:
    runs = Runs(store, [rule(cooldown_minutes=30)])
    runs.run(scored(20))
    runs.run(scored(95), after_minutes=5)  # resolved (notified)
    report = runs.run(scored(20), after_minutes=5)
    assert report.rules[0].step.note.startswith("firing, in cooldown until")
    runs.run(scored(95), after_minutes=5)  # its resolution is no news: its firing was not notified
    assert runs.notifier.events() == [("r", "firing"), ("r", "resolved")]


def test_state_lives_in_the_history_database_between_processes_runs(tmp_path: Path) -> None:
    now = FakeNow()
    first = Runs(AlertStore(database_path(tmp_path)), [aide_example()], now=now)
    first.run(scored(20))
    second = Runs(AlertStore(database_path(tmp_path)), [aide_example()], now=now)  # a new run, same file
    assert second.run(scored(20), after_minutes=1).sent == []
    with sqlite3.connect(database_path(tmp_path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {t for t in tables if not t.startswith("sqlite_")} == {"alert_state", "alert_digest", "alert_meta"}


def test_a_first_run_waits_while_another_writes_to_the_new_file_before_it_is_in_wal_mode(tmp_path: Path) -> None:
    """Two overlapping first runs: one writes to the new history file (its run tables) while the other switches
    the file to WAL. SQLite refuses that switch at once ("database is locked") instead of waiting its busy
    timeout, which failed one run in ~30 under load; the store tries again until the other's write ends."""
    path = database_path(tmp_path)
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE runs (run_id TEXT)")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO runs VALUES ('other run')")
    commit = threading.Timer(0.3, writer.execute, ["COMMIT"])
    commit.start()
    try:
        with AlertStore(path, busy_timeout=30).transaction() as tx:
            assert tx.states(["r"]) == {"r": RuleState()}
    finally:
        commit.join()
        writer.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("SELECT run_id FROM runs").fetchall() == [("other run",)]


@st.composite
def histories(draw: st.DrawFn) -> tuple[AlertRule, list[tuple[bool | None, float]]]:
    checked = rule(
        cooldown_minutes=draw(st.sampled_from([0, 2, 10, 60])),
        failure_threshold=draw(st.integers(1, 3)),
        success_threshold=draw(st.integers(1, 3)),
        send_on_resolved=draw(st.booleans()),
    )
    runs = draw(st.lists(st.tuples(st.sampled_from([True, False, None]), st.sampled_from([1, 5, 30, 90])), max_size=40))
    return checked, runs


@given(histories())
def test_notifications_keep_the_rules_promises(history: tuple[AlertRule, list[tuple[bool | None, float]]]) -> None:
    """Whatever the runs: a rule starts firing only after failure_threshold consecutive holding runs, notifies only
    in a run where its condition holds and never twice within the cooldown, and resolves only a notified firing,
    after success_threshold clear runs."""
    checked, runs = history
    from pytest_aide.alerts.rules import Observation

    state, now, sent, seen = RuleState(), 0.0, [], []
    for holds, minutes in runs:
        now += minutes * 60
        stepped = step(checked, state, Observation(holds, "", ""), now)
        if holds is not None:
            seen.append(holds)
        if stepped.event == "firing" and state.phase != "firing":  # a new firing, not a reminder of one
            assert seen[-checked.failure_threshold :] == [True] * checked.failure_threshold
        if stepped.event == "firing":
            assert holds is True
            assert all(now - at >= checked.cooldown_s for kind, at in sent if kind == "firing")
        if stepped.event == "resolved":
            assert checked.send_on_resolved
            assert seen[-checked.success_threshold :] == [False] * checked.success_threshold
            assert state.notified
        if stepped.event:
            sent.append((stepped.event, now))
        state = stepped.state
    kinds = [kind for kind, _ in sent]
    assert all(kinds[i - 1] == "firing" for i, kind in enumerate(kinds) if kind == "resolved")


# --- notifiers that fail -------------------------------------------------------------------------------------


def test_a_failed_notification_is_reported_and_sent_again_by_the_next_run(store: AlertStore) -> None:
    runs = Runs(store, [aide_example()], notifier=Recorder(fail=True))
    report = runs.run(scored(20))
    assert report.deliveries[0].to_dict()["error"] == "ConnectionError: receiver down"
    assert report.given_back == ["alerts"]
    assert report.rules[0].step.note == "firing: not delivered, the next run sends it again"
    assert "alerts: notifier 'recorder' failed (alerts): ConnectionError: receiver down" in report.lines()
    runs.notifier.fail = False
    runs.run(scored(20), after_minutes=1)  # within the cooldown, but nothing went out: sent now
    assert runs.notifier.events() == [("low_health_score", "firing")]


def test_one_notifier_failing_does_not_stop_another(store: AlertStore) -> None:
    broken, working = Recorder("broken", fail=True), Recorder("working")
    report = run_alerts([aide_example()], scored(20), store, [broken, working], now=FakeNow())
    assert working.events() == [("low_health_score", "firing")]
    assert report.given_back == []  # one notifier took it: the cooldown holds
    assert [(d.notifier, d.ok) for d in report.deliveries] == [("broken", False), ("working", True)]


class Hanging:
    name = "hanging"

    def __init__(self) -> None:
        self.release = threading.Event()

    def send(self, message: AlertMessage) -> None:
        self.release.wait(60)


def test_a_hanging_notifier_is_left_behind_after_the_timeout(store: AlertStore) -> None:
    hanging, working = Hanging(), Recorder()
    try:
        report = run_alerts([aide_example()], scored(20), store, [hanging, working], now=FakeNow(), timeout=0.5)
    finally:
        hanging.release.set()
    assert working.events() == [("low_health_score", "firing")]
    failed = next(d for d in report.deliveries if d.notifier == "hanging")
    assert failed.error == "did not finish within 0.5 s"


def test_a_broken_database_is_reported_not_raised(tmp_path: Path) -> None:
    (tmp_path / "history.sqlite3").write_bytes(b"not a database at all" * 100)
    notifier = Recorder()
    report = run_alerts([aide_example()], scored(20), AlertStore(database_path(tmp_path)), [notifier], now=FakeNow())
    assert report.error.startswith("history database history.sqlite3: file is not a database")
    assert report.lines()[0].startswith("alerts: not judged: history database")
    assert notifier.messages == []


def test_what_a_notifier_gets_is_free_of_secrets(store: AlertStore) -> None:
    secret = "s3cr3t-t0ken-value"
    leaky = AlertRule.from_settings(
        "leaky", AlertRuleSettings(check="check_x", condition=">= WARNING", description=f"key {secret}")
    )
    summary = with_checks(measured(f"x.py::check_x[{secret}]", Status.CRITICAL))
    notifier = Recorder()
    run_alerts([leaky], summary, store, [notifier], now=FakeNow(), redact=Redactor([secret]))
    assert secret not in str(notifier.messages[0].payload())
    assert "***" in notifier.messages[0].text


# --- the digest -----------------------------------------------------------------------------------------------


def digest_runs(store: AlertStore) -> Runs:
    rules = [
        rule(metric="health_score", condition="< 90", severity="warning", cooldown_minutes=24 * 60),
        aide_example(),
    ]
    schedule = DigestSchedule.from_settings(DigestSettings(severities=["warning"], send_at="08:00"))
    return Runs(store, rules, schedule=schedule)


def test_warnings_wait_for_the_digest_while_criticals_go_out_at_once(store: AlertStore) -> None:
    runs = digest_runs(store)
    report = runs.run(scored(80))  # 06:00: a warning only
    assert [e.rule for e in report.queued] == ["r"]
    assert runs.notifier.messages == []
    runs.run(scored(40), after_minutes=5)  # 06:05: critical too
    assert runs.notifier.events() == [("low_health_score", "firing")]
    runs.run(scored(80), after_minutes=114)  # 07:59: the critical resolves at once; no digest due yet
    assert runs.notifier.events() == [("low_health_score", "firing"), ("low_health_score", "resolved")]
    assert runs.notifier.events("digest") == []
    report = runs.run(scored(95), after_minutes=2)  # 08:01: the first run after 08:00 sends the digest
    assert runs.notifier.events("digest") == [("r", "firing"), ("r", "resolved")]  # resolved by this very run
    assert report.lines()[-1] == "  digest sent: 2 notification(s)"
    runs.run(scored(80), after_minutes=5)  # 08:06: r holds again, quiet in its 24-hour cooldown
    assert [m.kind for m in runs.notifier.messages].count("digest") == 1
    runs.run(scored(80), after_minutes=24 * 60)  # the next day's first run after 08:00
    assert runs.notifier.events("digest")[-1] == ("r", "firing")
    assert [m.kind for m in runs.notifier.messages].count("digest") == 2


def test_the_digest_counts_from_the_first_run(store: AlertStore) -> None:
    runs = digest_runs(store)
    runs.now.at = START.replace(hour=9)  # after today's 08:00, but digests start now: tomorrow's is the first
    runs.run(scored(80))
    runs.run(scored(80), after_minutes=60)
    assert runs.notifier.messages == []


def test_a_digest_that_did_not_go_out_is_sent_by_the_next_run(store: AlertStore) -> None:
    runs = digest_runs(store)
    runs.run(scored(80))
    runs.notifier.fail = True
    report = runs.run(scored(80), after_minutes=121)  # 08:01
    assert report.given_back == ["digest"]
    runs.notifier.fail = False
    runs.run(scored(80), after_minutes=5)
    assert runs.notifier.events("digest") == [("r", "firing")]


def test_rules_are_read_in_the_files_order() -> None:
    settings = AlertsSettings(
        rules={
            "b": AlertRuleSettings(metric="verdict", condition=">= DEGRADED"),
            "a": AlertRuleSettings(check="c", condition="!= OK"),
        }
    )
    assert [r.name for r in rules_of(settings)] == ["b", "a"]


CONCURRENT_RUN = """
import sys, time
from datetime import UTC, datetime
from pathlib import Path
from pytest_aide.alerts.engine import run_alerts
from pytest_aide.alerts.rules import AlertRule
from pytest_aide.alerts.store import AlertStore
from pytest_aide.settings import AlertRuleSettings
from pytest_aide.status import Verdict
from pytest_aide.summary import RunSummary

folder, name = Path(sys.argv[1]), sys.argv[2]

class FileNotifier:
    name = "file"
    def send(self, message):
        with (folder / "sent.txt").open("a") as out:
            out.write(name + "\\n")

rule = AlertRule.from_settings("low", AlertRuleSettings(metric="health_score", condition="< 50", cooldown_minutes=2))
summary = RunSummary(name, "", "", "host", [], verdict=Verdict.CRITICAL, score=10.0)
while not (folder / "go").exists():  # both processes start their run at the same moment
    time.sleep(0.001)
report = run_alerts([rule], summary, AlertStore(folder / "history.sqlite3"), [FileNotifier()])
print(report.error or report.rules[0].step.note)
"""


def test_two_runs_at_once_send_one_notification(tmp_path: Path) -> None:
    """Overlapping cron runs: real processes judge the same rule at the same moment; one claims the
    notification, the other finds it claimed (in its cooldown), and neither fails on the busy database."""
    import subprocess
    import sys

    runs = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT_RUN, str(tmp_path), f"run{n}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    time.sleep(0.5)  # let both import and wait at the start line (an early one only makes the race milder)
    (tmp_path / "go").touch()
    notes = []
    for process in runs:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        notes.append(out.strip())
    assert sorted(n.split(",")[0] for n in notes) == ["firing", "firing: notified"]
    assert len((tmp_path / "sent.txt").read_text().splitlines()) == 1


def test_an_overlapping_run_whose_clock_reads_just_before_the_notification_stays_quiet() -> None:
    """Two cron runs at once: the second read its clock, then waited for the first's transaction, so its time
    is a little before the notification the first just sent; that is the cooldown, not a clock set back."""
    watched = aide_example()
    sent = step(watched, RuleState(), Observation(True, "", ""), 1000.0)
    assert sent.event == "firing"
    overlapping = step(watched, sent.state, Observation(True, "", ""), 999.99)
    assert overlapping.event is None
    set_back = step(watched, sent.state, Observation(True, "", ""), 1000.0 - watched.cooldown_s - 1)
    assert set_back.event == "firing"  # a clock set back by more than the cooldown: notify again
