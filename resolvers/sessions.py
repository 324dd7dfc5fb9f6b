"""Open WebSocket connections by the API token that authenticated them, closed when it is revoked.

A WebSocket authenticates once, at `connection_init`, and keeps that principal for as long as it
stays open, so a revocation has to reach it: `revoke_token` publishes `TokenRevoked`, and on every
replica the listener of `Sessions` closes that token's connections (close code 4403, reason
"token revoked").

Connections are held weakly and a disconnected one is skipped and forgotten, so the registry
needs no disconnect hook and never keeps a finished connection alive. A revocation lost by the
broker (Redis unreachable at that moment) is not replayed: such connections stay open until they
reconnect, when authentication refuses the token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from typing import Protocol, Self

from starlette.websockets import WebSocketState

from events.broker import Broker
from events.messages import TokenRevoked

log = logging.getLogger(__name__)

CLOSE_CODE = 4403
CLOSE_REASON = "token revoked"
CLOSE_TIMEOUT_S = 2.0


class Connection(Protocol):
    """What the registry needs of a starlette `WebSocket`."""

    client_state: WebSocketState
    application_state: WebSocketState

    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


def is_open(connection: Connection) -> bool:
    return WebSocketState.DISCONNECTED not in (connection.client_state, connection.application_state)


class Sessions:
    """The registry and its revocation listener; its context owns the listener task.

    Enter it after the broker and leave it before: the listener ends when the broker closes.
    """

    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self._by_token: dict[int, weakref.WeakSet[Connection]] = {}
        # Ids are never reused, so a token revoked once stays refused: see `add`.
        self._revoked: set[int] = set()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        ready = asyncio.Event()
        self._task = asyncio.create_task(self._listen(ready), name="sessions-revocation-listener")
        await ready.wait()  # subscribed before the first connection can register
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def add(self, token_id: int, connection: Connection) -> bool:
        """Remember an authenticated connection; False, and nothing kept, when this replica has
        already heard that the token was revoked (the revocation committed after the connection's
        authentication read the token, but reached this replica before this call)."""
        if token_id in self._revoked:
            return False
        self._forget_closed()
        self._by_token.setdefault(token_id, weakref.WeakSet()).add(connection)
        return True

    def count(self, token_id: int | None = None) -> int:
        """Open connections registered with `token_id`, or with any token."""
        groups = self._by_token.values() if token_id is None else [self._by_token.get(token_id, weakref.WeakSet())]
        return sum(1 for connections in groups for connection in connections if is_open(connection))

    async def close_token(self, token_id: int) -> int:
        """Close every open connection authenticated with the token; returns how many it closed."""
        self._revoked.add(token_id)
        connections = [c for c in self._by_token.pop(token_id, ()) if is_open(c)]
        results = await asyncio.gather(*(_close(connection) for connection in connections))
        return sum(results)

    def _forget_closed(self) -> None:
        for token_id, connections in list(self._by_token.items()):
            for connection in [c for c in connections if not is_open(c)]:
                connections.discard(connection)
            if not connections:
                del self._by_token[token_id]

    async def _listen(self, ready: asyncio.Event) -> None:
        while True:
            try:
                async with self._broker.subscribe(TokenRevoked) as revocations:
                    ready.set()
                    async for message in revocations:
                        if revocations.gap:
                            log.warning("%d token revocations missed; their connections stay open", revocations.gap)
                        if isinstance(message, TokenRevoked):
                            await self._on_revoked(message.token_id)
                return  # the broker closed
            except asyncio.CancelledError:
                raise
            except Exception:
                ready.set()
                log.exception("the token revocation listener failed; restarting it")
                await asyncio.sleep(1.0)

    async def _on_revoked(self, token_id: int) -> None:
        closed = await self.close_token(token_id)
        if closed:
            log.info("closed %d WebSocket connection(s) of revoked token %d", closed, token_id)


async def _close(connection: Connection) -> bool:
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await connection.close(code=CLOSE_CODE, reason=CLOSE_REASON)
    except (RuntimeError, OSError) as exc:  # it closed meanwhile (TimeoutError is an OSError)
        log.debug("closing a connection of a revoked token failed: %r", exc)
        return False
    return True
