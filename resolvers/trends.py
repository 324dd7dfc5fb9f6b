"""trends(serviceId, window): a chart-sized series of buckets plus a summary of the window, from rollups.

Bucket plans (count x width, read from which rollups):
LAST_HOUR 60 x 1 min (minutes), LAST_24_HOURS 60 x 24 min (minutes), LAST_7_DAYS 56 x 3 h (hours),
LAST_30_DAYS 60 x 12 h (hours). Buckets are aligned to multiples of their width since the epoch,
and the last one holds `now`, so the series spans up to one bucket more than the window.
The summary covers the window itself, as `Service.uptime` does.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from config import Settings
from models import CheckRollup, Incident, Service
from probes.result import HealthStatus
from resolvers import availability, incidents
from resolvers.rollups import EPOCH, HOUR, MINUTE, ROW_FIELDS, Tally, bucket_start

PLANS: dict[str, tuple[int, int, int]] = {  # window -> (buckets, bucket width in s, rollup resolution)
    "LAST_HOUR": (60, 60, MINUTE),
    "LAST_24_HOURS": (60, 1440, MINUTE),
    "LAST_7_DAYS": (56, 10800, HOUR),
    "LAST_30_DAYS": (60, 43200, HOUR),
}


@dataclasses.dataclass(frozen=True, slots=True)
class Figures:
    """What a tally means under the uptime policy."""

    tally: Tally
    uptime: float | None

    @classmethod
    def of(cls, tally: Tally, policy: availability.UptimePolicy) -> Figures:
        return cls(tally=tally, uptime=policy.uptime(tally.counts))

    @property
    def checks(self) -> int:
        return self.tally.checks

    @property
    def failures(self) -> int:
        """Checks that observed a failure (any failure kind), whatever was published."""
        return sum(self.tally.failure_kinds.values())

    def count(self, status: HealthStatus) -> int:
        return self.tally.counts.get(status, 0)


@dataclasses.dataclass(frozen=True, slots=True)
class TrendPoint:
    start: dt.datetime
    end: dt.datetime
    figures: Figures


@dataclasses.dataclass(frozen=True, slots=True)
class Trends:
    service: Service
    window: str
    start: dt.datetime
    end: dt.datetime
    bucket_seconds: int
    points: list[TrendPoint]
    summary: Figures
    sla: availability.Sla
    incidents: list[Incident]


def plan(window: str, now: dt.datetime) -> tuple[list[dt.datetime], int, int]:
    count, width, resolution = PLANS[window]
    last = EPOCH + dt.timedelta(seconds=int((now - EPOCH).total_seconds() // width) * width)
    starts = [last - dt.timedelta(seconds=width * (count - 1 - i)) for i in range(count)]
    return starts, width, resolution


async def trends(service: Service, window: str, settings: Settings, now: dt.datetime | None = None) -> Trends:
    now = now or dt.datetime.now(dt.UTC)
    policy = availability.UptimePolicy.from_settings(settings)
    starts, width, resolution = plan(window, now)
    series_end = starts[-1] + dt.timedelta(seconds=width)
    rows = await CheckRollup.filter(
        service_id=service.id,
        resolution_s=resolution,
        bucket_start__gte=bucket_start(starts[0], resolution),
        bucket_start__lt=series_end,
    ).values("bucket_start", *ROW_FIELDS)
    tallies = [Tally() for _ in starts]
    for row in rows:
        index = int((row["bucket_start"] - starts[0]).total_seconds() // width)
        if 0 <= index < len(tallies):
            tallies[index].absorb(row)
    points = [
        TrendPoint(start=s, end=s + dt.timedelta(seconds=width), figures=Figures.of(t, policy))
        for s, t in zip(starts, tallies, strict=True)
    ]
    start, end = availability.window_bounds(window, now)
    summary = Figures.of(await availability.service_tally(service.id, start, end, settings, now=now), policy)
    sla = await availability.sla(service.id, service.sla_target, window, settings, now=now, achieved=summary.uptime)
    return Trends(
        service=service,
        window=window,
        start=start,
        end=end,
        bucket_seconds=width,
        points=points,
        summary=summary,
        sla=sla,
        incidents=await incidents.overlapping(start, end, [service.id]),
    )
