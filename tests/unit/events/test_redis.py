"""What only `RedisBroker` does: several replicas on one Redis, and surviving Redis trouble."""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis

from events import Channel, RedisBroker, RedisOptions
from events.broker import Subscription
from events.messages import Message
from tests.unit.events import cache_invalidated, check_recorded, status_changed

FAST_REDIS = RedisOptions(reconnect_initial_s=0.05, reconnect_max_s=0.5, liveness_interval_s=1.0)


@pytest.fixture
def prefix() -> str:
    return f"test-{uuid.uuid4().hex}:"


@pytest.fixture
async def replica_a(redis_url: str, prefix: str) -> AsyncIterator[RedisBroker]:
    async with RedisBroker(redis_url, channel_prefix=prefix, options=FAST_REDIS) as broker:
        assert broker.healthy, broker.last_error
        yield broker


@pytest.fixture
async def replica_b(redis_url: str, prefix: str) -> AsyncIterator[RedisBroker]:
    async with RedisBroker(redis_url, channel_prefix=prefix, options=FAST_REDIS) as broker:
        assert broker.healthy, broker.last_error
        yield broker


@pytest.fixture
async def raw_redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url, protocol=2, socket_timeout=2, socket_connect_timeout=2)
    yield client
    await client.aclose()


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A URL whose port is bound but not listening, so every connection is refused at once."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield f"redis://127.0.0.1:{bound.getsockname()[1]}/0"


async def receive(subscription: Subscription, count: int, *, timeout_s: float = 3.0) -> list[Message]:
    received: list[Message] = []
    async with asyncio.timeout(timeout_s):
        while len(received) < count:
            received.append(await anext(subscription))
    return received


async def test_a_message_published_on_one_replica_reaches_subscribers_on_both_exactly_once(
    replica_a: RedisBroker, replica_b: RedisBroker
) -> None:
    async with (
        replica_a.subscribe(Channel.STATUS) as on_a,
        replica_a.subscribe(Channel.STATUS) as also_on_a,
        replica_b.subscribe(Channel.STATUS) as on_b,
    ):
        await replica_a.publish(status_changed(1))
        assert await receive(on_b, 1) == [status_changed(1)]
        # Redis sent A its own echo together with B's copy, so it reaches A before anything B
        # publishes from now on: had the echo been delivered, it would show up before this marker.
        await replica_b.publish(status_changed(2))

        assert await receive(on_a, 2) == [status_changed(1), status_changed(2)]
        assert await receive(also_on_a, 2) == [status_changed(1), status_changed(2)]
        assert await receive(on_b, 1) == [status_changed(2)]

    assert replica_a.redis_stats.echoes == 1
    assert replica_a.redis_stats.received == 1
    assert replica_b.redis_stats.received == 1


async def test_another_replica_receives_one_publishers_messages_in_order(
    replica_a: RedisBroker, replica_b: RedisBroker
) -> None:
    sent = [check_recorded(seq) for seq in range(200)]
    async with replica_b.subscribe(Channel.CHECKS) as on_b:
        for message in sent:
            await replica_a.publish(message)

        assert await receive(on_b, len(sent)) == sent


async def test_replicas_on_another_prefix_hear_nothing(
    redis_url: str, replica_a: RedisBroker, replica_b: RedisBroker
) -> None:
    async with (
        RedisBroker(redis_url, channel_prefix=f"other-{uuid.uuid4().hex}:", options=FAST_REDIS) as stranger,
        stranger.subscribe(Channel.INVALIDATION) as on_stranger,
        replica_b.subscribe(Channel.INVALIDATION) as on_b,
    ):
        await replica_a.publish(cache_invalidated(1, origin=replica_a.replica_id))
        await stranger.publish(cache_invalidated(2, origin=stranger.replica_id))

        assert await receive(on_b, 1) == [cache_invalidated(1, origin=replica_a.replica_id)]
        assert await receive(on_stranger, 1) == [cache_invalidated(2, origin=stranger.replica_id)]
    assert replica_b.channel_names[Channel.INVALIDATION].endswith(":events:invalidation")


