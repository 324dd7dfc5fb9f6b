"""The Strawberry ASGI view: context from lifespan state, WebSocket auth, request size bound."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLRequestData
from strawberry.http.async_base_view import AsyncHTTPRequestAdapter, HTTPException
from strawberry.types import ExecutionResult

from resolvers.cache import Region
from resolvers.deps import Deps
from resolvers.errors import Unauthenticated
from schema import response_cache
from schema.context import Context
from schema.permissions import take_rate_token


class _TooLarge(Exception):
    pass


def _too_large(limit: int) -> Response:
    error = {
        "message": f"request body larger than {limit} bytes",
        "extensions": {"code": "BAD_USER_INPUT", "field": "body"},
    }
    return JSONResponse({"data": None, "errors": [error]}, status_code=413)


class VigilGraphQL(GraphQL[Context, None]):
    def __init__(self, *args: Any, max_request_bytes: int, anonymous_read: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._max_request_bytes = max_request_bytes
        self._anonymous_read = anonymous_read

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        limit = self._max_request_bytes
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(limit)(scope, receive, send)
            return
        seen = 0

        async def bounded_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge
            return message

        try:
            await super().__call__(scope, bounded_receive, send)
        except _TooLarge:
            await _too_large(limit)(scope, receive, send)

    def decode_json(self, data: str | bytes) -> object:
        """A body that is not UTF-8, or nests deeper than the parser goes, is not JSON (400) like any
        other; strawberry answers only `JSONDecodeError` so, and these two used to be a 500."""
        try:
            return super().decode_json(data)
        except (UnicodeDecodeError, RecursionError) as exc:
            raise json.JSONDecodeError(f"body is not JSON ({exc.__class__.__name__})", "", 0) from exc

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter) -> GraphQLRequestData | list[GraphQLRequestData]:
        """A JSON body that is not an object (`0`, `"q"`, `null`, `[1]`) is refused with 400: strawberry
        calls `.get` on whatever it decoded, and the AttributeError used to be a 500."""
        try:
            return await super().parse_http_body(request)
        except AttributeError as exc:
            raise HTTPException(400, 'the body must be a JSON object: {"query": ..., "variables": ...}') from exc

    async def get_context(self, request: Request | WebSocket, response: Response | None = None) -> Context:
        deps: Deps = request.state.deps
        return Context(deps=deps, request=request, response=response)

    async def on_ws_connect(self, context: Context) -> dict[str, object] | None:
        """Refuses at connect time (close 4403) a bad token, or no token when reading needs one.

        An accepted token's connection is registered, so that revoking the token closes it.
        """
        try:
            principal = await context.principal()
        except Unauthenticated as exc:
            raise ConnectionRejectionError({"message": exc.message, "code": exc.code}) from exc
        if principal.role is None and not self._anonymous_read:
            raise ConnectionRejectionError({"message": "a VIEWER token is required", "code": "UNAUTHENTICATED"})
        sessions, token_id, connection = context.deps.sessions, principal.token_id, context.request
        if sessions is None or token_id is None or not isinstance(connection, WebSocket):
            return None
        if not sessions.add(token_id, connection):
            raise ConnectionRejectionError({"message": "token revoked", "code": "UNAUTHENTICATED"})
        return None

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """Serves a repeated read-only query from the response cache (schema/response_cache.py)."""

        async def execute() -> ExecutionResult:
            return await super(VigilGraphQL, self).execute_single(
                request, request_adapter, sub_response, context, root_value, request_data
            )

        cache = context.deps.cache
        query, name = request_data.query, request_data.operation_name
        if cache is None or request_adapter.method != "POST" or not response_cache.is_cacheable(query, name):
            return await execute()
        try:
            principal = await context.principal()
            if principal.role is None and not self._anonymous_read:
                return await execute()  # the resolvers refuse it, with their usual error
            take_rate_token(context, principal, is_mutation=False)
        except Exception:  # raised again by the execution below, which codes and logs it
            # A bad token, over the limit, or the database down: the resolvers say so the usual way,
            # as a coded GraphQL error (not a bare HTTP 500 from outside the execution).
            return await execute()
        context.rate_checked = True  # paid above: the execution below must not take a second token
        role = principal.role.value if principal.role is not None else "ANONYMOUS"
        key = response_cache.response_key(query or "", name, request_data.variables, role)

        async def load() -> dict[str, Any]:
            result = await execute()
            if result.errors or result.data is None:
                raise _NotStored(result)
            return result.data

        try:
            data = await cache.get_or_load(Region.RESPONSES, key, load)
        except _NotStored as answer:
            return answer.result
        return ExecutionResult(data=data, errors=None)


class _NotStored(Exception):
    """Carries an answer with errors out of the cache's loader, so that it is returned but not kept."""

    def __init__(self, result: ExecutionResult) -> None:
        super().__init__("response not cacheable")
        self.result = result
