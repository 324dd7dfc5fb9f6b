"""Uptime and SLA over a window, read from rollups: the uptime policy lives here.

Policy (settings, defaults in brackets): a check counts by its published status. HEALTHY is up,
UNHEALTHY is down; DEGRADED [UP], MAINTENANCE [EXCLUDE] and UNKNOWN [EXCLUDE] each count as up,
as down or not at all (left out of the denominator). Uptime is a share of counted checks, null
when none counts.

A window [now - length, now) is covered by rollups, coarsest first: whole days, then whole
hours, then minutes at the edges. Where minutes are no longer retained, the edge is widened to
the enclosing hour. Fleet-wide reads (dashboard, analytics) stop at hours: their window starts
at the top of the hour. Raw checks are never read.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import operator
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

from tortoise.expressions import Q

from config import Settings
from models import CheckRollup, Incident
from probes.result import HealthStatus
from resolvers import incidents
from resolvers.rollups import DAY, HOUR, MINUTE, ROW_FIELDS, Tally, bucket_start

WINDOWS: dict[str, dt.timedelta] = {
    "LAST_HOUR": dt.timedelta(hours=1),
    "LAST_24_HOURS": dt.timedelta(hours=24),
    "LAST_7_DAYS": dt.timedelta(days=7),
    "LAST_30_DAYS": dt.timedelta(days=30),
}
Treatment = Literal["UP", "DOWN", "EXCLUDE"]
Segment = tuple[int, dt.datetime, dt.datetime]


@dataclasses.dataclass(frozen=True, slots=True)
class UptimePolicy:
    degraded: Treatment = "UP"
    maintenance: Treatment = "EXCLUDE"
    unknown: Treatment = "EXCLUDE"

    @classmethod
    def from_settings(cls, settings: Settings) -> UptimePolicy:
        return cls(settings.uptime_degraded, settings.uptime_maintenance, settings.uptime_unknown)

    def treatment(self, status: HealthStatus) -> Treatment:
        return {
            HealthStatus.HEALTHY: "UP",
            HealthStatus.UNHEALTHY: "DOWN",
            HealthStatus.DEGRADED: self.degraded,
            HealthStatus.MAINTENANCE: self.maintenance,
            HealthStatus.UNKNOWN: self.unknown,
        }[status]

    def up_and_counted(self, counts: Mapping[HealthStatus, int]) -> tuple[int, int]:
        up = counted = 0
        for status, n in counts.items():
            how = self.treatment(status)
            if how != "EXCLUDE":
                counted += n
                up += n if how == "UP" else 0
        return up, counted

    def uptime(self, counts: Mapping[HealthStatus, int]) -> float | None:
        up, counted = self.up_and_counted(counts)
        return None if counted == 0 else up / counted


def _floor(at: dt.datetime, resolution: int) -> dt.datetime:
    return bucket_start(at, resolution)


def _ceil(at: dt.datetime, resolution: int) -> dt.datetime:
    floor = bucket_start(at, resolution)
    return floor if floor == at else floor + dt.timedelta(seconds=resolution)


def cover(
    start: dt.datetime, end: dt.datetime, now: dt.datetime, settings: Settings, *, finest: int = MINUTE
) -> list[Segment]:
    """(resolution, first bucket start, end) segments whose buckets together cover [start, end)."""
    retained = {
        MINUTE: now - dt.timedelta(hours=settings.rollup_minute_retention_hours),
        HOUR: now - dt.timedelta(days=settings.rollup_hour_retention_days),
        DAY: now - dt.timedelta(days=settings.rollup_day_retention_days),
    }
    levels = [r for r in (DAY, HOUR, MINUTE) if r >= finest]

    def walk(a: dt.datetime, b: dt.datetime, depth: int) -> list[Segment]:
        if a >= b:
            return []
        resolution = levels[depth]
        if depth == len(levels) - 1:
            for coarser in (resolution, HOUR, DAY):
                if coarser >= resolution and (a >= retained[coarser] or coarser == DAY):
                    return [(coarser, _floor(a, coarser), b)]
        inner_a, inner_b = _ceil(a, resolution), _floor(b, resolution)
        if inner_a >= inner_b:
            return walk(a, b, depth + 1)
        return [*walk(a, inner_a, depth + 1), (resolution, inner_a, inner_b), *walk(inner_b, b, depth + 1)]

    return walk(start, end, 0)


def segments_filter(segments: Iterable[Segment]) -> Q:
    parts = [Q(resolution_s=r, bucket_start__gte=a, bucket_start__lt=b) for r, a, b in segments]
    return functools.reduce(operator.or_, parts) if parts else Q(id=-1)


def window_bounds(window: str, now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    end = now or dt.datetime.now(dt.UTC)
    return end - WINDOWS[window], end


async def service_tally(
    service_id: int, start: dt.datetime, end: dt.datetime, settings: Settings, now: dt.datetime | None = None
) -> Tally:
    """Everything about one service's checks in [start, end), merged from rollups."""
    segments = cover(start, end, now or end, settings)
    rows = await CheckRollup.filter(segments_filter(segments), service_id=service_id).values(*ROW_FIELDS)
    tally = Tally()
    for row in rows:
        tally.absorb(row)
    return tally


