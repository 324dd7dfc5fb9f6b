"""Root query fields: each checks the caller's role, calls a resolver and converts the rows."""

from __future__ import annotations

import datetime as dt

import strawberry

from models import Role
from resolvers import catalog, history, services, transfer
from resolvers.pagination import page_size
from schema.context import Info
from schema.permissions import require, require_read
from schema.types.health import HealthCheck, HealthCheckConnection, HealthCheckEdge
from schema.types.pagination import PageInfo
from schema.types.panel import ReferencePanel, ReferencePanelFilter
from schema.types.service import Service, ServiceConnection, ServiceEdge, ServiceFilter


@strawberry.type
class Query:
    @strawberry.field(description="Registered services, filtered, as a cursor connection")
    async def services(
        self, info: Info, filter: ServiceFilter | None = None, first: int = 50, after: str | None = None
    ) -> ServiceConnection:
        await require_read(info)
        f = filter or ServiceFilter()
        query = services.ServiceQuery(
            type=f.type,
            api_type=f.api_type,
            status=f.status,
            search=f.search,
            panel=f.panel,
            build=f.build,
            is_active=f.is_active,
        )
        page = await services.list_services(query, page_size(first, info.context.deps.settings.max_page_size), after)
        edges = [ServiceEdge(cursor=c, node=Service.from_row(r)) for r, c in zip(page.rows, page.cursors, strict=True)]
        return ServiceConnection(
            edges=edges,
            page_info=PageInfo.from_cursors(list(page.cursors), page.has_next_page, page.has_previous_page),
            total_count=page.total_count,
        )

    @strawberry.field
    async def service(self, info: Info, id: strawberry.ID) -> Service | None:
        await require_read(info)
        row = await services.Service.get_or_none(id=services.parse_id(id))
        return None if row is None else Service.from_row(row)

    @strawberry.field(description="Reference panels across services (active ones unless asked)")
    async def reference_panels(self, info: Info, filter: ReferencePanelFilter | None = None) -> list[ReferencePanel]:
        await require_read(info)
        f = filter or ReferencePanelFilter()
        query = catalog.PanelQuery(
            service_id=None if f.service_id is None else services.parse_id(f.service_id, "serviceId"),
            build=f.build,
            search=f.search,
            population=f.population,
            include_inactive=f.include_inactive,
        )
        return [ReferencePanel.from_row(row) for row in await catalog.list_panels(query)]

    @strawberry.field(description="Checks of one service, newest first")
    async def health_history(
        self,
        info: Info,
        service_id: strawberry.ID,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        first: int = 100,
        after: str | None = None,
    ) -> HealthCheckConnection:
        await require_read(info)
        row = await services.get_service(services.parse_id(service_id, "serviceId"), field="serviceId")
        page = await history.health_history(
            row.id, since, until, page_size(first, info.context.deps.settings.max_page_size), after
        )
        edges = [
            HealthCheckEdge(cursor=c, node=HealthCheck.from_row(r))
            for r, c in zip(page.rows, page.cursors, strict=True)
        ]
        return HealthCheckConnection(
            edges=edges,
            page_info=PageInfo.from_cursors(list(page.cursors), page.has_next_page, page.has_previous_page),
            total_count=page.total_count,
        )

    @strawberry.field(description="The registry as a document importServices accepts (no credentials)")
    async def export_services(self, info: Info) -> str:
        await require(info, Role.ADMIN)
        return await transfer.export_document()
