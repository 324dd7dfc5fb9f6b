"""`services(first: 100)` over 1,000 services: GraphQL with the cache off and warm, against a plain JSON floor.

Run it as `python -m bench.service_list [--services 1000] [--clients 50] [--seconds 10] [--warmup 2]
[--backends sqlite,postgres] [--pg-url URL] [--redis-url URL] [--profile] [--gc-threshold N]`.

For each backend, a fresh database (a SQLite file in a temporary directory; a new PostgreSQL
database on the server of `--pg-url`, dropped at the end) gets `--services` services of mixed
types and statuses, 2 to 10 reference panels each (about 5% inactive), and rollups for
`uptime(window: LAST_24_HOURS)`: one per hour over the last 26 hours, and one per minute in the
hours at either edge of the 24-hour window, where the uptime query reads minutes. All rollups of
one service have the same share of up checks, so its uptime does not depend on where the window
falls, and servers started minutes apart must give the same answer. One service in fifty has no
rollups (uptime null).

Vigil runs in a child process: uvicorn (uvloop, httptools, as `vigil serve` runs it) serving
`create_app(Settings(...))` with the probe loop and rate limiting off and anonymous reads on.
The benchmark adds one route to that app, `GET /bench/services`: the same fields as the GraphQL
query (id, name, status, active panels with key and build, 24-hour uptime) as plain JSON, read
through the same cache functions (`views.service_page`, and `views.cached_batch` over the same
batch functions, under the loaders' cache names). That is the floor the GraphQL layer adds to.
The child counts every SQL statement Tortoise sends (the log handler of the query-count test).

This process is the load generator: `--clients` aiohttp tasks on uvloop, each sending its next
request as soon as the last one is answered. Each scenario runs `--warmup` seconds (not counted),
then `--seconds` timed. A request counts when it completes inside the timed window:

1. GraphQL, cache off (`cache_enabled=False`): every request reads the database ("cold").
2. plain JSON, cache off: the same reads without GraphQL.
3. GraphQL, cache warm (L1 in process, default TTLs: entries live 10 s, so one refresh falls
   inside each scenario, as it would every 10 s in production).
4. plain JSON, cache warm.
5. with `--redis-url`: GraphQL, cache warm with Redis as L2 (a unique key prefix, deleted after).

Each scenario's first request goes alone, so that with the cache on the clients start warm. Vigil
reports the SQL statements it sent and the CPU time of its garbage collector (`gc.callbacks`);
`--profile` prints a cProfile of Vigil under GraphQL warm load, and `--gc-threshold N` sets its
generation-0 threshold (a what-if; Python's default is 700).

Before timing, one request of each kind is checked: the GraphQL answer of the cold server, the
plain answer of the cold server, the plain answer of the warm server (which fills its cache) and
the GraphQL answer of the warm server (read from that cache) must be equal. Figures, no
assertions on them; the exit status is 1 only when the answers disagree or a request failed.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import cProfile
import dataclasses
import datetime as dt
import gc
import io
import json
import logging
import multiprocessing.connection
import os
import pathlib
import pstats
import random
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from functools import partial
from typing import Any

import aiohttp

from bench.fanout import START_S, Child, Commands, Stalled, child, proc_cpu_s, tell
from bench.insight import _db_values, _range, _write_rollups
from bench.seed import KINDS, PANELS, PLACES
from bench.sweep import _load, _percentile
from probes.result import HealthStatus
from resolvers.rollups import HOUR, MINUTE, Tally, bucket_start, latency_bin

PAGE = 100
CLOSE_S = 30.0  # Vigil shuts down within this
REQUEST_TIMEOUT_S = 30.0
TARGET_WARM_OVER_COLD = 5.0
TARGET_GRAPHQL_OVER_PLAIN = 3.0
QUERY = (
    "query($first: Int!) { services(first: $first) { edges { node {"
    " id name status referencePanels { key build } uptime(window: LAST_24_HOURS) } } } }"
)


# Seeding -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Health:
    """A service's published status, and its checks per minute by status (empty: never checked)."""

    status: HealthStatus
    per_minute: tuple[tuple[HealthStatus, int], ...]


