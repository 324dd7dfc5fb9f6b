"""Reading the registry: filtered, paginated service lists and single services."""

from __future__ import annotations

import dataclasses

from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet

from models import ReferencePanel, Service
from probes.result import ApiType, GenomeBuild, HealthStatus, ServiceType
from resolvers.errors import BadUserInput, NotFound
from resolvers.pagination import Page, paginate


@dataclasses.dataclass(frozen=True, slots=True)
class ServiceQuery:
    type: ServiceType | None = None
    api_type: ApiType | None = None
    status: HealthStatus | None = None
    search: str | None = None
    panel: str | None = None
    build: GenomeBuild | None = None
    is_active: bool | None = None


def parse_id(value: str | int, field: str = "id") -> int:
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise BadUserInput(f"'{value}' is not a valid id", field=field) from exc
    if number <= 0 or number > 2**31 - 1:  # the id columns are 32-bit integers (PostgreSQL refuses more)
        raise BadUserInput(f"'{value}' is not a valid id", field=field)
    return number


async def get_service(service_id: int, field: str = "id") -> Service:
    row = await Service.get_or_none(id=service_id)
    if row is None:
        raise NotFound(f"no service with id {service_id}", field=field)
    return row


def filtered(query: ServiceQuery) -> QuerySet[Service]:
    rows = Service.all()
    if query.type is not None:
        rows = rows.filter(type=query.type)
    if query.api_type is not None:
        rows = rows.filter(api_type=query.api_type)
    if query.status is not None:
        rows = rows.filter(status=query.status)
    if query.is_active is not None:
        rows = rows.filter(is_active=query.is_active)
    if query.search:
        term = query.search.strip()
        if len(term) > 200:
            raise BadUserInput("search may be at most 200 characters", field="search")
        rows = rows.filter(Q(name__icontains=term) | Q(description__icontains=term) | Q(location__icontains=term))
    if query.panel or query.build is not None:
        panels = ReferencePanel.filter(is_active=True)
        if query.panel:
            term = query.panel.strip()
            panels = panels.filter(Q(key__icontains=term) | Q(label__icontains=term))
        if query.build is not None:
            panels = panels.filter(build=query.build)
        rows = rows.filter(id__in=Subquery(panels.values("service_id")))  # Tortoise 1.1 refuses a bare values_list
    return rows


async def list_services(query: ServiceQuery, first: int, after: str | None) -> Page[Service]:
    return await paginate(filtered(query), "service", first, after)
