"""The cluster-wide usage counters: in memory, on a real Redis shared by two replicas, and with Redis away."""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from resolvers.cache import CacheSettings, ReadCache, Region
from resolvers.usage import (
    CACHE_MISSES,
    CACHE_READS,
    GRAPHQL_ERRORS,
    GRAPHQL_OPERATIONS,
    UsageCounters,
    is_server_failure,
)
from tests.fakes.tcp_proxy import Proxy

NAMES = (GRAPHQL_OPERATIONS, GRAPHQL_ERRORS)
T0 = 1_800_000_000.0  # a whole minute (30_000_000 minutes since the epoch)


class WallClock:
    """Epoch seconds that move only when a test says so."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def prefix() -> str:
    return f"vigil-test-{uuid.uuid4().hex[:8]}:"


@pytest.fixture
async def redis_client(redis_url: str, prefix: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


async def test_counts_reach_the_window_total_at_the_next_flush() -> None:
    clock = WallClock(T0 + 30)
    async with UsageCounters(wall_clock=clock, flush_seconds=3600) as usage:
        usage.count(GRAPHQL_OPERATIONS, 3)
        usage.count(GRAPHQL_ERRORS)
        assert await usage.window_total(NAMES, 300) == {GRAPHQL_OPERATIONS: 0, GRAPHQL_ERRORS: 0}
        await usage.flush()
        assert await usage.window_total(NAMES, 300) == {GRAPHQL_OPERATIONS: 3, GRAPHQL_ERRORS: 1}
        assert usage.healthy and usage.last_error is None


async def test_the_window_starts_at_the_minute_its_start_falls_in() -> None:
    clock = WallClock(T0)
    async with UsageCounters(wall_clock=clock, flush_seconds=3600) as usage:
        for minute in range(10):  # one operation in each minute T0 .. T0 + 9 min
            clock.now = T0 + minute * 60 + 10
            usage.count(GRAPHQL_OPERATIONS)
        await usage.flush()
        clock.now = T0 + 9 * 60 + 30
        # 300 s back from 9:30 is 4:30: minutes 4 to 9 are read.
        assert await usage.window_total([GRAPHQL_OPERATIONS], 300) == {GRAPHQL_OPERATIONS: 6}
        assert await usage.window_total([GRAPHQL_OPERATIONS], 60) == {GRAPHQL_OPERATIONS: 2}
        earlier = await usage.window_total([GRAPHQL_OPERATIONS], 60, now=T0 + 60)
        assert earlier == {GRAPHQL_OPERATIONS: 2}


async def test_buckets_older_than_they_live_are_forgotten_and_longer_windows_are_refused() -> None:
    clock = WallClock(T0)
    async with UsageCounters(wall_clock=clock, keep_seconds=600, flush_seconds=3600) as usage:
        usage.count(GRAPHQL_OPERATIONS, 5)
        await usage.flush()
        clock.now = T0 + 3600
        await usage.flush()
        assert await usage.window_total([GRAPHQL_OPERATIONS], 600, now=T0) == {GRAPHQL_OPERATIONS: 0}
        with pytest.raises(ValueError, match="longer than"):
            await usage.window_total([GRAPHQL_OPERATIONS], 601)


async def test_a_followed_total_is_counted_by_its_growth_and_a_reset_by_its_new_value() -> None:
    totals = {CACHE_READS: 40, CACHE_MISSES: 10}
    async with UsageCounters(wall_clock=WallClock(T0), flush_seconds=3600) as usage:
        usage.follow(lambda: dict(totals))
        await usage.flush()
        assert await usage.window_total([CACHE_READS], 60) == {CACHE_READS: 0}  # growth from when it was followed
        totals.update({CACHE_READS: 55, CACHE_MISSES: 12})
        await usage.flush()
        totals.update({CACHE_READS: 3, CACHE_MISSES: 3})  # the source restarted from zero
        await usage.flush()
        assert await usage.window_total([CACHE_READS, CACHE_MISSES], 60) == {CACHE_READS: 18, CACHE_MISSES: 5}


async def test_cache_reads_and_misses_are_sampled_from_a_real_read_cache() -> None:
    async def load() -> str:
        return "value"

    async with (
        ReadCache(CacheSettings()) as cache,
        UsageCounters(wall_clock=WallClock(T0), flush_seconds=3600) as usage,
    ):
        usage.follow_cache(cache)
        for key in ("a", "b", "c"):
            await cache.get_or_load(Region.DASHBOARD, key, load)
        await cache.get_or_load(Region.TRENDS, "a", load)
        await cache.get_or_load(Region.DASHBOARD, "a", load)  # an L1 hit
        await usage.flush()
        assert await usage.window_total([CACHE_READS, CACHE_MISSES], 60) == {CACHE_READS: 5, CACHE_MISSES: 4}


async def test_the_loop_flushes_on_its_own_and_once_more_when_the_context_exits() -> None:
    usage = UsageCounters(flush_seconds=3600)
    async with usage:
        usage.count(GRAPHQL_OPERATIONS, 2)
    assert await usage.window_total([GRAPHQL_OPERATIONS], 60) == {GRAPHQL_OPERATIONS: 2}


async def test_two_replicas_on_one_redis_add_into_the_same_minutes(
    redis_url: str, prefix: str, redis_client: aioredis.Redis
) -> None:
    clock = WallClock(T0 + 5)
    one = UsageCounters(redis_url=redis_url, key_prefix=prefix, keep_seconds=480, wall_clock=clock, flush_seconds=3600)
    two = UsageCounters(redis_url=redis_url, key_prefix=prefix, keep_seconds=480, wall_clock=clock, flush_seconds=3600)
    async with one, two:
        one.count(GRAPHQL_OPERATIONS, 15)
        one.count(GRAPHQL_ERRORS, 2)
        two.count(GRAPHQL_OPERATIONS, 5)
        two.count(GRAPHQL_ERRORS, 1)
        clock.now = T0 + 65  # the next minute
        two.count(GRAPHQL_OPERATIONS, 7)
        await one.flush()
        await two.flush()
        expected = {GRAPHQL_OPERATIONS: 27, GRAPHQL_ERRORS: 3}
        assert await one.window_total(NAMES, 300) == expected
        assert await two.window_total(NAMES, 300) == expected
        assert await one.window_total(NAMES, 0, now=T0 + 5) == {GRAPHQL_OPERATIONS: 20, GRAPHQL_ERRORS: 3}
        assert one.healthy and two.healthy
    minute = int(T0 // 60)
    key = f"{prefix}usage:{GRAPHQL_OPERATIONS}:{minute}"
    assert await redis_client.get(key) == b"20"
    assert 0 < await redis_client.ttl(key) <= 480


async def test_with_redis_down_counting_never_raises_and_totals_come_from_memory(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = WallClock(T0)
    usage = UsageCounters(redis_url=closed_port_url(), wall_clock=clock, flush_seconds=3600, retry_seconds=0)
    with caplog.at_level(logging.WARNING, logger="resolvers.usage"):
        async with usage:
            usage.count(GRAPHQL_OPERATIONS, 4)
            usage.count(GRAPHQL_ERRORS)
            await usage.flush()
            await usage.flush()
            assert not usage.healthy
            assert usage.last_error is not None and "ConnectionError" in usage.last_error
            assert await usage.window_total(NAMES, 300) == {GRAPHQL_OPERATIONS: 4, GRAPHQL_ERRORS: 1}
    warnings = [r for r in caplog.records if r.name == "resolvers.usage" and r.levelno == logging.WARNING]
    assert len(warnings) == 1  # logged once for the outage, not once per flush


async def test_counts_held_while_redis_was_away_are_written_when_it_returns(
    redis_url: str, prefix: str, redis_client: aioredis.Redis
) -> None:
    from yarl import URL

    target = URL(redis_url)
    proxy = Proxy(target.host or "127.0.0.1", target.port or 6379)
    await proxy.start()
    via_proxy = str(target.with_host("127.0.0.1").with_port(proxy.port))
    clock = WallClock(T0 + 5)
    usage = UsageCounters(redis_url=via_proxy, key_prefix=prefix, wall_clock=clock, flush_seconds=3600, retry_seconds=0)
    async with usage:
        usage.count(GRAPHQL_OPERATIONS, 2)
        await usage.flush()
        await proxy.cut()
        usage.count(GRAPHQL_OPERATIONS, 3)
        await usage.flush()
        assert not usage.healthy
        assert await usage.window_total([GRAPHQL_OPERATIONS], 60) == {GRAPHQL_OPERATIONS: 3}  # this replica's share
        await proxy.start()
        await usage.flush()
        assert usage.healthy
        assert await usage.window_total([GRAPHQL_OPERATIONS], 60) == {GRAPHQL_OPERATIONS: 5}
    await proxy.cut()
    assert await redis_client.get(f"{prefix}usage:{GRAPHQL_OPERATIONS}:{int(T0 // 60)}") == b"5"


def test_client_mistakes_are_not_server_failures() -> None:
    assert not is_server_failure([])
    assert not is_server_failure(["BAD_USER_INPUT", "NOT_FOUND", "UNAUTHENTICATED", "GRAPHQL_VALIDATION_FAILED"])
    assert is_server_failure(["NOT_FOUND", "INTERNAL_SERVER_ERROR"])
    assert is_server_failure(["UNKNOWN"])  # an error that carried no code
