"""Soak: hundreds of services on fakes, some flapping and some hanging, statusChanged subscribers and a
steady query load for half an hour; every status change accounted for, memory and loop lag watched.

Run it as `python -m bench.soak [--minutes 30] [--services 500] [--flapping 0.10] [--hanging 0.05]
[--subscribers 200] [--query-rps 5] [--interval 5] [--timeout 2] [--database sqlite|postgres] [--pg-url URL]`.

Processes, so that each figure belongs to one thing:

- Vigil: `python cli.py serve` (`tests/integration/replicas.py: replica`) on a fresh SQLite file, or
  on a fresh PostgreSQL database dropped at the end, with an ADMIN token from `vigil token create`.
  Its RSS and CPU come from /proc/<pid>, its counters from /metrics, its errors from its log.
- the fakes: CloudgeneSimulators with Michigan's panels on 127.0.0.1. Healthy services share
  `HEALTHY_SERVERS` servers and hanging ones `HANGING_SERVERS` (Behaviour.HANG: every check times
  out and the breaker opens). Each flapping service has a server of its own, which the schedule
  below flips between OK and HTTP_500; the fakes process notes the Unix time of every flip.
- the subscribers: bench.fanout's client processes; each subscriber is one graphql-transport-ws
  socket with one `statusChanged` subscription over every service.
- this process registers the services (with a credential, so `syncReferencePanels` can read the
  panels), waits until every service has its first status, connects the subscribers, and then
  starts the flips, the query load (a services page with panels and uptime, the dashboard, one
  service's trends, in turn, at a fixed rate) and the samples (`/healthz` round trip every
  `PING_EVERY_S`; RSS, CPU and /metrics every `SAMPLE_EVERY_S`). At the end it reads every
  service's checks back through `healthHistory`.

The schedule: each unhealthy phase lasts `DOWN_PHASE` intervals, so it holds at least 2 checks
(hysteresis needs 2 to go down) even when checks run 60% late, and at most 4 (the breaker opens
at 5). Each healthy phase lasts `UP_PHASE` intervals. No flip comes in the last `settle_s`, and
every flapping service ends healthy, so every change has happened when the run ends.

What is compared:

1. each check with the fakes: its rawStatus must be the fake's state when the check was made
   (either state when a flip came within the check's timeout + 1 s before it was recorded);
2. the database with the fakes: replaying the hysteresis rule over the checks, with the fakes'
   states, must give exactly the status changes the database holds, check for check;
3. every subscriber with the database: per service, the (seq, status) it received, in order, must
   be the database's changes made after the subscribers were in place: none missed, none twice,
   none that the database does not hold.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import datetime as dt
import itertools
import pathlib
import pickle
import random
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from enum import StrEnum
from typing import Any, NamedTuple, TypeVar

import aiohttp
from aiohttp import web

from bench.cluster import DEFAULT_PG_URL, errors_in
from bench.fanout import (
    CLOSE_S,
    START_S,
    Child,
    ClientReport,
    Commands,
    Stalled,
    child,
    proc_cpu_s,
    proc_status_kib,
    run_clients,
    split,
    tell,
)
from bench.sweep import _load, _percentile, _raise_fd_limit
from probes.hysteresis import HysteresisSettings
from simulators import Behaviour, CloudgeneSimulator
from simulators.cloudgene import MICHIGAN_PANELS

HEALTHY_SERVERS = 10
HANGING_SERVERS = 5
FAKE_TOKEN = "soak-token"  # every fake accepts it, so discovery can read the app's panels
DOWN_PHASE = (3.2, 3.8)  # intervals
UP_PHASE = (3.0, 8.0)
SAMPLE_EVERY_S = 5.0
PING_EVERY_S = 0.5
PROGRESS_EVERY_S = 60.0
CONNECT_S = 120.0
SETUP_CONCURRENCY = 8
HISTORY_CONCURRENCY = 4
HISTORY_PAGE = 1000
MAX_IN_FLIGHT = 50  # query load: a request due while this many wait is skipped and counted
REQUEST_TIMEOUT_S = 30.0
DELIVERY_GRACE_S = 3.0  # after the end, for the last deliveries in flight
RULE = HysteresisSettings()

HEALTHY, UNHEALTHY, UNKNOWN = "HEALTHY", "UNHEALTHY", "UNKNOWN"
VIEWER = 'mutation { createApiToken(name: "soak-viewer", role: VIEWER) { secret } }'
REGISTER = """
mutation SoakRegister($name: String!, $url: String!, $credential: String!, $interval: Int!, $timeout: Float!) {
  registerService(input: {name: $name, type: MICHIGAN, apiType: CLOUDGENE, baseUrl: $url, credential: $credential,
                          checkIntervalSeconds: $interval, timeoutSeconds: $timeout}) { service { id } }
}"""
SYNC = "mutation SoakSync($id: ID!) { syncReferencePanels(serviceId: $id) { synced message } }"
STATUSES = "query SoakStatuses($first: Int!) { services(first: $first) { nodes { status } } }"
HISTORY = """
query SoakHistory($id: ID!, $first: Int!, $after: String) {
  healthHistory(serviceId: $id, first: $first, after: $after) {
    pageInfo { hasNextPage endCursor } nodes { seq checkedAt status rawStatus }
  }
}"""
SERVICES = """
query SoakServices {
  services(first: 50) {
    totalCount
    edges { node { id name status circuitState referencePanels { key build } uptime(window: LAST_24_HOURS) } }
  }
}"""
DASHBOARD = """
query SoakDashboard {
  dashboard {
    totalServices activeServices statusCounts { healthy degraded unhealthy maintenance unknown }
    needsAttention { service { id name } status reasons uptime24h }
    recentStatusChanges { seq serviceId status changedAt } openIncidents platformUptime
  }
}"""
TRENDS = """
query SoakTrends($id: ID!) {
  trends(serviceId: $id, window: LAST_HOUR) {
    bucketSeconds buckets { start checks failures uptime latencyP50Ms }
    summary { checks failures uptime } incidents { id kind startedAt endedAt }
  }
}"""

T = TypeVar("T")
R = TypeVar("R")


class Kind(StrEnum):
    HEALTHY = "healthy"
    FLAPPING = "flapping"
    HANGING = "hanging"


Flip = tuple[int, float, bool]
"""(service index, Unix time, True when the fake came up) as the fakes process made it."""


class Check(NamedTuple):
    seq: int
    checked_at: float  # Unix seconds
    status: str
    raw_status: str


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    """What to run; the defaults are the soak the issue asks for."""

    minutes: float = 30.0
    services: int = 500
    flapping: float = 0.10
    hanging: float = 0.05
    subscribers: int = 200
    query_rps: float = 5.0
    interval_s: int = 5
    timeout_s: float = 2.0
    warmup_minutes: float | None = None  # None: a sixth of the run, at most 5 minutes
    database: str = "sqlite"
    pg_url: str = DEFAULT_PG_URL
    processes: int = 2  # subscriber processes
    max_rss_growth: float = 0.10
    seed: int = 1
    log_dir: pathlib.Path | None = None  # where Vigil's log is kept; None: a temporary directory

    def logs(self, workdir: pathlib.Path) -> pathlib.Path:
        return self.log_dir or workdir / "logs"

    @property
    def duration_s(self) -> float:
        return self.minutes * 60

    @property
    def warmup_s(self) -> float:
        return self.warmup_minutes * 60 if self.warmup_minutes is not None else min(self.duration_s / 6, 300.0)

    @property
    def settle_s(self) -> float:
        """The quiet end of the run: enough for the last flip's change (one check) with room for lateness."""
        return 3 * (self.interval_s + self.timeout_s) + 2


