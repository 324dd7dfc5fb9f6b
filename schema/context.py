"""Per-request context: the shared Deps, who is calling, DataLoaders, and a request id for the logs."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from graphql import OperationType
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.types import Info as StrawberryInfo

from resolvers.deps import Deps
from resolvers.tokens import Principal, authenticate
from schema.loaders import Loaders


@dataclasses.dataclass
class Context:
    deps: Deps
    request: Request | WebSocket
    response: Response | None
    request_id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex[:16])
    connection_params: dict[str, Any] | None = None  # set by strawberry from `connection_init`
    _principal: Principal | None = None
    rate_checked: bool = False  # one request takes one token, however many root fields it has
    _loaders: Loaders | None = None

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

    def loaders(self, info: Info) -> Loaders:
        """The DataLoaders of this request (of this connection, for a WebSocket), built on first use.

        Only a query over HTTP lets them remember answers. A mutation's root fields run one after
        another and each may change what an earlier one read, and a WebSocket carries operations
        and subscription events for hours: there a load batches with its neighbours but reads afresh.
        """
        if self._loaders is None:
            remembers = isinstance(self.request, Request) and info.operation.operation is OperationType.QUERY
            self._loaders = Loaders.build(self.deps, cache=remembers)
        return self._loaders


Info = StrawberryInfo[Context, None]
