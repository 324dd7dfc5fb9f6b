"""create_app(settings) -> Starlette, and the lifespan that owns every long-lived resource.

Resources open in dependency order and close in reverse: the probe supervisor (its tasks
cancelled and awaited) before the broker and the HTTP session it uses, and those before the
database its recordings write to.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import aiohttp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

import events
from config import Settings
from models import db
from probes.adapter import check
from probes.address_policy import AddressPolicy, PolicyResolver
from probes.http import HttpLimits
from probes.observation import Observation
from probes.result import ProbeResult, ProbeTarget
from probes.schedule import ScheduleSettings
from probes.supervisor import ProbeSupervisor, SupervisorSettings
from resolvers.alerts import AlertEvaluator
from resolvers.credentials import load_cipher
from resolvers.deps import Deps
from resolvers.monitoring import initial_watches
from resolvers.ratelimit import RateLimits
from resolvers.recording import BatchRecorder
from resolvers.retention import RetentionTask
from schema.build import build_schema
from schema.metrics import operation_metrics
from schema.view import VigilGraphQL
from web import ga4gh_registry, status_page
from web.metrics import CountedWebSockets, VigilMetrics

log = logging.getLogger("vigil")


def supervisor_settings(settings: Settings) -> SupervisorSettings:
    return SupervisorSettings(
        max_in_flight=settings.probe_concurrency,
        shutdown_grace_seconds=settings.shutdown_grace_seconds,
        schedule=ScheduleSettings(
            default_interval_seconds=settings.default_check_interval_seconds,
            min_interval_seconds=settings.min_check_interval_seconds,
            max_interval_seconds=settings.max_check_interval_seconds,
        ),
    )


@contextlib.asynccontextmanager
async def open_deps(
    settings: Settings, *, run_probes: bool, observe: Callable[[Observation], None] | None = None
) -> AsyncIterator[Deps]:
    """Every shared resource, opened in order and closed in reverse (the CLI uses it too).

    `observe` hears each observation the probe loop wrote, after its commit (the app's metrics).
    """
    config = db.tortoise_config(settings.database_url, pool_max_size=settings.db_pool_max_size)
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(db.open_database(config))
        cipher = load_cipher(settings.secret_key, settings.resolved_secret_key_file())
        policy = AddressPolicy(
            allow_private=settings.allow_private_targets, allow_metadata=settings.allow_metadata_targets
        )
        limits = HttpLimits(max_body_bytes=settings.max_response_bytes, address_policy=policy)
        resolver = PolicyResolver(policy)
        stack.push_async_callback(resolver.close)  # the connector does not close a resolver it was given
        http = await stack.enter_async_context(
            aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=settings.max_timeout_seconds + 5),
                connector=aiohttp.TCPConnector(limit=max(settings.probe_concurrency, 100), resolver=resolver),
            )
        )
        broker = await stack.enter_async_context(events.open_broker(settings.redis_url))
        supervisor = recorder = None
        if run_probes:
            # Entered before the supervisor so that it closes after it: checks still in flight
            # at shutdown are written before the database closes.
            recorder = await stack.enter_async_context(BatchRecorder(broker))
            if settings.retention_enabled:
                await stack.enter_async_context(RetentionTask(settings))
            if settings.alerts_enabled:
                # After the session and broker it uses, so it closes (deliveries finished) before them.
                await stack.enter_async_context(
                    AlertEvaluator(settings, http, broker, grace_seconds=settings.shutdown_grace_seconds)
                )

            async def probe(target: ProbeTarget) -> ProbeResult:
                return await check(http, target, limits)

            async def on_result(observation: Observation) -> None:
                assert recorder is not None
                if await recorder.record(observation) is not None and observe is not None:
                    observe(observation)

            supervisor = await stack.enter_async_context(
                ProbeSupervisor(
                    probe,
                    on_result if observe is not None else recorder.record,
                    watches=await initial_watches(cipher),
                    settings=supervisor_settings(settings),
                )
            )
        yield Deps(
            settings=settings,
            http=http,
            limits=limits,
            cipher=cipher,
            broker=broker,
            supervisor=supervisor,
            recorder=recorder,
            rate_limits=RateLimits.per_minute(settings.rate_limit_per_minute, settings.mutation_rate_limit_per_minute),
        )


def create_app(settings: Settings) -> Starlette:
    config = db.tortoise_config(settings.database_url, pool_max_size=settings.db_pool_max_size)
    metrics = VigilMetrics()  # this app's own registry: several apps may share a process

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Deps]]:
        async with open_deps(settings, run_probes=settings.probes_enabled, observe=metrics.observe) as deps:
            metrics.bind(deps)
            log.info(
                "Vigil ready: database %s, probes %s",
                db.connection_name(settings.database_url),
                "on" if deps.supervisor else "off",
            )
            try:
                yield {"deps": deps}
            finally:
                metrics.bind(None)

    graphql = VigilGraphQL(
        build_schema(settings, extensions=[operation_metrics(metrics)]),
        graphql_ide="graphiql" if settings.graphiql else None,
        allow_queries_via_get=False,
        allowed_origins=settings.allowed_origins,
        max_request_bytes=settings.max_request_bytes,
        anonymous_read=settings.anonymous_read,
    )

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        deps: Deps = request.state.deps
        problems: list[str] = []
        try:
            pending = await db.pending_migrations(config)
            if pending:
                problems.append(f"migrations not applied: {', '.join(pending)}")
        except Exception as exc:  # any database failure means "not ready"; say which
            problems.append(f"database unreachable: {exc.__class__.__name__}: {exc}")
        if not deps.broker.healthy:
            problems.append(f"event broker degraded: {deps.broker.last_error}")
        body = {"status": "ready" if not problems else "not ready", "problems": problems}
        return JSONResponse(body, status_code=200 if not problems else 503)

    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", CountedWebSockets(graphql, metrics)),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics.endpoint, methods=["GET"]),
        *status_page.routes(),
        *ga4gh_registry.routes(),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.metrics = metrics
    return app