# Who does what ----------------------------------------------------------------------------


def kinds(plan: Plan) -> list[Kind]:
    """Each service's part, spread at random with the plan's seed."""
    rng = random.Random(plan.seed)
    flapping = round(plan.services * plan.flapping)
    hanging = round(plan.services * plan.hanging)
    chosen = rng.sample(range(plan.services), flapping + hanging)
    parts = [Kind.HEALTHY] * plan.services
    for index in chosen[:flapping]:
        parts[index] = Kind.FLAPPING
    for index in chosen[flapping:]:
        parts[index] = Kind.HANGING
    return parts


def schedules(plan: Plan, parts: Sequence[Kind]) -> dict[int, tuple[tuple[float, bool], ...]]:
    """For each flapping service, its flips as (seconds after the start, comes up); every one ends up."""
    rng = random.Random(plan.seed + 1)
    last_s = plan.duration_s - plan.settle_s
    planned = {}
    for index in (i for i, kind in enumerate(parts) if kind is Kind.FLAPPING):
        flips: list[tuple[float, bool]] = []
        at = rng.uniform(0, UP_PHASE[1]) * plan.interval_s
        while (up_at := at + rng.uniform(*DOWN_PHASE) * plan.interval_s) <= last_s:
            flips += [(at, False), (up_at, True)]
            at = up_at + rng.uniform(*UP_PHASE) * plan.interval_s
        planned[index] = tuple(flips)
    return planned


# The fakes process --------------------------------------------------------------------------


def run_fakes(parts: Sequence[Kind], conn: Any) -> None:
    """Fakes process entry: ("ready", base URLs); ("start", schedules) starts the flips; ("flips",)."""
    _raise_fd_limit()
    asyncio.run(_fakes(parts, conn))
    conn.close()


def _simulator(behaviour: Behaviour = Behaviour.OK) -> CloudgeneSimulator:
    sim = CloudgeneSimulator(
        name="Soak Cloudgene", panels=MICHIGAN_PANELS, tokens={FAKE_TOKEN: "soak"}, context_path="/{service}"
    )
    sim.behaviour = behaviour
    return sim


async def _fakes(parts: Sequence[Kind], conn: Any) -> None:
    pools = {
        Kind.HEALTHY: [_simulator() for _ in range(HEALTHY_SERVERS)],
        Kind.HANGING: [_simulator(Behaviour.HANG) for _ in range(HANGING_SERVERS)],
    }
    sims = [
        _simulator() if kind is Kind.FLAPPING else pools[kind][index % len(pools[kind])]
        for index, kind in enumerate(parts)
    ]
    servers = list({id(sim): sim for sim in sims}.values())
    ports: dict[int, int] = {}
    runners: list[web.AppRunner] = []
    flips: list[Flip] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        for sim in servers:
            # A timed-out check closes its connection; cancelling the handler stops HANG piling up.
            runner = web.AppRunner(sim.app, shutdown_timeout=1.0, access_log=None, handler_cancellation=True)
            await runner.setup()
            runners.append(runner)
            await web.TCPSite(runner, "127.0.0.1", 0, backlog=1024).start()
            ports[id(sim)] = runner.addresses[0][1]
        tell(conn, "ready", [f"http://127.0.0.1:{ports[id(sim)]}/svc{i}" for i, sim in enumerate(sims)])
        with Commands(conn) as commands:
            while (command := await commands.next()) is not None:
                match command:
                    case ("start", planned):
                        started_at = time.time()
                        for index, steps in planned.items():
                            tasks.append(asyncio.create_task(_flip(sims[index], index, started_at, steps, flips)))
                        tasks.append(asyncio.create_task(_forget_requests(servers)))
                        tell(conn, "start", started_at)
                    case ("flips",):
                        tell(conn, "flips", flips)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for runner in reversed(runners):
            await runner.cleanup()


