"""DataLoaders for the relations a list of rows asks for, so a page costs the same queries at any size.

Loads made while one level of a response resolves go out together, as one call of a batch
function in resolvers/loaders.py. Loaders live as long as one operation's Context (see
`Context.loaders`), which also decides whether they may remember what they loaded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable
from functools import partial
from typing import Any

from strawberry.dataloader import DataLoader

from models import AlertDelivery as AlertDeliveryRow
from models import AlertOverride as AlertOverrideRow
from models import Incident as IncidentRow
from models import MaintenanceWindow as WindowRow
from models import ReferencePanel as PanelRow
from models import Service as ServiceRow
from models import ServiceDependency as DependencyRow
from resolvers import loaders as batch
from resolvers import views
from resolvers.availability import Sla
from resolvers.deps import Deps
from resolvers.impact import Effective


def _status_key(row: ServiceRow) -> Hashable:
    # An effective status follows from the service's own published status (and the whole graph):
    # a row read after a status change must not get the answer for the row read before it.
    return (row.id, row.status)


@dataclasses.dataclass(frozen=True, slots=True)
class Loaders:
    service: DataLoader[int, ServiceRow]
    panels: DataLoader[tuple[int, bool], list[PanelRow]]  # (service id, include inactive)
    dependencies: DataLoader[int, list[DependencyRow]]
    dependents: DataLoader[int, list[DependencyRow]]
    open_incidents: DataLoader[int, list[IncidentRow]]
    maintenance_windows: DataLoader[int, list[WindowRow]]
    effective_status: DataLoader[ServiceRow, Effective]
    uptime: DataLoader[tuple[int, str], float | None]  # (service id, window)
    sla: DataLoader[tuple[int, float | None, str], Sla]  # (service id, its own target, window)
    deliveries: DataLoader[int, list[AlertDeliveryRow]]  # by alert id
    alert_overrides: DataLoader[int, list[AlertOverrideRow]]

    @classmethod
    def build(cls, deps: Deps, *, cache: bool) -> Loaders:
        """`cache=False` still batches; it only stops a later load of a key reusing an earlier answer.

        With `cache=True` the per-service fields a list page shows most (panels, effective status,
        uptime, SLA) also go through the read-model cache (docs/caching.md), shared across requests.
        """
        settings = deps.settings

        def shared(name: str, key_text: Callable[[Any], str], load: Any) -> Any:
            return views.cached_batch(deps, name, key_text, load) if cache else load

        return cls(
            service=DataLoader(batch.services_by_id, cache=cache),
            panels=DataLoader(shared("panels", views.panel_key, batch.panels_by_service), cache=cache),
            dependencies=DataLoader(batch.dependencies_by_service, cache=cache),
            dependents=DataLoader(batch.dependents_by_service, cache=cache),
            open_incidents=DataLoader(batch.open_incidents_by_service, cache=cache),
            maintenance_windows=DataLoader(batch.maintenance_windows_by_service, cache=cache),
            effective_status=DataLoader(
                shared("effective", lambda row: f"{row.id}:{row.status.value}", batch.effective_status_by_service),
                cache=cache,
                cache_key_fn=_status_key,
            ),
            uptime=DataLoader(
                shared("uptime", views.uptime_key, partial(batch.uptime_by_service, settings=settings)),
                cache=cache,
            ),
            sla=DataLoader(
                shared("sla", lambda k: f"{k[0]}:{k[1]}:{k[2]}", partial(batch.sla_by_service, settings=settings)),
                cache=cache,
            ),
            deliveries=DataLoader(batch.deliveries_by_alert, cache=cache),
            alert_overrides=DataLoader(batch.alert_overrides_by_service, cache=cache),
        )
