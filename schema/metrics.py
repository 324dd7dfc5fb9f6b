"""A schema extension that reports each GraphQL operation to its `OperationObserver`s.

In the app there are two: web/metrics.py turns the reports into Prometheus families (this module
knows nothing of Prometheus), and `UsageObserver` counts operations and server-side failures in
the cluster-wide counters that the `graphql_error_rate` alert rule reads. For a subscription,
strawberry runs `on_operation` around the whole stream, so the observers hear
`subscription_started` when it opens and `subscription_ended` when the client stops or the
server shuts down.

List this extension FIRST: extension hooks nest, so the first one exits last and sees the error
codes `CodedErrors` has put on the result.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Protocol

from graphql import OperationDefinitionNode
from strawberry.extensions import SchemaExtension

from resolvers.usage import GRAPHQL_ERRORS, GRAPHQL_OPERATIONS, UsageCounters, is_server_failure


class OperationObserver(Protocol):
    def operation_finished(self, name: str, kind: str, error_codes: list[str], seconds: float) -> None:
        """A query or mutation ended; `error_codes` holds each error's `extensions.code`."""
        ...

    def subscription_started(self, name: str) -> None: ...

    def subscription_ended(self, name: str) -> None: ...


class UsageObserver:
    """Counts each query and mutation, and those that failed on the server's side, for the alert rules."""

    def __init__(self, usage: UsageCounters) -> None:
        self._usage = usage

    def operation_finished(self, name: str, kind: str, error_codes: list[str], seconds: float) -> None:
        self._usage.count(GRAPHQL_OPERATIONS)
        if is_server_failure(error_codes):
            self._usage.count(GRAPHQL_ERRORS)

    def subscription_started(self, name: str) -> None:
        """Subscriptions are long-lived streams, not requests: the error rate leaves them out."""

    def subscription_ended(self, name: str) -> None: ...


class _Observers:
    """Several observers heard as one, in order."""

    def __init__(self, observers: tuple[OperationObserver, ...]) -> None:
        self._observers = observers

    def operation_finished(self, name: str, kind: str, error_codes: list[str], seconds: float) -> None:
        for observer in self._observers:
            observer.operation_finished(name, kind, error_codes, seconds)

    def subscription_started(self, name: str) -> None:
        for observer in self._observers:
            observer.subscription_started(name)

    def subscription_ended(self, name: str) -> None:
        for observer in self._observers:
            observer.subscription_ended(name)


class OperationMetrics(SchemaExtension):
    def __init__(self, observer: OperationObserver) -> None:
        self._observer = observer
        self._subscription: str | None = None

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            if self._subscription is not None:
                self._observer.subscription_ended(self._subscription)
        if self._subscription is None:
            name, kind = self._describe()
            self._observer.operation_finished(name, kind, self._errors(), time.perf_counter() - started)

    def on_execute(self) -> Iterator[None]:
        name, kind = self._describe()
        if kind == "subscription":  # on_operation spans the whole stream: count it as open from here
            self._subscription = name
            self._observer.subscription_started(name)
        yield

    def _describe(self) -> tuple[str, str]:
        context = self.execution_context
        name = context.operation_name
        kind = "unknown"
        document = context.graphql_document
        if document is not None:
            operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
            chosen = next(
                (op for op in operations if name is None or (op.name is not None and op.name.value == name)), None
            )
            if chosen is not None:
                kind = chosen.operation.value
                if name is None and chosen.name is not None:
                    name = chosen.name.value
        return name or "anonymous", kind

    def _errors(self) -> list[str]:
        result = self.execution_context.result
        errors = getattr(result, "errors", None) or self.execution_context.pre_execution_errors or []
        return [str((error.extensions or {}).get("code", "UNKNOWN")) for error in errors]


def operation_metrics(*observers: OperationObserver) -> Callable[[], OperationMetrics]:
    """A factory, not an instance: strawberry 0.341 deprecates extension instances."""
    observer: OperationObserver = observers[0] if len(observers) == 1 else _Observers(observers)
    return lambda: OperationMetrics(observer)


__all__ = ["OperationMetrics", "OperationObserver", "UsageObserver", "operation_metrics"]