async def _flip(
    sim: CloudgeneSimulator, index: int, started_at: float, steps: Sequence[tuple[float, bool]], flips: list[Flip]
) -> None:
    for offset_s, is_up in steps:
        await asyncio.sleep(max(0.0, started_at + offset_s - time.time()))
        sim.behaviour = Behaviour.OK if is_up else Behaviour.HTTP_500
        flips.append((index, time.time(), is_up))  # no await in between: a request after this sees the flip


async def _forget_requests(servers: Sequence[CloudgeneSimulator]) -> None:
    """Simulators keep every request for tests to inspect: half an hour of checks would be ~0.4 M of them."""
    while True:
        await asyncio.sleep(10)
        for sim in servers:
            sim.requests.clear()


# Vigil ---------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def vigil(plan: Plan, workdir: pathlib.Path) -> AsyncIterator[Any]:
    """`vigil serve` on a fresh database; yields tests.integration.replicas.ReplicaProcess."""
    from tests.conftest import fresh_postgres_database
    from tests.integration.replicas import admin_token, replica

    async with contextlib.AsyncExitStack() as stack:
        if plan.database == "postgres":
            database_url = await stack.enter_async_context(fresh_postgres_database(plan.pg_url))
        else:
            database_url = f"sqlite://{workdir / 'vigil.db'}"
        env = {
            "VIGIL_DATABASE_URL": database_url,
            "VIGIL_SECRET_KEY": "soak bench key, not a secret",
            "VIGIL_ALLOW_PRIVATE_TARGETS": "true",  # the fakes listen on 127.0.0.1
            "VIGIL_ANONYMOUS_READ": "true",
            "VIGIL_RATE_LIMIT_PER_MINUTE": "0",  # every client is 127.0.0.1
            "VIGIL_MUTATION_RATE_LIMIT_PER_MINUTE": "0",
            "VIGIL_MIN_CHECK_INTERVAL_SECONDS": "1",
            "VIGIL_MAX_PAGE_SIZE": str(HISTORY_PAGE),  # history is read back a thousand checks a page
            "VIGIL_GRAPHIQL": "false",
            "VIGIL_LOG_LEVEL": "WARNING",
        }
        token = await asyncio.to_thread(admin_token, env)
        logs = plan.logs(workdir)
        logs.mkdir(parents=True, exist_ok=True)
        yield await stack.enter_async_context(replica(env, str(logs / "vigil.log"), token))


class Subscribers:
    """bench.fanout's client processes, read through the event loop so their notes never block them."""

    def __init__(self, clients: Sequence[Child]) -> None:
        self._clients = clients
        self._inboxes = [Commands(client.conn) for client in clients]
        self.lost: list[str] = []

    def __enter__(self) -> Subscribers:
        for inbox in self._inboxes:
            inbox.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        for inbox in self._inboxes:
            inbox.__exit__(*exc_info)

    def send(self, *message: Any) -> None:
        for client in self._clients:
            client.send(*message)

    async def expect(self, kind: str, timeout_s: float) -> list[tuple[Any, ...]]:
        """Each process's next `kind` message; "complete" progress notes are passed over."""
        answers = []
        async with asyncio.timeout(timeout_s):
            for client, inbox in zip(self._clients, self._inboxes, strict=True):
                while (message := await inbox.next()) is not None and message[0] != kind:
                    if message[0] == "lost":
                        self.lost.append(message[1])
                if message is None:
                    client.proc.join(5)
                    raise Stalled(
                        f"{client.proc.name} ended before sending {kind!r} (exit code {client.proc.exitcode})"
                    )
                answers.append(message)
        return answers


# GraphQL and samples -----------------------------------------------------------------------


async def graphql(
    http: aiohttp.ClientSession, url: str, document: str, variables: dict[str, Any] | None = None, token: str = ""
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.post(
        f"{url}/graphql", json={"query": document, "variables": variables or {}}, headers=headers
    ) as r:
        answer: dict[str, Any] = await r.json(content_type=None)
    if r.status != 200 or answer.get("errors"):
        raise RuntimeError(f"HTTP {r.status}: {answer.get('errors')!r:.500}")
    return answer["data"]


async def each(items: Sequence[T], call: Callable[[T], Awaitable[R]], concurrency: int) -> list[R]:
    permits = asyncio.Semaphore(concurrency)

    async def one(item: T) -> R:
        async with permits:
            return await call(item)

    return list(await asyncio.gather(*(one(item) for item in items)))


def totals(text: str) -> dict[str, float]:
    """Each Prometheus family of the exposition `text`, summed over its labels."""
    summed: dict[str, float] = collections.defaultdict(float)
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            summed[series.split("{", 1)[0]] += float(value)
    return summed


@dataclasses.dataclass(frozen=True, slots=True)
class Sample:
    at: float
    rss_kib: int
    cpu_s: float
    metrics: dict[str, float]


async def scrape(http: aiohttp.ClientSession, url: str) -> dict[str, float]:
    async with http.get(f"{url}/metrics") as response:
        return totals(await response.text())


async def sample(http: aiohttp.ClientSession, url: str, pid: int) -> Sample:
    metrics = await scrape(http, url)
    return Sample(time.time(), proc_status_kib(pid, "VmRSS") or 0, proc_cpu_s(pid), metrics)


@dataclasses.dataclass
class Load:
    """The query load and the pings, as this process saw them."""

    sent: int = 0
    skipped: int = 0
    latencies: dict[str, list[float]] = dataclasses.field(default_factory=lambda: collections.defaultdict(list))
    errors: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    pings: list[tuple[float, float]] = dataclasses.field(default_factory=list)  # (Unix time, round trip s)


async def timed_query(
    http: aiohttp.ClientSession, url: str, name: str, document: str, args: dict[str, Any], load: Load
) -> None:
    started = time.perf_counter()
    try:
        await graphql(http, url, document, args)
    except (aiohttp.ClientError, TimeoutError, ValueError, RuntimeError) as exc:
        load.errors[f"{name}: {type(exc).__name__}: {exc}"[:300]] += 1
    else:
        load.latencies[name].append(time.perf_counter() - started)


async def query_load(
    http: aiohttp.ClientSession, url: str, rps: float, trend_ids: Sequence[str], ends_at: float, load: Load
) -> None:
    """`rps` requests a second on a fixed schedule, whatever the answers take (up to MAX_IN_FLIGHT waiting)."""
    rng = random.Random(3)
    kinds_of_query = itertools.cycle(("services", "dashboard", "trends"))
    in_flight: set[asyncio.Task[None]] = set()
    due = time.time()
    try:
        while due < ends_at:
            await asyncio.sleep(max(0.0, due - time.time()))
            due += 1 / rps
            if len(in_flight) >= MAX_IN_FLIGHT:
                load.skipped += 1
                continue
            name = next(kinds_of_query)
            document, args = {
                "services": (SERVICES, {}),
                "dashboard": (DASHBOARD, {}),
                "trends": (TRENDS, {"id": rng.choice(trend_ids)}),
            }[name]
            task = asyncio.create_task(timed_query(http, url, name, document, args, load))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            load.sent += 1
        await asyncio.gather(*in_flight)
    finally:
        for task in in_flight:
            task.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)