def health(rank: int) -> Health:
    h, d, u, m = HealthStatus.HEALTHY, HealthStatus.DEGRADED, HealthStatus.UNHEALTHY, HealthStatus.MAINTENANCE
    if rank % 50 == 7:
        return Health(HealthStatus.UNKNOWN, ())
    if rank % 20 == 9:
        return Health(u, ((h, 1), (u, 1)))  # uptime 0.5
    if rank % 10 == 3:
        return Health(d, ((h, 2), (d, 1), (u, 1)))  # 0.75: DEGRADED counts as up
    if rank % 25 == 11:
        return Health(m, ((h, 2), (m, 1)))  # 1.0: MAINTENANCE is left out
    return Health(h, ((h, 1 + rank % 3),))


def rollup_values(per_minute: tuple[tuple[HealthStatus, int], ...], minutes: int) -> tuple[object, ...]:
    """The columns after (service_id, resolution_s, bucket_start) of a rollup over `minutes` minutes."""
    tally = Tally()
    for status, count in per_minute:
        tally.counts[status] = count * minutes
    failed = tally.counts[HealthStatus.UNHEALTHY]
    measured = sum(tally.counts.values()) - failed
    if failed:
        tally.failure_kinds["TIMEOUT"] = failed
    if measured:
        tally.latency_count, tally.latency_sum_ms = measured, 300.0 * measured
        tally.latency_min_ms, tally.latency_max_ms = 250.0, 380.0
        tally.latency_hist[latency_bin(300.0)] = measured
    return _db_values(tally)


