"""A webhook receiver for alert notifications: records each JSON body, can fail on purpose."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer


class WebhookReceiver:
    """Answers the first `fail_first` requests with 500, then 204; bodies land in `received` and `queue`."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.fail_first = 0
        self.requests = 0
        self.app = web.Application()
        self.app.router.add_post("/hooks/{token}", self.hook)

    async def hook(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.requests <= self.fail_first:
            return web.Response(status=500)
        body = await request.json()
        self.received.append(body)
        self.queue.put_nowait(body)
        return web.Response(status=204)

    def kinds(self) -> list[str]:
        return [body["kind"] for body in self.received]

    async def next(self, seconds: float = 10) -> dict[str, Any]:
        async with asyncio.timeout(seconds):
            return await self.queue.get()


@contextlib.asynccontextmanager
async def receiving() -> AsyncIterator[tuple[WebhookReceiver, str]]:
    """A receiver on a free loopback port; yields it and a webhook URL with a secret in its path."""
    fake = WebhookReceiver()
    async with TestServer(fake.app) as server:
        yield fake, str(server.make_url("/hooks/SECRET-TOKEN"))
