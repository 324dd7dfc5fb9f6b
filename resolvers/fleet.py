"""The whole fleet in two queries: every service's stored state and its 24 h uptime.

`/metrics` reads this at most once per refresh period, whatever the number of services, so a
scrape never costs one query per service. Uptime is `Service.uptime`'s: the same rollups and the
same uptime policy (VIGIL_UPTIME_*), summed in SQL at hour precision at the window's oldest edge
(`availability.fleet_counts`), where `Service.uptime` goes down to minutes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from config import Settings
from models import Service
from resolvers import availability


@dataclasses.dataclass(frozen=True, slots=True)
class ServiceState:
    service_id: int
    name: str
    type: str
    api_type: str
    status: str
    circuit_state: str
    is_active: bool
    uptime: float | None
    """Share of counted checks in the window that were up; None when no check counts."""


async def fleet_state(
    settings: Settings, window: str = "LAST_24_HOURS", now: dt.datetime | None = None
) -> list[ServiceState]:
    start, end = availability.window_bounds(window, now)
    policy = availability.UptimePolicy.from_settings(settings)
    rows = (
        await Service.all()
        .order_by("id")
        .values_list("id", "name", "type", "api_type", "status", "circuit_state", "is_active")
    )
    tallies = await availability.fleet_counts(start, end, settings)
    return [
        ServiceState(
            service_id=sid,
            name=name,
            type=str(kind),
            api_type=str(api_type),
            status=str(status),
            circuit_state=str(circuit),
            is_active=bool(active),
            uptime=policy.uptime(tallies[sid].counts) if sid in tallies else None,
        )
        for sid, name, kind, api_type, status, circuit, active in rows
    ]
