"""Batch reads answer each key exactly as reading that key alone does, repeats and strays included.

Each `reference_*` function below is the per-row read a field made before it went through a
DataLoader: the batch functions must agree with it key by key, in order.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from models import (
    Alert,
    AlertDelivery,
    DeliveryKind,
    DeliveryStatus,
    Incident,
    MaintenanceWindow,
    ReferencePanel,
    Service,
    ServiceDependency,
)
from probes.result import GenomeBuild, HealthStatus
from resolvers import availability, impact, loaders
from resolvers.deps import Deps
from resolvers.errors import NotFound
from resolvers.incidents import seconds_within
from resolvers.services import get_service
from tests.unit.resolvers.conftest import add_service
from tests.unit.resolvers.timeline import T0, Timeline

NOW = T0 + dt.timedelta(hours=12)
AT = NOW + dt.timedelta(minutes=30)  # windows read at AT start mid-hour: only minute rollups get them exact
H, D, U = HealthStatus.HEALTHY, HealthStatus.DEGRADED, HealthStatus.UNHEALTHY
MISSING = 999_999


@dataclasses.dataclass
class Fleet:
    a: int  # UNHEALTHY since 20 minutes ago, with panels (one gone) and maintenance windows
    b: int  # HEALTHY, requires a and optionally c: shown DEGRADED
    c: int  # DEGRADED, and nothing else
    quiet: int  # never checked, nothing attached

    @property
    def ids(self) -> list[int]:
        return [self.a, self.b, self.c, self.quiet]


@pytest.fixture
async def fleet(deps: Deps) -> Fleet:
    a, b, c, quiet = [await add_service(deps, f"https://{n}.example", name=n) for n in ("A", "B", "C", "Quiet")]
    await Timeline(deps.broker, a).every(NOW - dt.timedelta(hours=3), 160, H)
    await Timeline(deps.broker, a, previous=H).every(NOW - dt.timedelta(minutes=20), 20, U, latency_ms=None)
    await Timeline(deps.broker, b).every(NOW - dt.timedelta(hours=30), 30, H, step=dt.timedelta(hours=1))
    await Timeline(deps.broker, c).every(NOW - dt.timedelta(minutes=90), 60, D)
    # Stored after a's UNHEALTHY incident but started before it; and not downtime.
    await Incident.create(service_id=a, kind=HealthStatus.MAINTENANCE, started_at=NOW - dt.timedelta(hours=2))
    await Incident.create(
        service_id=c, kind=U, started_at=NOW - dt.timedelta(hours=5), ended_at=NOW - dt.timedelta(hours=4)
    )
    for key, is_active in (("z-gone", False), ("m-panel", True), ("a-panel", True)):
        await ReferencePanel.create(service_id=a, key=key, label=key, build=GenomeBuild.HG38, is_active=is_active)
    await ReferencePanel.create(service_id=b, key="b-panel", label="b", build=GenomeBuild.HG19)
    await ServiceDependency.create(service_id=b, depends_on_id=a, required=True)
    await ServiceDependency.create(service_id=b, depends_on_id=c, required=False)
    hour = dt.timedelta(hours=1)
    # Soonest first is not the order they end in, nor the order they were stored in.
    for start, end in (
        (NOW + 2 * hour, NOW + 3 * hour),
        (NOW - hour, NOW + 5 * hour),
        (NOW - 3 * hour, NOW - 2 * hour),
    ):
        await MaintenanceWindow.create(service_id=a, starts_at=start, ends_at=end, reason=str(start))
    for sid in (a, c):
        alert = await Alert.create(rule="failure_rate", service_id=sid, fired_at=NOW)
        for attempt in (1, 2):
            await AlertDelivery.create(
                alert_id=alert.id,
                channel="x",
                kind=DeliveryKind.FIRING,
                attempt=attempt,
                status=DeliveryStatus.SENT,
                at=NOW,
            )
    return Fleet(a, b, c, quiet)


def ids(rows: list[list[object]]) -> list[list[int]]:
    return [[row.id for row in group] for group in rows]  # type: ignore[attr-defined]


async def reference_panels(service_id: int, include_inactive: bool) -> list[ReferencePanel]:
    rows = ReferencePanel.filter(service_id=service_id)
    if not include_inactive:
        rows = rows.filter(is_active=True)
    return await rows.order_by("key")


async def reference_edges(**where: int) -> list[ServiceDependency]:
    return await ServiceDependency.filter(**where).prefetch_related("service", "depends_on")


async def reference_uptime(service_id: int, window: str, deps: Deps) -> float | None:
    start, end = availability.window_bounds(window, AT)
    tally = await availability.service_tally(service_id, start, end, deps.settings, now=end)
    return availability.UptimePolicy.from_settings(deps.settings).uptime(tally.counts)


async def test_services_come_in_key_order_and_a_missing_one_is_the_error_get_service_raises(fleet: Fleet) -> None:
    keys = [fleet.c, MISSING, fleet.a, fleet.c]
    found = await loaders.services_by_id(keys)
    assert [row.id for row in found if isinstance(row, Service)] == [fleet.c, fleet.a, fleet.c]
    with pytest.raises(NotFound) as alone:
        await get_service(MISSING)
    assert isinstance(found[1], NotFound)
    assert (found[1].message, found[1].extensions) == (alone.value.message, alone.value.extensions)


async def test_panels_match_the_per_service_read_with_and_without_inactive_ones(fleet: Fleet) -> None:
    keys = [(fleet.a, False), (fleet.b, True), (fleet.a, True), (fleet.quiet, False), (fleet.a, False)]
    expected = [await reference_panels(sid, inactive) for sid, inactive in keys]
    assert ids(await loaders.panels_by_service(keys)) == ids(expected)
    assert [p.key for p in (await loaders.panels_by_service([(fleet.a, False)]))[0]] == ["a-panel", "m-panel"]


async def test_dependencies_and_dependents_match_the_per_service_read_with_both_ends_loaded(fleet: Fleet) -> None:
    keys = [fleet.b, fleet.a, fleet.quiet, fleet.b]
    for batch, side in (
        (loaders.dependencies_by_service, "service_id"),
        (loaders.dependents_by_service, "depends_on_id"),
    ):
        found = await batch(keys)
        expected = [await reference_edges(**{side: sid}) for sid in keys]
        assert ids(found) == ids(expected), side
        names = [[(edge.service.name, edge.depends_on.name, edge.required) for edge in group] for group in found]
        assert names == [[(e.service.name, e.depends_on.name, e.required) for e in group] for group in expected]
    assert [len(group) for group in await loaders.dependencies_by_service(keys)] == [2, 0, 0, 2]


async def test_open_incidents_maintenance_windows_and_deliveries_match_the_per_row_reads(fleet: Fleet) -> None:
    keys = [fleet.a, fleet.c, fleet.quiet, fleet.a]
    incidents = [await Incident.filter(service_id=sid, ended_at__isnull=True).order_by("started_at") for sid in keys]
    assert ids(await loaders.open_incidents_by_service(keys)) == ids(incidents)
    assert [row.kind for row in incidents[0]] == [HealthStatus.MAINTENANCE, U]
    assert [len(group) for group in incidents] == [2, 0, 0, 2]  # c's incident has ended

    windows = [
        await MaintenanceWindow.filter(service_id=sid, ends_at__gt=NOW).order_by("starts_at", "id") for sid in keys
    ]
    assert ids(await loaders.maintenance_windows_by_service(keys, now=NOW)) == ids(windows)
    assert [len(group) for group in windows] == [2, 0, 0, 2]  # running and upcoming, not the one that ended

    alert_ids = [alert.id for alert in await Alert.all().order_by("-id")] + [MISSING]
    deliveries = [await AlertDelivery.filter(alert_id=aid).order_by("id") for aid in alert_ids]
    assert ids(await loaders.deliveries_by_alert(alert_ids)) == ids(deliveries)


async def test_effective_status_follows_each_rows_own_status_even_for_two_rows_of_one_service(fleet: Fleet) -> None:
    rows = [await Service.get(id=sid) for sid in fleet.ids]
    stale_b = await Service.get(id=fleet.b)
    stale_b.status = U  # read before b turned HEALTHY: it keeps its own status
    keys = [*rows, stale_b, rows[1]]
    found = await loaders.effective_status_by_service(keys)
    assert found == [(await impact.effective_statuses([row]))[row.id] for row in keys]
    assert [e.status for e in found] == [U, D, D, HealthStatus.UNKNOWN, U, D]
    assert found[1].reason == "dependency A is down"


async def test_uptime_matches_the_per_service_tally_in_every_window(fleet: Fleet, deps: Deps) -> None:
    keys = [(sid, window) for window in availability.WINDOWS for sid in fleet.ids] + [(fleet.a, "LAST_HOUR")]
    found = await loaders.uptime_by_service(keys, deps.settings, now=AT)
    assert found == [await reference_uptime(sid, window, deps) for sid, window in keys]
    assert found[:4] == [pytest.approx(10 / 30), None, None, None]  # LAST_HOUR: a's last 10 H and 20 U


async def test_sla_matches_the_per_service_figures_for_each_target_and_window(fleet: Fleet, deps: Deps) -> None:
    keys = [(fleet.a, None, "LAST_24_HOURS"), (fleet.c, 0.5, "LAST_7_DAYS"), (fleet.a, 0.9, "LAST_24_HOURS")]
    keys += [(fleet.quiet, None, "LAST_HOUR"), (fleet.c, None, "LAST_HOUR")]
    found = await loaders.sla_by_service(keys, deps.settings, now=AT)
    for (sid, target, window), sla in zip(keys, found, strict=True):
        start, end = availability.window_bounds(window, AT)
        down = await Incident.filter(service_id=sid, kind=U).order_by("started_at")
        assert sla == availability.Sla(
            target=deps.settings.sla_target if target is None else target,
            window_seconds=(end - start).total_seconds(),
            achieved=await reference_uptime(sid, window, deps),
            downtime_seconds=sum(
                seconds_within(row, start, end)
                for row in down
                if row.started_at < end and (row.ended_at is None or row.ended_at > start)
            ),
        )
    assert [sla.downtime_seconds for sla in found] == [50 * 60, 3600, 50 * 60, 0, 0]
