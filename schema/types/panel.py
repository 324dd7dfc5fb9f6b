"""Reference panels: the key a job must name, verbatim, and what the panel covers."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import strawberry

from models import ReferencePanel as PanelRow
from schema.context import Info
from schema.types.enums import GenomeBuild

if TYPE_CHECKING:
    from schema.types.service import Service


@strawberry.type(description="A population a reference panel covers")
class Population:
    key: str = strawberry.field(description="The service's key for it")
    name: str = strawberry.field(description="Human-readable name")


@strawberry.type(description="A reference panel a service offers; kept (inactive) once it vanishes")
class ReferencePanel:
    row: strawberry.Private[PanelRow]
    id: strawberry.ID = strawberry.field(description="Panel id")
    key: str = strawberry.field(description="The service's own key, e.g. apps@hrc-r1.1@2.0.0: submit it verbatim")
    label: str = strawberry.field(description="Human-readable name, as the service gives it")
    build: GenomeBuild | None = strawberry.field(description="Parsed from the label; null when the label does not say")
    populations: list[Population] = strawberry.field(description="Populations it covers; empty when not reported")
    is_active: bool = strawberry.field(description="False once the service stopped offering it")
    first_seen_at: dt.datetime = strawberry.field(description="When a sync first saw it (UTC)")
    last_seen_at: dt.datetime | None = strawberry.field(description="When a sync last saw it offered (UTC)")

    @strawberry.field(description="The service offering it")
    async def service(self, info: Info) -> Annotated[Service, strawberry.lazy("schema.types.service")]:
        from schema.types.service import Service

        service_id: int = self.row.service_id  # type: ignore[attr-defined]
        return Service.from_row(await info.context.loaders(info).service.load(service_id))

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


@strawberry.input(description="Which panels to list; every field narrows the list")
class ReferencePanelFilter:
    service_id: strawberry.ID | None = strawberry.field(default=None, description="Only this service's panels")
    build: GenomeBuild | None = strawberry.field(default=None, description="Only panels of this build")
    search: str | None = strawberry.field(default=None, description="Matches key or label")
    population: str | None = strawberry.field(default=None, description="A population key the panel offers")
    include_inactive: bool = strawberry.field(
        default=False, description="Also list panels the service no longer offers"
    )
