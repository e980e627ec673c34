"""Every ``[[endpoints]]`` entry: expected status, JSON conditions, response time (probed concurrently)."""

from __future__ import annotations

import pytest

from pytest_aide.probes.endpoints import parse_condition

pytestmark = [pytest.mark.daily, pytest.mark.weekly, pytest.mark.monthly, pytest.mark.aide(component="endpoints")]


def check_endpoint(aide_endpoint, aide_endpoint_probe, aide_health):
    probe = aide_endpoint_probe
    aide_health.record("response_time_s", probe.elapsed_s, metric=aide_endpoint.metric)
    if not probe.ok:
        aide_health.attach(f"response of {probe.url}", probe.body_excerpt or "(no body)")
    assert probe.ok, f"{aide_endpoint.method} {probe.url}: {probe.error}"
    failures = [msg for msg in (parse_condition(c).evaluate(probe.json) for c in aide_endpoint.conditions) if msg]
    assert not failures, f"{probe.url}: " + "; ".join(failures)
