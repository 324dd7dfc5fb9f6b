"""The operation observer extension: every observer hears each operation, and only server failures count as errors."""

from __future__ import annotations

import strawberry

from resolvers.errors import BadUserInput
from resolvers.usage import GRAPHQL_ERRORS, GRAPHQL_OPERATIONS, UsageCounters
from schema.errors import CodedErrors
from schema.metrics import UsageObserver, operation_metrics


class Recorder:
    """An observer that keeps what it heard."""

    def __init__(self) -> None:
        self.finished: list[tuple[str, str, list[str]]] = []

    def operation_finished(self, name: str, kind: str, error_codes: list[str], seconds: float) -> None:
        self.finished.append((name, kind, error_codes))

    def subscription_started(self, name: str) -> None: ...

    def subscription_ended(self, name: str) -> None: ...


@strawberry.type
class Query:
    @strawberry.field
    def ok(self) -> int:
        return 1

    @strawberry.field
    def broken(self) -> int:
        raise RuntimeError("a bug")

    @strawberry.field
    def typo(self) -> int:
        raise BadUserInput("no such thing", field="typo")


async def test_each_observer_hears_every_operation_and_usage_counts_only_server_failures() -> None:
    recorder = Recorder()
    async with UsageCounters(flush_seconds=3600) as usage:
        schema = strawberry.Schema(
            query=Query, extensions=[operation_metrics(recorder, UsageObserver(usage)), CodedErrors]
        )
        for document in (
            "query Fine { ok }",
            "query Bug { ok broken }",
            "query Typo { typo }",
            "query Nope { nope }",  # fails validation
        ):
            await schema.execute(document)
        await usage.flush()
        totals = await usage.window_total([GRAPHQL_OPERATIONS, GRAPHQL_ERRORS], 60)
    assert recorder.finished == [
        ("Fine", "query", []),
        ("Bug", "query", ["INTERNAL_SERVER_ERROR"]),
        ("Typo", "query", ["BAD_USER_INPUT"]),
        ("Nope", "query", ["GRAPHQL_VALIDATION_FAILED"]),
    ]
    assert totals == {GRAPHQL_OPERATIONS: 4, GRAPHQL_ERRORS: 1}
