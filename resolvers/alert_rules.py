"""The alert rules as pure functions: what a service looks like now in, the conditions that hold out.

Rules (global thresholds from settings, per-service ones from `AlertOverride`):

- `service_unhealthy`: the published status has been UNHEALTHY for more than `alert_unhealthy_seconds`.
- `failure_rate`: failed checks over `alert_window_seconds` exceed `alert_failure_rate` (a share),
  once the window holds at least `alert_min_checks` counted checks (MAINTENANCE checks are left out).
- `slow_response`: the mean response time over the window exceeds `alert_response_time_ms`.

Not evaluated here, on purpose: the GraphQL error rate (its counters live in each replica's
Prometheus registry, so one replica would alert on its own share of traffic; alert on
`vigil_graphql_errors` / `vigil_graphql_operations` in Prometheus instead) and the cache miss
rate (Vigil has no cache yet).
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
RULES = (SERVICE_UNHEALTHY, FAILURE_RATE, SLOW_RESPONSE)


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
    """A rule that holds for a service now."""

    rule: str
    service_id: int
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


def dedup_key(rule: str, service_id: int | None) -> str:
    return f"{rule}:{'platform' if service_id is None else service_id}"
