"""Root query fields: each checks the caller's role, calls a resolver and converts the rows."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry

from models import Role
from resolvers import alerts as alert_log
from resolvers import catalog, history, services, transfer, views
from resolvers import incidents as incident_log
from resolvers import recommend as recommender
from resolvers.pagination import page_size
from schema.context import Info
from schema.permissions import require, require_read
from schema.types.alert import Alert, AlertConnection, AlertEdge
from schema.types.analytics import Analytics
from schema.types.cache import CacheStats
from schema.types.compare import ServiceComparison
from schema.types.dashboard import Dashboard
from schema.types.enums import GenomeBuild, TrendWindow
from schema.types.health import HealthCheck, HealthCheckConnection, HealthCheckEdge
from schema.types.incident import Incident, IncidentConnection, IncidentEdge
from schema.types.pagination import After, OptionalPageSize, build_connection
from schema.types.panel import ReferencePanel, ReferencePanelFilter
from schema.types.recommendation import ServiceRecommendation
from schema.types.service import Service, ServiceConnection, ServiceEdge, ServiceFilter
from schema.types.trends import HealthTrends


async def _optional_service_id(service_id: strawberry.ID | None) -> int | None:
    """The id of an existing service (NOT_FOUND otherwise), or None for "every service"."""
    if service_id is None:
        return None
    return (await services.get_service(services.parse_id(service_id, "serviceId"), field="serviceId")).id


@strawberry.type(description="Reads; each needs a VIEWER token unless VIGIL_ANONYMOUS_READ is on")
class Query:
    @strawberry.field(description="Registered services, filtered, as a cursor connection")
    async def services(
        self,
        info: Info,
        filter: Annotated[
            ServiceFilter | None, strawberry.argument(description="Narrows the list; null lists every service")
        ] = None,
        first: Annotated[
            int, strawberry.argument(description="Page size, 0 to VIGIL_MAX_PAGE_SIZE (more is BAD_USER_INPUT)")
        ] = 50,
        after: After = None,
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
        size = page_size(first, info.context.deps.settings.max_page_size)
        page = await views.service_page(info.context.deps, query, size, after)
        return build_connection(ServiceConnection, ServiceEdge, page, Service.from_row)

    @strawberry.field(description="One service by id; null when there is none")
    async def service(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The service's id")]
    ) -> Service | None:
        await require_read(info)
        row = await services.Service.get_or_none(id=services.parse_id(id))
        return None if row is None else Service.from_row(row)

    @strawberry.field(description="Reference panels across services (active ones unless asked)")
    async def reference_panels(
        self,
        info: Info,
        filter: Annotated[ReferencePanelFilter | None, strawberry.argument(description="Narrows the list")] = None,
    ) -> list[ReferencePanel]:
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
        service_id: Annotated[
            strawberry.ID, strawberry.argument(description="The service; NOT_FOUND when there is none")
        ],
        since: Annotated[
            dt.datetime | None, strawberry.argument(description="Only checks made at or after this time (inclusive)")
        ] = None,
        until: Annotated[
            dt.datetime | None,
            strawberry.argument(description="Only checks made before this time (exclusive); must be after since"),
        ] = None,
        first: Annotated[
            int, strawberry.argument(description="Page size, 0 to VIGIL_MAX_PAGE_SIZE (more is BAD_USER_INPUT)")
        ] = 100,
        after: After = None,
    ) -> HealthCheckConnection:
        await require_read(info)
        row = await services.get_service(services.parse_id(service_id, "serviceId"), field="serviceId")
        page = await history.health_history(
            row.id, since, until, page_size(first, info.context.deps.settings.max_page_size), after
        )
        return build_connection(HealthCheckConnection, HealthCheckEdge, page, HealthCheck.from_row)

    @strawberry.field(description="One service over a window: a chart-sized series of buckets and a summary")
    async def trends(
        self,
        info: Info,
        service_id: Annotated[
            strawberry.ID, strawberry.argument(description="The service; NOT_FOUND when there is none")
        ],
        window: Annotated[
            TrendWindow, strawberry.argument(description="How far back to look")
        ] = TrendWindow.LAST_24_HOURS,
    ) -> HealthTrends:
        await require_read(info)
        sid = services.parse_id(service_id, "serviceId")
        return HealthTrends.from_value(await views.trends(info.context.deps, sid, window.value))

    @strawberry.field(description="Periods of UNHEALTHY or MAINTENANCE status, newest first; one service or all")
    async def incidents(
        self,
        info: Info,
        service_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="One service's incidents; null: every service's")
        ] = None,
        open_only: Annotated[bool, strawberry.argument(description="Only incidents that have not ended")] = False,
        first: OptionalPageSize = 50,
        after: After = None,
    ) -> IncidentConnection:
        await require_read(info)
        sid = await _optional_service_id(service_id)
        size = page_size(first, info.context.deps.settings.max_page_size)
        page = await incident_log.list_incidents(sid, open_only, size, after)
        return build_connection(IncidentConnection, IncidentEdge, page, Incident.from_row)

    @strawberry.field(description="Alerts the rules raised, newest first, each with its deliveries; one service or all")
    async def alerts(
        self,
        info: Info,
        service_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="One service's alerts; null: every alert")
        ] = None,
        firing_only: Annotated[bool, strawberry.argument(description="Only alerts that have not resolved")] = False,
        first: OptionalPageSize = 50,
        after: After = None,
    ) -> AlertConnection:
        await require_read(info)
        sid = await _optional_service_id(service_id)
        size = page_size(first, info.context.deps.settings.max_page_size)
        page = await alert_log.list_alerts(sid, firing_only, size, after)
        return build_connection(AlertConnection, AlertEdge, page, Alert.from_row)

    @strawberry.field(description="The platform at a glance: status counts, services needing attention, changes")
    async def dashboard(self, info: Info) -> Dashboard:
        await require_read(info)
        return Dashboard.from_value(await views.dashboard(info.context.deps))

    @strawberry.field(description="Services side by side (at most 20): a feature matrix with panels lined up")
    async def compare_services(
        self,
        info: Info,
        ids: Annotated[
            list[strawberry.ID], strawberry.argument(description="The services, in the column order wanted")
        ],
    ) -> ServiceComparison:
        await require_read(info)
        parsed = [services.parse_id(i, "ids") for i in ids]
        return ServiceComparison.from_value(await views.comparison_of(info.context.deps, parsed))

    @strawberry.field(
        description="Active services offering a matching panel, best first; down, in maintenance, open-circuit "
        "and dependency-blocked services are skipped"
    )
    async def recommend_services(
        self,
        info: Info,
        panel: Annotated[
            str | None,
            strawberry.argument(
                description="A panel: its normalised id (e.g. 1000g-phase3-v5), or text its label contains"
            ),
        ] = None,
        build: Annotated[GenomeBuild | None, strawberry.argument(description="Only panels of this build")] = None,
        population: Annotated[
            str | None, strawberry.argument(description="Only panels offering this population key")
        ] = None,
        first: Annotated[int | None, strawberry.argument(description="How many to return; null: 5")] = 5,
    ) -> list[ServiceRecommendation]:
        await require_read(info)
        size = 5 if first is None else first
        found = await recommender.recommend(info.context.deps.settings, panel, build, population, size)
        return [ServiceRecommendation.from_value(r) for r in found]

    @strawberry.field(description="Platform-wide and per-service reliability over a window, from rollups")
    async def analytics(
        self,
        info: Info,
        window: Annotated[
            TrendWindow, strawberry.argument(description="How far back to look")
        ] = TrendWindow.LAST_24_HOURS,
    ) -> Analytics:
        await require_read(info)
        return Analytics.from_value(await views.analytics(info.context.deps, window.value))

    @strawberry.field(description="The registry as a document importServices accepts (no credentials)")
    async def export_services(self, info: Info) -> str:
        await require(info, Role.ADMIN)
        return await transfer.export_document()

    @strawberry.field(description="This replica's read-model cache: hits, misses, invalidations; null when off")
    async def cache_stats(self, info: Info) -> CacheStats | None:
        await require(info, Role.OPERATOR)
        cache = info.context.deps.cache
        return None if cache is None else CacheStats.from_value(cache.stats)