async def ping(http: aiohttp.ClientSession, url: str, ends_at: float, load: Load) -> None:
    """GET /healthz every PING_EVERY_S: it does nothing, so its round trip is the event loop's lag plus ~1 ms."""
    while time.time() < ends_at:
        started = time.perf_counter()
        try:
            async with http.get(f"{url}/healthz") as response:
                await response.read()
                if response.status != 200:
                    load.errors[f"healthz: HTTP {response.status}"] += 1
        except (aiohttp.ClientError, TimeoutError) as exc:
            load.errors[f"healthz: {type(exc).__name__}"] += 1
        rtt_s = time.perf_counter() - started
        load.pings.append((time.time(), rtt_s))
        await asyncio.sleep(max(0.0, PING_EVERY_S - rtt_s))


async def watch(http: aiohttp.ClientSession, url: str, pid: int, run: Run, load: Load, ends_at: float) -> None:
    """A Sample every SAMPLE_EVERY_S, and a progress line every PROGRESS_EVERY_S."""
    next_line = time.time() + PROGRESS_EVERY_S
    due = time.time()
    while due < ends_at:
        await asyncio.sleep(max(0.0, due - time.time()))
        due += SAMPLE_EVERY_S
        try:
            run.samples.append(await sample(http, url, pid))
        except (aiohttp.ClientError, TimeoutError) as exc:
            load.errors[f"metrics: {type(exc).__name__}"] += 1
        if time.time() >= next_line and run.samples:
            next_line += PROGRESS_EVERY_S
            last = run.samples[-1]
            recent = sorted(rtt for at, rtt in load.pings if at >= last.at - PROGRESS_EVERY_S)
            print(
                f"  {(last.at - run.started_at) / 60:5.1f} min: RSS {last.rss_kib / 1024:.0f} MiB,"
                f" checks {last.metrics.get('vigil_checks_total', 0):.0f},"
                f" probe lag {last.metrics.get('vigil_probe_lag_seconds', 0):.2f} s,"
                f" /healthz p99 {_ms(_percentile(recent, 99))},"
                f" queries {load.sent} ({sum(load.errors.values())} errors)",
                flush=True,
            )


async def history(http: aiohttp.ClientSession, url: str, service_id: str) -> list[Check]:
    """Every check of one service, oldest first."""
    checks: list[Check] = []
    after = None
    while True:
        page = (await graphql(http, url, HISTORY, {"id": service_id, "first": HISTORY_PAGE, "after": after}))[
            "healthHistory"
        ]
        for node in page["nodes"]:
            at = dt.datetime.fromisoformat(node["checkedAt"]).timestamp()
            checks.append(Check(node["seq"], at, node["status"], node["rawStatus"]))
        if not page["pageInfo"]["hasNextPage"]:
            return sorted(checks)
        after = page["pageInfo"]["endCursor"]


# The run ------------------------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    """What the run gathered; `judge` turns it into figures. Partly filled when a step stalled."""

    plan: Plan
    parts: list[Kind] = dataclasses.field(default_factory=list)
    service_ids: list[str] = dataclasses.field(default_factory=list)
    subscribers: int = 0  # acknowledged
    subscribed_at: float = 0.0  # every subscription was in the broker
    started_at: float = 0.0  # the flips and the load began
    ended_at: float = 0.0
    flips: list[Flip] = dataclasses.field(default_factory=list)
    history: dict[str, list[Check]] = dataclasses.field(default_factory=dict)
    reports: list[ClientReport] = dataclasses.field(default_factory=list)
    lost: list[str] = dataclasses.field(default_factory=list)
    samples: list[Sample] = dataclasses.field(default_factory=list)
    load: Load = dataclasses.field(default_factory=Load)
    log_errors: tuple[str, ...] = ()
    log_warnings: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    problems: list[str] = dataclasses.field(default_factory=list)
    load_average: tuple[str, str] = ("", "")


async def soak(plan: Plan) -> Run:
    """Runs the whole soak; a step that stalls stops it, and what was gathered is kept in `problems`."""
    run = Run(plan, parts=kinds(plan), load_average=(_load(), ""))
    try:
        await _soak(plan, run)
    except (Stalled, OSError, RuntimeError, TimeoutError) as exc:
        run.problems.append(f"stopped early: {type(exc).__name__}: {exc}")
    run.load_average = (run.load_average[0], _load())
    return run


