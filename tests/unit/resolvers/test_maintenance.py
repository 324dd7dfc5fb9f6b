"""Maintenance windows: validated, audited, and honoured by the very next check."""

from __future__ import annotations

import datetime as dt

import pytest

from models import AuditEvent, MaintenanceWindow
from probes.result import HealthStatus
from resolvers.deps import Deps
from resolvers.errors import BadUserInput, NotFound
from resolvers.health import check_service_health
from resolvers.maintenance import schedule_maintenance
from simulators import CloudgeneSimulator
from tests.fakes import serving
from tests.unit.resolvers.conftest import ADMIN, add_service

NOW = dt.datetime.now(dt.UTC)
HOUR = dt.timedelta(hours=1)


async def test_a_window_is_stored_in_utc_and_audited(deps: Deps) -> None:
    service_id = await add_service(deps, "https://mis.example.org")
    plus_two = dt.timezone(dt.timedelta(hours=2))
    starts = (NOW + HOUR).astimezone(plus_two)
    window = await schedule_maintenance(deps, service_id, starts, starts + HOUR, "  kernel update ", ADMIN)

    stored = await MaintenanceWindow.get(id=window.id)
    assert stored.starts_at == NOW + HOUR
    assert (stored.reason, stored.created_by) == ("kernel update", str(ADMIN))
    event = await AuditEvent.get(action="service.maintenance_scheduled")
    assert event.target_id == str(service_id)
    assert event.after is not None and event.after["reason"] == "kernel update"


async def test_a_window_in_progress_makes_the_next_check_maintenance(deps: Deps) -> None:
    async with serving(CloudgeneSimulator.michigan()) as url:
        service_id = await add_service(deps, url)
        await schedule_maintenance(deps, service_id, NOW - HOUR, NOW + HOUR, None, ADMIN)
        stored = await check_service_health(deps, service_id, ADMIN)

    assert (stored.raw_status, stored.status) == (HealthStatus.HEALTHY, HealthStatus.MAINTENANCE)


@pytest.mark.parametrize(
    ("starts_at", "ends_at", "reason", "field"),
    [
        (NOW.replace(tzinfo=None), NOW + HOUR, None, "startsAt"),
        (NOW, (NOW + HOUR).replace(tzinfo=None), None, "endsAt"),
        (NOW + HOUR, NOW + HOUR, None, "endsAt"),
        (NOW + 2 * HOUR, NOW + HOUR, None, "endsAt"),
        (NOW - 3 * HOUR, NOW - HOUR, None, "endsAt"),
        (NOW, NOW + dt.timedelta(days=30, seconds=1), None, "endsAt"),
        (NOW, NOW + HOUR, "x" * 501, "reason"),
    ],
    ids=[
        "naive start",
        "naive end",
        "empty",
        "ends before it starts",
        "already over",
        "longer than 30 days",
        "reason too long",
    ],
)
async def test_an_invalid_window_is_refused_on_the_offending_field(
    deps: Deps, starts_at: dt.datetime, ends_at: dt.datetime, reason: str | None, field: str
) -> None:
    service_id = await add_service(deps, "https://mis.example.org")

    with pytest.raises(BadUserInput) as caught:
        await schedule_maintenance(deps, service_id, starts_at, ends_at, reason, ADMIN)

    assert caught.value.extensions == {"code": "BAD_USER_INPUT", "field": field}
    assert await MaintenanceWindow.all().count() == 0


async def test_exactly_thirty_days_and_five_hundred_characters_are_accepted(deps: Deps) -> None:
    service_id = await add_service(deps, "https://mis.example.org")
    window = await schedule_maintenance(deps, service_id, NOW, NOW + dt.timedelta(days=30), "x" * 500, ADMIN)

    assert window.ends_at - window.starts_at == dt.timedelta(days=30)


async def test_a_window_for_an_unknown_service_is_not_found(deps: Deps) -> None:
    with pytest.raises(NotFound) as caught:
        await schedule_maintenance(deps, 404, NOW, NOW + HOUR, None, ADMIN)

    assert caught.value.extensions == {"code": "NOT_FOUND", "field": "serviceId"}
