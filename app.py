"""create_app(settings) -> Starlette, and the lifespan that owns every long-lived resource.

Resources open in dependency order and close in reverse: the probe supervisor (its tasks
cancelled and awaited) before the broker and the HTTP session it uses, and those before the
database its recordings write to.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from tortoise import Tortoise

import events
from config import Settings
from models import db
from models.leases import LeaseTimings, migration_lock, open_lease
from probes.adapter import check
from probes.address_policy import AddressPolicy, PolicyResolver
from probes.http import HttpLimits
from probes.observation import Observation
from probes.result import ProbeResult, ProbeTarget
from probes.schedule import ScheduleSettings
from probes.supervisor import ProbeSupervisor, SupervisorSettings
from resolvers import views
from resolvers.alerts import AlertEvaluator
from resolvers.cache import CacheSettings, open_cache
from resolvers.credentials import load_cipher
from resolvers.deps import Deps
from resolvers.ownership import Ownership
from resolvers.ratelimit import RateLimits
from resolvers.recording import BatchRecorder
from resolvers.retention import RetentionTask
from resolvers.sessions import Sessions
from resolvers.usage import UsageCounters
from schema.build import build_schema
from schema.metrics import UsageObserver, operation_metrics
from schema.view import VigilGraphQL
from web import ga4gh_registry, status_page
from web.metrics import CountedWebSockets, VigilMetrics

log = logging.getLogger("vigil")

READINESS_DATABASE_TIMEOUT_S = 2.0
DB_COMMAND_TIMEOUT_S = 30.0
DB_CONNECT_TIMEOUT_S = 5.0


def bounded(config: dict[str, Any]) -> dict[str, Any]:
    """The app's database config with every query and connection attempt bounded (PostgreSQL).

    A database that goes silent (a partition, a frozen server) otherwise holds requests, readiness
    checks and recordings until the kernel gives up on the socket. The bound has to be asyncpg's:
    cancelling a Tortoise query from outside (`asyncio.timeout`) leaves the caller waiting in
    the pool's release, which needs the same silent connection.
    """
    connections = {
        name: f"{url}&command_timeout={DB_COMMAND_TIMEOUT_S:g}&timeout={DB_CONNECT_TIMEOUT_S:g}"
        if name == "pg"
        else url
        for name, url in config["connections"].items()
    }
    return {**config, "connections": connections}


def cache_settings(settings: Settings) -> CacheSettings:
    return CacheSettings(
        l1_ttl_seconds=settings.cache_l1_ttl_seconds,
        l1_max_entries=settings.cache_l1_max_entries,
        l2_ttl_seconds=settings.cache_l2_ttl_seconds,
        check_coalesce_seconds=settings.cache_check_coalesce_seconds,
        key_prefix=settings.redis_prefix,
    )


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
    settings: Settings,
    *,
    run_probes: bool,
    observe: Callable[[Observation], None] | None = None,
    usage: UsageCounters | None = None,
) -> AsyncIterator[Deps]:
    """Every shared resource, opened in order and closed in reverse (the CLI uses it too).

    `observe` hears each observation the probe loop wrote, after its commit (the app's metrics).
    `usage`, the cluster-wide counters the platform alert rules read, is created by the caller
    (the schema counts into it) and opened here; without it those rules are not evaluated.
    """
    config = db.tortoise_config(settings.database_url, pool_max_size=settings.db_pool_max_size)
    async with contextlib.AsyncExitStack() as stack:
        async with migration_lock(settings.database_url):  # replicas that start together migrate in turn
            await db.migrate(config)  # unbounded: a migration may build an index for minutes
            await Tortoise.close_connections()
        await stack.enter_async_context(db.open_database(bounded(config), apply_migrations=False))
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
                # Two connections per probe permit: a Cloudgene check sends two requests at once, and
                # waiting for a connection would count against the probe's timeout.
                connector=aiohttp.TCPConnector(limit=max(2 * settings.probe_concurrency, 100), resolver=resolver),
            )
        )
        broker = await stack.enter_async_context(
            events.open_broker(settings.redis_url, channel_prefix=settings.redis_prefix)
        )
        # --- WebSocket sessions (resolvers/sessions.py): after the broker it listens to, so it closes before it
        sessions = await stack.enter_async_context(Sessions(broker))
        # --- end WebSocket sessions
        cache = None
        if settings.cache_enabled:
            cache = await stack.enter_async_context(
                open_cache(
                    cache_settings(settings),
                    broker=broker,
                    redis_url=settings.redis_url,
                    signing_key=cipher.derive_key(b"cache signing"),
                )
            )
        # --- usage counters (resolvers/usage.py): after the cache they sample, so they close before it
        if usage is not None:
            if cache is not None:
                usage.follow_cache(cache)
            await stack.enter_async_context(usage)
        # --- end usage counters
        supervisor = recorder = None
        ownership: Ownership | None = None
        if run_probes:
            # Entered before the supervisor so that it closes after it: checks still in flight
            # at shutdown are written before the database closes.
            recorder = await stack.enter_async_context(BatchRecorder(broker))
            if settings.retention_enabled:
                await stack.enter_async_context(RetentionTask(settings))
            if settings.alerts_enabled:
                # After the session and broker it uses, so it closes (deliveries finished) before them.
                await stack.enter_async_context(
                    AlertEvaluator(settings, http, broker, grace_seconds=settings.shutdown_grace_seconds, usage=usage)
                )

            async def probe(target: ProbeTarget) -> ProbeResult:
                return await check(http, target, limits)

            async def on_result(observation: Observation) -> None:
                assert recorder is not None
                if await recorder.record(observation) is not None and observe is not None:
                    observe(observation)

            # Ownership (docs/deployment.md): the supervisor starts empty and watches the services
            # of the slots this replica leases. The lease is entered first so that it closes last:
            # no other replica takes a service over while a check of it is still being recorded.
            lease = await stack.enter_async_context(
                open_lease(settings.database_url, round_s=settings.lease_interval_seconds)
            )
            ownership = Ownership(
                lease,
                broker,
                cipher,
                round_s=settings.lease_interval_seconds,
                buffer_capacity=settings.outage_buffer_checks,
                # Slots still locked when the lease returns may be this replica's own dead session's.
                hold_grace_s=LeaseTimings.for_round(settings.lease_interval_seconds).locks_freed_within_s
                + settings.lease_interval_seconds,
            )
            supervisor = await stack.enter_async_context(
                ProbeSupervisor(
                    probe,
                    ownership.guard(on_result if observe is not None else recorder.record),
                    settings=supervisor_settings(settings),
                )
            )
            await stack.enter_async_context(ownership.driving(supervisor))
        deps = Deps(
            settings=settings,
            http=http,
            limits=limits,
            cipher=cipher,
            broker=broker,
            supervisor=supervisor,
            recorder=recorder,
            rate_limits=RateLimits.per_minute(settings.rate_limit_per_minute, settings.mutation_rate_limit_per_minute),
            cache=cache,
            ownership=ownership,
            sessions=sessions,
        )
        if cache is not None:
            cache.add_warmer(lambda: views.warm(deps))
        yield deps


def create_app(settings: Settings) -> Starlette:
    config = db.tortoise_config(settings.database_url, pool_max_size=settings.db_pool_max_size)
    metrics = VigilMetrics()  # this app's own registry: several apps may share a process
    usage = UsageCounters.from_settings(settings)  # the schema counts into it; the lifespan opens it

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Deps]]:
        async with open_deps(
            settings, run_probes=settings.probes_enabled, observe=metrics.observe, usage=usage
        ) as deps:
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
        build_schema(settings, extensions=[operation_metrics(metrics, UsageObserver(usage))]),
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
            # The ping comes first: Tortoise reads "no migration table" from any failure, which
            # would report an outage as missing migrations. The timeout bounds waiting for a
            # connection; a query on a connection gone silent ends at the pool's command timeout
            # (`bounded`), because a cancelled query is released through that same connection.
            async with asyncio.timeout(READINESS_DATABASE_TIMEOUT_S):
                await Tortoise.get_connection(db.connection_name(settings.database_url)).execute_query("SELECT 1")
                pending = await db.pending_migrations(config)
            if pending:
                problems.append(f"migrations not applied: {', '.join(pending)}")
        except TimeoutError:
            problems.append(f"database unreachable: no answer within {READINESS_DATABASE_TIMEOUT_S:g} s")
        except Exception as exc:  # any database failure means "not ready"; say which
            problems.append(f"database unreachable: {exc.__class__.__name__}: {exc}")
        degraded: list[str] = []
        if not deps.broker.healthy:
            degraded.append(f"events stay in this replica (Redis unreachable): {deps.broker.last_error}")
        if deps.cache is not None and deps.cache.degraded_reason is not None:
            degraded.append(deps.cache.degraded_reason)
        if not usage.healthy:
            degraded.append(f"platform alert counters stay in this replica (Redis unreachable): {usage.last_error}")
        status = "not ready" if problems else "degraded" if degraded else "ready"
        body = {"status": status, "problems": problems, "degraded": degraded}
        if deps.ownership is not None:
            body["ownership"] = deps.ownership.stats.as_dict()
        return JSONResponse(body, status_code=503 if problems else 200)

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