async def _soak(plan: Plan, run: Run) -> None:
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    with tempfile.TemporaryDirectory(prefix="vigil-soak-") as tmp:
        workdir = pathlib.Path(tmp)
        async with contextlib.AsyncExitStack() as stack:
            fakes = stack.enter_context(child("soak-fakes", run_fakes, run.parts))
            urls: list[str] = (await asyncio.to_thread(fakes.expect, "ready", START_S))[1]
            server = await stack.enter_async_context(vigil(plan, workdir))
            url, admin, pid = server.vigil.url, server.vigil.tokens["ADMIN"], server.process.pid
            http = await stack.enter_async_context(
                aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=100))
            )
            viewer = (await graphql(http, url, VIEWER, token=admin))["createApiToken"]["secret"]
            ws_url = f"{url.replace('http://', 'ws://')}/graphql"
            clients = [
                stack.enter_context(child(f"soak-clients-{i}", run_clients, ws_url, viewer, None, count))
                for i, count in enumerate(split(plan.subscribers, plan.processes) if plan.subscribers else ())
            ]
            subscribers = stack.enter_context(Subscribers(clients))
            await register(http, url, admin, plan, urls, run)
            await subscribe(http, url, subscribers, run)

            planned = schedules(plan, run.parts)
            run.started_at = (await asyncio.to_thread(fakes.ask, "start", START_S, planned))[1]
            ends_at = run.ended_at = run.started_at + plan.duration_s
            trend_ids = [run.service_ids[i] for i in planned] or run.service_ids
            print(f"soak started: {plan.duration_s / 60:g} min, warm-up {plan.warmup_s / 60:g} min", flush=True)
            async with asyncio.TaskGroup() as group:
                if plan.query_rps:
                    group.create_task(query_load(http, url, plan.query_rps, trend_ids, ends_at, run.load))
                group.create_task(ping(http, url, ends_at, run.load))
                group.create_task(watch(http, url, pid, run, run.load, ends_at))
            await asyncio.sleep(DELIVERY_GRACE_S)
            run.samples.append(await sample(http, url, pid))

            run.flips = (await asyncio.to_thread(fakes.ask, "flips", START_S))[1]
            ids = run.service_ids
            checks = await each(ids, lambda sid: history(http, url, sid), HISTORY_CONCURRENCY)
            run.history = dict(zip(ids, checks, strict=True))
            subscribers.send("report")
            run.reports = [m[1] for m in await subscribers.expect("report", CLOSE_S + 30)]
            run.lost = subscribers.lost
        if (logs := plan.logs(workdir)).is_dir():
            run.log_errors = errors_in(logs)
            run.log_warnings = warnings_in(logs / "vigil.log")


def warnings_in(log: pathlib.Path) -> collections.Counter[str]:
    """Vigil's WARNING records by logger and message, their time left out."""
    found: collections.Counter[str] = collections.Counter()
    for line in log.read_text(errors="replace").splitlines():
        if " WARNING " in line[:40] or line.startswith("WARNING:"):
            found[line.split(" WARNING ", 1)[-1][:200]] += 1
    return found


async def register(
    http: aiohttp.ClientSession, url: str, admin: str, plan: Plan, urls: Sequence[str], run: Run
) -> None:
    """Registers every service, syncs the panels of those that answer, waits for every first status."""
    started = time.monotonic()

    async def one(index: int) -> str:
        args = {
            "name": f"Soak {index:04d} ({run.parts[index]})",
            "url": urls[index],
            "credential": FAKE_TOKEN,
            "interval": plan.interval_s,
            "timeout": plan.timeout_s,
        }
        return (await graphql(http, url, REGISTER, args, admin))["registerService"]["service"]["id"]

    run.service_ids = await each(range(plan.services), one, SETUP_CONCURRENCY)
    answering = [sid for sid, kind in zip(run.service_ids, run.parts, strict=True) if kind is not Kind.HANGING]
    synced = await each(answering, lambda sid: graphql(http, url, SYNC, {"id": sid}, admin), SETUP_CONCURRENCY)
    if not all(answer["syncReferencePanels"]["synced"] for answer in synced):
        raise RuntimeError("syncReferencePanels failed for a healthy fake")

    async def unchecked() -> int:
        nodes = (await graphql(http, url, STATUSES, {"first": HISTORY_PAGE}))["services"]["nodes"]
        return sum(node["status"] == UNKNOWN for node in nodes)

    async with asyncio.timeout(plan.interval_s + plan.timeout_s + 60):
        while await unchecked():  # noqa: ASYNC110 (nothing announces "every service has been checked once")
            await asyncio.sleep(1)
    print(f"{plan.services} services registered, panels synced and checked once in {time.monotonic() - started:.0f} s")


async def subscribe(http: aiohttp.ClientSession, url: str, subscribers: Subscribers, run: Run) -> None:
    """Connects every subscriber and waits until the broker holds all their subscriptions."""

    async def in_broker() -> int:
        return int((await scrape(http, url)).get("vigil_event_subscribers", 0))

    started = time.monotonic()
    await subscribers.expect("ready", START_S)
    baseline = await in_broker()
    subscribers.send("connect")
    run.subscribers = sum(m[1] for m in await subscribers.expect("connect", CONNECT_S + 10))
    async with asyncio.timeout(CONNECT_S):
        while await in_broker() < baseline + run.subscribers:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
    run.subscribed_at = time.time()
    print(f"{run.subscribers} subscribers connected and subscribed in {time.monotonic() - started:.0f} s")


# Judging ------------------------------------------------------------------------------------


def fake_statuses(kind: Kind, flips: Sequence[tuple[float, bool]], start: float, end: float) -> set[str]:
    """The statuses the fake showed at some moment of [start, end]; a flapping fake starts up."""
    if kind is Kind.HANGING:
        return {UNHEALTHY}
    is_up, seen = True, set()
    for at, up in flips:
        if at <= start:
            is_up = up
        elif at <= end:
            seen.add(up)
    return {HEALTHY if up else UNHEALTHY for up in seen | {is_up}}


