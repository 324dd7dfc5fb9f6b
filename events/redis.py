"""`RedisBroker`: the same fan-out as `MemoryBroker`, shared between replicas over Redis pub/sub.

Design choices, and why:

- **Local first, Redis for the others.** `publish` hands the message to local subscribers at once
  (through a `MemoryBroker`) and queues it for Redis. Each payload carries this broker's
  `replica_id`; the reader skips payloads with its own id, so every local subscriber gets each
  message exactly once. Local delivery therefore keeps working while Redis is down.
- **One writer, one reader per process.** A writer task forwards the outbox to Redis in order
  (so other replicas see one publisher's messages in its order), and retries the message in hand
  with backoff while Redis is unreachable. The outbox is bounded: when full, the oldest message
  is dropped and counted (`RedisStats.outbox_dropped`). A reader task holds the process's single
  Redis subscription (all channels) and feeds the local fan-out.
- **Reconnect with backoff.** A lost or silent connection (no answer to a PING after
  `liveness_interval_s` of quiet) is logged, counted (`disconnects`) and re-established with
  exponential backoff; `healthy` is False meanwhile. Messages published by other replicas while
  disconnected are lost (Redis pub/sub keeps nothing): subscribers that care re-query.
- **Malformed payloads** are logged, counted (`malformed`) and skipped.
- **RESP2, explicit timeouts, no hidden retries.** `protocol=2` because pub/sub needs nothing from
  RESP3 and RESP2 replies have one shape across servers and proxies; redis-py's own retries are
  off so that every failure reaches this module's backoff, logging and counters.
- **`socket_timeout=None`, with every call under our own `asyncio.timeout`.** With a socket
  timeout set, redis-py 8.1 sends through `asyncio.wait_for`, which on Python 3.11 swallows a
  cancellation that lands as the send completes (fixed in 3.12): measured here, 751 of 2000
  cancelled `publish` calls returned normally. The background tasks would then outlive `aclose`.
  The loops also stop on a flag, in case a cancellation is lost elsewhere.

Channels are named `{channel_prefix}events:{channel}`, for example `vigil:events:status`.
The payload is `{"replica": "<id>", "message": <the message's wire object>}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import random
import uuid
from collections.abc import Mapping
from typing import Any, Self

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from events.broker import BrokerClosed, BrokerStats, Subscription, Topic
from events.memory import MemoryBroker
from events.messages import Channel, MalformedMessage, Message, from_wire, parse_json, to_wire

log = logging.getLogger(__name__)

_TRANSPORT_ERRORS = (RedisError, OSError)  # OSError covers the builtin TimeoutError


@dataclasses.dataclass(frozen=True, slots=True)
class RedisOptions:
    """Timings of the Redis link, in seconds; the defaults suit a Redis on the same network."""

    connect_timeout_s: float = 2.0
    command_timeout_s: float = 2.0
    liveness_interval_s: float = 5.0
    reconnect_initial_s: float = 0.2
    reconnect_max_s: float = 10.0
    startup_wait_s: float = 2.0
    flush_timeout_s: float = 1.0
    outbox_size: int = 1024


@dataclasses.dataclass(frozen=True, slots=True)
class RedisStats:
    """Counters of the Redis link since the broker opened.

    `connects`/`disconnects`: subscriptions established and lost. `received`: messages from other
    replicas handed to local subscribers. `echoes`: this replica's own messages coming back,
    skipped. `malformed`: payloads skipped as unreadable. `forwarded`: messages written to Redis.
    `publish_errors`: failed writes (each retried). `outbox_dropped`: messages never forwarded
    because the outbox overflowed while Redis was unreachable.
    """

    connects: int = 0
    disconnects: int = 0
    received: int = 0
    echoes: int = 0
    malformed: int = 0
    forwarded: int = 0
    publish_errors: int = 0
    outbox_dropped: int = 0


class RedisBroker:
    """Cross-replica broker; its context owns the Redis client and both background tasks."""

    def __init__(
        self,
        url: str,
        *,
        channel_prefix: str = "vigil:",
        queue_size: int = 256,
        replica_id: str | None = None,
        options: RedisOptions | None = None,
    ) -> None:
        self._url = url
        self._options = options or RedisOptions()
        self._local = MemoryBroker(queue_size=queue_size, replica_id=replica_id or uuid.uuid4().hex[:12])
        self._channels = {channel: f"{channel_prefix}events:{channel.value}" for channel in Channel}
        self._stats = RedisStats()
        self._outbox: asyncio.Queue[Message] = asyncio.Queue(maxsize=self._options.outbox_size)
        self._client: aioredis.Redis | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribed = False
        self._stopping = False
        self._writer_failing = False
        self._last_error: str | None = None
        self._state = asyncio.Condition()

    async def __aenter__(self) -> Self:
        options = self._options
        self._client = aioredis.Redis.from_url(
            self._url,
            protocol=2,
            socket_connect_timeout=options.connect_timeout_s,
            socket_timeout=None,  # see the module docstring; each call has an asyncio.timeout
            socket_keepalive=True,
            retry=Retry(NoBackoff(), 0),
            client_name=f"vigil-events-{self.replica_id}",
        )
        self._tasks = [
            asyncio.create_task(self._read(self._client), name=f"events-redis-reader-{self.replica_id}"),
            asyncio.create_task(self._write(self._client), name=f"events-redis-writer-{self.replica_id}"),
        ]
        try:
            async with asyncio.timeout(options.startup_wait_s):
                await self.wait_connected()
        except TimeoutError:
            log.warning(
                "events: Redis not subscribed after %.1f s (%s); delivering locally until it is",
                options.startup_wait_s,
                self._last_error or "no error yet",
            )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @property
    def replica_id(self) -> str:
        return self._local.replica_id

    @property
    def channel_names(self) -> Mapping[Channel, str]:
        """The Redis channel of each `Channel`."""
        return dict(self._channels)

    @property
    def stats(self) -> BrokerStats:
        return self._local.stats

    @property
    def redis_stats(self) -> RedisStats:
        return self._stats

    @property
    def healthy(self) -> bool:
        return self._link_works() and not self._local.closed

    @property
    def last_error(self) -> str | None:
        return self._last_error

    async def publish(self, message: Message) -> None:
        """Queue for the other replicas, then deliver locally; never waits on Redis.

        The outbox comes first so that the writer task is woken before this replica's own
        subscribers: otherwise the other replicas would start their fan-out only after ours.
        """
        if self._local.closed:
            raise BrokerClosed(f"broker closed; {type(message).__name__} seq={message.seq} not published")
        if self._outbox.full():
            self._outbox.get_nowait()
            self._outbox.task_done()
            self._count(outbox_dropped=1)
            dropped = self._stats.outbox_dropped
            if dropped == 1 or dropped % 1000 == 0:  # a long outage must not flood the log
                log.warning("events: Redis outbox full; %d messages dropped so far", dropped)
        self._outbox.put_nowait(message)
        await self._local.publish(message)

    def subscribe(
        self, *topics: Topic, queue_size: int | None = None
    ) -> contextlib.AbstractAsyncContextManager[Subscription]:
        return self._local.subscribe(*topics, queue_size=queue_size)

    async def wait_connected(self, connects: int = 1) -> None:
        """Wait until the Redis subscription is live and was established at least `connects` times.

        Raises `BrokerClosed` if the broker closes first. Callers bound the wait with a timeout.
        """
        async with self._state:
            await self._state.wait_for(
                lambda: self._local.closed or (self._subscribed and self._stats.connects >= connects)
            )
        if self._local.closed:
            raise BrokerClosed("broker closed while waiting for Redis")

    async def aclose(self) -> None:
        """End subscriptions, try briefly to forward what is queued, then stop tasks and the client."""
        if self._local.closed:
            return
        await self._local.aclose()  # first: shutdown never waits on a dashboard
        async with self._state:
            self._state.notify_all()
        await self._flush()
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        outcomes = await asyncio.gather(*self._tasks, return_exceptions=True)
        for task, outcome in zip(self._tasks, outcomes, strict=True):
            if isinstance(outcome, Exception):
                log.error("events: %s failed while closing", task.get_name(), exc_info=outcome)
        self._tasks = []
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _flush(self) -> None:
        """Give the writer a moment to forward what is queued, unless Redis is known to be down."""
        if self._outbox.empty():
            return
        if self._client is not None and self._link_works():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._options.flush_timeout_s):
                    await self._outbox.join()
        if not self._outbox.empty():
            log.warning("events: closing with %d messages not forwarded to Redis", self._outbox.qsize())

    def _link_works(self) -> bool:
        return self._subscribed and not self._writer_failing

    def _count(self, **increments: int) -> None:
        counts = {name: getattr(self._stats, name) + step for name, step in increments.items()}
        self._stats = dataclasses.replace(self._stats, **counts)

    def _record_error(self, what: str, exc: BaseException) -> None:
        self._last_error = f"{what}: {type(exc).__name__}: {exc}"

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter, so replicas do not reconnect in lockstep."""
        ceiling = min(self._options.reconnect_max_s, self._options.reconnect_initial_s * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)

    async def _read(self, client: aioredis.Redis) -> None:
        attempt = 0
        while not self._stopping:
            try:
                async with client.pubsub() as pubsub:
                    await self._subscribe(pubsub)
                    attempt = 0
                    await self._listen(pubsub)
            except _TRANSPORT_ERRORS as exc:
                self._record_error("subscription", exc)
                log.warning("events: Redis subscription lost (%s); reconnecting", self._last_error)
            except Exception as exc:
                # A bug here must not end cross-replica delivery for the life of the process.
                self._record_error("reader", exc)
                log.exception("events: Redis reader failed; restarting it")
            if self._subscribed:
                self._subscribed = False
                self._count(disconnects=1)
            await asyncio.sleep(self._backoff(attempt))
            attempt += 1

    async def _subscribe(self, pubsub: PubSub) -> None:
        """Subscribe to every channel and wait for Redis to confirm each one.

        Waiting for the confirmations means a message published after `wait_connected` returns
        is certain to reach this replica.
        """
        names = set(self._channels.values())
        async with asyncio.timeout(self._options.command_timeout_s):
            await pubsub.subscribe(*names)
            while names:
                reply = await pubsub.get_message(timeout=self._options.command_timeout_s)
                if reply is None:
                    continue
                if reply["type"] == "subscribe":
                    names.discard(_text(reply["channel"]))
                elif reply["type"] == "message":  # a channel confirmed earlier is already live
                    self._receive(_text(reply["channel"]), reply["data"])
        async with self._state:
            self._subscribed = True
            self._count(connects=1)
            self._state.notify_all()
        if self._stats.connects > 1:
            log.info("events: Redis subscription re-established (connect #%d)", self._stats.connects)

    async def _listen(self, pubsub: PubSub) -> None:
        """Feed the local fan-out until the connection fails or stays silent through a PING."""
        interval = self._options.liveness_interval_s
        awaiting_pong = False
        while not self._stopping:
            reply = await pubsub.get_message(timeout=interval)
            if reply is not None:
                awaiting_pong = False
                if reply["type"] == "message":
                    self._receive(_text(reply["channel"]), reply["data"])
                continue
            if awaiting_pong:
                raise TimeoutError(f"no reply from Redis within {interval:.1f} s of a PING")
            async with asyncio.timeout(self._options.command_timeout_s):
                await pubsub.ping()
            awaiting_pong = True

    def _receive(self, channel: str, data: bytes) -> None:
        try:
            replica, message = _unwrap(data)
        except MalformedMessage as exc:
            self._count(malformed=1)
            log.warning("events: skipping malformed payload on %s: %s", channel, exc)
            return
        if replica == self.replica_id:
            self._count(echoes=1)
            return
        self._count(received=1)
        self._local.deliver(message)

    async def _write(self, client: aioredis.Redis) -> None:
        while not self._stopping:
            message = await self._outbox.get()
            channel, payload = self._channels[message.channel], _wrap(self.replica_id, message)
            attempt = 0
            while not await self._forward(client, channel, payload):
                await asyncio.sleep(self._backoff(attempt))
                attempt += 1
                if self._stopping:
                    return
            self._count(forwarded=1)
            self._outbox.task_done()

    async def _forward(self, client: aioredis.Redis, channel: str, payload: str) -> bool:
        """Publish one payload; False (logged once per outage, always counted) when Redis fails."""
        try:
            async with asyncio.timeout(self._options.command_timeout_s):
                await client.publish(channel, payload)
        except _TRANSPORT_ERRORS as exc:
            self._count(publish_errors=1)
            self._record_error("publish", exc)
            if not self._writer_failing:
                log.warning("events: publishing to Redis failed (%s); retrying", self._last_error)
            self._writer_failing = True
            return False
        if self._writer_failing:
            log.info("events: publishing to Redis works again")
            self._writer_failing = False
        return True


def _wrap(replica_id: str, message: Message) -> str:
    return json.dumps({"replica": replica_id, "message": to_wire(message)}, allow_nan=False)


def _unwrap(data: bytes | str) -> tuple[str, Message]:
    envelope: Any = parse_json(data)
    if not isinstance(envelope, dict) or not isinstance(envelope.get("replica"), str):
        raise MalformedMessage("expected an object with a string 'replica' and a 'message'")
    return envelope["replica"], from_wire(envelope.get("message"))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
