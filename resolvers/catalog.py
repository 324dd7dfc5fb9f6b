"""Reading reference panels across services: what can a job ask for, and where."""

from __future__ import annotations

import dataclasses

from tortoise.expressions import Q

from models import ReferencePanel
from probes.result import GenomeBuild

MAX_PANELS = 1000


@dataclasses.dataclass(frozen=True, slots=True)
class PanelQuery:
    service_id: int | None = None
    build: GenomeBuild | None = None
    search: str | None = None
    population: str | None = None
    include_inactive: bool = False


async def list_panels(query: PanelQuery) -> list[ReferencePanel]:
    rows = ReferencePanel.all()
    if not query.include_inactive:
        rows = rows.filter(is_active=True)
    if query.service_id is not None:
        rows = rows.filter(service_id=query.service_id)
    if query.build is not None:
        rows = rows.filter(build=query.build)
    if query.search:
        term = query.search.strip()[:200]
        rows = rows.filter(Q(key__icontains=term) | Q(label__icontains=term))
    panels = await rows.order_by("service_id", "key").limit(MAX_PANELS)
    if query.population:
        wanted = query.population.strip().lower()
        panels = [
            p
            for p in panels
            if any(isinstance(i, dict) and str(i.get("key", "")).lower() == wanted for i in p.populations or [])
        ]
    return panels
