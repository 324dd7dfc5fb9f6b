"""Per-request context: the shared Deps, who is calling, and a request id for the logs."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.types import Info as StrawberryInfo

from resolvers.deps import Deps
from resolvers.tokens import Principal, authenticate


@dataclasses.dataclass
class Context:
    deps: Deps
    request: Request | WebSocket
    response: Response | None
    request_id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex[:16])
    connection_params: dict[str, Any] | None = None  # set by strawberry from `connection_init`
    _principal: Principal | None = None
    rate_checked: bool = False  # one request takes one token, however many root fields it has

    def authorization(self) -> str | None:
        if isinstance(self.request, WebSocket):
            params = self.connection_params or {}
            value = params.get("Authorization", params.get("authorization"))
            return value if isinstance(value, str) else None
        return self.request.headers.get("authorization")

    def client_address(self) -> str | None:
        client = self.request.client
        return None if client is None else client.host

    async def principal(self) -> Principal:
        """Authenticated once per request (per connection for WebSockets)."""
        if self._principal is None:
            self._principal = await authenticate(self.authorization())
        return self._principal


Info = StrawberryInfo[Context, None]