async def fleet_counts(
    start: dt.datetime,
    end: dt.datetime,
    settings: Settings,
    service_ids: list[int] | None = None,
    *,
    finest: int = HOUR,
) -> dict[int, Tally]:
    """Status counts and latency totals per service over [start, end), summed in SQL: one query.

    Hour precision by default, as fleet-wide figures are read; `finest=MINUTE` covers the window
    exactly as `service_tally` does. The returned tallies carry no histogram and no failure kinds
    (use `service_tally` for those).
    """
    from tortoise.functions import Max, Min, Sum

    segments = cover(start, end, end, settings, finest=finest)
    rows = CheckRollup.filter(segments_filter(segments))
    if service_ids is not None:
        rows = rows.filter(service_id__in=service_ids)
    sums = {name: Sum(name) for name in ("healthy", "degraded", "unhealthy", "maintenance", "unknown", "failures")}
    result = (
        await rows.annotate(
            s_latency_count=Sum("latency_count"),
            s_latency_sum_ms=Sum("latency_sum_ms"),
            s_latency_min_ms=Min("latency_min_ms"),
            s_latency_max_ms=Max("latency_max_ms"),
            **{f"s_{name}": value for name, value in sums.items()},
        )
        .group_by("service_id")
        .values(
            "service_id",
            *(f"s_{name}" for name in (*sums, "latency_count", "latency_sum_ms", "latency_min_ms", "latency_max_ms")),
        )
    )
    tallies = {}
    for row in result:
        values = {key.removeprefix("s_"): value for key, value in row.items()}
        values.update(latency_hist={}, failure_kinds={})
        tally = Tally.from_values(values)
        tally.failures_only = int(values.get("failures") or 0)
        tallies[int(row["service_id"])] = tally
    return tallies


async def fleet_status_total(
    start: dt.datetime, end: dt.datetime, settings: Settings, service_ids: list[int] | None = None
) -> Counter[HealthStatus]:
    """Checks per status over [start, end) at hour precision, all the services together: one row from SQL.

    For platform-wide figures: `fleet_counts` returns a row per service, which costs a thousand
    rows to transfer and convert where only the total is wanted.
    """
    from tortoise.functions import Sum

    rows = CheckRollup.filter(segments_filter(cover(start, end, end, settings, finest=HOUR)))
    if service_ids is not None:
        rows = rows.filter(service_id__in=service_ids)
    names = {status: f"s_{name}" for status, name in _STATUS_COLUMNS.items()}
    result = await rows.annotate(
        **{alias: Sum(name) for name, alias in zip(_STATUS_COLUMNS.values(), names.values(), strict=True)}
    ).values(*names.values())
    total: Counter[HealthStatus] = Counter()
    for row in result:
        for status, alias in names.items():
            if row[alias]:
                total[status] += int(row[alias])
    return total


_STATUS_COLUMNS = {
    HealthStatus.HEALTHY: "healthy",
    HealthStatus.DEGRADED: "degraded",
    HealthStatus.UNHEALTHY: "unhealthy",
    HealthStatus.MAINTENANCE: "maintenance",
    HealthStatus.UNKNOWN: "unknown",
}


async def uptimes(
    service_ids: Sequence[int], window: str, settings: Settings, now: dt.datetime | None = None
) -> dict[int, float | None]:
    """Uptime of each service over the window, to the minute: one query however many services."""
    start, end = window_bounds(window, now)
    tallies = await fleet_counts(start, end, settings, list(service_ids), finest=MINUTE)
    policy = UptimePolicy.from_settings(settings)
    return {sid: policy.uptime(tallies[sid].counts) if sid in tallies else None for sid in service_ids}


async def uptime(service_id: int, window: str, settings: Settings, now: dt.datetime | None = None) -> float | None:
    return (await uptimes([service_id], window, settings, now))[service_id]


@dataclasses.dataclass(frozen=True, slots=True)
class Sla:
    """An availability target over a window, and how the service did against it."""

    target: float
    window_seconds: float
    achieved: float | None
    downtime_seconds: float

    @property
    def is_met(self) -> bool | None:
        return None if self.achieved is None else self.achieved >= self.target

    @property
    def allowed_downtime_seconds(self) -> float:
        return (1 - self.target) * self.window_seconds

    @property
    def remaining_downtime_seconds(self) -> float:
        return self.allowed_downtime_seconds - self.downtime_seconds

    @property
    def error_budget_remaining(self) -> float | None:
        """Share of the error budget (1 - target) not yet used by the achieved availability; < 0 when blown."""
        if self.achieved is None:
            return None
        if self.target >= 1:
            return 1.0 if self.achieved >= 1 else float("-inf")
        return 1 - (1 - self.achieved) / (1 - self.target)


async def slas(
    targets: Sequence[tuple[int, float | None]],
    window: str,
    settings: Settings,
    now: dt.datetime | None = None,
    achieved: Mapping[int, float | None] | None = None,
) -> list[Sla]:
    """The SLA of each (service id, own target or None) pair, in order: two queries however many.

    `achieved` holds uptimes the caller already has (a None value in it counts as unknown and is
    computed again); the others are computed here.
    """
    start, end = window_bounds(window, now)
    service_ids = list(dict.fromkeys(sid for sid, _ in targets))
    known = {sid: value for sid, value in (achieved or {}).items() if value is not None}
    missing = [sid for sid in service_ids if sid not in known]
    if missing:
        known.update(await uptimes(missing, window, settings, now=end))
    down: dict[int, list[Incident]] = {}
    for row in await incidents.overlapping(start, end, service_ids, HealthStatus.UNHEALTHY):
        down.setdefault(row.service_id, []).append(row)  # type: ignore[attr-defined]
    return [
        Sla(
            target=target if target is not None else settings.sla_target,
            window_seconds=(end - start).total_seconds(),
            achieved=known[sid],
            downtime_seconds=sum(incidents.seconds_within(row, start, end) for row in down.get(sid, ())),
        )
        for sid, target in targets
    ]


async def sla(
    service_id: int,
    target: float | None,
    window: str,
    settings: Settings,
    now: dt.datetime | None = None,
    achieved: float | None = None,
) -> Sla:
    (value,) = await slas([(service_id, target)], window, settings, now, achieved={service_id: achieved})
    return value
