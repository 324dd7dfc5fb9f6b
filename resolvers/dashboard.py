"""dashboard: the platform at a glance, for the landing page of a frontend.

Counts are by effective status (a service whose required dependency is down counts as
DEGRADED, see impact.py). A service needs attention when it is active and its effective status
is UNHEALTHY or DEGRADED, its circuit is not CLOSED, or its 24-hour uptime is under its SLA
target. Platform uptime is the share of counted checks over all active services (the uptime
policy applies), at hour precision.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter

from config import Settings
from models import Incident, Service, StatusEvent
from probes.result import CircuitState, HealthStatus
from resolvers import availability, impact

RECENT_CHANGES = 20
_SEVERITY = {HealthStatus.UNHEALTHY: 0, HealthStatus.DEGRADED: 1, HealthStatus.MAINTENANCE: 2}


@dataclasses.dataclass(frozen=True, slots=True)
class Attention:
    service: Service
    status: HealthStatus
    reasons: tuple[str, ...]
    uptime_24h: float | None


@dataclasses.dataclass(frozen=True, slots=True)
class DashboardView:
    generated_at: dt.datetime
    total_services: int
    active_services: int
    counts: dict[HealthStatus, int]
    needs_attention: list[Attention]
    recent_changes: list[StatusEvent]
    open_incidents: int
    platform_uptime: dict[str, float | None]


async def dashboard(settings: Settings, now: dt.datetime | None = None) -> DashboardView:
    now = now or dt.datetime.now(dt.UTC)
    policy = availability.UptimePolicy.from_settings(settings)
    services = await Service.all()
    active = [s for s in services if s.is_active]
    effective = await impact.effective_statuses(active)
    counts = Counter(effective[s.id].status for s in active)
    start, end = availability.window_bounds("LAST_24_HOURS", now)
    day = await availability.fleet_counts(start, end, settings, [s.id for s in active])
    platform: dict[str, float | None] = {}
    for window in availability.WINDOWS:
        if window == "LAST_24_HOURS":
            total: Counter[HealthStatus] = Counter()
            for tally in day.values():
                total.update(tally.counts)
        else:
            w_start, w_end = availability.window_bounds(window, now)
            total = await availability.fleet_status_total(w_start, w_end, settings, [s.id for s in active])
        platform[window] = policy.uptime(total)
    attention = []
    for service in active:
        status = effective[service.id]
        reasons = []
        if status.status in (HealthStatus.UNHEALTHY, HealthStatus.DEGRADED):
            reasons.append(status.reason or f"status is {status.status.value}")
        if service.circuit_state is not CircuitState.CLOSED:
            reasons.append(f"circuit is {service.circuit_state.value}")
        tally = day.get(service.id)
        uptime = None if tally is None else policy.uptime(tally.counts)
        target = service.sla_target if service.sla_target is not None else settings.sla_target
        if uptime is not None and uptime < target:
            reasons.append(f"24-hour uptime {uptime:.4%} is under the {target:.3%} target")
        if reasons:
            attention.append(Attention(service, status.status, tuple(reasons), uptime))
    attention.sort(key=lambda a: (_SEVERITY.get(a.status, 3), -(a.service.status_changed_at or now).timestamp()))
    changes = await StatusEvent.all().order_by("-changed_at", "-id").limit(RECENT_CHANGES).prefetch_related("check")
    return DashboardView(
        generated_at=now,
        total_services=len(services),
        active_services=len(active),
        counts=dict(counts),
        needs_attention=attention,
        recent_changes=list(changes),
        open_incidents=await Incident.filter(ended_at__isnull=True).count(),
        platform_uptime=platform,
    )
