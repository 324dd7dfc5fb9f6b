"""`GET /metrics`: Prometheus families for one Vigil process, in a registry of its own.

Where each figure comes from, so a scrape stays cheap (docs/operations.md lists the families):

- **Probe outcomes** (`vigil_checks_total`, `vigil_probe_duration_seconds`, per-service status,
  circuit and last response time) are updated from each Observation the probe loop has written:
  `observe` is called after the recorder commits, so the counters agree with `healthHistory`.
  They are this process's own: a replica with probes off counts no checks.
- **Fleet state from the database** (status and circuit of every service, 24 h uptime, the
  `vigil_service_info` labels) is re-read at scrape time at most once per `refresh_seconds`, in
  two queries whatever the fleet size (`resolvers.fleet`). A failed read keeps the old values.
- **Loop, recorder and broker health** are read from their `stats` at collection time: plain
  attributes, no I/O.
- **GraphQL operations** come from `schema.metrics.OperationMetrics`; WebSocket connections from
  `CountedWebSockets`, which wraps the `/graphql` WebSocket route.

A per-app `CollectorRegistry`, never the global one: tests create several apps in one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from probes.result import CircuitState, HealthStatus
from resolvers.fleet import ServiceState, fleet_state

if TYPE_CHECKING:
    from probes.observation import Observation
    from resolvers.cache import CacheStats
    from resolvers.deps import Deps

log = logging.getLogger(__name__)

STATUSES = tuple(status.value for status in HealthStatus)
CIRCUIT_STATES = tuple(state.value for state in CircuitState)
PROBE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
GRAPHQL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MAX_OPERATION_NAMES = 200
"""Distinct GraphQL operation names kept as label values; later new names count as `other`."""


class VigilMetrics:
    """Every family `/metrics` exports for one app; `bind(deps)` when the lifespan has opened it."""

    def __init__(self, *, refresh_seconds: float = 15.0, refresh_timeout_seconds: float = 5.0) -> None:
        self.refresh_seconds = refresh_seconds
        self._refresh_timeout = refresh_timeout_seconds
        self._refresh_lock = asyncio.Lock()
        self._refreshed_at: float | None = None
        self._observed_at: dict[int, float] = {}
        self._known: set[int] = set()
        self._operation_names: set[str] = set()
        self._deps: Deps | None = None
        r = self.registry = CollectorRegistry()
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)

        self.service_info = Gauge(
            "vigil_service_info",
            "1 per registered service; joins ids to names",
            ["service_id", "name", "type", "api_type"],
            registry=r,
        )
        self.service_status = Gauge(
            "vigil_service_status",
            "Published status, one-hot: 1 for the service's current status, 0 for the others",
            ["service_id", "status"],
            registry=r,
        )
        self.service_active = Gauge(
            "vigil_service_active", "1 when the service is watched (isActive), else 0", ["service_id"], registry=r
        )
        self.circuit_state = Gauge(
            "vigil_service_circuit_state",
            "Circuit breaker state, one-hot: 1 for the current state, 0 for the others",
            ["service_id", "state"],
            registry=r,
        )
        self.uptime = Gauge(
            "vigil_service_uptime_ratio",
            "Share of counted checks in the last 24 h that were up (absent: no counted check)",
            ["service_id"],
            registry=r,
        )
        self.response_time = Gauge(
            "vigil_service_response_time_seconds",
            "Response time of the service's last check written by this process",
            ["service_id"],
            registry=r,
        )
        self.checks = Counter(
            "vigil_checks",
            "Checks written by this process, by published status and failure kind (none: no failure)",
            ["status", "failure_kind"],
            registry=r,
        )
        self.probe_duration = Histogram(
            "vigil_probe_duration_seconds",
            "Response time of checks written by this process, by API type",
            ["api_type"],
            buckets=PROBE_BUCKETS,
            registry=r,
        )
        self.refresh_failures = Counter(
            "vigil_metrics_refresh_failures", "Fleet reads for /metrics that failed or timed out", registry=r
        )
        self.graphql_operations = Counter(
            "vigil_graphql_operations",
            "GraphQL queries and mutations, and subscriptions started",
            ["operation_type", "operation_name"],
            registry=r,
        )
        self.graphql_errors = Counter(
            "vigil_graphql_errors",
            "Errors returned by GraphQL operations, by extensions.code",
            ["operation_type", "operation_name", "code"],
            registry=r,
        )
        self.graphql_duration = Histogram(
            "vigil_graphql_operation_duration_seconds",
            "Time to answer a query or mutation (subscriptions excluded)",
            ["operation_type", "operation_name"],
            buckets=GRAPHQL_BUCKETS,
            registry=r,
        )
        self.subscriptions_active = Gauge(
            "vigil_graphql_subscriptions_active", "GraphQL subscriptions open now", ["operation_name"], registry=r
        )
        self.websockets_open = Gauge("vigil_websocket_connections", "WebSocket connections open now", registry=r)
        self.websockets_accepted = Counter(
            "vigil_websocket_connections_accepted", "WebSocket connections accepted since start", registry=r
        )
        r.register(_StatsCollector(self))

    # --- lifespan -------------------------------------------------------------------------------

    def bind(self, deps: Deps | None) -> None:
        """Read loop, recorder and broker stats from `deps` until unbound (None)."""
        self._deps = deps

    @property
    def deps(self) -> Deps | None:
        return self._deps

    # --- probe loop -----------------------------------------------------------------------------

    def observe(self, observation: Observation) -> None:
        """One check, already committed."""
        sid = observation.service_id
        result = observation.result
        self._observed_at[sid] = time.monotonic()
        self._set_status(str(sid), observation.status.value)
        self._set_circuit(str(sid), observation.breaker.state.value)
        kind = result.failure_kind.value if result.failure_kind is not None else "none"
        self.checks.labels(status=observation.status.value, failure_kind=kind).inc()
        if result.response_time_ms is not None:
            seconds = result.response_time_ms / 1000
            self.response_time.labels(service_id=str(sid)).set(seconds)
            self.probe_duration.labels(api_type=observation.target.api_type.value).observe(seconds)

    def _set_status(self, sid: str, status: str) -> None:
        for value in STATUSES:
            self.service_status.labels(service_id=sid, status=value).set(1 if value == status else 0)

    def _set_circuit(self, sid: str, state: str) -> None:
        for value in CIRCUIT_STATES:
            self.circuit_state.labels(service_id=sid, state=value).set(1 if value == state else 0)

    # --- fleet state from the database ------------------------------------------------------------

    async def refresh_if_stale(self) -> None:
        deps = self._deps
        if deps is None:  # not serving yet, or shutting down
            return
        async with self._refresh_lock:
            now = time.monotonic()
            if self._refreshed_at is not None and now - self._refreshed_at < self.refresh_seconds:
                return
            try:
                async with asyncio.timeout(self._refresh_timeout):
                    states = await fleet_state(deps.settings)
            except Exception:  # a scrape must still answer: keep the old values, count and log the failure
                log.exception("reading the fleet for /metrics failed")
                self.refresh_failures.inc()
                return
            self._apply(states, started=now)
            self._refreshed_at = now

    def _apply(self, states: Iterable[ServiceState], *, started: float) -> None:
        seen: set[int] = set()
        self.service_info.clear()
        for state in states:
            seen.add(state.service_id)
            sid = str(state.service_id)
            self.service_info.labels(service_id=sid, name=state.name, type=state.type, api_type=state.api_type).set(1)
            self.service_active.labels(service_id=sid).set(1 if state.is_active else 0)
            if self._observed_at.get(state.service_id, float("-inf")) < started:  # else the loop knows better
                self._set_status(sid, state.status)
                self._set_circuit(sid, state.circuit_state)
            if state.uptime is None:
                self._remove(self.uptime, sid)
            else:
                self.uptime.labels(service_id=sid).set(state.uptime)
        observed_before = {sid for sid, at in self._observed_at.items() if at < started}
        for gone in (self._known | observed_before) - seen:
            self._forget(gone)
        self._known = seen

    def _forget(self, service_id: int) -> None:
        sid = str(service_id)
        self._observed_at.pop(service_id, None)
        for value in STATUSES:
            self._remove(self.service_status, sid, value)
        for value in CIRCUIT_STATES:
            self._remove(self.circuit_state, sid, value)
        for gauge in (self.uptime, self.response_time, self.service_active):
            self._remove(gauge, sid)

    @staticmethod
    def _remove(gauge: Gauge, *labels: str) -> None:
        with contextlib.suppress(KeyError):  # never set: nothing to remove
            gauge.remove(*labels)

    # --- GraphQL (schema.metrics.OperationObserver) ------------------------------------------------

    def _operation_label(self, name: str) -> str:
        name = name[:64]
        if name in self._operation_names:
            return name
        if len(self._operation_names) >= MAX_OPERATION_NAMES:
            return "other"
        self._operation_names.add(name)
        return name

    def operation_finished(self, name: str, kind: str, error_codes: list[str], seconds: float) -> None:
        label = self._operation_label(name)
        self.graphql_operations.labels(operation_type=kind, operation_name=label).inc()
        self.graphql_duration.labels(operation_type=kind, operation_name=label).observe(seconds)
        for code in error_codes:
            self.graphql_errors.labels(operation_type=kind, operation_name=label, code=code[:40]).inc()

    def subscription_started(self, name: str) -> None:
        label = self._operation_label(name)
        self.graphql_operations.labels(operation_type="subscription", operation_name=label).inc()
        self.subscriptions_active.labels(operation_name=label).inc()

    def subscription_ended(self, name: str) -> None:
        self.subscriptions_active.labels(operation_name=self._operation_label(name)).dec()

    # --- HTTP -------------------------------------------------------------------------------------

    async def endpoint(self, request: Request) -> Response:
        await self.refresh_if_stale()
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class CountedWebSockets:
    """Wraps an ASGI app to count its accepted WebSocket connections (a class: Starlette hands a
    plain function endpoint a WebSocket instead of the ASGI triple)."""

    def __init__(self, app: ASGIApp, metrics: VigilMetrics) -> None:
        self._app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self._app(scope, receive, send)
            return
        accepted = False

        async def counting_send(message: Message) -> None:
            nonlocal accepted
            if message["type"] == "websocket.accept" and not accepted:
                accepted = True
                self._metrics.websockets_open.inc()
                self._metrics.websockets_accepted.inc()
            await send(message)

        try:
            await self._app(scope, receive, counting_send)
        finally:
            if accepted:
                self._metrics.websockets_open.dec()


class _StatsCollector(Collector):
    """Loop, recorder and broker counters, read from their `stats` at each collection."""

    def __init__(self, metrics: VigilMetrics) -> None:
        self._metrics = metrics

    def describe(self) -> Iterable[Metric]:
        return []  # families depend on what the lifespan opened: collect() alone decides

    def collect(self) -> Iterator[Metric]:
        deps = self._metrics.deps
        if deps is None:
            return
        broker = deps.broker.stats
        yield CounterMetricFamily("vigil_events_published", "Events published by this process", broker.published)
        yield CounterMetricFamily(
            "vigil_events_delivered", "Events handed to subscribers in this process", broker.delivered
        )
        yield CounterMetricFamily(
            "vigil_events_dropped", "Events dropped because a subscriber fell behind (oldest first)", broker.dropped
        )
        yield GaugeMetricFamily("vigil_event_subscribers", "Broker subscriptions open now", broker.subscribers)
        yield GaugeMetricFamily(
            "vigil_event_broker_healthy", "1 while the broker reaches the other replicas", int(deps.broker.healthy)
        )
        if deps.cache is not None:
            yield from _cache_families(deps.cache.stats)
        supervisor = deps.supervisor
        if supervisor is not None:
            loop = supervisor.stats
            yield GaugeMetricFamily("vigil_probe_watched_services", "Services the probe loop watches", loop.watched)
            yield GaugeMetricFamily("vigil_probes_in_flight", "Probes running now", loop.in_flight)
            yield GaugeMetricFamily(
                "vigil_probe_lag_seconds",
                "Worst lateness of a watch's latest probe behind its schedule",
                loop.lag_seconds,
            )
            yield CounterMetricFamily(
                "vigil_probe_runs", "Probes the loop ran (manual ones included)", loop.checks_total
            )
            yield CounterMetricFamily(
                "vigil_probe_skipped", "Scheduled checks skipped because the circuit was open", loop.skipped_total
            )
            yield CounterMetricFamily(
                "vigil_probe_watch_restarts", "Watch tasks restarted after a crash", loop.restarts
            )
        if deps.ownership is not None:
            owned = deps.ownership.stats
            yield GaugeMetricFamily(
                "vigil_probe_buffered_checks",
                "Checks waiting in memory for the database or the lease to come back",
                owned.checks_buffered,
            )
            yield GaugeMetricFamily(
                "vigil_probe_buffer_capacity", "Checks the buffer may hold (VIGIL_OUTAGE_BUFFER_CHECKS)",
                owned.buffer_capacity,
            )
            yield CounterMetricFamily(
                "vigil_probe_checks_buffered", "Checks that waited in the buffer", owned.checks_buffered_total
            )
            yield CounterMetricFamily(
                "vigil_probe_checks_flushed", "Buffered checks written once the database was back",
                owned.checks_flushed_total,
            )
            yield CounterMetricFamily(
                "vigil_probe_checks_dropped",
                "Loop checks never written: buffer full, slot lost to another replica, or buffered at shutdown",
                owned.observations_dropped,
            )
        recorder = deps.recorder
        if recorder is not None:
            stats = recorder.stats
            yield CounterMetricFamily("vigil_history_batches", "History write transactions (batches)", stats.batches)
            yield CounterMetricFamily("vigil_history_checks_written", "Checks written to history", stats.checks_written)
            yield CounterMetricFamily(
                "vigil_history_failed_batches", "Batches that failed and were retried one by one", stats.failed_batches
            )
            yield CounterMetricFamily(
                "vigil_history_failed_checks",
                "Checks whose write failed; the probe loop buffers those that met an unreachable database",
                stats.failed_checks,
            )
            yield GaugeMetricFamily("vigil_history_largest_batch", "Largest batch written so far", stats.largest_batch)
            yield GaugeMetricFamily("vigil_history_queue_depth", "Checks waiting to be written", recorder.pending)


def _cache_families(stats: CacheStats) -> Iterator[Metric]:
    """Per region; `level` tells the in-process L1 from the shared L2 so hit ratios can be split."""
    requests = CounterMetricFamily(
        "vigil_cache_requests", "Read-model cache reads by region and outcome", labels=["cache", "result"]
    )
    invalidations = CounterMetricFamily(
        "vigil_cache_invalidations", "Times a cache region was invalidated on this replica", labels=["cache"]
    )
    entries = GaugeMetricFamily("vigil_cache_entries", "Entries in this process's L1 cache", labels=["cache"])
    for region, figures in stats.regions.items():
        requests.add_metric([region.value, "hit_l1"], figures.l1_hits)
        requests.add_metric([region.value, "hit_l2"], figures.l2_hits)
        requests.add_metric([region.value, "miss"], figures.misses)
        invalidations.add_metric([region.value], figures.invalidations)
        entries.add_metric([region.value], figures.entries)
    yield requests
    yield invalidations
    yield entries
    yield CounterMetricFamily(
        "vigil_cache_shared_errors", "Shared (Redis) cache operations that failed", stats.l2_errors
    )
    yield GaugeMetricFamily(
        "vigil_cache_shared_healthy",
        "1 while the shared cache answers; 0 when down or not configured",
        int(stats.l2_enabled and stats.l2_healthy),
    )
