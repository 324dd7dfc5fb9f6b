"""Role checks at the edge of every field: VIEWER reads, OPERATOR acts on health, ADMIN changes."""

from __future__ import annotations

import contextvars
import math
from collections.abc import Iterator

from graphql import OperationType
from strawberry.extensions import SchemaExtension

from models import Role
from resolvers.errors import Forbidden, RateLimited, Unauthenticated
from resolvers.tokens import Principal
from schema.context import Context, Info

_operation_checked: contextvars.ContextVar[list[bool] | None] = contextvars.ContextVar(
    "vigil_operation_rate_checked", default=None
)


class OneRateTokenPerOperation(SchemaExtension):
    """Gives each operation its own "already counted" mark.

    A request with several root fields takes one token, not one per field. The mark cannot live on
    the Context: a WebSocket's Context lasts as long as the connection, and every later operation
    on the socket would then skip the limit. A context variable set here is seen by every resolver
    of this operation, including those graphql-core runs in tasks of their own.
    """

    def on_operation(self) -> Iterator[None]:
        reset = _operation_checked.set([False])
        try:
            yield
        finally:
            _operation_checked.reset(reset)


async def _within_rate_limit(info: Info, principal: Principal) -> None:
    context = info.context
    mark = _operation_checked.get()
    if context.rate_checked or (mark is not None and mark[0]):
        return  # counted already: by another root field of this operation, or by the response cache
    if mark is not None:
        mark[0] = True
    else:  # run without the extension (a bare schema in a test): one mark per Context
        context.rate_checked = True
    take_rate_token(context, principal, is_mutation=info.operation.operation is OperationType.MUTATION)


def take_rate_token(context: Context, principal: Principal, *, is_mutation: bool) -> None:
    """Spend one operation (and one mutation) from the caller's budgets, or raise RATE_LIMITED."""
    limits = context.deps.rate_limits
    if limits is None:
        return
    wait = limits.check(is_mutation=is_mutation, token_id=principal.token_id, address=context.client_address())
    if wait is not None:
        seconds = max(1, math.ceil(wait))
        raise RateLimited(f"too many requests; retry in {seconds} s", retryAfterSeconds=seconds)


async def require(info: Info, role: Role) -> Principal:
    principal = await info.context.principal()
    await _within_rate_limit(info, principal)
    if principal.role is None:
        raise Unauthenticated(f"this needs a {role.value} token: send 'Authorization: Bearer <token>'")
    if principal.role.rank < role.rank:
        raise Forbidden(f"this needs the {role.value} role; the token '{principal.name}' has {principal.role.value}")
    return principal


async def require_read(info: Info) -> Principal:
    """Anonymous reading is a setting; when it is off, reading needs a VIEWER token."""
    principal = await info.context.principal()
    if principal.role is None and info.context.deps.settings.anonymous_read:
        await _within_rate_limit(info, principal)
        return principal
    return await require(info, Role.VIEWER)
