"""The read cache under faults: reads racing an invalidation, and the first reads after Redis returns.

Both were found by `tests/integration/test_faults.py` (a Redis blink under a read load).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from yarl import URL

from events import MemoryBroker
from resolvers.cache import CacheSettings, ReadCache, Region
from tests.fakes.tcp_proxy import Proxy
from tests.unit.resolvers.test_cache import KEY, Source, eventually


async def test_a_read_while_an_invalidation_deletes_entries_is_a_miss_not_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with ReadCache(CacheSettings()) as cache:
        source = Source()
        for key in ("a", "b", "c"):
            await cache.get_or_load(Region.DASHBOARD, key, source)
        deleting = asyncio.Event()
        real_delete = cache._l1.delete

        async def slow_delete(key: str, *args: Any, **kwargs: Any) -> Any:
            await deleting.wait()
            return await real_delete(key, *args, **kwargs)

        monkeypatch.setattr(cache._l1, "delete", slow_delete)
        invalidating = asyncio.create_task(cache.invalidate([Region.DASHBOARD], reason="test", announce=False))
        await eventually(lambda: not cache._l1_keys[Region.DASHBOARD])  # the index is cleared, entries remain
        assert await cache.get_or_load(Region.DASHBOARD, "b", source) == "value-4"  # recomputed, not stale
        deleting.set()
        await invalidating


async def test_after_redis_returns_connections_pooled_before_the_outage_do_not_take_l2_down_again(
    redis_url: str,
) -> None:
    target = URL(redis_url)
    proxy = Proxy(target.host or "127.0.0.1", target.port or 6379)
    await proxy.start()
    via_proxy = str(target.with_host("127.0.0.1").with_port(proxy.port))
    settings = CacheSettings(
        key_prefix=f"test-{uuid.uuid4().hex}:", l2_retry_seconds=0.1, check_coalesce_seconds=0.05, l1_ttl_seconds=60
    )
    try:
        async with (
            MemoryBroker() as broker,
            ReadCache(settings, broker=broker, redis_url=via_proxy, signing_key=KEY) as cache,
        ):
            source = Source()
            keys = [f"page-{n}" for n in range(4)]
            # Concurrent L2 reads leave several connections in redis-py's pool.
            await asyncio.gather(*(cache.get_or_load(Region.SERVICE_LISTS, key, source) for key in keys))
            await proxy.cut()
            await cache.invalidate(reason="a change while Redis is away", announce=False)
            await cache.get_or_load(Region.SERVICE_LISTS, keys[0], source)
            assert cache.degraded_reason is not None
            await proxy.start()
            await eventually(lambda: cache.degraded_reason is None)
            errors = cache.stats.l2_errors
            await asyncio.gather(*(cache.get_or_load(Region.SERVICE_LISTS, key, source) for key in keys))
            assert (cache.stats.l2_errors, cache.degraded_reason) == (errors, None)
    finally:
        await proxy.cut()
