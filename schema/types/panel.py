"""Reference panels: the key a job must name, verbatim, and what the panel covers."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import strawberry

from models import ReferencePanel as PanelRow
from schema.types.enums import GenomeBuild

if TYPE_CHECKING:
    from schema.types.service import Service


@strawberry.type
class Population:
    key: str
    name: str


@strawberry.type
class ReferencePanel:
    row: strawberry.Private[PanelRow]
    id: strawberry.ID
    key: str = strawberry.field(description="The service's own key, e.g. apps@hrc-r1.1@2.0.0: submit it verbatim")
    label: str
    build: GenomeBuild | None = strawberry.field(description="Parsed from the label; null when the label does not say")
    populations: list[Population]
    is_active: bool = strawberry.field(description="False once the service stopped offering it")
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime | None

    @strawberry.field
    async def service(self) -> Annotated[Service, strawberry.lazy("schema.types.service")]:
        from resolvers.services import get_service
        from schema.types.service import Service

        return Service.from_row(await get_service(self.row.service_id))  # type: ignore[attr-defined]

    @classmethod
    def from_row(cls, row: PanelRow) -> ReferencePanel:
        populations = [
            Population(key=str(item.get("key", "")), name=str(item.get("name", "")))
            for item in (row.populations or [])
            if isinstance(item, dict)
        ]
        return cls(
            row=row,
            id=strawberry.ID(str(row.id)),
            key=row.key,
            label=row.label,
            build=row.build,
            populations=populations,
            is_active=row.is_active,
            first_seen_at=row.first_seen_at,
            last_seen_at=row.last_seen_at,
        )


@strawberry.input
class ReferencePanelFilter:
    service_id: strawberry.ID | None = None
    build: GenomeBuild | None = None
    search: str | None = strawberry.field(default=None, description="Matches key or label")
    population: str | None = strawberry.field(default=None, description="A population key the panel offers")
    include_inactive: bool = False
