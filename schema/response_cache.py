"""Whole responses of read-only queries over HTTP, kept in the read-model cache (docs/caching.md).

Why: the data caches remove the database from a warm request, but executing GraphQL over a page
of a hundred services (about 1,800 fields) still costs tens of milliseconds of CPU, and a
dashboard polled by many screens asks the same document again and again. Caching the finished
`data` turns a repeat into one dictionary lookup.

What may be cached: a `query` sent by POST whose root selections are all plain fields from
`CACHEABLE_ROOT_FIELDS` (read models the cache regions already cover and invalidate). Anything
else (mutations, subscriptions, history pages, alerts, admin reads, fragments at the root, a
document that does not parse) is executed as usual, so its errors come from the usual place.

Who may read a cached response: the key holds the caller's role, and authentication and the
rate limit run before the lookup, exactly as `require_read` would. A response with errors is
never stored. The entries live in the `responses` region, which every invalidation drops.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from graphql import FieldNode, GraphQLError, OperationDefinitionNode, OperationType, parse

CACHEABLE_ROOT_FIELDS = frozenset(
    {
        "services",
        "service",
        "referencePanels",
        "dashboard",
        "trends",
        "compareServices",
        "analytics",
        "recommendServices",
        "__typename",
    }
)


def is_cacheable(query: str | None, operation_name: str | None) -> bool:
    """True when the chosen operation is a query selecting only cacheable root fields."""
    if not query:
        return False
    try:
        document = parse(query, no_location=True)
    except GraphQLError:
        return False
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [op for op in operations if op.name is not None and op.name.value == operation_name]
    if len(operations) != 1 or operations[0].operation is not OperationType.QUERY:
        return False
    selections = operations[0].selection_set.selections
    return all(isinstance(s, FieldNode) and s.name.value in CACHEABLE_ROOT_FIELDS for s in selections)


def response_key(query: str, operation_name: str | None, variables: dict[str, Any] | None, role: str) -> str:
    """Stable across replicas and requests: the same document, variables and role give one key."""
    material = json.dumps([query, operation_name, variables or {}], sort_keys=True, separators=(",", ":"))
    return f"{role}:{hashlib.sha256(material.encode()).hexdigest()}"
