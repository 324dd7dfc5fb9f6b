"""Refuses documents whose fragments expand to more fields than any real query needs.

graphql-core's own rules visit each fragment once, but strawberry 0.341's `QueryDepthLimiter` and
`MaxAliasesLimiter` inline every spread as they walk. A fragment that spreads the previous one
twice, 30 levels deep, is a 2 KB document they would walk 2^30 times, on the event loop, before a
single rule reports anything; fragments that spread each other in a cycle multiply the same way.
`MaxExpandedFields` runs first: it counts the inlined size in one pass per fragment and refuses
cycles, and when it refuses, no other validation rule runs.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    NoFragmentCyclesRule,
    OperationDefinitionNode,
    SelectionSetNode,
    validate,
)
from strawberry.extensions import SchemaExtension

MAX_EXPANDED_FIELDS = 10_000


class MaxExpandedFields(SchemaExtension):
    """Fails validation when the operations, with every fragment inlined, select more than
    `max_fields` fields, or when fragments spread each other in a cycle."""

    def __init__(self, max_fields: int = MAX_EXPANDED_FIELDS) -> None:
        self.max_fields = max_fields

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.pre_execution_errors is None:
            errors = validate(context.schema._schema, document, [NoFragmentCyclesRule])
            if not errors and expanded_size(document, limit=self.max_fields) > self.max_fields:
                message = f"the document selects more than {self.max_fields} fields once its fragments are inlined"
                errors = [GraphQLError(message)]
            if errors:
                context.pre_execution_errors = errors  # strawberry then skips every other rule
        yield


def expanded_size(document: DocumentNode, *, limit: int) -> int:
    """Fields the operations select with fragments inlined, or `limit + 1` once past `limit`.

    Linear in the document, without recursion: each fragment is measured once, from the sizes of
    the fragments it spreads. Unknown fragments count as nothing (graphql-core reports them); in a
    cycle the count is too low but finite (the caller refuses cycles before asking).
    """
    shapes = {
        definition.name.value: _shape(definition.selection_set)
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    sizes: dict[str, int] = {}
    expanding: set[str] = set()
    for name in shapes:
        pending = [name]
        while pending:
            current = pending[-1]
            if current in sizes:
                pending.pop()
                continue
            fields, spreads = shapes[current]
            waiting = [spread for spread in spreads if spread in shapes and spread not in sizes]
            if waiting and current not in expanding:
                expanding.add(current)
                pending.extend(waiting)
                continue
            pending.pop()
            sizes[current] = min(limit + 1, fields + sum(sizes.get(spread, 0) for spread in spreads))
    total = 0
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            fields, spreads = _shape(definition.selection_set)
            total += fields + sum(sizes.get(spread, 0) for spread in spreads)
            if total > limit:
                return limit + 1
    return total


def _shape(selection_set: SelectionSetNode) -> tuple[int, list[str]]:
    """The fields a selection set spells out, at any depth, and the fragments it spreads (repeats kept)."""
    fields, spreads = 0, []
    pending = [selection_set]
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                fields += 1
                if selection.selection_set is not None:
                    pending.append(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                spreads.append(selection.name.value)
    return fields, spreads