async def seed(services: int, now: dt.datetime) -> dict[str, int]:
    """Services, panels and rollups as the module docstring describes; the counts written."""
    from models import CheckRollup, ReferencePanel, Service
    from probes.result import ApiType, GenomeBuild, ServiceType

    rng = random.Random(42)
    kinds = [(t, a) for t, a, share in KINDS for _ in range(round(share * 100))]
    rows = []
    for rank in range(services):
        service_type, api_type = kinds[rank * 37 % len(kinds)]
        rows.append(
            Service(
                name=f"svc-{rank:04d}",
                type=ServiceType(service_type),
                api_type=ApiType(api_type),
                base_url=f"https://svc-{rank:04d}.example.org",
                location=PLACES[rank % len(PLACES)],
                check_interval_seconds=60,
                timeout_seconds=10.0,
                status=health(rank).status,
            )
        )
    await Service.bulk_create(rows, batch_size=500)
    ids = list(await Service.all().order_by("id").values_list("id", flat=True))
    panels = [
        ReferencePanel(
            service_id=sid,
            key=key,
            label=label,
            build=GenomeBuild.HG38 if "topmed" in key or rng.random() < 0.3 else GenomeBuild.HG19,
            is_active=rng.random() > 0.05,
        )
        for sid in ids
        for key, label in rng.sample(PANELS, rng.randint(2, 10))
    ]
    await ReferencePanel.bulk_create(panels, batch_size=1000)

    to_db = CheckRollup._meta.fields_map["bucket_start"].to_db_value
    current_hour, edge_hour = bucket_start(now, HOUR), bucket_start(now - dt.timedelta(hours=24), HOUR)
    starts = {
        HOUR: _range(current_hour - dt.timedelta(hours=26), current_hour + dt.timedelta(hours=1), HOUR),
        MINUTE: [
            *_range(edge_hour, edge_hour + dt.timedelta(hours=2), MINUTE),  # the next hour too: runs cross hours
            *_range(current_hour, bucket_start(now, MINUTE) + dt.timedelta(minutes=1), MINUTE),
        ],
    }
    stamps = {width: [to_db(at, None) for at in at_list] for width, at_list in starts.items()}
    values: dict[tuple[object, int], tuple[object, ...]] = {}
    rollups: list[tuple[object, ...]] = []
    written = 0
    for rank, sid in enumerate(ids):
        per_minute = health(rank).per_minute
        if not per_minute:
            continue
        for width, at_list in stamps.items():
            if (per_minute, width) not in values:
                values[per_minute, width] = rollup_values(per_minute, width // 60)
            rollups.extend((sid, width, at, *values[per_minute, width]) for at in at_list)
        if len(rollups) >= 50_000:
            written += await _write_rollups(rollups)
            rollups = []
    written += await _write_rollups(rollups)
    return {"services": len(ids), "panels": len(panels), "rollups": written}


@contextlib.asynccontextmanager
async def database(backend: str, pg_url: str, tmp: pathlib.Path) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield f"sqlite://{tmp / 'vigil.db'}"
        return
    from tests.conftest import fresh_postgres_database

    async with fresh_postgres_database(pg_url) as url:
        yield url


# The Vigil process -------------------------------------------------------------------------


async def plain_services(request: Any) -> Any:
    """What QUERY answers, as plain JSON from the same cache: the floor without GraphQL."""
    from starlette.responses import JSONResponse

    from resolvers import loaders as batch
    from resolvers import services, views
    from resolvers.pagination import page_size

    deps = request.state.deps
    size = page_size(int(request.query_params.get("first", PAGE)), deps.settings.max_page_size)
    page = await views.service_page(deps, services.ServiceQuery(), size, None)
    ids = [row.id for row in page.rows]
    panels = await views.cached_batch(deps, "panels", views.panel_key, batch.panels_by_service)(
        [(sid, False) for sid in ids]
    )
    uptimes = await views.cached_batch(
        deps, "uptime", views.uptime_key, partial(batch.uptime_by_service, settings=deps.settings)
    )([(sid, "LAST_24_HOURS") for sid in ids])
    nodes = [
        {
            "id": str(row.id),
            "name": row.name,
            "status": row.status.value,
            "referencePanels": [
                {"key": panel.key, "build": None if panel.build is None else panel.build.value} for panel in rows
            ],
            "uptime": uptime,
        }
        for row, rows, uptime in zip(page.rows, panels, uptimes, strict=True)
    ]
    return JSONResponse({"services": nodes})


def run_vigil(overrides: dict[str, Any], gc_threshold: int | None, conn: multiprocessing.connection.Connection) -> None:
    """Vigil process entry: sends `("ready", port)`, then answers commands until "stop" or EOF."""
    import uvicorn
    from starlette.routing import Route

    from app import create_app
    from config import Settings
    from tests.integration.test_query_count import statements

    logging.basicConfig(level=logging.WARNING, format="  [vigil] %(levelname)s %(name)s: %(message)s")
    app = create_app(Settings(_env_file=None, **overrides))
    app.router.routes.insert(0, Route("/bench/services", plain_services, methods=["GET"]))
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", backlog=4096)
    if gc_threshold is not None:
        gc.set_threshold(gc_threshold, *gc.get_threshold()[1:])
    with statements() as sql, asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(_serve(uvicorn.Server(config), sql, conn))
    conn.close()


class GcTime:
    """CPU seconds spent in the cyclic garbage collector. Thread time: on a busy machine, wall time
    would charge preemption by other processes to whichever collection was running."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.thread_time()
        else:
            self.seconds += time.thread_time() - self._started

    def close(self) -> None:
        gc.callbacks.remove(self._on_gc)


def switch(profiler: cProfile.Profile, on: bool) -> str | None:
    """Starts profiling; or stops it and reports: shares by package, then the costliest functions."""
    if on:
        profiler.enable()
        return None
    profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    text.write(shares(stats))
    stats.strip_dirs().sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(45)
    return text.getvalue()


async def _serve(server: Any, sql: list[str], conn: multiprocessing.connection.Connection) -> None:
    task = asyncio.create_task(server.serve(), name="uvicorn")
    # CPU time, not wall time: on a shared machine, wall time charges preemption to whatever ran last.
    profiler = cProfile.Profile(time.process_time)
    collector = GcTime()
    try:
        async with asyncio.timeout(START_S):
            while not server.started:  # uvicorn has no event for this
                if task.done():
                    task.result()
                    raise RuntimeError("uvicorn stopped before it started")
                await asyncio.sleep(0.01)
        tell(conn, "ready", server.servers[0].sockets[0].getsockname()[1])
        with Commands(conn) as commands:
            while (command := await commands.next()) is not None and command[0] != "stop":
                match command:
                    case ("counters",):
                        tell(conn, "counters", len(sql), collector.seconds)
                    case ("profile", bool(on)):
                        tell(conn, "profile", switch(profiler, on))
                    case _:
                        tell(conn, "error", f"unknown command {command!r}")
    finally:
        collector.close()
        server.should_exit = True
        async with asyncio.timeout(CLOSE_S):
            await task


def shares(stats: Any) -> str:
    """Own CPU time (cProfile's tottime) by package: where a profiled request's time goes."""
    site, stdlib, repo = "site-packages/", os.path.dirname(os.__file__) + "/", os.getcwd() + "/"
    groups: collections.Counter[str] = collections.Counter()
    for (filename, _, _), (_, _, own_s, _, _) in stats.stats.items():
        if site in filename:
            where = filename.split(site, 1)[1].split("/", 1)[0]
        elif filename.startswith(stdlib):
            where = "stdlib " + filename.removeprefix(stdlib).split("/", 1)[0].removesuffix(".py")
        elif filename.startswith(repo):
            where = "vigil " + filename.removeprefix(repo).split("/", 1)[0]
        elif filename == "~":
            where = "built-in functions (isinstance, getattr, ...), charged to no caller"
        else:
            where = filename  # <frozen ...> modules
        groups[where] += own_s
    total = sum(groups.values()) or 1.0
    lines = [f"  {100 * s / total:5.1f} %  {where}" for where, s in groups.most_common(14)]
    return "\n".join(["own CPU time by package:", *lines, ""])


@contextlib.contextmanager
def vigil(overrides: dict[str, Any], gc_threshold: int | None) -> Iterator[tuple[Child, str]]:
    with child("vigil", run_vigil, overrides, gc_threshold) as process:
        (_, port) = process.expect("ready", START_S)
        yield process, f"http://127.0.0.1:{port}"
        process.send("stop")


# The load generator ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    body: bytes | None = None

    def nodes(self, answer: dict[str, Any]) -> list[dict[str, Any]]:
        if self.body is None:
            return list(answer["services"])
        if "errors" in answer:
            raise AssertionError(f"GraphQL errors: {answer['errors']!r:.500}")
        return [edge["node"] for edge in answer["data"]["services"]["edges"]]


GRAPHQL = Request("POST", "/graphql", json.dumps({"query": QUERY, "variables": {"first": PAGE}}).encode())
PLAIN = Request("GET", f"/bench/services?first={PAGE}")
HEADERS = {"content-type": "application/json"}


@dataclasses.dataclass(frozen=True, slots=True)
class Measured:
    label: str
    requests: int
    failed: int  # over the whole scenario, warm-up included
    seconds: float
    latencies_ms: list[float]  # ascending
    queries_per_request: float  # over every request of the scenario, warm-up included
    server_cpu_s: float
    gc_s: float  # CPU time of Vigil's cyclic garbage collector
    client_cpu_s: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def per_request(self, total: float) -> float:
        return total / self.requests if self.requests else float("nan")


async def ask(process: Child, kind: str, *args: Any) -> tuple[Any, ...]:
    """A command to the Vigil process, from a thread: the pipe blocks, the clients must not."""
    return (await asyncio.to_thread(process.ask, kind, 10.0, *args))[1:]


async def queries(process: Child) -> int:
    """SQL statements Vigil has sent so far."""
    return int((await ask(process, "counters"))[0])


async def usage(process: Child) -> tuple[float, float, float]:
    """CPU seconds Vigil has used so far, and in its garbage collector, and CPU seconds of this process."""
    (_, gc_s), cpu_s = await ask(process, "counters"), proc_cpu_s(process.proc.pid)
    return cpu_s, gc_s, time.process_time()


async def fetch(session: aiohttp.ClientSession, base: str, request: Request) -> tuple[int, bytes]:
    async with session.request(request.method, base + request.path, data=request.body, headers=HEADERS) as response:
        return response.status, await response.read()


async def one(
    session: aiohttp.ClientSession, process: Child, base: str, request: Request
) -> tuple[list[dict[str, Any]], int]:
    """One request's nodes, and the SQL statements it sent."""
    before = await queries(process)
    status, body = await fetch(session, base, request)
    if status != 200:
        raise AssertionError(f"{request.path}: HTTP {status}: {body[:300]!r}")
    return request.nodes(json.loads(body)), await queries(process) - before


async def hammer(
    label: str, process: Child, base: str, request: Request, args: argparse.Namespace, *, profile: bool = False
) -> Measured:
    """`args.clients` clients back to back: warm-up, then the timed window."""
    connector = aiohttp.TCPConnector(limit=args.clients)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    latencies: list[float] = []
    failed = completed = 0

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def client() -> None:
            nonlocal failed, completed
            while (sent := time.perf_counter()) < closes:
                try:
                    status, body = await fetch(session, base, request)
                    ok = status == 200 and b'"errors"' not in body
                except (aiohttp.ClientError, TimeoutError):
                    ok = False
                done = time.perf_counter()
                completed += 1
                if not ok:
                    failed += 1
                elif opens <= done <= closes:
                    latencies.append((done - sent) * 1000)

        await fetch(session, base, request)  # alone first: with the cache on, the clients start warm
        sql = await queries(process)
        start = time.perf_counter()
        opens, closes = start + args.warmup, start + args.warmup + args.seconds
        clients = [asyncio.create_task(client(), name=f"client-{i}") for i in range(args.clients)]
        try:
            await asyncio.sleep(opens - time.perf_counter())
            if profile:
                await ask(process, "profile", True)
            before = await usage(process)
            await asyncio.sleep(closes - time.perf_counter())
            server_cpu, gc_s, client_cpu = (b - a for a, b in zip(before, await usage(process), strict=True))
            if profile:
                print((await ask(process, "profile", False))[0])
            async with asyncio.timeout(REQUEST_TIMEOUT_S + 5):
                await asyncio.gather(*clients)
        finally:
            for task in clients:
                task.cancel()
            await asyncio.gather(*clients, return_exceptions=True)
    sql = await queries(process) - sql
    latencies.sort()
    return Measured(
        label, len(latencies), failed, args.seconds, latencies, sql / max(completed, 1), server_cpu, gc_s, client_cpu
    )


# One backend -------------------------------------------------------------------------------


@dataclasses.dataclass
class Outcome:
    backend: str
    seeded: dict[str, int] = dataclasses.field(default_factory=dict)
    one_request: dict[str, int] = dataclasses.field(default_factory=dict)  # SQL statements of a single request
    measured: dict[str, Measured] = dataclasses.field(default_factory=dict)
    problems: list[str] = dataclasses.field(default_factory=list)


async def run_backend(backend: str, args: argparse.Namespace) -> Outcome:
    from models.db import open_database, tortoise_config

    outcome = Outcome(backend)
    with tempfile.TemporaryDirectory(prefix="bench-service-list-") as tmp:
        async with database(backend, args.pg_url, pathlib.Path(tmp)) as url:
            started = time.perf_counter()
            async with open_database(tortoise_config(url)):
                outcome.seeded = await seed(args.services, dt.datetime.now(dt.UTC))
            print(f"  {backend}: seeded {outcome.seeded} in {time.perf_counter() - started:.1f} s", flush=True)
            base_settings: dict[str, Any] = {
                "database_url": url,
                "secret_key": "bench-service-list-not-a-secret",
                "secret_key_file": str(pathlib.Path(tmp) / "vigil.key"),
                "probes_enabled": False,
                "rate_limit_per_minute": 0,
                "anonymous_read": True,
                "graphiql": False,
                "log_level": "WARNING",
            }
            cold_settings = {**base_settings, "cache_enabled": False}
            with vigil(cold_settings, args.gc_threshold) as cold, vigil(base_settings, args.gc_threshold) as warm:
                outcome.one_request = await agree(cold, warm, args.services)
                for label, request in (("GraphQL cold", GRAPHQL), ("plain cold", PLAIN)):
                    outcome.measured[label] = await hammer(label, *cold, request, args)
                for label, request in (("GraphQL warm", GRAPHQL), ("plain warm", PLAIN)):
                    outcome.measured[label] = await hammer(label, *warm, request, args)
                if args.profile:
                    print(f"\n== {backend}: cProfile of the Vigil process, GraphQL warm (CPU time)")
                    await hammer("profiled", *warm, GRAPHQL, args, profile=True)
            if args.redis_url:
                prefix = f"bench-{uuid.uuid4().hex[:12]}:"
                shared = {**base_settings, "redis_url": args.redis_url, "redis_prefix": prefix}
                try:
                    with vigil(shared, args.gc_threshold) as l2:
                        label = "GraphQL warm, Redis L2"
                        outcome.measured[label] = await hammer(label, *l2, GRAPHQL, args)
                finally:
                    await forget_redis(args.redis_url, prefix)
    outcome.problems += [f"{m.label}: {m.failed} requests failed" for m in outcome.measured.values() if m.failed]
    return outcome


async def agree(cold: tuple[Child, str], warm: tuple[Child, str], services: int) -> dict[str, int]:
    """Checks that four ways of asking give one answer; the SQL statements each request sent.

    The warm server's plain request fills its cache, and its GraphQL request reads from it.
    """
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)) as session:
        asked = {
            "GraphQL, cache off": await one(session, *cold, GRAPHQL),
            "plain, cache off": await one(session, *cold, PLAIN),
            "plain, filling the cache": await one(session, *warm, PLAIN),
            "GraphQL, from the cache": await one(session, *warm, GRAPHQL),
        }
    problems = disagreements({label: nodes for label, (nodes, _) in asked.items()}, services)
    if problems:
        raise AssertionError("; ".join(problems))
    return {label: count for label, (_, count) in asked.items()}


