"""Builds the Strawberry schema with Vigil's limits and error shaping."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter, SchemaExtension
from strawberry.extensions.disable_introspection import DisableIntrospection

from config import Settings
from schema.errors import CodedErrors, VigilSchema
from schema.execution import PerEventMemoExecution
from schema.freshness import MutationsInvalidateCache
from schema.limits import MAX_EXPANDED_FIELDS, MaxExpandedFields
from schema.mutation import Mutation
from schema.permissions import OneRateTokenPerOperation
from schema.query import Query
from schema.subscription import Subscription
from schema.text import StorableText


def build_schema(settings: Settings, *, extensions: Sequence[Callable[[], SchemaExtension]] = ()) -> VigilSchema:
    """`extensions` (factories) come first, so they wrap the others: see schema/metrics.py."""
    # Extension classes or factories, not instances: strawberry 0.341 deprecates instances.
    chain: list = [
        *extensions,
        # Refuses fragment bombs before validation, whose depth and alias limiters would inline them.
        lambda: MaxExpandedFields(max(MAX_EXPANDED_FIELDS, settings.max_tokens)),
        lambda: QueryDepthLimiter(max_depth=settings.max_query_depth),
        lambda: MaxAliasesLimiter(max_alias_count=settings.max_aliases),
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        StorableText,  # NUL and lone surrogates: BAD_USER_INPUT before a resolver hands them to the database
        CodedErrors,
        MutationsInvalidateCache,
        OneRateTokenPerOperation,
    ]
    if not settings.introspection:
        chain.append(DisableIntrospection)
    return VigilSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=chain,
        execution_context_class=PerEventMemoExecution,
    )
