"""Planned maintenance windows."""

from __future__ import annotations

import datetime as dt

import strawberry

from models import MaintenanceWindow as WindowRow


@strawberry.type(description="Planned maintenance: checks inside it count as MAINTENANCE, not downtime")
class MaintenanceWindow:
    id: strawberry.ID = strawberry.field(description="Window id")
    service_id: strawberry.ID = strawberry.field(description="The service under maintenance")
    starts_at: dt.datetime = strawberry.field(description="Start (inclusive, UTC)")
    ends_at: dt.datetime = strawberry.field(description="End (exclusive, UTC)")
    reason: str = strawberry.field(description="Why, as given when scheduled; may be empty")
    created_by: str = strawberry.field(description="Who scheduled it: the token's name, or the CLI")

    @strawberry.field(description="The window covers the present moment")
    def active(self) -> bool:
        return self.starts_at <= dt.datetime.now(dt.UTC) < self.ends_at

    @classmethod
    def from_row(cls, row: WindowRow) -> MaintenanceWindow:
        return cls(
            id=strawberry.ID(str(row.id)),
            service_id=strawberry.ID(str(row.service_id)),  # type: ignore[attr-defined]
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            reason=row.reason,
            created_by=row.created_by,
        )
