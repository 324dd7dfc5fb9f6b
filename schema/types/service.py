"""The Service type: configuration, live state and what the service offers."""

from __future__ import annotations

import datetime as dt

import strawberry

from models import Incident as IncidentRow
from models import ReferencePanel as PanelRow
from models import Service as ServiceRow
from models import ServiceDependency as DependencyRow
from resolvers import availability, impact, maintenance
from resolvers.panels import capabilities_from_json
from schema.context import Info
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


@strawberry.type
class Service:
    row: strawberry.Private[ServiceRow]
    id: strawberry.ID
    name: str
    type: ServiceType
    api_type: ApiType
    base_url: str
    description: str
    location: str
    is_active: bool
    check_interval_seconds: int
    timeout_seconds: float
    verify_tls: bool
    has_credential: bool = strawberry.field(description="A credential is stored; it can never be read back")
    status: HealthStatus
    circuit_state: CircuitState
    consecutive_failures: int
    last_checked_at: dt.datetime | None
    next_check_at: dt.datetime | None
    status_changed_at: dt.datetime | None
    response_time_ms: float | None
    last_failure_kind: FailureKind | None
    last_message: str
    service_version: str | None
    capabilities_synced_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime

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
    async def uptime(self, info: Info, window: TrendWindow) -> float | None:
        return await availability.uptime(self.row.id, window.value, info.context.deps.settings)

    @strawberry.field(
        description="The status to show: the published status, except that a HEALTHY or DEGRADED service whose "
        "required dependency (directly or transitively) is UNHEALTHY is DEGRADED"
    )
    async def effective_status(self) -> HealthStatus:
        return (await impact.effective_status(self.row)).status

    @strawberry.field(description="Why the effective status differs from the published one (dependency X is down)")
    async def status_reason(self) -> str | None:
        return (await impact.effective_status(self.row)).reason

    @strawberry.field(description="Availability target as a share: this service's own, or VIGIL_SLA_TARGET")
    def sla_target(self, info: Info) -> float:
        target = self.row.sla_target
        return target if target is not None else info.context.deps.settings.sla_target

    @strawberry.field(description="What one imputation job costs here, as the operator set it; null: unknown")
    def cost_per_job(self) -> float | None:
        return self.row.cost_per_job

    @strawberry.field(description="Availability, downtime and error budget against the SLA target over the window")
    async def sla(self, info: Info, window: TrendWindow = TrendWindow.LAST_30_DAYS) -> Sla:
        value = await availability.sla(self.row.id, self.row.sla_target, window.value, info.context.deps.settings)
        return Sla.from_value(value)

    @strawberry.field(description="Incidents that have not ended")
    async def open_incidents(self) -> list[Incident]:
        rows = await IncidentRow.filter(service_id=self.row.id, ended_at__isnull=True).order_by("started_at")
        return [Incident.from_row(row) for row in rows]

    @strawberry.field(description="Maintenance windows that have not ended (running or upcoming), soonest first")
    async def maintenance_windows(self) -> list[MaintenanceWindow]:
        return [MaintenanceWindow.from_row(row) for row in await maintenance.open_windows(self.row.id)]

    @strawberry.field
    async def capabilities(self) -> Capabilities | None:
        value = capabilities_from_json(self.row.capabilities)
        return None if value is None else Capabilities.from_value(value)

    @strawberry.field
    async def reference_panels(self, include_inactive: bool = False) -> list[ReferencePanel]:
        rows = PanelRow.filter(service_id=self.row.id)
        if not include_inactive:
            rows = rows.filter(is_active=True)
        return [ReferencePanel.from_row(row) for row in await rows.order_by("key")]

    @strawberry.field(description="Services this one needs")
    async def dependencies(self) -> list[ServiceDependency]:
        rows = await DependencyRow.filter(service_id=self.row.id).prefetch_related("service", "depends_on")
        return [ServiceDependency.from_row(row) for row in rows]

    @strawberry.field(description="Services that need this one")
    async def dependents(self) -> list[ServiceDependency]:
        rows = await DependencyRow.filter(depends_on_id=self.row.id).prefetch_related("service", "depends_on")
        return [ServiceDependency.from_row(row) for row in rows]


@strawberry.type
class ServiceDependency:
    service: Service
    depends_on: Service
    required: bool = strawberry.field(description="A required dependency blocks deleting the service depended on")

    @classmethod
    def from_row(cls, row: DependencyRow) -> ServiceDependency:
        return cls(
            service=Service.from_row(row.service),
            depends_on=Service.from_row(row.depends_on),
            required=row.required,
        )


@strawberry.type
class ServiceEdge:
    cursor: str
    node: Service


@strawberry.type
class ServiceConnection:
    edges: list[ServiceEdge]
    page_info: PageInfo
    total_count: int

    @strawberry.field
    def nodes(self) -> list[Service]:
        return [edge.node for edge in self.edges]


@strawberry.input
class ServiceFilter:
    type: ServiceType | None = None
    api_type: ApiType | None = None
    status: HealthStatus | None = None
    search: str | None = strawberry.field(default=None, description="Matches name, description or location")
    panel: str | None = strawberry.field(default=None, description="Offers an active panel whose key or label matches")
    build: GenomeBuild | None = strawberry.field(default=None, description="Offers an active panel of this build")
    is_active: bool | None = None


__all__ = ["Service", "ServiceConnection", "ServiceDependency", "ServiceEdge", "ServiceFilter"]
