"""The alert rules as pure functions: thresholds, minimum checks and per-service overrides."""

from __future__ import annotations

import datetime as dt

from config import Settings
from probes.result import HealthStatus
from resolvers.alert_rules import FAILURE_RATE, SERVICE_UNHEALTHY, SLOW_RESPONSE, ServiceState, Thresholds, conditions

NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
DEFAULTS = Thresholds.from_settings(Settings(_env_file=None))


def state(**values: object) -> ServiceState:
    fields: dict[str, object] = {"service_id": 1, "name": "Michigan", "status": HealthStatus.HEALTHY}
    fields.update(values)
    fields.setdefault("status_changed_at", None)
    return ServiceState(**fields)  # type: ignore[arg-type]


def rules(found: list) -> set[str]:  # type: ignore[type-arg]
    return {c.rule for c in found}


def test_unhealthy_fires_only_after_more_than_five_minutes_by_default() -> None:
    down = state(status=HealthStatus.UNHEALTHY, status_changed_at=NOW - dt.timedelta(seconds=299))
    assert conditions(down, DEFAULTS, NOW) == []
    longer = state(status=HealthStatus.UNHEALTHY, status_changed_at=NOW - dt.timedelta(seconds=301))
    assert rules(conditions(longer, DEFAULTS, NOW)) == {SERVICE_UNHEALTHY}


def test_failure_rate_needs_more_than_ten_percent_and_enough_checks() -> None:
    assert conditions(state(checks=10, failures=1), DEFAULTS, NOW) == []
    assert rules(conditions(state(checks=10, failures=2), DEFAULTS, NOW)) == {FAILURE_RATE}
    assert conditions(state(checks=2, failures=2), DEFAULTS, NOW) == []


def test_slow_response_reads_the_mean_over_the_window() -> None:
    assert conditions(state(latency_count=4, latency_sum_ms=4 * 5000.0), DEFAULTS, NOW) == []
    assert rules(conditions(state(latency_count=4, latency_sum_ms=4 * 5001.0), DEFAULTS, NOW)) == {SLOW_RESPONSE}


def test_an_override_replaces_a_threshold_or_switches_the_rule_off() -> None:
    slow = state(latency_count=4, latency_sum_ms=4 * 800.0)
    assert rules(conditions(slow, DEFAULTS.overridden({SLOW_RESPONSE: (500.0, True)}), NOW)) == {SLOW_RESPONSE}
    failing = state(checks=10, failures=10)
    assert conditions(failing, DEFAULTS.overridden({FAILURE_RATE: (None, False)}), NOW) == []
    assert rules(conditions(failing, DEFAULTS.overridden({FAILURE_RATE: (None, True)}), NOW)) == {FAILURE_RATE}
