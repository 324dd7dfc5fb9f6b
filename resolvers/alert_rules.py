"""The alert rules as pure functions: what a service (or the platform) looks like now in, the conditions that hold out.

Service rules (global thresholds from settings, per-service ones from `AlertOverride`):

- `service_unhealthy`: the published status has been UNHEALTHY for more than `alert_unhealthy_seconds`.
- `failure_rate`: failed checks over `alert_window_seconds` exceed `alert_failure_rate` (a share),
  once the window holds at least `alert_min_checks` counted checks (MAINTENANCE checks are left out).
- `slow_response`: the mean response time over the window exceeds `alert_response_time_ms`.

Platform rules (service NULL, dedup key `<rule>:platform`; global thresholds only, 0 switches one
off; no service's maintenance silences them). They read the cluster-wide counters of
`resolvers.usage` over `alert_window_seconds`, summed across every replica:

- `cache_miss_rate`: read-model cache misses exceed `alert_cache_miss_rate` of cache reads, once
  the window holds at least `alert_min_cache_reads` reads.
- `graphql_error_rate`: queries and mutations that failed on the server's side exceed
  `alert_graphql_error_rate` of all queries and mutations, once the window holds at least
  `alert_min_graphql_operations`. An operation counts as failed when it returned an error whose
  `extensions.code` is not a client mistake (`resolvers.usage.CLIENT_ERROR_CODES`: bad input, not
  found, conflict, authentication, permission, rate limit, parse and validation failures), so
  INTERNAL_SERVER_ERROR counts and a user's typo does not.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from config import Settings
from probes.result import HealthStatus

SERVICE_UNHEALTHY = "service_unhealthy"
FAILURE_RATE = "failure_rate"
SLOW_RESPONSE = "slow_response"
CACHE_MISS_RATE = "cache_miss_rate"
GRAPHQL_ERROR_RATE = "graphql_error_rate"
SERVICE_RULES = (SERVICE_UNHEALTHY, FAILURE_RATE, SLOW_RESPONSE)
PLATFORM_RULES = (CACHE_MISS_RATE, GRAPHQL_ERROR_RATE)
RULES = SERVICE_RULES + PLATFORM_RULES


@dataclasses.dataclass(frozen=True, slots=True)
class Thresholds:
    """One service's thresholds, in the unit of each rule; None switches the rule off."""

    unhealthy_seconds: float | None
    failure_rate: float | None
    response_time_ms: float | None
    min_checks: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        return cls(
            unhealthy_seconds=settings.alert_unhealthy_seconds,
            failure_rate=settings.alert_failure_rate,
            response_time_ms=settings.alert_response_time_ms,
            min_checks=settings.alert_min_checks,
        )

    def overridden(self, overrides: Mapping[str, tuple[float | None, bool]]) -> Thresholds:
        """`overrides` maps a rule to (threshold or None for the global one, is_enabled)."""

        def pick(rule: str, value: float | None) -> float | None:
            if rule not in overrides:
                return value
            threshold, enabled = overrides[rule]
            if not enabled:
                return None
            return value if threshold is None else threshold

        return dataclasses.replace(
            self,
            unhealthy_seconds=pick(SERVICE_UNHEALTHY, self.unhealthy_seconds),
            failure_rate=pick(FAILURE_RATE, self.failure_rate),
            response_time_ms=pick(SLOW_RESPONSE, self.response_time_ms),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class ServiceState:
    """What the rules read about one service; counts and latency cover the rule window."""

    service_id: int
    name: str
    status: HealthStatus
    status_changed_at: dt.datetime | None
    checks: int = 0  # counted checks in the window (MAINTENANCE left out)
    failures: int = 0
    latency_count: int = 0
    latency_sum_ms: float = 0.0


@dataclasses.dataclass(frozen=True, slots=True)
class Condition:
    """A rule that holds for a service, or for the platform (`service_id` None), now."""

    rule: str
    service_id: int | None
    summary: str
    details: dict[str, Any]


def conditions(state: ServiceState, thresholds: Thresholds, now: dt.datetime) -> list[Condition]:
    found: list[Condition] = []
    limit = thresholds.unhealthy_seconds
    if limit is not None and state.status is HealthStatus.UNHEALTHY and state.status_changed_at is not None:
        down_s = (now - state.status_changed_at).total_seconds()
        if down_s > limit:
            found.append(
                Condition(
                    SERVICE_UNHEALTHY,
                    state.service_id,
                    f"{state.name} has been UNHEALTHY for {down_s:.0f} s (threshold {limit:g} s)",
                    {"unhealthySince": state.status_changed_at.isoformat(), "thresholdSeconds": limit},
                )
            )
    share = thresholds.failure_rate
    if share is not None and state.checks >= thresholds.min_checks and state.failures / state.checks > share:
        rate = state.failures / state.checks
        found.append(
            Condition(
                FAILURE_RATE,
                state.service_id,
                f"{state.name}: {rate:.0%} of checks failed (threshold {share:.0%})",
                {"failureRate": rate, "checks": state.checks, "failures": state.failures, "threshold": share},
            )
        )
    slow = thresholds.response_time_ms
    if slow is not None and state.latency_count >= thresholds.min_checks:
        mean = state.latency_sum_ms / state.latency_count
        if mean > slow:
            found.append(
                Condition(
                    SLOW_RESPONSE,
                    state.service_id,
                    f"{state.name}: mean response time {mean:.0f} ms (threshold {slow:g} ms)",
                    {"meanResponseTimeMs": mean, "checks": state.latency_count, "thresholdMs": slow},
                )
            )
    return found


@dataclasses.dataclass(frozen=True, slots=True)
class PlatformThresholds:
    """The platform rules' global thresholds (shares); None switches a rule off."""

    cache_miss_rate: float | None
    min_cache_reads: int
    graphql_error_rate: float | None
    min_graphql_operations: int

    @classmethod
    def from_settings(cls, settings: Settings) -> PlatformThresholds:
        return cls(
            cache_miss_rate=settings.alert_cache_miss_rate or None,
            min_cache_reads=settings.alert_min_cache_reads,
            graphql_error_rate=settings.alert_graphql_error_rate or None,
            min_graphql_operations=settings.alert_min_graphql_operations,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class PlatformUsage:
    """Cluster-wide totals over the rule window (`resolvers.usage`)."""

    window_seconds: float
    graphql_operations: int = 0
    graphql_errors: int = 0
    cache_reads: int = 0
    cache_misses: int = 0


def platform_conditions(usage: PlatformUsage, thresholds: PlatformThresholds) -> list[Condition]:
    found: list[Condition] = []
    window = f"{usage.window_seconds:g} s"
    share = thresholds.cache_miss_rate
    if share is not None and usage.cache_reads >= max(thresholds.min_cache_reads, 1):
        rate = usage.cache_misses / usage.cache_reads
        if rate > share:
            found.append(
                Condition(
                    CACHE_MISS_RATE,
                    None,
                    f"cache misses: {rate:.0%} of {usage.cache_reads} reads in {window} (threshold {share:.0%})",
                    {
                        "missRate": rate,
                        "reads": usage.cache_reads,
                        "misses": usage.cache_misses,
                        "threshold": share,
                        "windowSeconds": usage.window_seconds,
                    },
                )
            )
    share = thresholds.graphql_error_rate
    if share is not None and usage.graphql_operations >= max(thresholds.min_graphql_operations, 1):
        rate = usage.graphql_errors / usage.graphql_operations
        if rate > share:
            found.append(
                Condition(
                    GRAPHQL_ERROR_RATE,
                    None,
                    f"GraphQL errors: {rate:.0%} of {usage.graphql_operations} operations in {window} "
                    f"failed (threshold {share:.0%})",
                    {
                        "errorRate": rate,
                        "operations": usage.graphql_operations,
                        "errors": usage.graphql_errors,
                        "threshold": share,
                        "windowSeconds": usage.window_seconds,
                    },
                )
            )
    return found


def dedup_key(rule: str, service_id: int | None) -> str:
    return f"{rule}:{'platform' if service_id is None else service_id}"
