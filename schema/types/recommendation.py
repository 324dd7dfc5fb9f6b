"""recommendServices: a ranked service for a job, with the parts of its score and the reason."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry

from resolvers.recommend import Recommendation
from schema.types.panel import ReferencePanel

if TYPE_CHECKING:
    from schema.types.service import Service

ServiceRef = Annotated["Service", strawberry.lazy("schema.types.service")]


@strawberry.type(description="A service that can take the job, best first (scoring in docs/analytics.md)")
class ServiceRecommendation:
    service: ServiceRef = strawberry.field(description="The recommended service")
    panel: ReferencePanel = strawberry.field(description="The matching panel on it; submit its key verbatim")
    score: float = strawberry.field(description="0.6 x uptimeScore + 0.25 x latencyScore + 0.15 x queueScore - penalty")
    uptime_score: float = strawberry.field(description="Uptime over 7 days (0.5 when unknown)")
    latency_score: float = strawberry.field(description="1 / (1 + p95 / 1000 ms) over 24 hours (0.5 when unknown)")
    queue_score: float = strawberry.field(description="1 / (1 + queued jobs / 10) (0.5 when the queue is not public)")
    penalty: float = strawberry.field(description="0.1 when the service itself is DEGRADED, else 0")
    uptime_7d: float | None = strawberry.field(description="Uptime over 7 days")
    latency_p95_ms: float | None = strawberry.field(description="95th percentile response time over 24 hours")
    queue_size: int | None = strawberry.field(description="Jobs waiting, from the last check that reported it")
    reason: str = strawberry.field(description="Why it is recommended, in words")

    @classmethod
    def from_value(cls, value: Recommendation) -> ServiceRecommendation:
        from schema.types.service import Service

        return cls(
            service=Service.from_row(value.service),
            panel=ReferencePanel.from_row(value.panel),
            score=value.score,
            uptime_score=value.uptime_score,
            latency_score=value.latency_score,
            queue_score=value.queue_score,
            penalty=value.penalty,
            uptime_7d=value.uptime_7d,
            latency_p95_ms=value.latency_p95_ms,
            queue_size=value.queue_size,
            reason=value.reason,
        )
