"""Publish/subscribe for probe results, status changes, cache invalidations and token revocations.

`open_broker` is the one entry point the app lifespan uses; everything else sees the `Broker`
protocol. Without a Redis URL, messages stay in this process (`MemoryBroker`); with one, they
reach every replica sharing that Redis (`RedisBroker`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from events.broker import Broker, BrokerClosed, BrokerStats, Subscription, Topic
from events.memory import MemoryBroker
from events.messages import (
    CacheInvalidated,
    Channel,
    CheckRecorded,
    MalformedMessage,
    Message,
    StatusChanged,
    TokenRevoked,
    decode,
    encode,
)
from events.redis import RedisBroker, RedisOptions, RedisStats

__all__ = [
    "Broker",
    "BrokerClosed",
    "BrokerStats",
    "CacheInvalidated",
    "Channel",
    "CheckRecorded",
    "MalformedMessage",
    "MemoryBroker",
    "Message",
    "RedisBroker",
    "RedisOptions",
    "RedisStats",
    "StatusChanged",
    "Subscription",
    "TokenRevoked",
    "Topic",
    "decode",
    "encode",
    "open_broker",
]


@contextlib.asynccontextmanager
async def open_broker(
    redis_url: str | None, *, channel_prefix: str = "vigil:", queue_size: int = 256
) -> AsyncIterator[Broker]:
    """The broker for this process, closed (ending every subscription) when the context exits.

    `redis_url` None or empty: a `MemoryBroker`. Otherwise a `RedisBroker` on channels
    `{channel_prefix}events:*`; it starts even if Redis is unreachable (local delivery works and
    `healthy` is False until it connects), but a malformed URL raises `ValueError` at once.
    `queue_size` is each subscription's default bound (see `events.broker` for overflow).
    """
    broker: MemoryBroker | RedisBroker
    if redis_url:
        broker = RedisBroker(redis_url, channel_prefix=channel_prefix, queue_size=queue_size)
    else:
        broker = MemoryBroker(queue_size=queue_size)
    async with broker:
        yield broker
