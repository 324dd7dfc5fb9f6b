"""Error shaping: every error leaves with an `extensions.code`; only unexpected ones are masked.

Expected errors (VigilError) pass through with their code and field. Documents that fail to
parse or validate get GRAPHQL_PARSE_FAILED / GRAPHQL_VALIDATION_FAILED. Anything else is a bug:
its message is replaced, and the traceback is logged once with the request id the client sees.
"""

from __future__ import annotations

import logging

from graphql import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.schema import Schema
from strawberry.types import ExecutionContext

from resolvers.errors import VigilError

log = logging.getLogger("vigil.graphql")


def is_expected(error: GraphQLError) -> bool:
    original = error.original_error
    return original is None or isinstance(original, VigilError | GraphQLError)


def _request_id(execution_context: ExecutionContext | None) -> str | None:
    context = getattr(execution_context, "context", None)
    return getattr(context, "request_id", None)


class CodedErrors(MaskErrors):
    """MaskErrors that also labels the errors it lets through."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda error: not is_expected(error))

    def _process_result(self, result: object) -> None:
        # Most results, and every subscription event, carry no error: skip strawberry's
        # Protocol isinstance check, which costs more than the rest of this hook per event.
        if getattr(result, "errors", None):
            super()._process_result(result)

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        processed = super()._process_errors(errors)
        for error in processed:
            extensions = error.extensions if error.extensions is not None else {}
            if "code" not in extensions:
                extensions["code"] = _code_for(error)
            if extensions["code"] == "INTERNAL_SERVER_ERROR":
                request_id = _request_id(self.execution_context)
                if request_id:
                    extensions["requestId"] = request_id
            error.extensions = extensions
        return processed


def _code_for(error: GraphQLError) -> str:
    if isinstance(error.original_error, GraphQLError) or error.message.startswith("Variable '$"):
        return "BAD_USER_INPUT"  # a variable value that does not fit its declared type
    if error.original_error is not None or error.message == "Unexpected error.":
        return "INTERNAL_SERVER_ERROR"
    if error.message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    return "GRAPHQL_VALIDATION_FAILED"


class VigilSchema(Schema):
    """Logs only what needs a developer: unexpected exceptions, with the request id."""

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        for error in errors:
            if not is_expected(error):
                log.error(
                    "unexpected error in %s (request %s)",
                    ".".join(str(p) for p in error.path or ()) or "operation",
                    _request_id(execution_context),
                    exc_info=error.original_error,
                )
