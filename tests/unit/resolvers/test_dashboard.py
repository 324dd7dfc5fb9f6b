"""Dependency impact and the dashboard, over hand-built histories."""

from __future__ import annotations

import datetime as dt

import pytest

from models import Service
from probes.result import HealthStatus
from resolvers import dashboard, impact
from resolvers.dependencies import set_dependency
from resolvers.deps import Deps
from tests.unit.resolvers.conftest import ADMIN, add_service
from tests.unit.resolvers.timeline import T0, Timeline

NOW = T0 + dt.timedelta(hours=12)
H, D, U = HealthStatus.HEALTHY, HealthStatus.DEGRADED, HealthStatus.UNHEALTHY


async def chain(deps: Deps) -> tuple[int, int, int]:
    """app requires gateway, which requires storage; all healthy for an hour."""
    ids = []
    for name in ("App", "Gateway", "Storage"):
        sid = await add_service(deps, f"https://{name.lower()}.example", name=name)
        await Timeline(deps.broker, sid).every(NOW - dt.timedelta(minutes=60), 30, H)
        ids.append(sid)
    await set_dependency(deps, ids[0], ids[1], True, ADMIN)
    await set_dependency(deps, ids[1], ids[2], True, ADMIN)
    return ids[0], ids[1], ids[2]


async def test_a_down_required_dependency_degrades_its_dependents_transitively(deps: Deps) -> None:
    app, gateway, storage = await chain(deps)
    await Timeline(deps.broker, storage, H).every(NOW - dt.timedelta(minutes=30), 2, U)
    rows = await Service.filter(id__in=[app, gateway, storage]).order_by("id")
    effective = await impact.effective_statuses(rows)
    assert effective[app] == impact.Effective(D, "dependency Storage is down", (storage,))
    assert effective[gateway].status is D and effective[gateway].reason == "dependency Storage is down"
    assert effective[storage] == impact.Effective(U)


async def test_an_optional_dependency_being_down_changes_nothing(deps: Deps) -> None:
    app, gateway, storage = await chain(deps)
    await set_dependency(deps, gateway, storage, False, ADMIN)
    await Timeline(deps.broker, storage, H).every(NOW - dt.timedelta(minutes=30), 2, U)
    effective = await impact.effective_statuses(await Service.filter(id__in=[app, gateway]))
    assert effective[app].status is H and effective[gateway].status is H


async def test_dashboard_counts_attention_changes_and_platform_uptime(deps: Deps) -> None:
    app, _, storage = await chain(deps)
    await Timeline(deps.broker, storage, H).every(NOW - dt.timedelta(minutes=30), 10, U)
    view = await dashboard.dashboard(deps.settings, now=NOW)
    assert view.counts == {D: 2, U: 1}
    assert view.total_services == view.active_services == 3
    assert view.needs_attention[0].service.id == storage
    reasons = {a.service.id: a.reasons for a in view.needs_attention}
    assert reasons[app][0] == "dependency Storage is down"
    assert view.open_incidents == 1
    assert view.recent_changes[0].service_id == storage and view.recent_changes[0].status is U
    # 100 checks, of which 10 UNHEALTHY
    assert view.platform_uptime["LAST_24_HOURS"] == pytest.approx(90 / 100)


async def test_analytics_reports_failures_changes_mttr_mtbf_types_and_cost(deps: Deps) -> None:
    from resolvers.analytics import analytics
    from tests.unit.resolvers.test_availability import NOW as HISTORY_NOW
    from tests.unit.resolvers.test_availability import mixed_history

    sid = await mixed_history(deps)
    await Service.filter(id=sid).update(cost_per_job=2.0)
    idle = await add_service(deps, "https://idle.example", name="Idle")
    view = await analytics(deps.settings, "LAST_24_HOURS", now=HISTORY_NOW)
    mine = next(f for f in view.services if f.service.id == sid)
    assert mine.tally.checks == 81 and mine.tally.failures == 6
    assert mine.failure_rate == pytest.approx(6 / 81)
    assert mine.failure_kinds == {"TIMEOUT": 6}
    assert mine.status_changes == 6
    assert mine.incidents_started == mine.incidents_ended == 1
    assert mine.mttr_seconds == 360
    assert mine.mtbf_seconds(view.window_seconds) == 86400 - 360 - 1200
    assert mine.cost_per_successful_job == pytest.approx(2.0 / (50 / 56))
    assert view.platform.tally.checks == 81 and view.platform.uptime == pytest.approx(50 / 56)
    assert [f.service.id for f in view.slowest] == [sid]
    assert view.slowest[0].latency_p95_ms == pytest.approx(900.0, rel=0.05)
    assert [(t.type.value, t.services, t.checks) for t in view.by_type] == [("MICHIGAN", 2, 81)]
    assert next(f for f in view.services if f.service.id == idle).failure_rate is None
