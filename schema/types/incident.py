"""Incidents: periods of published UNHEALTHY or MAINTENANCE status, as a cursor connection."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import strawberry

from models import Incident as IncidentRow
from schema.context import Info
from schema.types.enums import FailureKind, HealthStatus
from schema.types.pagination import PageInfo

if TYPE_CHECKING:
    from schema.types.service import Service

ServiceRef = Annotated["Service", strawberry.lazy("schema.types.service")]


def _id(value: int | None) -> strawberry.ID | None:
    return None if value is None else strawberry.ID(str(value))


@strawberry.type(description="A period during which a service was published UNHEALTHY, or in MAINTENANCE")
class Incident:
    row: strawberry.Private[IncidentRow]
    id: strawberry.ID = strawberry.field(description="Incident id; pages of incidents are cursored on it")
    service_id: strawberry.ID = strawberry.field(description="The service it happened to")
    kind: HealthStatus = strawberry.field(description="UNHEALTHY or MAINTENANCE")
    started_at: dt.datetime = strawberry.field(description="When the check that published the status was made")
    ended_at: dt.datetime | None = strawberry.field(description="When the status moved on; null while open")
    first_failure_kind: FailureKind | None = strawberry.field(description="Failure kind of the opening check")
    first_message: str = strawberry.field(description="Message of the opening check (maintenance message if none)")
    started_by_check_id: strawberry.ID | None = strawberry.field(description="The check that opened it")
    ended_by_check_id: strawberry.ID | None = strawberry.field(description="The check that ended it")
    ended_by_status: HealthStatus | None = strawberry.field(description="The status that check published")

    @strawberry.field(description="True while the incident has not ended")
    def is_open(self) -> bool:
        return self.ended_at is None

    @strawberry.field(description="Seconds from start to end, or to now while open")
    def duration_seconds(self) -> float:
        end = self.ended_at or dt.datetime.now(dt.UTC)
        return max(0.0, (end - self.started_at).total_seconds())

    @strawberry.field(description="The service it happened to")
    async def service(self, info: Info) -> ServiceRef:
        from schema.types.service import Service

        return Service.from_row(await info.context.loaders(info).service.load(int(self.service_id)))

    @classmethod
    def from_row(cls, row: IncidentRow) -> Incident:
        kind = row.first_failure_kind
        return cls(
            row=row,
            id=strawberry.ID(str(row.id)),
            service_id=strawberry.ID(str(row.service_id)),  # type: ignore[attr-defined]
            kind=row.kind,
            started_at=row.started_at,
            ended_at=row.ended_at,
            first_failure_kind=FailureKind(kind) if kind in FailureKind.__members__ else None,
            first_message=row.first_message,
            started_by_check_id=_id(row.started_by_check_id),
            ended_by_check_id=_id(row.ended_by_check_id),
            ended_by_status=row.ended_by_status,
        )


@strawberry.type(description="An incident and its cursor")
class IncidentEdge:
    cursor: str = strawberry.field(description="Pass as `after` to read the incidents after this one")
    node: Incident = strawberry.field(description="The incident")


@strawberry.type(description="Incidents, newest first")
class IncidentConnection:
    edges: list[IncidentEdge] = strawberry.field(description="This page")
    page_info: PageInfo = strawberry.field(description="Whether there is more")
    total_count: int = strawberry.field(description="Incidents matching the filter, on all pages")

    @strawberry.field(description="This page without cursors")
    def nodes(self) -> list[Incident]:
        return [edge.node for edge in self.edges]
