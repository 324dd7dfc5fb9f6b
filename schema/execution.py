"""How graphql-core executes Vigil's operations: its default, without a leak in long subscriptions.

graphql-core 3.3.2 executes each subscription event on `build_per_event_executor(payload)`, a
shallow `copy` of the subscription's executor, so every event shares one subfield memo
(`_relevant_sub_fields`). The memo is keyed on the identity of the field lists each event
collects afresh, and it keeps those lists alive: an open subscription kept about 1 KB for each
event it delivered, until its socket closed. 200 dashboards following `statusChanged` grew Vigil
by about 40 MiB a minute (bench/soak.py; docs/reliability.md, "Soak"). Here each event gets a
memo of its own, which still serves what the memo is for: the items of a list within one event.
"""

from __future__ import annotations

from typing import Any

from graphql.execution.executor import Executor
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext


class PerEventMemoExecution(StrawberryGraphQLCoreExecutionContext):
    def build_per_event_executor(self, payload: Any) -> Executor:
        executor = super().build_per_event_executor(payload)
        executor._relevant_sub_fields = {}
        return executor
