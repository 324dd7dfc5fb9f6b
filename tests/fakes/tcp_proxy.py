"""A TCP forwarder a test can cut and restore: a network blink between Vigil and Redis or PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib


class Proxy:
    """A TCP forwarder in front of Redis or PostgreSQL that a test can break in two ways.

    `cut()` is a restart or a closed port: every open connection is aborted and new ones are
    refused until `start()` listens again, on the same port. `stall()` is a silent network
    (a partition, a frozen server): connections stay open and new ones are accepted, but no byte
    passes either way until `start()` lets them flow again. `connections` counts the accepted ones.
    """

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._flowing = asyncio.Event()
        self.port = 0
        self.connections = 0

    async def start(self) -> None:
        """Listen (again) and let bytes flow."""
        self._flowing.set()
        if self._server is None:
            self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
            self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Refuse new connections and abort the open ones."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        pipes = list(self._pipes)
        for pipe in pipes:
            pipe.cancel()
        await asyncio.gather(*pipes, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    def stall(self) -> None:
        """Stop forwarding without closing anything: reads on either side wait."""
        self._flowing.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        self.connections += 1
        up_writer: asyncio.StreamWriter | None = None
        try:
            await self._flowing.wait()
            up_reader, up_writer = await asyncio.open_connection(*self._target)
            pumps = [
                asyncio.create_task(self._pump(reader, up_writer)),
                asyncio.create_task(self._pump(up_reader, writer)),
            ]
            try:
                # Either side closing closes both: a client that closes and waits for the
                # server's close (asyncpg does) must not wait forever on a half-open pipe.
                await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for pump in pumps:
                    pump.cancel()
                await asyncio.gather(*pumps, return_exceptions=True)
        except (asyncio.CancelledError, OSError):
            for w in (writer, up_writer):
                if w is not None:
                    w.transport.abort()
        finally:
            self._pipes.discard(task)
            for w in (writer, up_writer):
                if w is not None:
                    w.close()
                    with contextlib.suppress(OSError, asyncio.CancelledError):
                        await w.wait_closed()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            await self._flowing.wait()
            writer.write(data)
            await writer.drain()
