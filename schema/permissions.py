"""Role checks at the edge of every field: VIEWER reads, OPERATOR acts on health, ADMIN changes."""

from __future__ import annotations

import math

from graphql import OperationType

from models import Role
from resolvers.errors import Forbidden, RateLimited, Unauthenticated
from resolvers.tokens import Principal
from schema.context import Info


async def _within_rate_limit(info: Info, principal: Principal) -> None:
    context = info.context
    limits = context.deps.rate_limits
    if limits is None or context.rate_checked:
        return
    context.rate_checked = True
    wait = limits.check(
        is_mutation=info.operation.operation is OperationType.MUTATION,
        token_id=principal.token_id,
        address=context.client_address(),
    )
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
