"""The WebSocket registry: which connections a revoked token closes, in one process and across replicas."""

from __future__ import annotations

import asyncio
import gc
import uuid

from starlette.websockets import WebSocketState

from events import MemoryBroker, RedisBroker, RedisOptions, TokenRevoked
from resolvers.sessions import Sessions


class FakeConnection:
    """The parts of a starlette WebSocket the registry uses; `closed` is set by the first close."""

    def __init__(self, *, fails: bool = False) -> None:
        self.client_state = self.application_state = WebSocketState.CONNECTED
        self.fails = fails
        self.closes: list[tuple[int, str | None]] = []
        self.closed = asyncio.Event()

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        if self.fails:
            raise RuntimeError('Cannot call "send" once a close message has been sent.')
        self.closes.append((code, reason))
        self.application_state = WebSocketState.DISCONNECTED
        self.closed.set()


async def test_closing_a_token_closes_its_connections_with_4403_and_no_others() -> None:
    sessions = Sessions(MemoryBroker())
    first, second, other = FakeConnection(), FakeConnection(), FakeConnection()
    assert sessions.add(1, first) and sessions.add(1, second) and sessions.add(2, other)

    assert await sessions.close_token(1) == 2

    assert first.closes == second.closes == [(4403, "token revoked")]
    assert other.closes == []
    assert (sessions.count(1), sessions.count(2), sessions.count()) == (0, 1, 1)


async def test_disconnected_and_collected_connections_are_dropped_and_not_closed() -> None:
    sessions = Sessions(MemoryBroker())
    gone, collected = FakeConnection(), FakeConnection()
    sessions.add(1, gone)
    sessions.add(1, collected)
    gone.client_state = WebSocketState.DISCONNECTED
    del collected
    gc.collect()

    assert sessions.count() == 0
    sessions.add(2, FakeConnection())  # adding forgets finished connections, and empty tokens
    assert 1 not in sessions._by_token
    assert await sessions.close_token(1) == 0
    assert gone.closes == []


async def test_a_connection_that_fails_to_close_does_not_stop_the_others() -> None:
    sessions = Sessions(MemoryBroker())
    failing, healthy = FakeConnection(fails=True), FakeConnection()
    sessions.add(1, failing)
    sessions.add(1, healthy)

    assert await sessions.close_token(1) == 1
    assert healthy.closes == [(4403, "token revoked")]


async def test_a_token_already_revoked_here_cannot_register_a_connection() -> None:
    sessions = Sessions(MemoryBroker())
    await sessions.close_token(7)

    late = FakeConnection()
    assert sessions.add(7, late) is False
    assert sessions.count() == 0


async def test_the_listener_closes_connections_when_a_revocation_is_published() -> None:
    async with MemoryBroker() as broker, Sessions(broker) as sessions:
        revoked, kept = FakeConnection(), FakeConnection()
        sessions.add(3, revoked)
        sessions.add(4, kept)

        await broker.publish(TokenRevoked(seq=1, token_id=3))

        async with asyncio.timeout(2):
            await revoked.closed.wait()
        assert kept.closes == []


async def test_a_revocation_published_on_one_replica_closes_the_connections_of_another(redis_url: str) -> None:
    prefix = f"test-{uuid.uuid4().hex}:"
    options = RedisOptions(reconnect_initial_s=0.05, reconnect_max_s=0.5)
    async with (
        RedisBroker(redis_url, channel_prefix=prefix, options=options) as replica_a,
        RedisBroker(redis_url, channel_prefix=prefix, options=options) as replica_b,
        Sessions(replica_b) as sessions_b,
    ):
        assert replica_a.healthy and replica_b.healthy, (replica_a.last_error, replica_b.last_error)
        on_b, other_on_b = FakeConnection(), FakeConnection()
        sessions_b.add(5, on_b)
        sessions_b.add(6, other_on_b)

        await replica_a.publish(TokenRevoked(seq=1, token_id=5))

        async with asyncio.timeout(3):
            await on_b.closed.wait()
        assert on_b.closes == [(4403, "token revoked")]
        assert other_on_b.closes == []