async def test_a_malformed_payload_on_the_channel_is_logged_and_skipped(
    replica_a: RedisBroker,
    replica_b: RedisBroker,
    raw_redis: aioredis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    channel = replica_a.channel_names[Channel.STATUS]
    caplog.set_level(logging.WARNING, logger="events.redis")
    async with replica_a.subscribe(Channel.STATUS) as on_a:
        await raw_redis.publish(channel, b"\x00 not json")
        await raw_redis.publish(channel, '{"replica": "x", "message": {"v": 1, "type": "StatusChanged"}}')
        await replica_b.publish(status_changed(3))

        assert await receive(on_a, 1) == [status_changed(3)]

    assert replica_a.redis_stats.malformed == replica_b.redis_stats.malformed == 2
    assert replica_a.healthy and replica_b.healthy
    warnings = [record.getMessage() for record in caplog.records if "malformed" in record.getMessage()]
    assert len(warnings) == 4  # each replica logs each payload once
    assert sum("StatusChanged.seq is missing" in warning for warning in warnings) == 2


async def test_a_replica_reconnects_after_redis_drops_it_and_local_delivery_never_stops(
    replica_a: RedisBroker,
    replica_b: RedisBroker,
    raw_redis: aioredis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="events.redis")
    async with replica_a.subscribe(Channel.CHECKS) as on_a:
        killed = 0
        for client in await raw_redis.client_list():
            if client.get("name") == f"vigil-events-{replica_a.replica_id}":
                killed += await raw_redis.client_kill_filter(_id=client["id"])
        assert killed >= 1

        await replica_a.publish(check_recorded(1))
        assert await receive(on_a, 1) == [check_recorded(1)]

        async with asyncio.timeout(5):
            await replica_a.wait_connected(connects=2)
        await replica_b.publish(check_recorded(2))
        assert await receive(on_a, 1) == [check_recorded(2)]

    assert replica_a.redis_stats.disconnects == 1
    assert replica_a.healthy
    assert replica_a.last_error is not None
    assert any("subscription lost" in record.getMessage() for record in caplog.records)


async def test_a_replica_starts_without_redis_and_still_delivers_locally(refused_url: str) -> None:
    options = RedisOptions(startup_wait_s=0.2, reconnect_initial_s=0.05, reconnect_max_s=0.1)
    async with RedisBroker(refused_url, options=options) as broker:
        assert not broker.healthy
        assert broker.last_error is not None and "Error" in broker.last_error

        async with broker.subscribe(Channel.CHECKS) as checks:
            await broker.publish(check_recorded(1))
            assert await receive(checks, 1) == [check_recorded(1)]

        async with asyncio.timeout(1):
            await broker.aclose()  # must not wait for the unreachable Redis
    assert broker.redis_stats.forwarded == 0


async def test_closing_forwards_what_is_still_queued_while_redis_is_up(
    redis_url: str, prefix: str, replica_b: RedisBroker
) -> None:
    async with replica_b.subscribe(Channel.CHECKS) as on_b:
        async with RedisBroker(redis_url, channel_prefix=prefix, options=FAST_REDIS) as leaving:
            for seq in range(20):
                await leaving.publish(check_recorded(seq))

        assert leaving.redis_stats.forwarded == 20
        assert len(await receive(on_b, 20)) == 20


async def test_closing_mid_publish_never_hangs(redis_url: str, prefix: str) -> None:
    # Regression: with redis-py's socket_timeout set, Python 3.11 lost the cancellation of an
    # in-flight publish about a third of the time, and the writer task outlived `aclose`.
    # Yielding 0..9 times before closing lands the cancellation at each step of a publish.
    no_flush = RedisOptions(flush_timeout_s=0)
    for steps in [*range(10)] * 3:
        async with asyncio.timeout(2):
            async with RedisBroker(redis_url, channel_prefix=prefix, options=no_flush) as broker:
                await broker.publish(check_recorded(steps))
                for _ in range(steps):
                    await asyncio.sleep(0)  # not a wait: moves where the close lands
