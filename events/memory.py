"""`MemoryBroker`: publish/subscribe inside one process, the default when no Redis is configured.

It is also the local fan-out of `RedisBroker`, which feeds it messages from other replicas
through `deliver`. Fan-out is synchronous: `publish` puts the message into each matching
subscription's queue (see `events.broker` for the overflow rule) and returns without awaiting
anything, so no subscriber can delay the publisher or another subscriber.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Self

from events.broker import BrokerClosed, BrokerStats, Subscription, Tally, Topic, message_kinds
from events.messages import Message


class MemoryBroker:
    """In-process fan-out; leaving its context (or `aclose`) ends every subscription."""

    def __init__(self, *, queue_size: int = 256, replica_id: str | None = None) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, got {queue_size}")
        self._queue_size = queue_size
        self._replica_id = replica_id or uuid.uuid4().hex[:12]
        self._subscriptions: set[Subscription] = set()
        self._tally = Tally()
        self._closed = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @property
    def replica_id(self) -> str:
        return self._replica_id

    @property
    def stats(self) -> BrokerStats:
        return BrokerStats(
            published=self._tally.published,
            delivered=self._tally.delivered,
            dropped=self._tally.dropped,
            subscribers=len(self._subscriptions),
        )

    @property
    def healthy(self) -> bool:
        return not self._closed

    @property
    def last_error(self) -> str | None:
        return None

    @property
    def closed(self) -> bool:
        return self._closed

    async def publish(self, message: Message) -> None:
        if self._closed:
            raise BrokerClosed(f"broker closed; {type(message).__name__} seq={message.seq} not published")
        self._tally.published += 1
        self.deliver(message)

    def deliver(self, message: Message) -> None:
        """Fan `message` out to local subscribers without counting it as published here.

        `RedisBroker` calls this for messages that other replicas published.
        """
        kind = type(message)
        for subscription in self._subscriptions:
            if kind in subscription.kinds:
                subscription.offer(message)

    @contextlib.asynccontextmanager
    async def subscribe(self, *topics: Topic, queue_size: int | None = None) -> AsyncIterator[Subscription]:
        subscription = Subscription(
            message_kinds(topics), self._queue_size if queue_size is None else queue_size, self._tally
        )
        if self._closed:
            subscription.close()
            yield subscription
            return
        self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)
            subscription.close()

    async def aclose(self) -> None:
        """End every subscription's iteration; later publishes raise `BrokerClosed`. Idempotent."""
        self._closed = True
        for subscription in self._subscriptions:
            subscription.close()
        self._subscriptions.clear()
