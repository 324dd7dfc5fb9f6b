"""The Service type: configuration, live state and what the service offers."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry

from models import Service as ServiceRow
from models import ServiceDependency as DependencyRow
from resolvers.panels import capabilities_from_json
from schema.context import Info
from schema.types.alert import AlertOverride
from schema.types.capabilities import Capabilities
from schema.types.enums import (
    ApiType,
    CircuitState,
    FailureKind,
    GenomeBuild,
    HealthStatus,
    ServiceType,
    TrendWindow,
)
from schema.types.incident import Incident
from schema.types.maintenance import MaintenanceWindow
from schema.types.pagination import PageInfo
from schema.types.panel import ReferencePanel
from schema.types.trends import Sla


@strawberry.type(description="A watched service: configuration, live state and what it offers")
class Service:
    row: strawberry.Private[ServiceRow]
    id: strawberry.ID = strawberry.field(description="Service id")
    name: str = strawberry.field(description="Unique name")
    type: ServiceType = strawberry.field(description="Who runs it")
    api_type: ApiType = strawberry.field(description="The protocol its probe speaks")
    base_url: str = strawberry.field(description="URL of its API")
    description: str = strawberry.field(description="Free text; empty when not set")
    location: str = strawberry.field(description="Where it runs; empty when not set")
    is_active: bool = strawberry.field(description="Probed on schedule; false: registered but not watched")
    check_interval_seconds: int = strawberry.field(description="Seconds between scheduled checks")
    timeout_seconds: float = strawberry.field(description="Probe timeout in seconds")
    verify_tls: bool = strawberry.field(description="TLS certificates are verified; false only for test servers")
    has_credential: bool = strawberry.field(description="A credential is stored; it can never be read back")
    status: HealthStatus = strawberry.field(
        description="Published status (after hysteresis); UNKNOWN until first checked"
    )
    circuit_state: CircuitState = strawberry.field(description="Circuit breaker state: OPEN pauses probing")
    consecutive_failures: int = strawberry.field(description="Failed checks in a row, as the breaker counts them")
    last_checked_at: dt.datetime | None = strawberry.field(
        description="When the last check was made (UTC); null: never checked"
    )
    next_check_at: dt.datetime | None = strawberry.field(
        description="When the next check is due (UTC); null: not scheduled"
    )
    status_changed_at: dt.datetime | None = strawberry.field(
        description="When the published status last changed (UTC); null: never"
    )
    response_time_ms: float | None = strawberry.field(
        description="Response time of the last check, in ms; null when none came"
    )
    last_failure_kind: FailureKind | None = strawberry.field(
        description="Why the last check failed; null when it did not"
    )
    last_message: str = strawberry.field(description="What the last check found, for humans")
    service_version: str | None = strawberry.field(
        description="The version the service last reported; null: never reported"
    )
    capabilities_synced_at: dt.datetime | None = strawberry.field(
        description="When capabilities and panels were last learned (UTC); null: never"
    )
    created_at: dt.datetime = strawberry.field(description="When it was registered (UTC)")
    updated_at: dt.datetime = strawberry.field(description="When its row last changed (UTC), including by checks")

    @classmethod
    def from_row(cls, row: ServiceRow) -> Service:
        kind = row.last_failure_kind
        return cls(
            row=row,
            id=strawberry.ID(str(row.id)),
            name=row.name,
            type=row.type,
            api_type=row.api_type,
            base_url=row.base_url,
            description=row.description,
            location=row.location,
            is_active=row.is_active,
            check_interval_seconds=row.check_interval_seconds,
            timeout_seconds=row.timeout_seconds,
            verify_tls=row.verify_tls,
            has_credential=row.credential_encrypted is not None,
            status=row.status,
            circuit_state=row.circuit_state,
            consecutive_failures=row.consecutive_failures,
            last_checked_at=row.last_checked_at,
            next_check_at=row.next_check_at,
            status_changed_at=row.status_changed_at,
            response_time_ms=row.response_time_ms,
            last_failure_kind=FailureKind(kind) if kind in FailureKind.__members__ else None,
            last_message=row.last_message,
            service_version=row.service_version,
            capabilities_synced_at=row.capabilities_synced_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @strawberry.field(
        description="Share of counted checks in the window that found the service up, under the uptime policy "
        "(MAINTENANCE and UNKNOWN left out, DEGRADED up, by default); read from rollups. Null: no data"
    )
    async def uptime(
        self, info: Info, window: Annotated[TrendWindow, strawberry.argument(description="How far back to look")]
    ) -> float | None:
        return await info.context.loaders(info).uptime.load((self.row.id, window.value))

    @strawberry.field(
        description="The status to show: the published status, except that a HEALTHY or DEGRADED service whose "
        "required dependency (directly or transitively) is UNHEALTHY is DEGRADED"
    )
    async def effective_status(self, info: Info) -> HealthStatus:
        return (await info.context.loaders(info).effective_status.load(self.row)).status

    @strawberry.field(description="Why the effective status differs from the published one (dependency X is down)")
    async def status_reason(self, info: Info) -> str | None:
        return (await info.context.loaders(info).effective_status.load(self.row)).reason

    @strawberry.field(description="Availability target as a share: this service's own, or VIGIL_SLA_TARGET")
    def sla_target(self, info: Info) -> float:
        target = self.row.sla_target
        return target if target is not None else info.context.deps.settings.sla_target

    @strawberry.field(description="What one imputation job costs here, as the operator set it; null: unknown")
    def cost_per_job(self) -> float | None:
        return self.row.cost_per_job

    @strawberry.field(description="Availability, downtime and error budget against the SLA target over the window")
    async def sla(
        self,
        info: Info,
        window: Annotated[
            TrendWindow, strawberry.argument(description="How far back to look")
        ] = TrendWindow.LAST_30_DAYS,
    ) -> Sla:
        value = await info.context.loaders(info).sla.load((self.row.id, self.row.sla_target, window.value))
        return Sla.from_value(value)

    @strawberry.field(description="Incidents that have not ended")
    async def open_incidents(self, info: Info) -> list[Incident]:
        return [Incident.from_row(row) for row in await info.context.loaders(info).open_incidents.load(self.row.id)]

    @strawberry.field(description="Maintenance windows that have not ended (running or upcoming), soonest first")
    async def maintenance_windows(self, info: Info) -> list[MaintenanceWindow]:
        rows = await info.context.loaders(info).maintenance_windows.load(self.row.id)
        return [MaintenanceWindow.from_row(row) for row in rows]

    @strawberry.field(description="What discovery last learned it offers; null: never learned")
    async def capabilities(self) -> Capabilities | None:
        value = capabilities_from_json(self.row.capabilities)
        return None if value is None else Capabilities.from_value(value)

    @strawberry.field(description="Its panels, by key; active only unless includeInactive")
    async def reference_panels(
        self,
        info: Info,
        include_inactive: Annotated[
            bool, strawberry.argument(description="Also list panels it no longer offers")
        ] = False,
    ) -> list[ReferencePanel]:
        rows = await info.context.loaders(info).panels.load((self.row.id, include_inactive))
        return [ReferencePanel.from_row(row) for row in rows]

    @strawberry.field(description="This service's own alert settings, by rule; rules not listed use the global ones")
    async def alert_overrides(self, info: Info) -> list[AlertOverride]:
        rows = await info.context.loaders(info).alert_overrides.load(self.row.id)
        return [AlertOverride.from_row(row) for row in rows]

    @strawberry.field(description="Services this one needs")
    async def dependencies(self, info: Info) -> list[ServiceDependency]:
        return [
            ServiceDependency.from_row(row) for row in await info.context.loaders(info).dependencies.load(self.row.id)
        ]

    @strawberry.field(description="Services that need this one")
    async def dependents(self, info: Info) -> list[ServiceDependency]:
        return [
            ServiceDependency.from_row(row) for row in await info.context.loaders(info).dependents.load(self.row.id)
        ]


@strawberry.type(description="`service` needs `dependsOn`; if required, shown DEGRADED while `dependsOn` is UNHEALTHY")
class ServiceDependency:
    service: Service = strawberry.field(description="The service that needs the other")
    depends_on: Service = strawberry.field(description="The service needed")
    required: bool = strawberry.field(description="A required dependency blocks deleting the service depended on")

    @classmethod
    def from_row(cls, row: DependencyRow) -> ServiceDependency:
        return cls(
            service=Service.from_row(row.service),
            depends_on=Service.from_row(row.depends_on),
            required=row.required,
        )


@strawberry.type(description="A service and its cursor")
class ServiceEdge:
    cursor: str = strawberry.field(description="Pass as `after` to read the services after this one")
    node: Service = strawberry.field(description="The service")


@strawberry.type(description="Registered services, by id")
class ServiceConnection:
    edges: list[ServiceEdge] = strawberry.field(description="This page")
    page_info: PageInfo = strawberry.field(description="Whether there is more")
    total_count: int = strawberry.field(description="Services matching the filter, on all pages")

    @strawberry.field(description="This page without cursors")
    def nodes(self) -> list[Service]:
        return [edge.node for edge in self.edges]


@strawberry.input(description="Which services to list; every field given narrows the list")
class ServiceFilter:
    type: ServiceType | None = strawberry.field(default=None, description="Only services of this type")
    api_type: ApiType | None = strawberry.field(default=None, description="Only services probed with this protocol")
    status: HealthStatus | None = strawberry.field(default=None, description="Only services with this published status")
    search: str | None = strawberry.field(default=None, description="Matches name, description or location")
    panel: str | None = strawberry.field(default=None, description="Offers an active panel whose key or label matches")
    build: GenomeBuild | None = strawberry.field(default=None, description="Offers an active panel of this build")
    is_active: bool | None = strawberry.field(
        default=None, description="Only active (true) or inactive (false) services"
    )


__all__ = ["Service", "ServiceConnection", "ServiceDependency", "ServiceEdge", "ServiceFilter"]
