"""Refuses, at the edge, text that no database can store (resolvers/text.py).

A variable or a string literal (which may hold a NUL escape) with a NUL character or an unpaired
surrogate used to fail inside whichever resolver wrote or searched with it first, as
INTERNAL_SERVER_ERROR. `StorableText` checks every variable and string literal of the operation
before anything runs, and answers BAD_USER_INPUT saying where the text was.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import ExecutionResult, GraphQLError, StringValueNode, Visitor, visit
from strawberry.extensions import SchemaExtension

from resolvers.text import UNSTORABLE, UNSTORABLE_RULE, unstorable


class _StringLiterals(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.bad: StringValueNode | None = None

    def enter_string_value(self, node: StringValueNode, *_: object) -> object:
        if self.bad is None and UNSTORABLE.search(node.value):
            self.bad = node
        return None


class StorableText(SchemaExtension):
    """Answers BAD_USER_INPUT, before execution, to an operation carrying text no database stores."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        error = None
        for name, value in (context.variables or {}).items():
            where = unstorable(value)
            if where is not None:  # worded as graphql-core words a variable of the wrong type
                error = GraphQLError(
                    f"Variable '${name}' has invalid value{f' at {where}' if where else ''}: {UNSTORABLE_RULE}",
                    extensions={"code": "BAD_USER_INPUT"},
                )
                break
        if error is None and context.graphql_document is not None:
            literals = _StringLiterals()
            visit(context.graphql_document, literals)
            if literals.bad is not None:
                error = GraphQLError(
                    f"string literal: {UNSTORABLE_RULE}",
                    nodes=[literals.bad],
                    extensions={"code": "BAD_USER_INPUT"},
                )
        if error is not None:
            context.result = ExecutionResult(data=None, errors=[error])
        yield
