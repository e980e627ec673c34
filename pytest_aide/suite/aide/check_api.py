"""The target app's HTTP API: health endpoint, response time, cache, task-queue and component statistics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pytest_aide.probes.healthdoc import read_health_document
from pytest_aide.probes.http import pick
from pytest_aide.status import Status

if TYPE_CHECKING:  # annotations only: nothing more is imported when the suite is collected
    from collections.abc import Callable

    from pytest_aide.config import AideConfig
    from pytest_aide.health import HealthRecorder
    from pytest_aide.probes.http import HttpClient, HttpProbe

pytestmark = [pytest.mark.daily, pytest.mark.weekly, pytest.mark.monthly, pytest.mark.aide(component="api", weight=3)]


def _probe_ok(
    app: HttpClient, path: str, health: HealthRecorder, gone: Callable[[], str | None] | None = None
) -> HttpProbe:
    probe = app.probe(path)
    if probe.complete:  # a refused or timed-out request has no response time, only a failure
        health.record("response_time_s", probe.elapsed_s)
    if not probe.ok:
        health.attach(f"response of {probe.url}", probe.body_excerpt or "(no body)")
    if not probe.ok and not probe.complete and gone is not None:
        ended = gone()  # the target this run started has exited: say how, and what it printed last
        assert ended is None, f"GET {probe.url}: {probe.error}: {ended}"
    assert probe.ok, f"GET {probe.url}: {probe.error}: check that the app runs and read its error log"
    return probe


@pytest.mark.gate
@pytest.mark.aide(reachability="app")  # when app is down, this check is the root cause
@pytest.mark.aide(essential=True)  # the app down is an emergency, whatever else is healthy
def check_api_health(
    aide_app: HttpClient,
    aide_config: AideConfig,
    aide_health: HealthRecorder,
    aide_target_exit: Callable[[], str | None],
) -> None:
    """GET the health path: 200 with a health document (or the configured conditions), response time in its band.

    Without ``[app] health_conditions`` the answer is read as a health document (probes/healthdoc.py): an HTML
    page fails, a ``status``/``state`` word decides, anything else is judged by its status code.
    """
    settings = aide_config.settings.app
    probe = _probe_ok(aide_app, settings.health_path, aide_health, aide_target_exit)
    if settings.health_conditions:
        _conditions_hold(probe, settings.health_conditions, aide_health)
        return
    document = read_health_document(probe.body_excerpt, probe.json)
    if document.status is not Status.OK:
        aide_health.attach(f"response of {probe.url}", probe.body_excerpt or "(no body)")
    assert document.status is not Status.CRITICAL, f"GET {probe.url}: {document.reason}"
    # One level: 0 OK, 1 WARNING (a degraded or unknown word, named in the action).
    warned = document.status is Status.WARNING
    aide_health.record("health_status", float(warned), "", warning="0", action=f"GET {probe.url}: {document.reason}")


def _conditions_hold(probe: HttpProbe, conditions: list[str], health: HealthRecorder) -> None:
    """``[app] health_conditions`` replace the health-document rule; each must hold on the JSON body."""
    from pytest_aide.probes.endpoints import parse_condition

    try:
        parsed = [parse_condition(text) for text in conditions]
    except ValueError as exc:
        pytest.fail(f"[app] health_conditions: {exc}", pytrace=False)
    failures = [message for message in (c.evaluate(probe.json) for c in parsed) if message]
    if failures:
        health.attach(f"response of {probe.url}", probe.body_excerpt or "(no body)")
    assert not failures, f"GET {probe.url}: " + "; ".join(failures)


def _stats(app: HttpClient, path: str | None, setting: str, health: HealthRecorder) -> Any:
    """Probe a statistics endpoint named by ``[app] <setting>``; skip when it is not configured."""
    if not path:
        pytest.skip(f"not configured: [app] {setting}")
    return _probe_ok(app, path, health).json


def check_cache_stats(aide_app: HttpClient, aide_config: AideConfig, aide_health: HealthRecorder) -> None:
    """Cache statistics endpoint: hit rate and size."""
    stats = _stats(aide_app, aide_config.settings.app.cache_stats_path, "cache_stats_path", aide_health)
    aide_health.record("cache_hit_rate_percent", float(pick(stats, "hit_rate_percent")), "%")
    aide_health.record("cache_entries", float(pick(stats, "memory_cache_size")), "entries")


def check_task_queue(aide_app: HttpClient, aide_config: AideConfig, aide_health: HealthRecorder) -> None:
    """Background task queue: how many tasks wait."""
    stats = _stats(aide_app, aide_config.settings.app.tasks_stats_path, "tasks_stats_path", aide_health)
    aide_health.record("task_queue_size", float(pick(stats, "queue_size")), "tasks")
    aide_health.record("tasks_total", float(pick(stats, "total_tasks")), "tasks")


def check_component_stats(aide_app: HttpClient, aide_config: AideConfig, aide_health: HealthRecorder) -> None:
    """The app's component health (the AIDE guide's): errors by category and how many resolved themselves, open
    circuits, retry and fallback success rates. A rate no call has needed yet is not recorded."""
    stats = _stats(aide_app, aide_config.settings.app.component_stats_path, "component_stats_path", aide_health)
    total, resolved = float(pick(stats, "errors.total")), float(pick(stats, "errors.auto_resolved"))
    aide_health.record("component_errors", total, "errors")
    aide_health.record("component_errors_auto_resolved", resolved, "errors")
    aide_health.record("component_errors_unresolved", total - resolved, "errors")
    unhealthy = pick(stats, "circuits.unhealthy")
    aide_health.record("open_circuits", float(len(unhealthy)), "circuits", action=_open_circuits_action(unhealthy))
    retry, fallback = pick(stats, "retry.success_rate"), pick(stats, "fallback.success_rate")
    if retry is not None:
        aide_health.record("retry_success_rate_percent", 100.0 * float(retry), "%")
    if fallback is not None:
        aide_health.record("fallback_success_rate_percent", 100.0 * float(fallback), "%")


def _open_circuits_action(unhealthy: Any) -> str | None:
    if not unhealthy:
        return None
    names = ", ".join(str(name) for name in unhealthy)
    return f"circuits not closed: {names}; fix what they guard (they close by themselves), then reset them"
