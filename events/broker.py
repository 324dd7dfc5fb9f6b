"""The `Broker` seam and the `Subscription` every broker hands out.

A broker carries messages from publishers (the probe loop, the cache) to subscribers (GraphQL
subscriptions, cache invalidation). Its rules:

- **Publishing never waits on a subscriber.** Each subscription owns a bounded `asyncio.Queue`,
  and `publish` only puts into those queues.
- **Overflow drops the oldest message.** When a subscription's queue is full, the oldest queued
  message is discarded to make room: a dashboard that fell behind wants the newest state, not a
  backlog. Each discarded message adds 1 to that subscription's `dropped` and to the broker's
  `stats.dropped`.
- **A gap is visible where it happened.** After `anext(subscription)` returns a message,
  `subscription.gap` is the number of messages discarded immediately before it (0 when none was).
  A consumer that sees `gap > 0` knows it missed messages and can re-query, comparing `seq`.
- **Order is kept.** A subscription yields messages in the order the broker received them, so
  messages from one publisher arrive in the order it published them.
- **Closing ends iteration.** When the subscription's context exits or the broker closes,
  iteration stops at once (messages still queued are discarded, not counted as dropped), so server
  shutdown never waits on a dashboard. Subscribing to a closed broker yields a subscription that
  is already finished; publishing to one raises `BrokerClosed`.

Errors: `BrokerClosed` (a `RuntimeError`) is the only error a broker raises on its own;
`messages.MalformedMessage` is raised by the parsers, and brokers log and skip such input.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from typing import Final, Protocol, TypeAlias

from events.messages import MESSAGE_TYPES, Channel, Message

Topic: TypeAlias = Channel | type[Message]
"""What to subscribe to: a whole channel, or one message type."""


class BrokerClosed(RuntimeError):
    """Publishing after the broker closed: the owner shut it down before its last publisher."""


@dataclasses.dataclass(frozen=True, slots=True)
class BrokerStats:
    """Counters since the broker opened.

    `published`: messages published through this broker in this process.
    `delivered`: messages a subscriber actually received from its iterator.
    `dropped`: messages discarded by overflow, over every subscription, open or closed.
    `subscribers`: subscriptions open now.
    """

    published: int
    delivered: int
    dropped: int
    subscribers: int


@dataclasses.dataclass(slots=True)
class Tally:
    """The broker-wide counters its subscriptions update; `BrokerStats` is a snapshot of it."""

    published: int = 0
    delivered: int = 0
    dropped: int = 0


class Broker(Protocol):
    """Publish/subscribe for `events.messages`; opened and closed by the app lifespan."""

    @property
    def replica_id(self) -> str:
        """This process's id, unique per broker instance (the `origin` of `CacheInvalidated`)."""
        ...

    @property
    def stats(self) -> BrokerStats: ...

    @property
    def healthy(self) -> bool:
        """False while the broker cannot reach other replicas; local delivery still works."""
        ...

    @property
    def last_error(self) -> str | None:
        """The most recent transport error, kept after recovery for diagnosis; None if none yet."""
        ...

    async def publish(self, message: Message) -> None:
        """Hand `message` to every matching subscriber; never waits on a subscriber."""
        ...

    def subscribe(self, *topics: Topic, queue_size: int | None = None) -> AbstractAsyncContextManager[Subscription]:
        """Messages of the given channels or types, from now on, until the context exits.

        `queue_size` (default: the broker's) bounds how far the subscriber may fall behind.
        """
        ...


class _Closed:
    """The queue item that wakes a waiting consumer when its subscription closes."""


_CLOSED: Final = _Closed()


class Subscription:
    """An async iterator of the messages one subscriber asked for; see the module rules.

    Only a broker creates one; it calls `offer` for each matching message and `close` at the end.
    """

    def __init__(self, kinds: frozenset[type[Message]], queue_size: int, tally: Tally) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, got {queue_size}")
        self.kinds = kinds
        self._queue: asyncio.Queue[Message | _Closed] = asyncio.Queue(maxsize=queue_size)
        self._tally = tally
        self._dropped = 0
        self._gap_at_head = 0  # overflow only ever removes the head, so a gap always sits just before it
        self._gap = 0
        self._closed = False

    @property
    def dropped(self) -> int:
        """Messages this subscription lost to overflow since it opened."""
        return self._dropped

    @property
    def gap(self) -> int:
        """Messages lost immediately before the message most recently returned."""
        return self._gap

    @property
    def closed(self) -> bool:
        return self._closed

    def offer(self, message: Message) -> None:
        """Queue `message` without waiting, discarding the oldest queued message if full."""
        if self._closed:
            return
        if self._queue.full():
            self._queue.get_nowait()
            self._gap_at_head += 1
            self._dropped += 1
            self._tally.dropped += 1
        self._queue.put_nowait(message)

    def close(self) -> None:
        """End iteration now; a consumer waiting in `anext` gets `StopAsyncIteration`."""
        if self._closed:
            return
        self._closed = True
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(_CLOSED)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Message:
        if self._closed:
            raise StopAsyncIteration
        item = await self._queue.get()
        if isinstance(item, _Closed):
            raise StopAsyncIteration
        self._gap, self._gap_at_head = self._gap_at_head, 0
        self._tally.delivered += 1
        return item


def message_kinds(topics: Iterable[Topic]) -> frozenset[type[Message]]:
    """The message types a subscription to `topics` receives; rejects an empty or unknown topic."""
    kinds: set[type[Message]] = set()
    for topic in topics:
        if isinstance(topic, Channel):
            kinds.update(kind for kind in MESSAGE_TYPES if kind.channel is topic)
        elif topic in MESSAGE_TYPES:
            kinds.add(topic)
        else:
            raise TypeError(f"cannot subscribe to {topic!r}: expected a Channel or a message type")
    if not kinds:
        raise ValueError("subscribe to at least one channel or message type")
    return frozenset(kinds)
