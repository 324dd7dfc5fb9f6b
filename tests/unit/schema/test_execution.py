"""schema/execution.py: an open subscription keeps nothing for the events it has delivered."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import AsyncGenerator

import strawberry

from config import Settings
from schema.build import build_schema
from schema.execution import PerEventMemoExecution

EVENTS = 3000


@strawberry.type
class Change:
    seq: int
    status: str


@strawberry.type
class Query:
    noop: str = ""


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def changed(self) -> AsyncGenerator[Change, None]:
        seq = 0
        while True:
            seq += 1
            yield Change(seq=seq, status="HEALTHY")


async def test_a_long_subscription_does_not_grow_with_each_event() -> None:
    schema = strawberry.Schema(query=Query, subscription=Subscription, execution_context_class=PerEventMemoExecution)
    stream = await schema.subscribe("subscription { changed { seq status } }")
    await anext(stream)
    tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(EVENTS):
            assert (await anext(stream)).errors is None
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        await stream.aclose()
    assert kept / EVENTS < 100  # graphql-core's default execution keeps about 1,000 bytes per event


def test_vigil_executes_with_a_memo_per_subscription_event() -> None:
    schema = build_schema(Settings(_env_file=None))
    assert schema.execution_context_class is PerEventMemoExecution
