"""The broker contract, run over every broker as Gatus runs one scenario table over every store."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from events import Broker, BrokerClosed, MemoryBroker, RedisBroker, RedisOptions, open_broker
from events.broker import Subscription
from events.messages import CacheInvalidated, Channel, CheckRecorded, Message, StatusChanged
from tests.unit.events import cache_invalidated, check_recorded, status_changed

AnyBroker = MemoryBroker | RedisBroker
FAST_REDIS = RedisOptions(reconnect_initial_s=0.05, reconnect_max_s=0.5, liveness_interval_s=1.0)


@pytest.fixture
async def memory_broker() -> AsyncIterator[MemoryBroker]:
    async with MemoryBroker(queue_size=64) as broker:
        yield broker


@pytest.fixture
async def redis_broker(redis_url: str) -> AsyncIterator[RedisBroker]:
    prefix = f"test-{uuid.uuid4().hex}:"
    async with RedisBroker(redis_url, channel_prefix=prefix, queue_size=64, options=FAST_REDIS) as broker:
        assert broker.healthy, broker.last_error
        yield broker


@pytest.fixture(params=["memory_broker", "redis_broker"])
def broker(request: pytest.FixtureRequest) -> AnyBroker:
    broker: AnyBroker = request.getfixturevalue(request.param)
    return broker


async def receive(subscription: Subscription, count: int, *, timeout_s: float = 2.0) -> list[Message]:
    received: list[Message] = []
    async with asyncio.timeout(timeout_s):
        while len(received) < count:
            received.append(await anext(subscription))
    return received


async def test_a_subscriber_receives_only_the_channels_and_types_it_asked_for(broker: AnyBroker) -> None:
    async with (
        broker.subscribe(Channel.STATUS) as statuses,
        broker.subscribe(CheckRecorded, CacheInvalidated) as others,
    ):
        await broker.publish(check_recorded(1))
        await broker.publish(status_changed(2))
        await broker.publish(cache_invalidated(3))

        assert await receive(statuses, 1) == [status_changed(2)]
        assert await receive(others, 2) == [check_recorded(1), cache_invalidated(3)]


async def test_messages_from_one_publisher_arrive_in_the_order_it_published_them(broker: AnyBroker) -> None:
    sent = [check_recorded(seq) for seq in range(50)]
    async with broker.subscribe(Channel.CHECKS) as checks:
        for message in sent:
            await broker.publish(message)

        assert await receive(checks, len(sent)) == sent


async def test_a_subscriber_that_never_reads_delays_neither_the_publisher_nor_another_subscriber(
    broker: AnyBroker,
) -> None:
    async with (
        broker.subscribe(Channel.CHECKS, queue_size=4) as stalled,
        broker.subscribe(Channel.CHECKS, queue_size=200) as reader,
    ):
        async with asyncio.timeout(1):
            for seq in range(1, 101):
                await broker.publish(check_recorded(seq))

        assert [message.seq for message in await receive(reader, 100)] == list(range(1, 101))
        assert reader.dropped == 0
        assert stalled.dropped == 96


async def test_overflow_drops_the_oldest_messages_and_marks_the_gap_before_the_next_one(
    broker: AnyBroker,
) -> None:
    async def next_seq_and_gap() -> tuple[int, int]:
        (message,) = await receive(checks, 1)
        return message.seq, checks.gap

    async with broker.subscribe(Channel.CHECKS, queue_size=3) as checks:
        for seq in range(1, 6):  # 4 and 5 push out 1 and 2
            await broker.publish(check_recorded(seq))
        assert await next_seq_and_gap() == (3, 2)
        assert await next_seq_and_gap() == (4, 0)

        for seq in range(6, 10):  # 5 is still queued: 8 and 9 push out 5 and 6
            await broker.publish(check_recorded(seq))
        assert await next_seq_and_gap() == (7, 2)
        assert await next_seq_and_gap() == (8, 0)
        assert await next_seq_and_gap() == (9, 0)

        assert checks.dropped == 4
        assert broker.stats.dropped == 4


async def test_stats_count_published_delivered_dropped_and_open_subscribers(broker: AnyBroker) -> None:
    async with broker.subscribe(Channel.STATUS, queue_size=1) as statuses:
        assert broker.stats.subscribers == 1
        await broker.publish(status_changed(1))
        await broker.publish(status_changed(2))
        await receive(statuses, 1)

    stats = broker.stats
    assert (stats.published, stats.delivered, stats.dropped, stats.subscribers) == (2, 1, 1, 0)


async def test_closing_the_broker_ends_every_subscription_even_mid_wait(broker: AnyBroker) -> None:
    async def drain(subscription: Subscription) -> list[Message]:
        return [message async for message in subscription]

    async with broker.subscribe(Channel.STATUS) as statuses, broker.subscribe(Channel.CHECKS) as checks:
        await broker.publish(status_changed(1))
        await receive(statuses, 1)
        waiting = [asyncio.create_task(drain(statuses)), asyncio.create_task(drain(checks))]
        await broker.publish(status_changed(2))  # queued, then discarded by the close

        async with asyncio.timeout(2):
            await broker.aclose()
            results = await asyncio.gather(*waiting)

    assert all(isinstance(result, list) for result in results)
    assert statuses.closed and checks.closed
    assert not broker.healthy


async def test_after_close_publishing_raises_and_subscribing_yields_a_finished_subscription(
    broker: AnyBroker,
) -> None:
    await broker.aclose()

    with pytest.raises(BrokerClosed):
        await broker.publish(check_recorded(1))
    async with broker.subscribe(Channel.CHECKS) as checks:
        assert [message async for message in checks] == []


async def test_leaving_a_subscription_stops_its_delivery(broker: AnyBroker) -> None:
    async with broker.subscribe(Channel.CHECKS) as checks:
        pass
    await broker.publish(check_recorded(1))

    assert checks.closed
    assert broker.stats.subscribers == 0
    assert broker.stats.delivered == 0


async def test_subscribing_needs_a_channel_or_message_type(broker: AnyBroker) -> None:
    with pytest.raises(ValueError, match="at least one"):
        async with broker.subscribe():
            pass
    with pytest.raises(TypeError, match="expected a Channel or a message type"):
        async with broker.subscribe("status"):  # type: ignore[arg-type]
            pass


async def test_an_open_broker_is_healthy_and_has_a_replica_id(broker: AnyBroker) -> None:
    assert broker.healthy
    assert broker.last_error is None
    assert broker.replica_id


async def test_open_broker_without_a_url_gives_a_memory_broker() -> None:
    async with open_broker(None, queue_size=8) as broker:
        assert isinstance(broker, MemoryBroker)
        async with broker.subscribe(StatusChanged) as statuses:
            await broker.publish(status_changed(1))
            assert await receive(statuses, 1) == [status_changed(1)]
    assert not broker.healthy


async def test_open_broker_with_a_url_gives_a_connected_redis_broker(redis_url: str) -> None:
    async with open_broker(redis_url, channel_prefix=f"test-{uuid.uuid4().hex}:", queue_size=8) as broker:
        assert isinstance(broker, RedisBroker)
        assert broker.healthy, broker.last_error
        async with broker.subscribe(StatusChanged) as statuses:
            await broker.publish(status_changed(1))
            assert await receive(statuses, 1) == [status_changed(1)]
    assert not broker.healthy


def test_both_brokers_satisfy_the_broker_protocol() -> None:
    brokers: list[Broker] = [MemoryBroker(), RedisBroker("redis://127.0.0.1:6379/15")]  # checked by mypy
    assert len({broker.replica_id for broker in brokers}) == 2