def replay(
    kind: Kind, checks: Sequence[Check], flips: Sequence[tuple[float, bool]], window_s: float
) -> tuple[list[tuple[int, str]], list[Check]]:
    """The changes the fake's states imply under the hysteresis rule, and the checks that contradict the fake.

    A check's rawStatus stands when the fake showed it within `window_s` before the check was
    recorded (the request may have reached the fake before a flip); otherwise the fake's state at
    that moment is used, and the check is returned as a contradiction.
    """
    published, streak = UNKNOWN, 0
    changes: list[tuple[int, str]] = []
    contradictions: list[Check] = []
    for check in checks:
        observed = check.raw_status
        if observed not in fake_statuses(kind, flips, check.checked_at - window_s, check.checked_at):
            contradictions.append(check)
            observed = fake_statuses(kind, flips, check.checked_at, check.checked_at).pop()
        if observed == published:
            streak = 0
            continue
        streak += 1
        needed = RULE.successes_to_come_up if observed == HEALTHY else RULE.failures_to_go_down
        if published == UNKNOWN or streak >= needed:
            published, streak = observed, 0
            changes.append((check.seq, observed))
    return changes, contradictions


def stored_changes(checks: Sequence[Check]) -> list[tuple[int, str]]:
    """The status changes the database holds: each check whose published status differs from the last."""
    changes, previous = [], UNKNOWN
    for check in checks:
        if check.status != previous:
            changes.append((check.seq, check.status))
        previous = check.status
    return changes


@dataclasses.dataclass
class Verdict:
    figures: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    criteria: list[tuple[str, str, bool]] = dataclasses.field(default_factory=list)  # (criterion, measured, met)
    details: list[str] = dataclasses.field(default_factory=list)

    @property
    def failures(self) -> list[str]:
        return [f"{name}: {measured}" for name, measured, met in self.criteria if not met]

    def require(self, name: str, measured: str, met: bool) -> None:
        self.criteria.append((name, measured, met))


def judge(run: Run) -> Verdict:
    verdict = Verdict()
    plan = run.plan
    for problem in run.problems:
        verdict.require("the run completed", problem, False)
    if not run.history:
        return verdict
    _judge_changes(run, verdict)
    _judge_deliveries(run, verdict)
    _judge_errors(run, verdict)
    _judge_resources(run, verdict)
    verdict.figures.insert(
        0,
        (
            "plan",
            f"{plan.services} services ({sum(k is Kind.FLAPPING for k in run.parts)} flapping,"
            f" {sum(k is Kind.HANGING for k in run.parts)} hanging), interval {plan.interval_s} s, timeout"
            f" {plan.timeout_s:g} s, {plan.subscribers} subscribers, {plan.query_rps:g} queries/s,"
            f" {plan.minutes:g} min ({plan.warmup_s / 60:g} warm-up), {plan.database}",
        ),
    )
    return verdict


def _in_window(run: Run, changes: Sequence[tuple[int, str]], checks: Sequence[Check]) -> list[tuple[int, str]]:
    """The changes made while the subscribers were in place and the run lasted."""
    at = {check.seq: check.checked_at for check in checks}
    return [(seq, status) for seq, status in changes if run.subscribed_at <= at[seq] <= run.ended_at]


def _judge_changes(run: Run, verdict: Verdict) -> None:
    flips_of: dict[int, list[tuple[float, bool]]] = collections.defaultdict(list)
    for index, at, is_up in sorted(run.flips, key=lambda flip: flip[1]):
        flips_of[index].append((at, is_up))
    window_s = run.plan.timeout_s + 1.0
    contradicted = disagreeing = expected = stored = 0
    checks_by_kind: collections.Counter[Kind] = collections.Counter()
    for index, ((service_id, checks), kind) in enumerate(zip(run.history.items(), run.parts, strict=True)):
        checks_by_kind[kind] += sum(run.started_at <= c.checked_at <= run.ended_at for c in checks)
        implied, contradictions = replay(kind, checks, flips_of[index], window_s)
        held = stored_changes(checks)
        contradicted += len(contradictions)
        verdict.details += [f"service {service_id} ({kind}): {c} contradicts the fake" for c in contradictions[:3]]
        if implied != held:
            disagreeing += 1
            verdict.details.append(
                f"service {service_id} ({kind}): hysteresis over the fakes gives {implied[-6:]},"
                f" the database holds {held[-6:]} (last 6 of each)"
            )
        expected += len(_in_window(run, implied, checks))
        stored += len(_in_window(run, held, checks))
    flips, checks = len(run.flips), sum(checks_by_kind.values())
    samples = [s for s in run.samples if run.started_at <= s.at <= run.ended_at]
    counted = samples[-1].metrics["vigil_checks_total"] - samples[0].metrics["vigil_checks_total"] if samples else 0
    in_history = (
        sum(samples[0].at < c.checked_at <= samples[-1].at for cs in run.history.values() for c in cs) if samples else 0
    )
    by_kind = ", ".join(f"{checks_by_kind[kind]:,} {kind}" for kind in Kind)
    verdict.figures += [
        (
            "checks performed during the run (history)",
            f"{checks:,}: {by_kind}",
        ),
        (
            "the same from /metrics, between two samples",
            f"vigil_checks_total +{counted:,.0f}; history {in_history:,}",
        ),
        ("flips made by the fakes", f"{flips:,} ({flips - expected:,} absorbed by hysteresis)"),
        ("status changes expected (the fakes' flips through hysteresis)", f"{expected:,}"),
        ("status changes in the database", f"{stored:,}"),
    ]
    verdict.require(
        "the fakes flipped and the database shows it",
        f"{flips} flips, {expected} changes",
        expected > 0 or Kind.FLAPPING not in run.parts,
    )
    verdict.require("checks whose rawStatus contradicts their fake", f"{contradicted}", contradicted == 0)
    verdict.require(
        "services whose stored changes differ from the fakes' through hysteresis", f"{disagreeing}", disagreeing == 0
    )


