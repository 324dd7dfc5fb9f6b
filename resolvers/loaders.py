"""Batch reads behind the schema's DataLoaders: what a list of rows asks for, in a fixed number of queries.

Each function takes the keys one batch collected (in the order the fields asked, repeats
included) and returns one value per key, in that order, with the same rows, filters and order
as reading each key alone would give. The number of queries never depends on how many keys
there are: a page of a hundred services costs what a page of ten does.

A key that names no row gets an exception in its place rather than failing the whole batch, so
only the field that asked for it errors.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

from config import Settings
from models import AlertDelivery, AlertOverride, Incident, MaintenanceWindow, ReferencePanel, Service, ServiceDependency
from probes.result import HealthStatus
from resolvers import availability, impact
from resolvers.errors import NotFound

K = TypeVar("K")
R = TypeVar("R")
V = TypeVar("V")


def _distinct(values: Iterable[K]) -> list[K]:
    return list(dict.fromkeys(values))


def _by(rows: Iterable[R], attribute: str) -> dict[Any, list[R]]:
    """Rows grouped on a foreign key, each group in the order the query returned it."""
    groups: dict[Any, list[R]] = {}
    for row in rows:
        groups.setdefault(getattr(row, attribute), []).append(row)
    return groups


async def _per_window(
    keys: Sequence[K],
    window_of: Callable[[K], str],
    fetch: Callable[[str, list[K]], Awaitable[Sequence[V]]],
) -> list[V]:
    """Calls `fetch` once per distinct window with that window's keys; the answers go back in key order."""
    groups: dict[str, list[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(window_of(key), []).append(index)
    values: dict[int, V] = {}
    for window, indexes in groups.items():
        answers = await fetch(window, [keys[i] for i in indexes])
        values.update(zip(indexes, answers, strict=True))
    return [values[i] for i in range(len(keys))]


async def services_by_id(service_ids: Sequence[int]) -> list[Service | NotFound]:
    """What `services.get_service` answers for each id, including its NotFound."""
    rows = {row.id: row for row in await Service.filter(id__in=_distinct(service_ids))}
    return [rows[sid] if sid in rows else NotFound(f"no service with id {sid}", field="id") for sid in service_ids]


async def panels_by_service(keys: Sequence[tuple[int, bool]]) -> list[list[ReferencePanel]]:
    """Panels by key for each (service id, include inactive); inactive ones are read only if a key wants them."""
    rows = ReferencePanel.filter(service_id__in=_distinct(sid for sid, _ in keys))
    if not any(include_inactive for _, include_inactive in keys):
        rows = rows.filter(is_active=True)
    panels = _by(await rows.order_by("service_id", "key"), "service_id")
    return [
        [panel for panel in panels.get(sid, ()) if include_inactive or panel.is_active]
        for sid, include_inactive in keys
    ]


async def alert_overrides_by_service(service_ids: Sequence[int]) -> list[list[AlertOverride]]:
    """Each service's alert overrides, by rule."""
    rows = await AlertOverride.filter(service_id__in=_distinct(service_ids)).order_by("service_id", "rule")
    found = _by(rows, "service_id")
    return [found.get(sid, []) for sid in service_ids]


async def _dependency_edges(service_ids: Sequence[int], side: str) -> list[list[ServiceDependency]]:
    """Edges whose `side` ("service" or "depends_on") is each id, with both ends loaded: three queries."""
    rows = (
        await ServiceDependency.filter(**{f"{side}_id__in": _distinct(service_ids)})
        .order_by("id")
        .prefetch_related("service", "depends_on")
    )
    edges = _by(rows, f"{side}_id")
    return [edges.get(sid, []) for sid in service_ids]


async def dependencies_by_service(service_ids: Sequence[int]) -> list[list[ServiceDependency]]:
    """What each service needs."""
    return await _dependency_edges(service_ids, "service")


async def dependents_by_service(service_ids: Sequence[int]) -> list[list[ServiceDependency]]:
    """What needs each service."""
    return await _dependency_edges(service_ids, "depends_on")


async def open_incidents_by_service(service_ids: Sequence[int]) -> list[list[Incident]]:
    """Incidents that have not ended, oldest first."""
    rows = Incident.filter(service_id__in=_distinct(service_ids), ended_at__isnull=True)
    incidents = _by(await rows.order_by("started_at", "id"), "service_id")
    return [incidents.get(sid, []) for sid in service_ids]


async def maintenance_windows_by_service(
    service_ids: Sequence[int], now: dt.datetime | None = None
) -> list[list[MaintenanceWindow]]:
    """Windows that have not ended (running or upcoming), soonest first."""
    now = now or dt.datetime.now(dt.UTC)
    rows = MaintenanceWindow.filter(service_id__in=_distinct(service_ids), ends_at__gt=now)
    windows = _by(await rows.order_by("starts_at", "id"), "service_id")
    return [windows.get(sid, []) for sid in service_ids]


async def deliveries_by_alert(alert_ids: Sequence[int]) -> list[list[AlertDelivery]]:
    """Every delivery attempt of each alert, oldest first."""
    rows = AlertDelivery.filter(alert_id__in=_distinct(alert_ids)).order_by("id")
    deliveries = _by(await rows, "alert_id")
    return [deliveries.get(aid, []) for aid in alert_ids]


async def effective_status_by_service(rows: Sequence[Service]) -> list[impact.Effective]:
    """`impact.effective_statuses` for each row, which brings its own published status.

    Two rows of one service read at different times may disagree on its status; each gets the
    answer for its own. Such a pair goes to a second call, so the usual batch costs one call.
    """
    rounds: list[dict[int, Service]] = []
    for row in {(row.id, row.status): row for row in rows}.values():
        for batch in rounds:
            if row.id not in batch:
                batch[row.id] = row
                break
        else:
            rounds.append({row.id: row})
    found: dict[tuple[int, HealthStatus], impact.Effective] = {}
    for batch in rounds:
        for sid, effective in (await impact.effective_statuses(batch.values())).items():
            found[(sid, batch[sid].status)] = effective
    return [found[(row.id, row.status)] for row in rows]


async def uptime_by_service(
    keys: Sequence[tuple[int, str]], settings: Settings, now: dt.datetime | None = None
) -> list[float | None]:
    """Uptime for each (service id, window): one query per window asked, all windows ending at one `now`."""
    now = now or dt.datetime.now(dt.UTC)

    async def fetch(window: str, group: list[tuple[int, str]]) -> list[float | None]:
        uptimes = await availability.uptimes(_distinct(sid for sid, _ in group), window, settings, now)
        return [uptimes[sid] for sid, _ in group]

    return await _per_window(keys, lambda key: key[1], fetch)


async def sla_by_service(
    keys: Sequence[tuple[int, float | None, str]], settings: Settings, now: dt.datetime | None = None
) -> list[availability.Sla]:
    """SLA for each (service id, its own target or None, window): two queries per window asked."""
    now = now or dt.datetime.now(dt.UTC)

    async def fetch(window: str, group: list[tuple[int, float | None, str]]) -> list[availability.Sla]:
        return await availability.slas([(sid, target) for sid, target, _ in group], window, settings, now)

    return await _per_window(keys, lambda key: key[2], fetch)
