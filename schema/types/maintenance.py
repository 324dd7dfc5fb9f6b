"""Planned maintenance windows."""

from __future__ import annotations

import datetime as dt

import strawberry

from models import MaintenanceWindow as WindowRow


@strawberry.type
class MaintenanceWindow:
    id: strawberry.ID
    service_id: strawberry.ID
    starts_at: dt.datetime
    ends_at: dt.datetime
    reason: str
    created_by: str

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
