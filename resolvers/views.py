"""The expensive read models, served through the cache when the app has one.

Each function is the cached twin of a resolver, under a key made of every argument that changes
the answer. Errors (NOT_FOUND, BAD_USER_INPUT) come from the computation and are never cached.
Without a cache (the CLI, some tests) they compute directly.

`warm` runs after each coalesced check invalidation: it recomputes the dashboard and the first
page of services (with the panels and 24-hour uptime a list shows) so that the next reader finds
them ready instead of paying for them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import TypeVar

from models import Service
from resolvers import analytics as reliability
from resolvers import compare as comparison
from resolvers import dashboard as overview
from resolvers import loaders as batch
from resolvers import services
from resolvers import trends as trend_series
from resolvers.analytics import AnalyticsView
from resolvers.cache import Region
from resolvers.compare import Comparison
from resolvers.dashboard import DashboardView
from resolvers.deps import Deps
from resolvers.pagination import Page
from resolvers.trends import Trends

log = logging.getLogger(__name__)

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")
BatchLoad = Callable[[Sequence[K]], Awaitable[list[V]]]

FIRST_PAGE_SIZE = 50
"""The page the `services` field returns when `first` is not given: the one warming prepares."""


async def _cached(deps: Deps, region: Region, key: str, load: Callable[[], Awaitable[T]]) -> T:
    if deps.cache is None:
        return await load()
    return await deps.cache.get_or_load(region, key, load)


async def dashboard(deps: Deps) -> DashboardView:
    return await _cached(deps, Region.DASHBOARD, "platform", lambda: overview.dashboard(deps.settings))


async def service_page(deps: Deps, query: services.ServiceQuery, first: int, after: str | None) -> Page[Service]:
    key = f"{query!r}|first={first}|after={after}"
    return await _cached(deps, Region.SERVICE_LISTS, key, lambda: services.list_services(query, first, after))


async def trends(deps: Deps, service_id: int, window: str) -> Trends:
    async def load() -> Trends:
        row = await services.get_service(service_id, field="serviceId")
        return await trend_series.trends(row, window, deps.settings)

    return await _cached(deps, Region.TRENDS, f"{service_id}|{window}", load)


async def comparison_of(deps: Deps, ids: list[int]) -> Comparison:
    key = ",".join(str(i) for i in ids)
    return await _cached(deps, Region.COMPARISONS, key, lambda: comparison.compare(ids, deps.settings))


async def analytics(deps: Deps, window: str) -> AnalyticsView:
    return await _cached(deps, Region.ANALYTICS, window, lambda: reliability.analytics(deps.settings, window))


def cached_batch(deps: Deps, name: str, key_text: Callable[[K], str], load: BatchLoad[K, V]) -> BatchLoad[K, V]:
    """`load` (a DataLoader batch function) answering from the cache where it can: per-service fields
    of a list page are then read from memory, and only the services not cached are computed."""
    cache = deps.cache
    if cache is None:
        return load

    async def batch(keys: Sequence[K]) -> list[V]:
        return await cache.get_many_or_load(Region.SERVICE_FIELDS, keys, lambda k: f"{name}:{key_text(k)}", load)

    return batch


async def warm(deps: Deps) -> None:
    """Recompute what a landing page asks for first: the dashboard, the first page of services,
    and the panels and 24-hour uptime of the services on it (under the keys the loaders use)."""
    try:
        await dashboard(deps)
        page = await service_page(deps, services.ServiceQuery(), FIRST_PAGE_SIZE, None)
        ids = [row.id for row in page.rows]
        await cached_batch(deps, "panels", panel_key, batch.panels_by_service)([(sid, False) for sid in ids])
        await cached_batch(deps, "uptime", uptime_key, partial(batch.uptime_by_service, settings=deps.settings))(
            [(sid, "LAST_24_HOURS") for sid in ids]
        )
    except Exception:  # warming is an optimisation: the next reader computes instead
        log.exception("warming the cache failed")


def panel_key(key: tuple[int, bool]) -> str:
    return f"{key[0]}:{key[1]}"


def uptime_key(key: tuple[int, str]) -> str:
    return f"{key[0]}:{key[1]}"