def _judge_deliveries(run: Run, verdict: Verdict) -> None:
    sequences: dict[str, list[int]] = {}  # service id -> seqs of its changes in the window, in order
    window: dict[int, tuple[str, str]] = {}  # seq -> (service id, status), in the window
    held: dict[int, str] = {}  # seq -> status, every change
    for service_id, checks in run.history.items():
        changes = stored_changes(checks)
        held.update(changes)
        in_window = _in_window(run, changes, checks)
        sequences[service_id] = [seq for seq, _ in in_window]
        window.update((seq, (service_id, status)) for seq, status in in_window)
    expected = len(window)
    missed = duplicated = unknown = reordered = 0
    delivered: list[int] = []
    latencies: list[float] = []
    for report in run.reports:
        for deliveries in report.deliveries:
            got: dict[str, list[int]] = collections.defaultdict(list)
            for seq, status, changed_at, received_at in deliveries:
                if window.get(seq, ("", ""))[1] == status:
                    got[window[seq][0]].append(seq)
                    latencies.append(received_at - changed_at)
                elif held.get(seq) != status:  # not a change from before the subscribers, nor after the end
                    unknown += 1
            delivered.append(sum(map(len, got.values())))
            for service_id, sequence in sequences.items():
                received = got.get(service_id, [])
                missed += len(set(sequence) - set(received))
                duplicated += len(received) - len(set(received))
                reordered += set(received) == set(sequence) and list(dict.fromkeys(received)) != sequence
    acked = sum(report.acked for report in run.reports)
    latencies.sort()
    spread = (_percentile(latencies, 50), _percentile(latencies, 99), latencies[-1] if latencies else None)
    verdict.figures += [
        (
            "status changes delivered per subscriber",
            f"{min(delivered, default=0):,} to {max(delivered, default=0):,} (expected {expected:,} each;"
            f" {sum(delivered):,} of {expected * acked:,} in all)",
        ),
        ("delivery latency changedAt -> receipt, p50 / p99 / max", " / ".join(map(_ms, spread))),
    ]
    verdict.require(
        "subscribers connected and never lost",
        f"{acked} of {run.plan.subscribers}, {len(run.lost)} lost",
        acked == run.plan.subscribers and not run.lost,
    )
    verdict.require("changes missed", f"{missed}", missed == 0)
    verdict.require("changes delivered twice", f"{duplicated}", duplicated == 0)
    verdict.require("deliveries the database does not hold", f"{unknown}", unknown == 0)
    verdict.require("subscribers that got a service's changes out of order", f"{reordered}", reordered == 0)


def _judge_errors(run: Run, verdict: Verdict) -> None:
    load = run.load
    answered = sum(len(v) for v in load.latencies.values())
    query_errors = sum(n for what, n in load.errors.items() if not what.startswith(("healthz", "metrics")))
    other_errors = sum(load.errors.values()) - query_errors
    graphql_errors = _last(run, "vigil_graphql_errors_total")
    failed_checks = _last(run, "vigil_history_failed_checks_total")
    dropped = _last(run, "vigil_events_dropped_total")
    log_errors = sum(1 for line in run.log_errors if " ERROR " in line or "ERROR:" in line)
    timings = ", ".join(
        f"{name} p50 {_ms(_percentile(sorted(v), 50))} p99 {_ms(_percentile(sorted(v), 99))}"
        for name, v in sorted(load.latencies.items())
    )
    verdict.figures += [
        (
            "queries answered",
            f"{answered:,} of {load.sent:,} sent ({load.skipped} skipped: {MAX_IN_FLIGHT} waiting); {timings}",
        ),
        (
            "errors",
            f"query load {query_errors}, /healthz and /metrics {other_errors},"
            f" vigil_graphql_errors {graphql_errors:.0f},"
            f" Vigil log ERROR records {log_errors}, checks not written {failed_checks:.0f},"
            f" events dropped {dropped:.0f}",
        ),
    ]
    warnings = ", ".join(f"{n} x {what}" for what, n in run.log_warnings.most_common(3))
    verdict.figures.append(
        ("Vigil log WARNING records", f"{run.log_warnings.total()}{': ' if warnings else ''}{warnings}")
    )
    for what, n in load.errors.most_common(5):
        verdict.details.append(f"{n} x {what}")
    verdict.details += list(run.log_errors[:20])
    total = query_errors + other_errors + graphql_errors + log_errors + failed_checks + dropped + load.skipped
    verdict.require("unexpected errors (and skipped queries)", f"{total:.0f}", total == 0)


