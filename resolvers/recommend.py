"""recommendServices: where to send a job for a panel, build and population, best first.

Candidates are active services with an active panel that matches: the panel's normalised
identity (compare.panel_identity) equals the asked one's, or its label contains the text; the
build matches; the population is among the panel's population keys. Excluded: services whose
effective status is UNHEALTHY, MAINTENANCE or DEGRADED through a required dependency that is
down, and services whose circuit is OPEN. A down server is skipped, so the next one that offers
the panel (the fallback) comes first.

Score, in [0, 1]: 0.6 x uptime over 7 days (unknown: 0.5) + 0.25 x latency score
(1 / (1 + p95 over 24 h / 1000 ms); unknown: 0.5) + 0.15 x queue score (1 / (1 + queue / 10)
from the last check that reported a public queue size; unknown: 0.5), minus 0.1 when the
service itself is DEGRADED.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from tortoise.expressions import Q

from config import Settings
from models import HealthCheck, ReferencePanel, Service
from probes.result import CircuitState, GenomeBuild, HealthStatus
from resolvers import availability, impact
from resolvers.compare import panel_identity
from resolvers.errors import BadUserInput

W_UPTIME, W_LATENCY, W_QUEUE, DEGRADED_PENALTY = 0.6, 0.25, 0.15, 0.1
MAX_RECOMMENDATIONS = 50


@dataclasses.dataclass(frozen=True, slots=True)
class Recommendation:
    service: Service
    panel: ReferencePanel
    score: float
    uptime_score: float
    latency_score: float
    queue_score: float
    penalty: float
    uptime_7d: float | None
    latency_p95_ms: float | None
    queue_size: int | None
    reason: str


def _matches(panel: ReferencePanel, wanted: str | None, population: str | None) -> bool:
    if wanted:
        text = wanted.strip().lower()
        if panel_identity(panel.key) != panel_identity(wanted) and text not in panel.label.lower():
            return False
    if population:
        keys = {str(i.get("key", "")).lower() for i in panel.populations or [] if isinstance(i, dict)}
        if population.strip().lower() not in keys:
            return False
    return True


async def recommend(
    settings: Settings,
    panel: str | None,
    build: GenomeBuild | None,
    population: str | None,
    first: int,
    now: dt.datetime | None = None,
) -> list[Recommendation]:
    if first < 1 or first > MAX_RECOMMENDATIONS:
        raise BadUserInput(f"'first' must be between 1 and {MAX_RECOMMENDATIONS}", field="first")
    if panel is not None and len(panel) > 300:
        raise BadUserInput("panel may be at most 300 characters", field="panel")
    now = now or dt.datetime.now(dt.UTC)
    panels = ReferencePanel.filter(is_active=True, service__is_active=True)
    if build is not None:
        panels = panels.filter(build=build)
    offered: dict[int, ReferencePanel] = {}
    for row in await panels.order_by("service_id", "key"):
        if _matches(row, panel, population):
            offered.setdefault(row.service_id, row)  # type: ignore[attr-defined]
    if not offered:
        return []
    services = await Service.filter(id__in=list(offered)).exclude(
        Q(status__in=[HealthStatus.UNHEALTHY, HealthStatus.MAINTENANCE]) | Q(circuit_state=CircuitState.OPEN)
    )
    effective = await impact.effective_statuses(services)
    services = [
        s
        for s in services
        if effective[s.id].status in (HealthStatus.HEALTHY, HealthStatus.DEGRADED, HealthStatus.UNKNOWN)
    ]
    services = [s for s in services if not effective[s.id].down_dependency_ids]
    policy = availability.UptimePolicy.from_settings(settings)
    week_start, week_end = availability.window_bounds("LAST_7_DAYS", now)
    week = await availability.fleet_counts(week_start, week_end, settings, [s.id for s in services])
    day_start, day_end = availability.window_bounds("LAST_24_HOURS", now)
    results = []
    for service in services:
        tally = week.get(service.id)
        uptime = None if tally is None else policy.uptime(tally.counts)
        p95 = (await availability.service_tally(service.id, day_start, day_end, settings, now=now)).percentile_ms(0.95)
        queue = (
            await HealthCheck.filter(service_id=service.id, queue_size__isnull=False)
            .order_by("-checked_at")
            .first()
            .values_list("queue_size", flat=True)
        )
        uptime_score = 0.5 if uptime is None else uptime
        latency_score = 0.5 if p95 is None else 1 / (1 + p95 / 1000)
        queue_score = 0.5 if queue is None else 1 / (1 + int(queue) / 10)  # type: ignore[call-overload]
        penalty = DEGRADED_PENALTY if service.status is HealthStatus.DEGRADED else 0.0
        score = W_UPTIME * uptime_score + W_LATENCY * latency_score + W_QUEUE * queue_score - penalty
        match = offered[service.id]
        parts = [f"offers {match.key}" + (f" ({match.build.value})" if match.build else "")]
        parts.append("7-day uptime unknown" if uptime is None else f"7-day uptime {uptime:.2%}")
        parts.append("p95 unknown" if p95 is None else f"p95 {p95:.0f} ms over 24 h")
        parts.append("queue not public" if queue is None else f"{queue} jobs queued")
        if penalty:
            parts.append("itself DEGRADED")
        results.append(
            Recommendation(
                service=service,
                panel=match,
                score=round(score, 6),
                uptime_score=uptime_score,
                latency_score=latency_score,
                queue_score=queue_score,
                penalty=penalty,
                uptime_7d=uptime,
                latency_p95_ms=p95,
                queue_size=queue,  # type: ignore[arg-type]
                reason="; ".join(parts),
            )
        )
    results.sort(key=lambda r: (-r.score, r.service.id))
    return results[:first]
