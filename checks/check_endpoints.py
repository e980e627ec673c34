"""Every ``[[endpoints]]`` entry: expected status, JSON conditions, response time (probed concurrently)."""

from __future__ import annotations

import pytest

from pytest_aide.probes.endpoints import parse_condition

pytestmark = [pytest.mark.daily, pytest.mark.weekly, pytest.mark.monthly, pytest.mark.aide(component="endpoints")]


def check_endpoint(endpoint, endpoint_probe, health):
    probe = endpoint_probe
    health.record("response_time_s", probe.elapsed_s, metric=endpoint.metric)
    if not probe.ok:
        health.attach(f"response of {probe.url}", probe.body_excerpt or "(no body)")
    assert probe.ok, f"{endpoint.method} {probe.url}: {probe.error}"
    failures = [msg for msg in (parse_condition(c).evaluate(probe.json) for c in endpoint.conditions) if msg]
    assert not failures, f"{probe.url}: " + "; ".join(failures)
