"""Every ``[[endpoints]]`` entry: expected status, JSON conditions, response time (probed concurrently)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pytest_aide.probes.endpoints import parse_condition

if TYPE_CHECKING:  # annotations only: nothing more is imported when the suite is collected
    from pytest_aide.health import HealthRecorder
    from pytest_aide.probes.http import HttpProbe
    from pytest_aide.settings import EndpointSettings

pytestmark = [pytest.mark.daily, pytest.mark.weekly, pytest.mark.monthly, pytest.mark.aide(component="endpoints")]


def check_endpoint(
    aide_endpoint: EndpointSettings, aide_endpoint_probe: HttpProbe, aide_health: HealthRecorder
) -> None:
    probe = aide_endpoint_probe
    if probe.complete:  # a refused or timed-out request has no response time, only a failure
        aide_health.record("response_time_s", probe.elapsed_s, metric=aide_endpoint.metric)
    if not probe.ok:
        aide_health.attach(f"response of {probe.url}", probe.body_excerpt or "(no body)")
    assert probe.ok, f"{aide_endpoint.method} {probe.url}: {probe.error}"
    failures = [msg for msg in (parse_condition(c).evaluate(probe.json) for c in aide_endpoint.conditions) if msg]
    assert not failures, f"{probe.url}: " + "; ".join(failures)
