"""A schema extension that invalidates the read-model cache after a mutation has changed something.

Mutations are the registry's only writers through the API, so invalidating here covers every
mutation, including ones added later, without each resolver remembering to. It runs before the
response is sent: the caller's next read, on any replica, does not see the state from before
its own change. A mutation whose every root field failed changed nothing and invalidates nothing.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

log = logging.getLogger(__name__)


class MutationsInvalidateCache(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:
        yield
        context = self.execution_context
        if context.operation_type is not OperationType.MUTATION:
            return
        data = getattr(context.result, "data", None) or {}
        if not any(value is not None for value in data.values()):
            return
        deps = getattr(context.context, "deps", None)
        cache = getattr(deps, "cache", None)
        if cache is None:
            return
        try:
            await cache.invalidate(reason=f"mutation {context.operation_name or 'anonymous'}")
        except Exception:  # the change is committed: answer it; readers fall back on the TTLs
            log.exception("invalidating the cache after a mutation failed")
