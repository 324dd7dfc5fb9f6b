"""The alert rules as pure functions: thresholds, minimums, per-service overrides and off switches."""

from __future__ import annotations

import datetime as dt

from config import Settings
from probes.result import HealthStatus
from resolvers.alert_rules import (
    CACHE_MISS_RATE,
    FAILURE_RATE,
    GRAPHQL_ERROR_RATE,
    SERVICE_UNHEALTHY,
    SLOW_RESPONSE,
    PlatformThresholds,
    PlatformUsage,
    ServiceState,
    Thresholds,
    conditions,
    dedup_key,
    platform_conditions,
)

NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
DEFAULTS = Thresholds.from_settings(Settings(_env_file=None))
PLATFORM = PlatformThresholds.from_settings(Settings(_env_file=None))


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


def usage(**values: int) -> PlatformUsage:
    return PlatformUsage(window_seconds=300.0, **values)


def test_cache_miss_rate_needs_more_than_thirty_percent_of_at_least_a_hundred_reads() -> None:
    assert platform_conditions(usage(cache_reads=100, cache_misses=30), PLATFORM) == []
    (found,) = platform_conditions(usage(cache_reads=100, cache_misses=31), PLATFORM)
    assert (found.rule, found.service_id) == (CACHE_MISS_RATE, None)
    assert found.details == {"missRate": 0.31, "reads": 100, "misses": 31, "threshold": 0.3, "windowSeconds": 300.0}
    assert platform_conditions(usage(cache_reads=99, cache_misses=99), PLATFORM) == []


def test_graphql_error_rate_needs_more_than_five_percent_of_at_least_twenty_operations() -> None:
    assert platform_conditions(usage(graphql_operations=20, graphql_errors=1), PLATFORM) == []
    (found,) = platform_conditions(usage(graphql_operations=20, graphql_errors=2), PLATFORM)
    assert (found.rule, found.service_id) == (GRAPHQL_ERROR_RATE, None)
    assert "10% of 20 operations" in found.summary
    assert platform_conditions(usage(graphql_operations=19, graphql_errors=19), PLATFORM) == []


def test_a_platform_threshold_of_zero_switches_the_rule_off() -> None:
    off = PlatformThresholds.from_settings(
        Settings(_env_file=None, alert_cache_miss_rate=0, alert_graphql_error_rate=0)
    )
    assert (off.cache_miss_rate, off.graphql_error_rate) == (None, None)
    everything_failing = usage(cache_reads=1000, cache_misses=1000, graphql_operations=1000, graphql_errors=1000)
    assert platform_conditions(everything_failing, off) == []
    assert {c.rule for c in platform_conditions(everything_failing, PLATFORM)} == {CACHE_MISS_RATE, GRAPHQL_ERROR_RATE}


def test_nothing_counted_is_no_condition_even_with_a_minimum_of_one() -> None:
    lowest = PlatformThresholds(
        cache_miss_rate=0.3, min_cache_reads=1, graphql_error_rate=0.05, min_graphql_operations=1
    )
    assert platform_conditions(usage(), lowest) == []
    assert len(platform_conditions(usage(graphql_operations=1, graphql_errors=1), lowest)) == 1


def test_a_platform_alert_is_deduplicated_on_its_rule_alone() -> None:
    assert dedup_key(GRAPHQL_ERROR_RATE, None) == "graphql_error_rate:platform"
    assert dedup_key(FAILURE_RATE, 7) == "failure_rate:7"
