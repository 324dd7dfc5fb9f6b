"""What every simulator can be told to do wrong, and the middleware that does it.

A test (or `vigil demo`) flips `sim.behaviour` between requests; nothing is restarted. The
protocol-specific behaviours (MAINTENANCE, MAINTENANCE_503, REJECT_TOKEN) are interpreted
by each simulator; the rest are the same for every protocol and happen here, before the
route handler runs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

GARBAGE_HTML = (
    "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    "<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
)


class Behaviour(StrEnum):
    OK = "ok"
    SLOW = "slow"  # answer after `delay_s`
    HANG = "hang"  # answer only once `release` is set (or the server shuts down)
    HTTP_500 = "http_500"
    MAINTENANCE = "maintenance"  # the protocol's own maintenance signal (Cloudgene: `maintenace`)
    MAINTENANCE_503 = "maintenance_503"  # 503 with a maintenance JSON message on every route
    GARBAGE_HTML = "garbage_html"  # 200 text/html from a reverse proxy
    HUGE_BODY = "huge_body"  # `huge_body_bytes` streamed in chunks
    ENDLESS_BODY = "endless_body"  # chunked body that never ends
    RESET = "reset"  # headers, part of the body, then the connection is aborted
    UNAUTHORIZED = "unauthorized"  # 401 on every route
    FORBIDDEN = "forbidden"  # 403 on every route
    REJECT_TOKEN = "reject_token"  # every credential is unknown (Cloudgene: loggedIn false)


@dataclasses.dataclass(frozen=True, slots=True)
class SeenRequest:
    """A request as the simulator received it, for assertions about what a client sent."""

    method: str
    path: str
    headers: dict[str, str]


def json_response(body: Any, status: int = 200, content_type: str = "application/json") -> web.Response:
    """JSON with an exact Content-Type (no `; charset=`), as DNAstack's client insists on."""
    return web.Response(
        body=json.dumps(body).encode(),
        status=status,
        headers={"Content-Type": content_type},
    )


class Simulator:
    """Base of every simulator: an aiohttp app plus the switchable misbehaviours."""

    def __init__(self) -> None:
        self.name = type(self).__name__  # subclasses set the service's display name
        self.behaviour = Behaviour.OK
        self.delay_s = 0.2
        self.huge_body_bytes = 50 * 1024 * 1024
        self.declare_length = False  # HUGE_BODY: send Content-Length up front
        self.release = asyncio.Event()  # HANG: set it and waiting requests answer normally
        self.arrived = asyncio.Event()  # set when any request arrives
        self.requests: list[SeenRequest] = []
        self._closing = asyncio.Event()
        self.app = web.Application(middlewares=[self._misbehave])
        self.app.on_shutdown.append(self._on_shutdown)

    async def _on_shutdown(self, _app: web.Application) -> None:
        # Let hanging and endless handlers finish, so the server closes without waiting for them.
        self._closing.set()
        self.release.set()

    def error_body(self, status: int, message: str) -> Any:
        """The protocol's error JSON; subclasses override (WES uses {msg, status_code})."""
        return {"status": status, "title": message}

    def maintenance_response(self) -> web.Response:
        return json_response(self.error_body(503, "This functionality is currently under maintenance."), 503)

    @web.middleware
    async def _misbehave(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests.append(SeenRequest(request.method, request.path_qs, dict(request.headers)))
        self.arrived.set()
        match self.behaviour:
            case Behaviour.SLOW:
                await asyncio.sleep(self.delay_s)
            case Behaviour.HANG:
                await self.release.wait()
            case Behaviour.HTTP_500:
                return json_response(self.error_body(500, "Internal Server Error"), 500)
            case Behaviour.MAINTENANCE_503:
                return self.maintenance_response()
            case Behaviour.GARBAGE_HTML:
                return web.Response(text=GARBAGE_HTML, content_type="text/html")
            case Behaviour.HUGE_BODY | Behaviour.ENDLESS_BODY:
                return await self._stream(request, endless=self.behaviour is Behaviour.ENDLESS_BODY)
            case Behaviour.RESET:
                return await self._reset(request)
            case Behaviour.UNAUTHORIZED:
                return json_response(self.error_body(401, "The request requires user authentication."), 401)
            case Behaviour.FORBIDDEN:
                return json_response(self.error_body(403, "Access denied."), 403)
        return await handler(request)

    async def _stream(self, request: web.Request, *, endless: bool) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        if self.declare_length and not endless:
            response.content_length = self.huge_body_bytes
        await response.prepare(request)
        chunk = b" " * 65536
        sent = 0
        try:
            while (endless or sent < self.huge_body_bytes) and not self._closing.is_set():
                await response.write(chunk)
                sent += len(chunk)
            await response.write_eof()
        except ConnectionResetError:
            pass  # the client stopped reading, which is what a capped client does
        return response

    async def _reset(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = 4096
        await response.prepare(request)
        await response.write(b'{"name": "cut off in the mid')
        if request.transport is not None:
            request.transport.abort()
        return response
