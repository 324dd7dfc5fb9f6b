"""Dependency impact: a service whose required dependency is down is reported DEGRADED.

The published status of each service already went through hysteresis, so deriving the effective
status from published statuses adds no flapping of its own. Propagation is transitive through
required edges: if A requires B and B requires C, C being UNHEALTHY degrades both B and A, with
the reason naming C. Only a HEALTHY or DEGRADED service is degraded this way: an UNHEALTHY,
MAINTENANCE or UNKNOWN service keeps its own status. Optional dependencies never degrade.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from models import Service, ServiceDependency
from probes.result import HealthStatus


@dataclasses.dataclass(frozen=True, slots=True)
class Effective:
    status: HealthStatus
    reason: str | None = None
    down_dependency_ids: tuple[int, ...] = ()


async def required_graph() -> dict[int, list[int]]:
    edges: dict[int, list[int]] = {}
    rows = await ServiceDependency.filter(required=True).values_list("service_id", "depends_on_id")
    for source, target in rows:
        edges.setdefault(source, []).append(target)
    return edges


def _down_below(service_id: int, edges: dict[int, list[int]], statuses: dict[int, HealthStatus]) -> list[int]:
    """Required dependencies reachable from `service_id` that are UNHEALTHY, nearest first."""
    seen = {service_id}
    frontier = [service_id]
    down: list[int] = []
    while frontier:
        following = []
        for node in frontier:
            for nxt in edges.get(node, ()):
                if nxt in seen:
                    continue
                seen.add(nxt)
                following.append(nxt)
                if statuses.get(nxt) is HealthStatus.UNHEALTHY:
                    down.append(nxt)
        frontier = following
    return down


async def effective_statuses(services: Iterable[Service]) -> dict[int, Effective]:
    """Effective status of each given service, from every service's published status."""
    wanted = list(services)
    edges = await required_graph()
    if not edges:
        return {s.id: Effective(s.status) for s in wanted}
    statuses: dict[int, HealthStatus] = dict(await Service.all().values_list("id", "status"))
    names: dict[int, str] | None = None
    result = {}
    for service in wanted:
        if service.status not in (HealthStatus.HEALTHY, HealthStatus.DEGRADED):
            result[service.id] = Effective(service.status)
            continue
        down = _down_below(service.id, edges, statuses)
        if not down:
            result[service.id] = Effective(service.status)
            continue
        if names is None:
            names = dict(await Service.all().values_list("id", "name"))
        reason = "; ".join(f"dependency {names.get(d, d)} is down" for d in down)
        result[service.id] = Effective(HealthStatus.DEGRADED, reason, tuple(down))
    return result
