"""Cache statistics: how well this replica's read-model cache is doing (docs/caching.md)."""

from __future__ import annotations

import strawberry

from resolvers.cache import CacheStats as CacheStatsValue
from resolvers.cache import Region, RegionStats


@strawberry.type(description="One cache region (a family of read models) on this replica, since it started")
class CacheRegionStats:
    name: str = strawberry.field(
        description="dashboard, service_lists, service_fields, trends, comparisons or analytics"
    )
    l1_hits: int = strawberry.field(description="Reads answered from this process's memory")
    l2_hits: int = strawberry.field(description="Reads answered from the shared cache in Redis")
    misses: int = strawberry.field(description="Reads that had to compute the value")
    hit_ratio: float | None = strawberry.field(description="(l1Hits + l2Hits) / reads; null before the first read")
    invalidations: int = strawberry.field(description="Times the region was invalidated here")
    discarded: int = strawberry.field(
        description="Values computed during an invalidation: returned to their reader but not stored"
    )
    entries: int = strawberry.field(description="Entries held in this process's memory now")

    @classmethod
    def from_value(cls, region: Region, value: RegionStats) -> CacheRegionStats:
        return cls(
            name=region.value,
            l1_hits=value.l1_hits,
            l2_hits=value.l2_hits,
            misses=value.misses,
            hit_ratio=value.hit_ratio,
            invalidations=value.invalidations,
            discarded=value.discarded,
            entries=value.entries,
        )


@strawberry.type(description="The read-model cache of the replica that answered")
class CacheStats:
    shared_enabled: bool = strawberry.field(description="A shared (L2) cache in Redis is configured")
    shared_healthy: bool = strawberry.field(description="The shared cache answers; false: memory and database only")
    shared_errors: int = strawberry.field(description="Shared-cache operations that failed since start")
    last_error: str | None = strawberry.field(description="The most recent shared-cache error, kept after recovery")
    regions: list[CacheRegionStats] = strawberry.field(description="Per region, in a fixed order")

    @classmethod
    def from_value(cls, value: CacheStatsValue) -> CacheStats:
        return cls(
            shared_enabled=value.l2_enabled,
            shared_healthy=value.l2_healthy,
            shared_errors=value.l2_errors,
            last_error=value.last_error,
            regions=[CacheRegionStats.from_value(region, stats) for region, stats in value.regions.items()],
        )
