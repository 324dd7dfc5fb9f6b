"""Role checks at the edge of every field: VIEWER reads, OPERATOR acts on health, ADMIN changes."""

from __future__ import annotations

from models import Role
from resolvers.errors import Forbidden, Unauthenticated
from resolvers.tokens import Principal
from schema.context import Info


async def require(info: Info, role: Role) -> Principal:
    principal = await info.context.principal()
    if principal.role is None:
        raise Unauthenticated(f"this needs a {role.value} token: send 'Authorization: Bearer <token>'")
    if principal.role.rank < role.rank:
        raise Forbidden(f"this needs the {role.value} role; the token '{principal.name}' has {principal.role.value}")
    return principal


async def require_read(info: Info) -> Principal:
    """Anonymous reading is a setting; when it is off, reading needs a VIEWER token."""
    principal = await info.context.principal()
    if principal.role is None and info.context.deps.settings.anonymous_read:
        return principal
    return await require(info, Role.VIEWER)
