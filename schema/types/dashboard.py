"""The dashboard: the platform at a glance."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import strawberry

from probes.result import HealthStatus as Status
from resolvers.dashboard import Attention, DashboardView
from schema.types.enums import HealthStatus, TrendWindow
from schema.types.health import StatusChange

if TYPE_CHECKING:
    from schema.types.service import Service

ServiceRef = Annotated["Service", strawberry.lazy("schema.types.service")]


@strawberry.type(description="Active services per effective status")
class StatusTally:
    healthy: int = strawberry.field(description="Services HEALTHY")
    degraded: int = strawberry.field(description="Services DEGRADED, themselves or through a required dependency")
    unhealthy: int = strawberry.field(description="Services UNHEALTHY")
    maintenance: int = strawberry.field(description="Services in MAINTENANCE")
    unknown: int = strawberry.field(description="Services not checked yet")

    @classmethod
    def from_counts(cls, counts: dict[Status, int]) -> StatusTally:
        return cls(**{status.value.lower(): counts.get(status, 0) for status in Status})


@strawberry.type(description="A service that needs a look, and why")
class ServiceAttention:
    service: ServiceRef = strawberry.field(description="The service")
    status: HealthStatus = strawberry.field(description="Its effective status")
    reasons: list[str] = strawberry.field(description="Why it is listed, most important first")
    uptime_24h: float | None = strawberry.field(description="Uptime over the last 24 hours (hour precision)")

    @classmethod
    def from_value(cls, value: Attention) -> ServiceAttention:
        from schema.types.service import Service

        return cls(
            service=Service.from_row(value.service),
            status=value.status,
            reasons=list(value.reasons),
            uptime_24h=value.uptime_24h,
        )


@strawberry.type(description="The platform at a glance: status counts, what needs attention, recent changes, uptime")
class Dashboard:
    view: strawberry.Private[DashboardView]
    generated_at: dt.datetime = strawberry.field(description="When these figures were computed")
    total_services: int = strawberry.field(description="Registered services, active or not")
    active_services: int = strawberry.field(description="Services being watched")
    status_counts: StatusTally = strawberry.field(description="Active services per effective status")
    needs_attention: list[ServiceAttention] = strawberry.field(
        description="Active services UNHEALTHY or DEGRADED, with a circuit not CLOSED, or under their SLA target "
        "over 24 hours; UNHEALTHY first, then the most recent change first"
    )
    recent_status_changes: list[StatusChange] = strawberry.field(description="The latest 20 changes, newest first")
    open_incidents: int = strawberry.field(description="Incidents not yet ended, platform-wide")

    @strawberry.field(description="Share of counted checks that were up, over all active services (hour precision)")
    def platform_uptime(
        self,
        window: Annotated[
            TrendWindow, strawberry.argument(description="How far back to look")
        ] = TrendWindow.LAST_24_HOURS,
    ) -> float | None:
        return self.view.platform_uptime[window.value]

    @classmethod
    def from_value(cls, view: DashboardView) -> Dashboard:
        return cls(
            view=view,
            generated_at=view.generated_at,
            total_services=view.total_services,
            active_services=view.active_services,
            status_counts=StatusTally.from_counts(view.counts),
            needs_attention=[ServiceAttention.from_value(a) for a in view.needs_attention],
            recent_status_changes=[StatusChange.from_row(row) for row in view.recent_changes],
            open_incidents=view.open_incidents,
        )
