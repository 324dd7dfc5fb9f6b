"""analytics: the platform and each service over a window."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import strawberry

from resolvers.analytics import AnalyticsView, ServiceFigures, TypeFigures
from schema.types.enums import ServiceType, TrendWindow
from schema.types.trends import FailureKindCount, StatusCounts

if TYPE_CHECKING:
    from schema.types.service import Service

ServiceRef = Annotated["Service", strawberry.lazy("schema.types.service")]


def _kinds(figures: ServiceFigures) -> list[FailureKindCount]:
    from schema.types.enums import FailureKind

    pairs = sorted(figures.failure_kinds.items(), key=lambda kv: (-kv[1], kv[0]))
    return [FailureKindCount(kind=FailureKind(k), count=n) for k, n in pairs if k in FailureKind.__members__]


@strawberry.type(description="Reliability figures over the window (the platform, or one service)")
class ReliabilityFigures:
    checks: int = strawberry.field(description="Checks run")
    failures: int = strawberry.field(description="Checks that observed a failure")
    failure_rate: float | None = strawberry.field(description="failures / checks; null without checks")
    uptime: float | None = strawberry.field(description="Under the uptime policy; null when nothing counted")
    counts: StatusCounts = strawberry.field(description="Checks per published status")
    failure_kinds: list[FailureKindCount] = strawberry.field(description="Most frequent first")
    status_changes: int = strawberry.field(description="Changes of published status")
    incidents: int = strawberry.field(description="UNHEALTHY incidents that started in the window")
    downtime_seconds: float = strawberry.field(description="Time published UNHEALTHY within the window")
    mttr_seconds: float | None = strawberry.field(
        description="Mean time to repair: mean length of UNHEALTHY incidents that ended in the window"
    )
    mtbf_seconds: float | None = strawberry.field(
        description="Mean time between failures: time up in the window per UNHEALTHY incident started in it"
    )
    latency_avg_ms: float | None = strawberry.field(description="Mean response time")

    @classmethod
    def from_value(cls, f: ServiceFigures, window_seconds: float) -> ReliabilityFigures:
        mtbf = f.mtbf_seconds(window_seconds)
        return cls(
            checks=f.tally.checks,
            failures=f.tally.failures,
            failure_rate=f.failure_rate,
            uptime=f.uptime,
            counts=StatusCounts.from_tally(f.tally),
            failure_kinds=_kinds(f),
            status_changes=f.status_changes,
            incidents=f.incidents_started,
            downtime_seconds=f.downtime_seconds,
            mttr_seconds=f.mttr_seconds,
            mtbf_seconds=mtbf,
            latency_avg_ms=f.tally.latency_avg_ms,
        )


@strawberry.type(description="One service over the analytics window")
class ServiceAnalytics:
    service: ServiceRef = strawberry.field(description="The service")
    figures: ReliabilityFigures = strawberry.field(description="Its figures")
    latency_p95_ms: float | None = strawberry.field(description="Set for the slowest services only")
    cost_per_job: float | None = strawberry.field(description="As the operator configured it; null when not set")
    cost_per_successful_job: float | None = strawberry.field(
        description="costPerJob / uptime: expected cost when a job sent to a down server is sent again"
    )

    @classmethod
    def from_value(cls, f: ServiceFigures, window_seconds: float) -> ServiceAnalytics:
        from schema.types.service import Service

        return cls(
            service=Service.from_row(f.service),
            figures=ReliabilityFigures.from_value(f, window_seconds),
            latency_p95_ms=f.latency_p95_ms,
            cost_per_job=f.service.cost_per_job,
            cost_per_successful_job=f.cost_per_successful_job,
        )


@strawberry.type(description="Services of one type over the window")
class TypeAnalytics:
    type: ServiceType = strawberry.field(description="The service type")
    services: int = strawberry.field(description="Registered services of this type")
    checks: int = strawberry.field(description="Checks run")
    failures: int = strawberry.field(description="Checks that observed a failure")
    uptime: float | None = strawberry.field(description="Under the uptime policy")

    @classmethod
    def from_value(cls, t: TypeFigures) -> TypeAnalytics:
        return cls(type=t.type, services=t.services, checks=t.checks, failures=t.failures, uptime=t.uptime)


@strawberry.type(description="Platform-wide and per-service reliability over a window (docs/analytics.md)")
class Analytics:
    window: TrendWindow = strawberry.field(description="The window asked for")
    start: dt.datetime = strawberry.field(description="Start of the window (the top of the hour)")
    end: dt.datetime = strawberry.field(description="End of the window (now)")
    platform: ReliabilityFigures = strawberry.field(description="All services together")
    services: list[ServiceAnalytics] = strawberry.field(description="Every registered service, by id")
    slowest_services: list[ServiceAnalytics] = strawberry.field(description="Highest mean latency first, top 5")
    by_type: list[TypeAnalytics] = strawberry.field(description="One entry per service type in use")
    services_with_cost: list[ServiceAnalytics] = strawberry.field(
        description="Services whose operator configured a cost per job, cheapest per successful job first"
    )

    @classmethod
    def from_value(cls, view: AnalyticsView) -> Analytics:
        seconds = view.window_seconds
        costed = sorted(
            (f for f in view.services if f.service.cost_per_job is not None),
            key=lambda f: (f.cost_per_successful_job is None, f.cost_per_successful_job or 0.0, f.service.id),
        )
        return cls(
            window=TrendWindow(view.window),
            start=view.start,
            end=view.end,
            platform=ReliabilityFigures.from_value(view.platform, seconds),
            services=[ServiceAnalytics.from_value(f, seconds) for f in view.services],
            slowest_services=[ServiceAnalytics.from_value(f, seconds) for f in view.slowest],
            by_type=[TypeAnalytics.from_value(t) for t in view.by_type],
            services_with_cost=[ServiceAnalytics.from_value(f, seconds) for f in costed],
        )
