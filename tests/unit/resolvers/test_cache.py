"""The read-model cache: L1 alone, L1 + L2 on a real Redis shared by two replicas, and Redis blinking."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from events import MemoryBroker, RedisBroker, RedisOptions
from events.messages import RegistryChanged, TokenRevoked
from resolvers.cache import CacheSettings, ReadCache, Region, SignedPickleSerializer
from tests.fakes.tcp_proxy import Proxy
from tests.unit.events import check_recorded, status_changed

FAST_REDIS = RedisOptions(reconnect_initial_s=0.05, reconnect_max_s=0.5, liveness_interval_s=1.0)
KEY = b"k" * 32


class Source:
    """A computation that counts its calls and returns a new value each time."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        return f"value-{self.calls}"


async def eventually(condition: Callable[[], bool], timeout_s: float = 3.0) -> None:
    """Poll: what is awaited happens in another task or another replica, with no event to wait on."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    for _ in itertools.count():
        if condition():
            return
        if loop.time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.01)


@pytest.fixture
async def memory_cache() -> AsyncIterator[ReadCache]:
    async with MemoryBroker() as broker, ReadCache(CacheSettings(check_coalesce_seconds=0.05), broker=broker) as cache:
        yield cache


async def test_a_value_is_computed_once_and_then_read_from_memory(memory_cache: ReadCache) -> None:
    source = Source()
    assert await memory_cache.get_or_load(Region.DASHBOARD, "platform", source) == "value-1"
    assert await memory_cache.get_or_load(Region.DASHBOARD, "platform", source) == "value-1"
    stats = memory_cache.stats.regions[Region.DASHBOARD]
    assert (source.calls, stats.misses, stats.l1_hits, stats.entries) == (1, 1, 1, 1)
    assert stats.hit_ratio == 0.5


async def test_concurrent_readers_of_a_missing_key_share_one_computation(memory_cache: ReadCache) -> None:
    release = asyncio.Event()
    calls = 0

    async def slow() -> int:
        nonlocal calls
        calls += 1
        await release.wait()
        return 42

    readers = [asyncio.create_task(memory_cache.get_or_load(Region.TRENDS, "1|LAST_24_HOURS", slow)) for _ in range(5)]
    await asyncio.sleep(0.01)
    release.set()
    assert await asyncio.gather(*readers) == [42] * 5
    assert calls == 1


async def test_a_failed_computation_is_not_cached_and_reaches_every_waiting_reader(memory_cache: ReadCache) -> None:
    async def broken() -> int:
        await asyncio.sleep(0.01)
        raise LookupError("no service with id 9")

    results = await asyncio.gather(
        *(memory_cache.get_or_load(Region.TRENDS, "9", broken) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, LookupError) for r in results)
    source = Source()
    assert await memory_cache.get_or_load(Region.TRENDS, "9", source) == "value-1"


async def test_invalidating_a_region_drops_only_that_region(memory_cache: ReadCache) -> None:
    dashboard, analytics = Source(), Source()
    await memory_cache.get_or_load(Region.DASHBOARD, "platform", dashboard)
    await memory_cache.get_or_load(Region.ANALYTICS, "LAST_24_HOURS", analytics)
    await memory_cache.invalidate([Region.DASHBOARD], reason="test")
    assert await memory_cache.get_or_load(Region.DASHBOARD, "platform", dashboard) == "value-2"
    assert await memory_cache.get_or_load(Region.ANALYTICS, "LAST_24_HOURS", analytics) == "value-1"
    assert memory_cache.stats.regions[Region.DASHBOARD].invalidations == 1
    assert memory_cache.stats.regions[Region.ANALYTICS].invalidations == 0


async def test_a_value_computed_across_an_invalidation_is_returned_but_not_kept(memory_cache: ReadCache) -> None:
    started, finish = asyncio.Event(), asyncio.Event()

    async def read_before_the_change() -> str:
        started.set()
        await finish.wait()
        return "stale"

    reader = asyncio.create_task(memory_cache.get_or_load(Region.DASHBOARD, "platform", read_before_the_change))
    await started.wait()
    await memory_cache.invalidate(reason="a mutation committed meanwhile")
    finish.set()
    assert await reader == "stale"
    assert await memory_cache.get_or_load(Region.DASHBOARD, "platform", Source()) == "value-1"
    assert memory_cache.stats.regions[Region.DASHBOARD].discarded == 1


async def test_a_status_change_on_the_broker_invalidates_at_once() -> None:
    async with MemoryBroker() as broker, ReadCache(CacheSettings(check_coalesce_seconds=3600), broker=broker) as cache:
        source = Source()
        await cache.get_or_load(Region.DASHBOARD, "platform", source)
        await broker.publish(status_changed(1, service_id=1))
        await eventually(lambda: cache.stats.regions[Region.DASHBOARD].invalidations == 1)
        assert await cache.get_or_load(Region.DASHBOARD, "platform", source) == "value-2"


async def test_checks_invalidate_once_per_coalescing_interval_and_then_warm() -> None:
    warmed = 0

    async def warm() -> None:
        nonlocal warmed
        warmed += 1

    async with MemoryBroker() as broker, ReadCache(CacheSettings(check_coalesce_seconds=0.2), broker=broker) as cache:
        cache.add_warmer(warm)
        for seq in range(50):
            await broker.publish(check_recorded(seq, service_id=seq % 5))
        await eventually(lambda: warmed == 1)
        await asyncio.sleep(0.5)  # nothing new arrived: no more invalidations, no more warming
        assert warmed == 1
        assert cache.stats.regions[Region.DASHBOARD].invalidations == 1


async def test_memory_is_bounded_per_region_oldest_first() -> None:
    async with ReadCache(CacheSettings(l1_max_entries=3)) as cache:
        for key in "abcd":
            await cache.get_or_load(Region.TRENDS, key, Source())
        assert cache.stats.regions[Region.TRENDS].entries == 3
        again = Source()
        assert await cache.get_or_load(Region.TRENDS, "a", again) == "value-1"  # evicted: computed again
        assert again.calls == 1


async def test_batch_reads_compute_only_the_missing_keys_in_one_call(memory_cache: ReadCache) -> None:
    batches: list[list[int]] = []

    async def load(keys: list[int]) -> list[str]:
        batches.append(keys)
        return [f"panels of {k}" for k in keys]

    first = await memory_cache.get_many_or_load(Region.SERVICE_FIELDS, [1, 2], str, load)
    second = await memory_cache.get_many_or_load(Region.SERVICE_FIELDS, [3, 2, 1], str, load)
    assert first == ["panels of 1", "panels of 2"]
    assert second == ["panels of 3", "panels of 2", "panels of 1"]
    assert batches == [[1, 2], [3]]


async def test_a_batch_load_that_returns_the_wrong_number_of_values_is_an_error(memory_cache: ReadCache) -> None:
    async def short(keys: list[int]) -> list[str]:
        return ["one"]

    with pytest.raises(ValueError, match="1 values for 2 keys"):
        await memory_cache.get_many_or_load(Region.SERVICE_FIELDS, [1, 2], str, short)


def test_a_signed_value_round_trips_and_a_forged_one_reads_as_missing(caplog: pytest.LogCaptureFixture) -> None:
    ours, theirs = SignedPickleSerializer(KEY), SignedPickleSerializer(b"x" * 32)
    assert ours.loads(ours.dumps({"a": (1, 2)})) == {"a": (1, 2)}
    with caplog.at_level(logging.WARNING):
        assert ours.loads(theirs.dumps("planted")) is None
        assert ours.loads(b"short") is None
    assert "signature" in caplog.text


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(ValueError):
        CacheSettings(l1_ttl_seconds=0)
    with pytest.raises(ValueError):
        CacheSettings(l1_max_entries=0)
    with pytest.raises(ValueError):
        ReadCache(CacheSettings(), redis_url="redis://127.0.0.1:6379/15")  # no signing key


# -- two replicas on one Redis -------------------------------------------------------------


@contextlib.asynccontextmanager
async def replica(redis_url: str, prefix: str, **overrides: float) -> AsyncIterator[tuple[RedisBroker, ReadCache]]:
    settings = CacheSettings(key_prefix=prefix, check_coalesce_seconds=0.05, **overrides)  # type: ignore[arg-type]
    async with (
        RedisBroker(redis_url, channel_prefix=prefix, options=FAST_REDIS) as broker,
        ReadCache(settings, broker=broker, redis_url=redis_url, signing_key=KEY) as cache,
    ):
        assert broker.healthy, broker.last_error
        yield broker, cache


@pytest.fixture
def prefix() -> str:
    return f"test-{uuid.uuid4().hex}:"


async def test_a_value_computed_on_one_replica_is_read_from_redis_by_the_other(redis_url: str, prefix: str) -> None:
    async with replica(redis_url, prefix) as (_, a), replica(redis_url, prefix) as (_, b):
        source = Source()
        assert await a.get_or_load(Region.DASHBOARD, "platform", source) == "value-1"
        assert await b.get_or_load(Region.DASHBOARD, "platform", source) == "value-1"
        assert source.calls == 1
        assert b.stats.regions[Region.DASHBOARD].l2_hits == 1
        batch = await b.get_many_or_load(Region.SERVICE_FIELDS, [1, 2], str, _panels)
        assert await a.get_many_or_load(Region.SERVICE_FIELDS, [2, 1], str, _fail) == [batch[1], batch[0]]


async def _panels(keys: list[int]) -> list[list[str]]:
    return [[f"panel-{k}"] for k in keys]


async def _fail(keys: list[int]) -> list[list[str]]:
    raise AssertionError(f"{keys} should have come from Redis")


async def test_an_invalidation_on_one_replica_reaches_the_memory_of_the_other(redis_url: str, prefix: str) -> None:
    async with replica(redis_url, prefix) as (_, a), replica(redis_url, prefix) as (_, b):
        source = Source()
        await a.get_or_load(Region.SERVICE_LISTS, "first", source)
        await b.get_or_load(Region.SERVICE_LISTS, "first", source)  # now in B's memory too
        await a.invalidate(reason="registry mutation on A")
        await eventually(lambda: b.stats.regions[Region.SERVICE_LISTS].invalidations == 1)
        assert await b.get_or_load(Region.SERVICE_LISTS, "first", source) == "value-2"
        assert await a.get_or_load(Region.SERVICE_LISTS, "first", source) == "value-2"  # from Redis, B's value
        assert source.calls == 2


async def test_an_entry_written_with_another_key_is_never_unpickled(redis_url: str, prefix: str) -> None:
    async with replica(redis_url, prefix) as (_, a):
        forged = ReadCache(CacheSettings(key_prefix=prefix), redis_url=redis_url, signing_key=b"f" * 32)
        async with forged:
            await forged.get_or_load(Region.DASHBOARD, "platform", Source())
        honest = Source()
        assert await a.get_or_load(Region.DASHBOARD, "platform", honest) == "value-1"
        assert honest.calls == 1


async def test_reads_go_on_while_redis_is_away_and_the_cache_recovers_when_it_returns(
    redis_url: str, prefix: str
) -> None:
    from yarl import URL

    target = URL(redis_url)
    proxy = Proxy(target.host or "127.0.0.1", target.port or 6379)
    await proxy.start()
    via_proxy = str(target.with_host("127.0.0.1").with_port(proxy.port))
    settings = CacheSettings(key_prefix=prefix, l2_retry_seconds=0.1, check_coalesce_seconds=0.05, l1_ttl_seconds=60)
    async with ReadCache(settings, redis_url=via_proxy, signing_key=KEY) as cache, MemoryBroker() as broker:
        cache._broker = broker
        cache._tasks.append(asyncio.create_task(cache._coalesce_checks()))
        source = Source()
        assert await cache.get_or_load(Region.DASHBOARD, "platform", source) == "value-1"
        assert cache.degraded_reason is None

        await proxy.cut()
        await cache.invalidate(reason="a change while Redis is away")
        assert await cache.get_or_load(Region.DASHBOARD, "platform", source) == "value-2"  # no error
        assert await cache.get_or_load(Region.DASHBOARD, "platform", source) == "value-2"  # from memory
        assert cache.degraded_reason is not None and "unreachable" in cache.degraded_reason
        assert cache.stats.l2_errors >= 1 and not cache.stats.l2_healthy

        await proxy.start()
        await eventually(lambda: cache.degraded_reason is None)
        # Back: everything local was dropped, since changes made meanwhile were never announced.
        assert await cache.get_or_load(Region.DASHBOARD, "platform", source) == "value-3"
        assert cache.stats.l2_healthy
    await proxy.cut()


async def test_a_registry_change_from_elsewhere_invalidates_and_a_reseed_counts_as_new_checks() -> None:
    async with MemoryBroker() as broker, ReadCache(CacheSettings(check_coalesce_seconds=3600), broker=broker) as cache:
        source = Source()
        await cache.get_or_load(Region.SERVICE_LISTS, "first", source)
        await broker.publish(RegistryChanged(seq=1, origin="cli-import", service_id=3, reseed=True))
        await broker.publish(RegistryChanged(seq=2, origin=broker.replica_id, service_id=3))  # applied already
        await broker.publish(status_changed(9, service_id=1))  # a marker: everything before it was handled
        await eventually(lambda: cache.stats.regions[Region.SERVICE_LISTS].invalidations == 1)
        assert cache._checks_dirty
        await broker.publish(RegistryChanged(seq=3, origin="cli-import", service_id=3))
        await eventually(lambda: cache.stats.regions[Region.SERVICE_LISTS].invalidations == 2)


async def test_a_revoked_token_does_not_invalidate_cached_data() -> None:
    async with MemoryBroker() as broker, ReadCache(CacheSettings(check_coalesce_seconds=3600), broker=broker) as cache:
        await cache.get_or_load(Region.DASHBOARD, "platform", Source())
        await broker.publish(TokenRevoked(seq=1, token_id=7))
        await broker.publish(status_changed(2, service_id=1))  # a marker: handled after the revocation
        await eventually(lambda: cache.stats.regions[Region.DASHBOARD].invalidations >= 1)
        await asyncio.sleep(0.05)
        assert cache.stats.regions[Region.DASHBOARD].invalidations == 1  # the status change only
