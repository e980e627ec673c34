"""Evidence of failed checks: the host snapshot is taken once per interval, redacted and bounded."""

from __future__ import annotations

import pytest

from pytest_aide import evidence
from pytest_aide.redact import Redactor


def test_host_snapshot_is_reused_within_its_interval_and_retaken_after(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evidence, "_snapshot", (0.0, []))
    clock = [1000.0]
    first = evidence.host_snapshot(now=lambda: clock[0])
    assert [title for title, _ in first] == ["top processes by memory", "top processes by CPU"]
    assert "pid" in first[0][1]
    clock[0] += evidence.SNAPSHOT_TTL_S / 2
    assert evidence.host_snapshot(now=lambda: clock[0]) is first
    clock[0] += evidence.SNAPSHOT_TTL_S
    assert evidence.host_snapshot(now=lambda: clock[0]) is not first


def test_collect_redacts_and_bounds_each_item() -> None:
    long_text = "token=abcd1234 " + "x" * (evidence.MAX_EVIDENCE_CHARS * 2)
    items = evidence.collect([("response", long_text)], Redactor(["abcd1234"]))
    title, text = items[0]
    assert title == "response"
    assert "abcd1234" not in text
    assert len(text) < evidence.MAX_EVIDENCE_CHARS + 100
    assert text.endswith("more characters cut)")