def _judge_resources(run: Run, verdict: Verdict) -> None:
    plan = run.plan
    warm_at = run.started_at + plan.warmup_s
    during = [s for s in run.samples if run.started_at <= s.at <= run.ended_at + DELIVERY_GRACE_S + SAMPLE_EVERY_S]
    warm = next((s for s in during if s.at >= warm_at), None)
    if warm is None or not during:
        verdict.require("samples after the warm-up", "none", False)
        return
    first, end = during[0], during[-1]
    growth = (end.rss_kib - warm.rss_kib) / warm.rss_kib
    probe_lags = sorted(s.metrics.get("vigil_probe_lag_seconds", 0.0) for s in during)
    pings = [(at, rtt) for at, rtt in run.load.pings if run.started_at <= at <= run.ended_at]
    rtts = sorted(rtt for _, rtt in pings)
    middle = warm_at + (run.ended_at - warm_at) / 2
    first_half = sorted(rtt for at, rtt in pings if warm_at <= at < middle)
    second_half = sorted(rtt for at, rtt in pings if at >= middle)
    p99_first, p99_second = _percentile(first_half, 99) or 0.0, _percentile(second_half, 99) or 0.0
    cores = (end.cpu_s - first.cpu_s) / max(end.at - first.at, 1e-9)
    verdict.figures += [
        (
            "Vigil RSS: start / warm-up end / end / peak",
            f"{first.rss_kib / 1024:.0f} / {warm.rss_kib / 1024:.0f} / {end.rss_kib / 1024:.0f} /"
            f" {max(s.rss_kib for s in during) / 1024:.0f} MiB (growth after warm-up {growth:+.1%})",
        ),
        (
            "event loop lag (/healthz round trip) p50 / p99 / max",
            f"{_ms(_percentile(rtts, 50))} / {_ms(_percentile(rtts, 99))} / {_ms(rtts[-1] if rtts else None)};"
            f" p99 after warm-up, first half {_ms(p99_first)}, second half {_ms(p99_second)}",
        ),
        (
            "probe lag (vigil_probe_lag_seconds, sampled) p50 / p99 / max",
            f"{_percentile(probe_lags, 50):.2f} / {_percentile(probe_lags, 99):.2f} / {probe_lags[-1]:.2f} s",
        ),
        ("Vigil CPU", f"{cores:.2f} cores on average; load average {run.load_average[0]} -> {run.load_average[1]}"),
    ]
    verdict.require(
        f"RSS growth after warm-up < {plan.max_rss_growth:.0%}", f"{growth:+.1%}", growth < plan.max_rss_growth
    )
    verdict.require(
        "probe lag p99 < one interval",
        f"{_percentile(probe_lags, 99):.2f} s",
        (_percentile(probe_lags, 99) or 0.0) < plan.interval_s,
    )
    verdict.require(
        "loop lag stable: second-half p99 <= 2 x first-half p99 + 250 ms",
        f"{_ms(p99_first)} -> {_ms(p99_second)}",
        p99_second <= 2 * p99_first + 0.25,
    )


def _last(run: Run, name: str) -> float:
    return run.samples[-1].metrics.get(name, 0.0) if run.samples else 0.0


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.0f} ms"


def render(verdict: Verdict) -> str:
    lines = ["", "== figures"]
    lines += [f"   {name}: {value}" for name, value in verdict.figures]
    lines += ["", "== criteria"]
    lines += [f"   [{'ok' if met else 'FAIL'}] {name}: {measured}" for name, measured, met in verdict.criteria]
    if verdict.details:
        lines += ["", "== details (first of each)"] + [f"   {line}" for line in verdict.details[:40]]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> tuple[Plan, argparse.Namespace]:
    defaults = Plan()
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=defaults.minutes, help="length of the soak after setup (30)")
    parser.add_argument("--services", type=int, default=defaults.services, help="services on fakes (500)")
    parser.add_argument("--flapping", type=float, default=defaults.flapping, help="share that flaps (0.10)")
    parser.add_argument("--hanging", type=float, default=defaults.hanging, help="share that never answers (0.05)")
    parser.add_argument("--subscribers", type=int, default=defaults.subscribers, help="statusChanged subscribers (200)")
    parser.add_argument("--query-rps", type=float, default=defaults.query_rps, help="queries a second (5)")
    parser.add_argument("--interval", type=int, default=defaults.interval_s, help="check interval, seconds (5)")
    parser.add_argument("--timeout", type=float, default=defaults.timeout_s, help="probe timeout, seconds (2)")
    parser.add_argument("--warmup-minutes", type=float, help="not counted in RSS growth (a sixth of the run, <= 5)")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default=defaults.database)
    parser.add_argument("--pg-url", default=defaults.pg_url, help=f"PostgreSQL server ({DEFAULT_PG_URL})")
    parser.add_argument("--processes", type=int, default=defaults.processes, help="subscriber processes (2)")
    parser.add_argument("--max-rss-growth", type=float, default=defaults.max_rss_growth, help="share (0.10)")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--log-dir", type=pathlib.Path, help="keep Vigil's log in this directory (default: dropped)")
    parser.add_argument("--save", type=pathlib.Path, help="keep what the run gathered in this file (pickle)")
    parser.add_argument("--judge", type=pathlib.Path, help="judge a run kept with --save; run nothing")
    args = parser.parse_args(argv)
    if not 0 < args.services <= HISTORY_PAGE or args.subscribers < 0 or args.query_rps < 0:
        parser.error(f"need 1 <= --services <= {HISTORY_PAGE}, --subscribers >= 0 and --query-rps >= 0")
    if args.flapping + args.hanging > 1 or args.timeout >= args.interval:
        parser.error("need --flapping + --hanging <= 1 and --timeout < --interval")
    plan = Plan(
        minutes=args.minutes,
        services=args.services,
        flapping=args.flapping,
        hanging=args.hanging,
        subscribers=args.subscribers,
        query_rps=args.query_rps,
        interval_s=args.interval,
        timeout_s=args.timeout,
        warmup_minutes=args.warmup_minutes,
        database=args.database,
        pg_url=args.pg_url,
        processes=args.processes,
        max_rss_growth=args.max_rss_growth,
        log_dir=args.log_dir,
        seed=args.seed,
    )
    return plan, args


def main(argv: Sequence[str] | None = None) -> int:
    plan, args = parse_args(argv)
    if args.judge:
        run = pickle.loads(args.judge.read_bytes())  # a file this bench wrote: trusted input
    else:
        print(f"load average before: {_load()}")
        signal.signal(signal.SIGTERM, signal.default_int_handler)  # a killed run still stops its children
        try:
            run = asyncio.run(soak(plan))
        except KeyboardInterrupt:
            print("interrupted (SIGINT or SIGTERM); every child process was stopped")
            return 1
        if args.save:
            args.save.write_bytes(pickle.dumps(run))
    verdict = judge(run)
    print(render(verdict))
    return 1 if verdict.failures or not verdict.criteria else 0


if __name__ == "__main__":
    from bench import soak  # this module under its own name, so that --save pickles `bench.soak` types

    sys.exit(soak.main())
