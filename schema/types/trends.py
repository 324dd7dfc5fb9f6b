"""Trends, window figures and SLA: what the rollups say about a service over a window."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import strawberry

from resolvers.availability import Sla as SlaValue
from resolvers.rollups import Tally
from resolvers.trends import Figures, TrendPoint, Trends
from schema.types.enums import FailureKind, HealthStatus, TrendWindow
from schema.types.incident import Incident

if TYPE_CHECKING:
    from schema.types.service import Service

ServiceRef = Annotated["Service", strawberry.lazy("schema.types.service")]


@strawberry.type(description="Checks per published status")
class StatusCounts:
    healthy: int = strawberry.field(description="Checks published HEALTHY")
    degraded: int = strawberry.field(description="Checks published DEGRADED")
    unhealthy: int = strawberry.field(description="Checks published UNHEALTHY")
    maintenance: int = strawberry.field(description="Checks published MAINTENANCE")
    unknown: int = strawberry.field(description="Checks published UNKNOWN")

    @classmethod
    def from_tally(cls, tally: Tally) -> StatusCounts:
        c = tally.counts
        return cls(
            healthy=c.get(HealthStatus.HEALTHY, 0),
            degraded=c.get(HealthStatus.DEGRADED, 0),
            unhealthy=c.get(HealthStatus.UNHEALTHY, 0),
            maintenance=c.get(HealthStatus.MAINTENANCE, 0),
            unknown=c.get(HealthStatus.UNKNOWN, 0),
        )


@strawberry.type(description="Response times in ms; percentiles from a log histogram, within 4.9% above 1 ms")
class LatencySummary:
    samples: int = strawberry.field(description="Checks that measured a response time")
    p50_ms: float | None = strawberry.field(description="Median (null without samples)")
    p95_ms: float | None = strawberry.field(description="95th percentile")
    p99_ms: float | None = strawberry.field(description="99th percentile")
    avg_ms: float | None = strawberry.field(description="Mean (exact)")
    min_ms: float | None = strawberry.field(description="Fastest (exact)")
    max_ms: float | None = strawberry.field(description="Slowest (exact)")

    @classmethod
    def from_tally(cls, tally: Tally) -> LatencySummary:
        return cls(
            samples=tally.latency_count,
            p50_ms=tally.percentile_ms(0.5),
            p95_ms=tally.percentile_ms(0.95),
            p99_ms=tally.percentile_ms(0.99),
            avg_ms=tally.latency_avg_ms,
            min_ms=tally.latency_min_ms,
            max_ms=tally.latency_max_ms,
        )


@strawberry.type(description="How many checks failed in one way")
class FailureKindCount:
    kind: FailureKind = strawberry.field(description="The failure kind")
    count: int = strawberry.field(description="Checks that failed this way")


def failure_kind_counts(tally: Tally) -> list[FailureKindCount]:
    pairs = sorted(tally.failure_kinds.items(), key=lambda kv: (-kv[1], kv[0]))
    return [FailureKindCount(kind=FailureKind(k), count=n) for k, n in pairs if k in FailureKind.__members__]


@strawberry.type(description="Checks over a window, under the uptime policy (docs/analytics.md)")
class HealthSummary:
    checks: int = strawberry.field(description="Checks in the window")
    failures: int = strawberry.field(description="Checks that observed a failure, whatever was published")
    uptime: float | None = strawberry.field(description="Up share of counted checks; null: none counted")
    counts: StatusCounts = strawberry.field(description="Checks per published status")
    latency: LatencySummary = strawberry.field(description="Response times")
    failure_kinds: list[FailureKindCount] = strawberry.field(description="Most frequent first")

    @classmethod
    def from_figures(cls, figures: Figures) -> HealthSummary:
        return cls(
            checks=figures.checks,
            failures=figures.failures,
            uptime=figures.uptime,
            counts=StatusCounts.from_tally(figures.tally),
            latency=LatencySummary.from_tally(figures.tally),
            failure_kinds=failure_kind_counts(figures.tally),
        )


@strawberry.type(description="One point of a trend chart")
class TrendBucket:
    start: dt.datetime = strawberry.field(description="Start of the bucket (inclusive)")
    end: dt.datetime = strawberry.field(description="End of the bucket (exclusive)")
    checks: int = strawberry.field(description="Checks in the bucket")
    failures: int = strawberry.field(description="Checks that observed a failure")
    unhealthy: int = strawberry.field(description="Checks published UNHEALTHY")
    uptime: float | None = strawberry.field(description="Null when no check in the bucket counts")
    latency_p50_ms: float | None = strawberry.field(description="Median response time in ms")
    latency_p95_ms: float | None = strawberry.field(description="95th percentile response time in ms")

    @classmethod
    def from_point(cls, point: TrendPoint) -> TrendBucket:
        f = point.figures
        return cls(
            start=point.start,
            end=point.end,
            checks=f.checks,
            failures=f.failures,
            unhealthy=f.count(HealthStatus.UNHEALTHY),
            uptime=f.uptime,
            latency_p50_ms=f.tally.percentile_ms(0.5),
            latency_p95_ms=f.tally.percentile_ms(0.95),
        )


@strawberry.type(description="Availability against a target over a window")
class Sla:
    target: float = strawberry.field(description="The service's target, or VIGIL_SLA_TARGET")
    achieved: float | None = strawberry.field(description="Uptime over the window under the policy; null: no data")
    is_met: bool | None = strawberry.field(description="achieved >= target; null: no data")
    window_seconds: float = strawberry.field(description="Length of the window")
    downtime_seconds: float = strawberry.field(description="Time the service was published UNHEALTHY (incidents)")
    allowed_downtime_seconds: float = strawberry.field(description="(1 - target) x window")
    remaining_downtime_seconds: float = strawberry.field(description="Allowed minus downtime; negative when over")
    error_budget_remaining: float | None = strawberry.field(
        description="Share of the error budget left: 1 - (1 - achieved) / (1 - target); negative when blown"
    )

    @classmethod
    def from_value(cls, value: SlaValue) -> Sla:
        budget = value.error_budget_remaining
        return cls(
            target=value.target,
            achieved=value.achieved,
            is_met=value.is_met,
            window_seconds=value.window_seconds,
            downtime_seconds=value.downtime_seconds,
            allowed_downtime_seconds=value.allowed_downtime_seconds,
            remaining_downtime_seconds=value.remaining_downtime_seconds,
            error_budget_remaining=None if budget is None or budget == float("-inf") else budget,
        )


@strawberry.type(description="A service over a window: a chart-sized series and a summary")
class HealthTrends:
    service: ServiceRef = strawberry.field(description="The service")
    window: TrendWindow = strawberry.field(description="The window asked for")
    start: dt.datetime = strawberry.field(description="Start of the window the summary covers (now - window)")
    end: dt.datetime = strawberry.field(description="End of the window (now)")
    bucket_seconds: int = strawberry.field(description="Width of each bucket")
    buckets: list[TrendBucket] = strawberry.field(description="Oldest first; the last one holds now")
    summary: HealthSummary = strawberry.field(description="The window itself, [start, end)")
    sla: Sla = strawberry.field(description="The SLA over this window")
    incidents: list[Incident] = strawberry.field(description="Incidents overlapping the window, oldest first")

    @classmethod
    def from_value(cls, value: Trends) -> HealthTrends:
        from schema.types.service import Service

        return cls(
            service=Service.from_row(value.service),
            window=TrendWindow(value.window),
            start=value.start,
            end=value.end,
            bucket_seconds=value.bucket_seconds,
            buckets=[TrendBucket.from_point(p) for p in value.points],
            summary=HealthSummary.from_figures(value.summary),
            sla=Sla.from_value(value.sla),
            incidents=[Incident.from_row(row) for row in value.incidents],
        )