def disagreements(answers: dict[str, list[dict[str, Any]]], services: int) -> list[str]:
    (first_label, expected), *others = answers.items()
    problems = [f"{label} differs from {first_label}" for label, nodes in others if nodes != expected]
    if len(expected) != min(PAGE, services):
        problems.append(f"{first_label}: {len(expected)} services, expected {min(PAGE, services)}")
    nulls = sum(node["uptime"] is None for node in expected)
    if nulls != sum(not health(rank).per_minute for rank in range(len(expected))):
        problems.append(f"{first_label}: {nulls} services without uptime, not the seeded number")
    return problems


async def forget_redis(url: str, prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        async with asyncio.timeout(30):
            keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
            if keys:
                await client.delete(*keys)
    finally:
        await client.aclose()


# Report ------------------------------------------------------------------------------------


def report(outcomes: Sequence[Outcome], args: argparse.Namespace) -> bool:
    print(
        f"\nservices(first: {PAGE}) {{ id name status referencePanels {{ key build }} uptime(LAST_24_HOURS) }}, "
        f"{args.services} services, {args.clients} clients, {args.warmup:g} s warm-up + {args.seconds:g} s each"
    )
    for outcome in outcomes:
        single = ", ".join(f"{label} {count}" for label, count in outcome.one_request.items())
        print(f"  {outcome.backend}: SQL statements of one request: {single}")
    print(
        f"\n{'backend':<9} {'scenario':<22} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'SQL/req':>8} "
        f"{'Vigil CPU/req':>14} {'of it GC':>9} {'Vigil cores':>12} {'client cores':>13}"
    )
    for outcome in outcomes:
        for m in outcome.measured.values():
            p50, p99 = _percentile(m.latencies_ms, 50), _percentile(m.latencies_ms, 99)
            print(
                f"{outcome.backend:<9} {m.label:<22} {m.per_second:>7.1f} {p50 or float('nan'):>8.1f} "
                f"{p99 or float('nan'):>8.1f} {m.queries_per_request:>8.2f} "
                f"{m.per_request(m.server_cpu_s) * 1000:>11.2f} ms {100 * m.gc_s / m.server_cpu_s:>7.0f} % "
                f"{m.server_cpu_s / m.seconds:>12.2f} "
                f"{m.client_cpu_s / m.seconds:>13.2f}"
            )
    print()
    for outcome in outcomes:
        m = outcome.measured
        if {"GraphQL cold", "GraphQL warm", "plain warm"} <= m.keys():
            cold, warm, plain = m["GraphQL cold"], m["GraphQL warm"], m["plain warm"]
            speedup = warm.per_second / cold.per_second
            overhead = plain.per_second / warm.per_second
            p50 = (_percentile(warm.latencies_ms, 50) or 0) / (_percentile(plain.latencies_ms, 50) or 1)
            cpu = warm.per_request(warm.server_cpu_s) / plain.per_request(plain.server_cpu_s)
            print(
                f"{outcome.backend}: warm / cold throughput {speedup:.1f}x (target >= {TARGET_WARM_OVER_COLD:g}x: "
                f"{'met' if speedup >= TARGET_WARM_OVER_COLD else 'MISSED'}); plain / GraphQL warm throughput "
                f"{overhead:.1f}x (target <= {TARGET_GRAPHQL_OVER_PLAIN:g}x: "
                f"{'met' if overhead <= TARGET_GRAPHQL_OVER_PLAIN else 'MISSED'}), p50 {p50:.1f}x, "
                f"Vigil CPU per request {cpu:.1f}x"
            )
    problems = [f"{o.backend}: {problem}" for o in outcomes for problem in o.problems]
    for problem in problems:
        print(f"PROBLEM {problem}")
    return not problems


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.service_list", description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000, help="services registered (1000)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (50)")
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per scenario (10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="untimed seconds before each scenario (2)")
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated: sqlite,postgres")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("VIGIL_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test"),
        help="a PostgreSQL server; the benchmark creates a database on it and drops it",
    )
    parser.add_argument("--redis-url", help="also run GraphQL warm with Redis as L2 (e.g. redis://127.0.0.1:6379/15)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of Vigil under GraphQL warm load")
    parser.add_argument(
        "--gc-threshold", type=int, help="what-if: Vigil's generation-0 GC threshold (Python's default: 700)"
    )
    args = parser.parse_args(argv)
    args.backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    if not args.backends or set(args.backends) - {"sqlite", "postgres"}:
        parser.error("--backends takes sqlite, postgres or both")
    if args.services < 1 or args.clients < 1 or args.seconds <= 0 or args.warmup < 0:
        parser.error("need --services and --clients >= 1, --seconds > 0 and --warmup >= 0")
    if args.gc_threshold is not None and args.gc_threshold < 1:
        parser.error("need --gc-threshold >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    import uvloop  # installed with uvicorn[standard]: the lighter loop keeps client overhead out of the figures

    args = parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a killed run still stops its Vigil processes
    print(f"load average before: {_load()} ({os.cpu_count()} cores, shared by Vigil, the database and the clients)")
    outcomes = []
    try:
        for backend in args.backends:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                outcomes.append(runner.run(run_backend(backend, args)))
    except (Stalled, OSError, AssertionError, KeyboardInterrupt) as exc:
        print(f"stopped early: {type(exc).__name__}: {exc}")
        report(outcomes, args)
        return 1
    is_clean = report(outcomes, args)
    print(f"\nload average after: {_load()}")
    return 0 if is_clean else 1


if __name__ == "__main__":
    sys.exit(main())
