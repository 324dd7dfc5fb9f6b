"""analytics(window): the platform and each service over a window, from rollups, incidents and changes.

- checks, failures (checks that observed a failure kind) and failure rate, from rollups at hour
  precision (the window starts at the top of the hour);
- failure kinds, from the rollups that hold failures only;
- status changes, from StatusEvent rows in the window;
- MTTR: mean duration of UNHEALTHY incidents that ended in the window;
- MTBF: time up in the window (window minus UNHEALTHY and MAINTENANCE time) per UNHEALTHY
  incident that started in it; null without one;
- slowest services: highest mean latency, top 5, with their p95;
- per-type breakdown; cost per job where the operator set one, and the cost per successful job
  (cost / uptime, assuming a job sent to a down server is sent again).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter

from tortoise.functions import Count

from config import Settings
from models import CheckRollup, Service, StatusEvent
from probes.result import HealthStatus, ServiceType
from resolvers import availability, incidents
from resolvers.rollups import HOUR, Tally

SLOWEST = 5


@dataclasses.dataclass(slots=True)
class ServiceFigures:
    service: Service
    tally: Tally
    uptime: float | None
    status_changes: int = 0
    incidents_started: int = 0
    incidents_ended: int = 0
    downtime_seconds: float = 0.0
    maintenance_seconds: float = 0.0
    repair_seconds: float = 0.0  # sum of durations of UNHEALTHY incidents that ended in the window
    failure_kinds: Counter[str] = dataclasses.field(default_factory=Counter)
    latency_p95_ms: float | None = None

    @property
    def failure_rate(self) -> float | None:
        return None if self.tally.checks == 0 else self.tally.failures / self.tally.checks

    @property
    def mttr_seconds(self) -> float | None:
        return None if self.incidents_ended == 0 else self.repair_seconds / self.incidents_ended

    def mtbf_seconds(self, window_seconds: float) -> float | None:
        if self.incidents_started == 0:
            return None
        return max(0.0, window_seconds - self.downtime_seconds - self.maintenance_seconds) / self.incidents_started

    @property
    def cost_per_successful_job(self) -> float | None:
        cost = self.service.cost_per_job
        if cost is None or not self.uptime:
            return None
        return cost / self.uptime


@dataclasses.dataclass(frozen=True, slots=True)
class TypeFigures:
    type: ServiceType
    services: int
    checks: int
    failures: int
    uptime: float | None


@dataclasses.dataclass(frozen=True, slots=True)
class AnalyticsView:
    window: str
    start: dt.datetime
    end: dt.datetime
    window_seconds: float
    platform: ServiceFigures  # service is None-like: the platform totals (service field unused)
    services: list[ServiceFigures]
    slowest: list[ServiceFigures]
    by_type: list[TypeFigures]


async def analytics(settings: Settings, window: str, now: dt.datetime | None = None) -> AnalyticsView:
    start, end = availability.window_bounds(window, now)
    policy = availability.UptimePolicy.from_settings(settings)
    services = await Service.all().order_by("id")
    tallies = await availability.fleet_counts(start, end, settings)
    figures = {
        s.id: ServiceFigures(s, tallies.get(s.id, Tally()), policy.uptime(tallies.get(s.id, Tally()).counts))
        for s in services
    }
    segments = availability.cover(start, end, end, settings, finest=HOUR)
    failing = CheckRollup.filter(availability.segments_filter(segments), failures__gt=0)
    for sid, kinds in await failing.values_list("service_id", "failure_kinds"):
        if sid in figures:
            figures[sid].failure_kinds.update({str(k): int(v) for k, v in (kinds or {}).items()})
    changes = (
        await StatusEvent.filter(changed_at__gte=start, changed_at__lt=end)
        .annotate(n=Count("id"))
        .group_by("service_id")
        .values_list("service_id", "n")
    )
    for sid, n in changes:
        if sid in figures:
            figures[sid].status_changes = int(n)
    for row in await incidents.overlapping(start, end):
        f = figures.get(row.service_id)  # type: ignore[attr-defined]
        if f is None:
            continue
        inside = incidents.seconds_within(row, start, end)
        if row.kind is HealthStatus.MAINTENANCE:
            f.maintenance_seconds += inside
            continue
        f.downtime_seconds += inside
        if row.started_at >= start:
            f.incidents_started += 1
        if row.ended_at is not None and start <= row.ended_at < end:
            f.incidents_ended += 1
            f.repair_seconds += (row.ended_at - row.started_at).total_seconds()
    platform_tally = Tally()
    platform = ServiceFigures(Service(name="platform"), platform_tally, None)
    for f in figures.values():
        platform_tally.merge(f.tally)
        platform.failure_kinds.update(f.failure_kinds)
        for name in ("status_changes", "incidents_started", "incidents_ended"):
            setattr(platform, name, getattr(platform, name) + getattr(f, name))
        for name in ("downtime_seconds", "maintenance_seconds", "repair_seconds"):
            setattr(platform, name, getattr(platform, name) + getattr(f, name))
    platform.uptime = policy.uptime(platform_tally.counts)
    ranked = sorted(
        (f for f in figures.values() if f.tally.latency_avg_ms is not None),
        key=lambda f: (-(f.tally.latency_avg_ms or 0.0), f.service.id),
    )[:SLOWEST]
    for f in ranked:
        exact = await availability.service_tally(f.service.id, start, end, settings, now=end)
        f.latency_p95_ms = exact.percentile_ms(0.95)
    by_type = []
    for service_type in ServiceType:
        members = [f for f in figures.values() if f.service.type is service_type]
        if not members:
            continue
        total = Tally()
        for f in members:
            total.merge(f.tally)
        by_type.append(
            TypeFigures(service_type, len(members), total.checks, total.failures, policy.uptime(total.counts))
        )
    return AnalyticsView(
        window=window,
        start=start,
        end=end,
        window_seconds=(end - start).total_seconds(),
        platform=platform,
        services=list(figures.values()),
        slowest=ranked,
        by_type=by_type,
    )

