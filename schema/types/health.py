"""Health checks and status changes, as history pages and as subscription events."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import strawberry

from events.messages import CheckRecorded, StatusChanged
from models import HealthCheck as CheckRow
from models import StatusEvent as StatusEventRow
from resolvers.services import get_service
from schema.types.enums import FailureKind, HealthStatus
from schema.types.pagination import PageInfo

if TYPE_CHECKING:
    from schema.types.service import Service

ServiceRef = Annotated["Service", strawberry.lazy("schema.types.service")]


def _kind(value: str | None) -> FailureKind | None:
    return FailureKind(value) if value in FailureKind.__members__ else None


@strawberry.type(description="One probe result; `status` is published (after hysteresis), `rawStatus` observed")
class HealthCheck:
    id: strawberry.ID
    service_id: strawberry.ID
    checked_at: dt.datetime
    status: HealthStatus
    raw_status: HealthStatus
    response_time_ms: float | None
    http_status: int | None
    failure_kind: FailureKind | None
    message: str
    service_version: str | None
    maintenance_message: str | None
    queue_size: int | None
    manual: bool = strawberry.field(description="Asked for through checkServiceHealth")
    seq: int = strawberry.field(description="Grows with every check: compare with subscription events")

    @strawberry.field
    async def service(self) -> ServiceRef:
        from schema.types.service import Service

        return Service.from_row(await get_service(int(self.service_id)))

    @classmethod
    def from_row(cls, row: CheckRow) -> HealthCheck:
        return cls(
            id=strawberry.ID(str(row.id)),
            service_id=strawberry.ID(str(row.service_id)),  # type: ignore[attr-defined]
            checked_at=row.checked_at,
            status=row.status,
            raw_status=row.raw_status,
            response_time_ms=row.response_time_ms,
            http_status=row.http_status,
            failure_kind=_kind(row.failure_kind),
            message=row.message,
            service_version=row.service_version,
            maintenance_message=row.maintenance_message,
            queue_size=row.queue_size,
            manual=row.manual,
            seq=row.id,
        )

    @classmethod
    def from_event(cls, event: CheckRecorded) -> HealthCheck:
        return cls(
            id=strawberry.ID(str(event.check_id)),
            service_id=strawberry.ID(str(event.service_id)),
            checked_at=event.checked_at,
            status=event.status,
            raw_status=event.raw_status,
            response_time_ms=event.response_time_ms,
            http_status=event.http_status,
            failure_kind=_kind(event.failure_kind),
            message=event.message,
            service_version=event.service_version,
            maintenance_message=None,
            queue_size=None,
            manual=False,
            seq=event.seq,
        )


@strawberry.type
class HealthCheckEdge:
    cursor: str
    node: HealthCheck


@strawberry.type
class HealthCheckConnection:
    edges: list[HealthCheckEdge]
    page_info: PageInfo
    total_count: int

    @strawberry.field
    def nodes(self) -> list[HealthCheck]:
        return [edge.node for edge in self.edges]


@strawberry.type
class StatusChange:
    previous_status: HealthStatus
    status: HealthStatus
    changed_at: dt.datetime
    check: HealthCheck
    seq: int = strawberry.field(description="The id of the check that moved the status")
    service_id: strawberry.ID
    missed_before: int = strawberry.field(
        description="Changes dropped just before this one because this subscriber fell behind: re-query if > 0"
    )

    @strawberry.field
    async def service(self) -> ServiceRef:
        from schema.types.service import Service

        return Service.from_row(await get_service(int(self.service_id)))

    @classmethod
    def from_row(cls, row: StatusEventRow) -> StatusChange:
        """From a stored change whose `check` is prefetched."""
        return cls(
            missed_before=0,
            previous_status=row.previous_status,
            status=row.status,
            changed_at=row.changed_at,
            check=HealthCheck.from_row(row.check),
            seq=row.check_id,  # type: ignore[attr-defined]
            service_id=strawberry.ID(str(row.service_id)),  # type: ignore[attr-defined]
        )

    @classmethod
    def from_event(cls, event: StatusChanged, missed_before: int = 0) -> StatusChange:
        return cls(
            missed_before=missed_before,
            previous_status=event.previous_status,
            status=event.status,
            changed_at=event.changed_at,
            check=HealthCheck.from_event(event.check),
            seq=event.seq,
            service_id=strawberry.ID(str(event.service_id)),
        )
