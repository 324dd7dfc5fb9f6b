"""Health checks and status changes, as history pages and as subscription events."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import strawberry

from events.messages import CheckRecorded, StatusChanged
from models import HealthCheck as CheckRow
from models import StatusEvent as StatusEventRow
from schema.context import Info
from schema.types.enums import FailureKind, HealthStatus
from schema.types.pagination import PageInfo

if TYPE_CHECKING:
    from schema.types.service import Service

ServiceRef = Annotated["Service", strawberry.lazy("schema.types.service")]


def _kind(value: str | None) -> FailureKind | None:
    return FailureKind(value) if value in FailureKind.__members__ else None


@strawberry.type(description="One probe result; `status` is published (after hysteresis), `rawStatus` observed")
class HealthCheck:
    id: strawberry.ID = strawberry.field(description="Check id")
    service_id: strawberry.ID = strawberry.field(description="The service checked")
    checked_at: dt.datetime = strawberry.field(description="When the check was made (UTC)")
    status: HealthStatus = strawberry.field(
        description="Published status after hysteresis; what Service.status and uptime use"
    )
    raw_status: HealthStatus = strawberry.field(description="What this one probe observed")
    response_time_ms: float | None = strawberry.field(description="Time to the answer, in ms; null when none came")
    http_status: int | None = strawberry.field(description="HTTP status of the last response; null without one")
    failure_kind: FailureKind | None = strawberry.field(description="Why it failed; null when nothing went wrong")
    message: str = strawberry.field(description="What happened, for humans; never a raw response body")
    service_version: str | None = strawberry.field(description="The version the service reported, if any")
    maintenance_message: str | None = strawberry.field(
        description="The service's maintenance announcement; always null in subscription events"
    )
    queue_size: int | None = strawberry.field(
        description="Jobs waiting, when public; always null in subscription events"
    )
    manual: bool = strawberry.field(description="Asked for through checkServiceHealth")
    seq: int = strawberry.field(description="Grows with every check: compare with subscription events")

    @strawberry.field(description="The service checked")
    async def service(self, info: Info) -> ServiceRef:
        from schema.types.service import Service

        return Service.from_row(await info.context.loaders(info).service.load(int(self.service_id)))

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


@strawberry.type(description="A check and its cursor")
class HealthCheckEdge:
    cursor: str = strawberry.field(description="Pass as `after` to read the checks after this one")
    node: HealthCheck = strawberry.field(description="The check")


@strawberry.type(description="Checks of one service, newest first")
class HealthCheckConnection:
    edges: list[HealthCheckEdge] = strawberry.field(description="This page")
    page_info: PageInfo = strawberry.field(description="Whether there is more")
    total_count: int = strawberry.field(description="Checks matching the filter, on all pages")

    @strawberry.field(description="This page without cursors")
    def nodes(self) -> list[HealthCheck]:
        return [edge.node for edge in self.edges]


@strawberry.type(description="A change of a service's published status (after hysteresis)")
class StatusChange:
    previous_status: HealthStatus = strawberry.field(description="The published status before")
    status: HealthStatus = strawberry.field(description="The published status now")
    changed_at: dt.datetime = strawberry.field(description="When the check that moved it was made (UTC)")
    check: HealthCheck = strawberry.field(description="The check that moved the status")
    seq: int = strawberry.field(description="The id of the check that moved the status")
    service_id: strawberry.ID = strawberry.field(description="The service whose status changed")
    missed_before: int = strawberry.field(
        description="Changes dropped just before this one because this subscriber fell behind: re-query if > 0"
    )

    @strawberry.field(description="The service whose status changed, as it is when resolved")
    async def service(self, info: Info) -> ServiceRef:
        from schema.types.service import Service

        return Service.from_row(await info.context.loaders(info).service.load(int(self.service_id)))

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
