"""Two `vigil serve` replicas against one: probe sweep time and statusChanged fan-out, side by side.

Run it as `python -m bench.replicas [--services 1000] [--latency 0.2] [--interval 2] [--subscribers 1000]
[--flips 6] [--window 10] [--max-seconds 300]`.

For 1 replica, then 2, a fresh PostgreSQL database (dropped at the end) and a Redis prefix of its
own, and real `vigil serve` child processes (`tests/integration/replicas.py`) with the same
settings, as docs/deployment.md asks. On each such cluster, in this order:

1. Fan-out: one service (interval 1 s) on a CloudgeneSimulator that this process flips between OK
   and HTTP_500, and `--subscribers` statusChanged subscribers from bench.fanout's client
   processes, all on the one replica or alternately on the two. Latency is receipt minus
   `changedAt`, as in bench.fanout; an event is expected at a subscriber when any subscriber got
   it. The replicas probe nothing else yet.
2. Sweep: `--services` services, imported with one `importServices` (the common start), each at
   its own base URL on the fakes process. The first sweep is the time from the import's answer
   until every service has had a request. Then, after `--settle` seconds, a `--window` of steady
   state: requests per second, the time from the window's start until every service was probed
   again, and each service's period between two probes.

The fakes process runs `--servers` CloudgeneSimulators (Behaviour.SLOW, `--latency`) mounted at
`/{service}` as in bench.sweep, and notes each `/api/v2/server` request (one per check) with the
replica that sent it: the client's source port, matched to a replica's socket through
/proc/net/tcp and /proc/<pid>/fd. No service may be probed by two replicas within one interval.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import itertools
import json
import math
import multiprocessing.connection
import os
import pathlib
import signal
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from aiohttp import web

from bench.fanout import (
    CONNECT_S,
    FLIPS,
    HTTP_TIMEOUT_S,
    REGISTER,
    START_S,
    Budget,
    Child,
    ClientReport,
    Commands,
    Run,
    Stalled,
    child,
    drain_until_report,
    proc_cpu_s,
    run_clients,
    run_simulator,
    split,
    tell,
    wait_everywhere,
)
from bench.sweep import _load, _percentile, _raise_fd_limit
from simulators import Behaviour, CloudgeneSimulator
from simulators.behaviour import Handler

TARGET_P99_S = 1.0
FIRST_SWEEP_S = 60.0  # every imported service gets its first request within this
HEALTHY_S = 30.0
LOG_EXCERPT_LINES = 40
UVICORN_LEVELS = ("CRITICAL:", "ERROR:", "WARNING:", "INFO:")  # uvicorn's own records have no asctime
DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
ATTRIBUTE_EVERY_S = 0.25  # how often the fakes match new source ports to replicas
STATUS = "query($id: ID!) { service(id: $id) { status } }"
IMPORT = "mutation($document: String!) { importServices(document: $document) { created } }"
BACKENDS = "SELECT array_agg(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
STORED = """
SELECT concat_ws('/', c.raw_status, c.failure_kind), count(*) FROM health_check c JOIN service s ON s.id = c.service_id
WHERE s.name LIKE 'Sweep %' AND c.checked_at >= to_timestamp($1) AND c.checked_at < to_timestamp($2)
GROUP BY 1"""

Hit = tuple[int, int, float]
"""(service index, replica pid or 0 when unmatched, time.monotonic() of arrival)."""


# Fakes -------------------------------------------------------------------------------------


def socket_owners(pids: Sequence[int]) -> dict[tuple[int, int], int]:
    """(local port, remote port) of every IPv4 TCP socket the processes `pids` hold -> its pid."""
    inodes: dict[int, int] = {}
    for pid in pids:
        with contextlib.suppress(OSError), os.scandir(f"/proc/{pid}/fd") as fds:
            for fd in fds:
                with contextlib.suppress(OSError):
                    link = os.readlink(fd.path)
                    if link.startswith("socket:["):
                        inodes[int(link[8:-1])] = pid
    owners = {}
    for line in pathlib.Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if (pid := inodes.get(int(fields[9]))) is not None:
            owners[(int(fields[1].rsplit(":", 1)[1], 16), int(fields[2].rsplit(":", 1)[1], 16))] = pid
    return owners


class HitLog:
    """Every health request of the fakes; attributes them to replicas while their connections live."""

    def __init__(self) -> None:
        self.hits: list[list[int | float]] = []  # [service, pid, at], pid 0 until matched
        self._unmatched: list[tuple[int, tuple[int, int]]] = []  # (index in hits, (client port, server port))
        self.pids: list[int] = []

    @web.middleware
    async def note(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.endswith("/api/v2/server") and request.transport is not None:
            client_port = request.transport.get_extra_info("peername")[1]
            server_port = request.transport.get_extra_info("sockname")[1]
            self._unmatched.append((len(self.hits), (client_port, server_port)))
            self.hits.append([int(request.match_info["service"].removeprefix("svc")), 0, time.monotonic()])
        return await handler(request)

    async def attribute(self) -> None:
        while True:
            await asyncio.sleep(ATTRIBUTE_EVERY_S)
            if not self.pids:
                self._unmatched.clear()
                continue
            owners = socket_owners(self.pids)
            late = time.monotonic() - 4 * ATTRIBUTE_EVERY_S  # its connection is gone: it stays unmatched
            still = []
            for index, ports in self._unmatched:
                if (pid := owners.get(ports)) is not None:
                    self.hits[index][1] = pid
                elif self.hits[index][2] > late:
                    still.append((index, ports))
            self._unmatched = still


def run_fakes(servers: int, latency_s: float, conn: multiprocessing.connection.Connection) -> None:
    """Fakes process entry: sends `("ready", ports)`; answers `attribute` and `hits` until EOF."""
    _raise_fd_limit()
    asyncio.run(_fakes(servers, latency_s, conn))
    conn.close()


async def _fakes(servers: int, latency_s: float, conn: multiprocessing.connection.Connection) -> None:
    log = HitLog()
    runners: list[web.AppRunner] = []
    attributing = asyncio.create_task(log.attribute(), name="attribute-hits")
    try:
        for _ in range(servers):
            sim = CloudgeneSimulator(name="Bench Cloudgene", context_path="/{service}")
            sim.behaviour, sim.delay_s = Behaviour.SLOW, latency_s
            sim.app.middlewares.insert(0, log.note)
            runner = web.AppRunner(sim.app, shutdown_timeout=1.0, access_log=None)
            await runner.setup()
            runners.append(runner)
            await web.TCPSite(runner, "127.0.0.1", 0, backlog=1024).start()
        tell(conn, "ready", [runner.addresses[0][1] for runner in runners])
        with Commands(conn) as commands:
            while (command := await commands.next()) is not None:
                match command:
                    case ("attribute", pids):
                        log.pids = list(pids)
                        tell(conn, "attribute")
                    case ("hits", since):
                        tell(conn, "hits", [tuple(hit) for hit in log.hits if hit[2] >= since])
    finally:
        attributing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await attributing
        for runner in reversed(runners):
            await runner.cleanup()


# Replicas ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Member:
    """One running replica, as the measurements need it."""

    url: str
    pid: int
    vigil: Any  # tests.integration.conftest.LiveVigil

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/graphql"


@contextlib.asynccontextmanager
async def cluster(count: int, args: argparse.Namespace, logs: pathlib.Path) -> AsyncIterator[tuple[list[Member], str]]:
    """`count` replicas on a fresh database and a fresh Redis prefix; yields them and the database URL."""
    from tests.conftest import fresh_postgres_database
    from tests.integration.replicas import admin_token, replica

    prefix = f"bench-replicas-{uuid.uuid4().hex[:8]}:"
    async with fresh_postgres_database(args.pg_url) as database_url, contextlib.AsyncExitStack() as stack:
        env = {
            "VIGIL_DATABASE_URL": database_url,
            "VIGIL_REDIS_URL": args.redis_url,
            "VIGIL_REDIS_PREFIX": prefix,
            "VIGIL_SECRET_KEY": "one bench key for every replica",
            "VIGIL_ALLOW_PRIVATE_TARGETS": "true",  # the fakes listen on 127.0.0.1
            "VIGIL_ANONYMOUS_READ": "true",
            "VIGIL_RATE_LIMIT_PER_MINUTE": "0",  # every subscriber connects from 127.0.0.1
            "VIGIL_MIN_CHECK_INTERVAL_SECONDS": "1",
            "VIGIL_PROBE_CONCURRENCY": str(args.probe_concurrency),
            "VIGIL_MAX_REQUEST_BYTES": str(64 * 1024 * 1024),  # one importServices of every service
            "VIGIL_GRAPHIQL": "false",
            "VIGIL_LOG_LEVEL": "WARNING",
        }
        stack.push_async_callback(forget_keys, args.redis_url, prefix)
        token = await asyncio.to_thread(admin_token, env)
        members = []
        for index in range(count):
            started = await stack.enter_async_context(replica(env, str(logs / f"{count}-{index}.log"), token))
            url = started.vigil.url
            members.append(Member(url, started.process.pid, started.vigil))
        yield members, database_url


async def forget_keys(redis_url: str, prefix: str) -> None:
    """Deletes what the replicas' cache and usage counters left in Redis under `prefix`."""
    import redis.asyncio

    async with redis.asyncio.Redis.from_url(redis_url) as client, asyncio.timeout(30):
        if stale := [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]:
            await client.delete(*stale)


async def query(member: Member, document: str, variables: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = await member.vigil.gql(document, variables)
    if answer.get("errors"):
        raise RuntimeError(f"GraphQL errors: {answer['errors']}")
    return answer["data"]


async def wait_healthy(member: Member, service_id: str, timeout_s: float) -> None:
    async with asyncio.timeout(timeout_s):
        # A replica's state has no event this process can wait on: poll the API.
        while (await query(member, STATUS, {"id": service_id}))["service"]["status"] != "HEALTHY":  # noqa: ASYNC110
            await asyncio.sleep(0.2)


def scrape(member: Member) -> dict[str, float]:
    """The unlabelled samples of the replica's `/metrics`."""
    with urllib.request.urlopen(f"{member.url}/metrics", timeout=HTTP_TIMEOUT_S) as response:
        lines = response.read().decode().splitlines()
    samples = (line.split() for line in lines if line and not line.startswith("#") and "{" not in line)
    return {name: float(value) for name, value in samples}


def subscribers(members: Sequence[Member]) -> int:
    return sum(int(scrape(member)["vigil_event_subscribers"]) for member in members)


# Fan-out -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FanOut:
    subscribers: int
    connected: int
    connect_s: float | None
    events: int
    missed: int
    dropped: int
    latencies: tuple[float, ...]
    by_replica: tuple[tuple[str, tuple[float, ...]], ...]  # ("owner" / "other", latencies)
    flips_s: float  # wall time of the flips, over which the CPU figures are taken
    replica_cpu_s: tuple[float, ...]
    clients_cpu_s: float
    machine_cpu_s: float  # every process on the machine
    problems: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Watched:
    """The flipped service of one cluster."""

    service_id: str
    owner: int  # index of the replica that probes it
    token: str
    baseline: int  # broker subscriptions of the replicas before any subscriber connected


def fan_out(
    members: Sequence[Member], watched: Watched, flipper: Child, count: int, args: argparse.Namespace, budget: Budget
) -> FanOut:
    """Connects `count` subscribers, alternately to each of `members`, and flips the service `args.flips` times."""
    run = Run(subscribers=count, flips_asked=args.flips)
    dropped_before = sum(scrape(member)["vigil_events_dropped_total"] for member in members)
    homes = []  # the replica index of each client process
    with contextlib.ExitStack() as stack:
        clients = []
        for index, share in enumerate(split(count, args.processes)):
            homes.append(index % len(members))
            ws_url = members[homes[-1]].ws_url
            process = child(f"bench-clients-{index}", run_clients, ws_url, watched.token, watched.service_id, share)
            clients.append(stack.enter_context(process))
        for client in clients:
            client.expect("ready", budget(START_S))
        started_at = time.time()
        for client in clients:
            client.send("connect")
        acked = [client.expect("connect", budget(CONNECT_S + 5)) for client in clients]
        run.connected = sum(a[1] for a in acked)
        deadline = time.monotonic() + budget(CONNECT_S)
        # The replicas have no event for a new subscription: poll their /metrics.
        while subscribers(members) < watched.baseline + run.connected:
            if time.monotonic() > deadline:
                raise Stalled(
                    f"{subscribers(members) - watched.baseline} of {run.connected} subscriptions reached the brokers"
                )
            time.sleep(0.05)
        run.connect_s = time.time() - started_at
        cpu_before = [proc_cpu_s(member.pid) for member in members]
        clients_before = sum(proc_cpu_s(client.proc.pid or 0) for client in clients)
        machine_before, flips_started = machine_cpu_s(), time.monotonic()
        for flip in range(args.flips):
            behaviour, status = FLIPS[flip % 2]
            flipper.ask("behaviour", budget(HTTP_TIMEOUT_S), behaviour.value)
            if wait_everywhere(clients, status, run, budget(args.flip_timeout)) is None:
                run.problems.append(f"flip {flip + 1} ({status}) did not reach every subscriber in time")
        cpu = tuple(proc_cpu_s(member.pid) - before for member, before in zip(members, cpu_before, strict=True))
        clients_cpu = sum(proc_cpu_s(client.proc.pid or 0) for client in clients) - clients_before
        machine = (time.monotonic() - flips_started, machine_cpu_s() - machine_before)
        for client in clients:
            client.send("report")
        reports = [drain_until_report(client, run, budget(CONNECT_S)) for client in clients]
    dropped = sum(scrape(member)["vigil_events_dropped_total"] for member in members) - dropped_before
    return summarise(run, reports, homes, watched.owner, (cpu, clients_cpu, *machine), int(dropped))


def summarise(
    run: Run,
    reports: Sequence[ClientReport],
    homes: Sequence[int],
    owner: int,
    cpu: tuple[tuple[float, ...], float, float, float],  # replicas, clients, flips' wall time, machine
    dropped: int,
) -> FanOut:
    expected = {d[0] for report in reports for deliveries in report.deliveries for d in deliveries}
    missed = 0
    latencies: dict[int, list[float]] = collections.defaultdict(list)
    for report, home in zip(reports, homes, strict=True):
        for deliveries in report.deliveries:
            missed += len(expected - {d[0] for d in deliveries})
            latencies[home].extend(received_at - changed_at for _, _, changed_at, received_at in deliveries)
    problems = list(run.problems) + [
        f"{n} x subscriber lost: {why}" for why, n in collections.Counter(run.lost).items()
    ]
    problems += [failure for report in reports for failure in report.failures]
    if len(expected) != run.flips_asked:
        problems.append(f"{len(expected)} status changes seen for {run.flips_asked} flips")
    by_replica = tuple(
        ("owner" if home == owner else "other", tuple(sorted(values))) for home, values in sorted(latencies.items())
    )
    return FanOut(
        subscribers=run.subscribers,
        connected=run.connected,
        connect_s=run.connect_s,
        events=len(expected),
        missed=missed,
        dropped=dropped,
        latencies=tuple(sorted(x for values in latencies.values() for x in values)),
        by_replica=by_replica if len(by_replica) > 1 else (),
        flips_s=cpu[2],
        replica_cpu_s=cpu[0],
        clients_cpu_s=cpu[1],
        machine_cpu_s=cpu[3],
        problems=tuple(problems),
    )


# Sweep -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Usage:
    """CPU seconds used so far by the processes that sweep, and the replicas' history counters."""

    replicas: tuple[float, ...]
    fakes: float
    postgres: float  # the backends connected to the bench's database
    batches: float  # history write transactions, all replicas
    written: float  # checks written to history, all replicas
    machine: float  # every process on the machine

    def since(self, before: Usage) -> Usage:
        replicas = tuple(now - then for now, then in zip(self.replicas, before.replicas, strict=True))
        return Usage(
            replicas,
            self.fakes - before.fakes,
            self.postgres - before.postgres,
            self.batches - before.batches,
            self.written - before.written,
            self.machine - before.machine,
        )


def usage(members: Sequence[Member], fakes: Child, backends: Sequence[int]) -> Usage:
    samples = [scrape(member) for member in members]
    return Usage(
        replicas=tuple(proc_cpu_s(member.pid) for member in members),
        fakes=proc_cpu_s(fakes.proc.pid or 0),
        postgres=sum(cpu_or_zero(pid) for pid in backends),
        batches=sum(sample["vigil_history_batches_total"] for sample in samples),
        written=sum(sample["vigil_history_checks_written_total"] for sample in samples),
        machine=machine_cpu_s(),
    )


def machine_cpu_s() -> float:
    """Busy CPU seconds of every core since boot: /proc/stat less idle and iowait."""
    ticks = [int(field) for field in pathlib.Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def cpu_or_zero(pid: int) -> float:
    """A PostgreSQL backend may end between two samples (the pool closes idle connections)."""
    try:
        return proc_cpu_s(pid)
    except OSError:
        return 0.0


@dataclasses.dataclass(frozen=True)
class Sweep:
    import_s: float
    import_error: str | None
    first_sweep_s: float | None  # after importServices answered
    first_covered: int
    window_s: float
    probes: int
    steady_sweep_s: float | None  # from the window's start until every service was probed again
    steady_covered: int
    periods: tuple[float, ...]
    by_replica: tuple[int, ...]  # requests per replica in the window
    unmatched: int
    shared: int  # services probed by more than one replica in the window
    overlaps: int  # two replicas' probes of one service less than one interval apart
    recorded: dict[str, int]  # checks stored in the window, by raw status and failure kind
    usage: Usage  # in the window


async def ask(process: Child, kind: str, *args: Any) -> Any:
    return (await asyncio.to_thread(process.ask, kind, HTTP_TIMEOUT_S, *args))[1:]


def first_hits(hits: Sequence[Hit], since: float) -> dict[int, float]:
    firsts: dict[int, float] = {}
    for service, _, at in hits:
        if at >= since and service not in firsts:
            firsts[service] = at
    return firsts


async def sweep(
    members: Sequence[Member],
    fakes: Child,
    ports: Sequence[int],
    database_url: str,
    args: argparse.Namespace,
    budget: Budget,
) -> Sweep:
    """Imports `args.services` services at once, times the first sweep, then measures a steady window."""
    import asyncpg

    from resolvers.transfer import FORMAT  # imported here: the child processes import this module too
    from tests.conftest import _asyncpg_dsn

    await ask(fakes, "attribute", [member.pid for member in members])
    entries = [
        {
            "name": f"Sweep {index}",
            "type": "MICHIGAN",
            "apiType": "CLOUDGENE",
            "baseUrl": f"http://127.0.0.1:{ports[index % len(ports)]}/svc{index}",
            "checkIntervalSeconds": args.interval,
            "timeoutSeconds": args.interval,
        }
        for index in range(args.services)
    ]
    sent = time.monotonic()
    answer = await members[0].vigil.gql(IMPORT, {"document": json.dumps({"format": FORMAT, "services": entries})})
    imported = time.monotonic()
    ends_at = imported + budget(FIRST_SWEEP_S)
    while len(firsts := first_hits((await ask(fakes, "hits", sent))[0], sent)) < args.services:
        if time.monotonic() > ends_at:
            break
        await asyncio.sleep(0.25)

    await asyncio.sleep(args.settle)
    connection = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        backends = await connection.fetchval(BACKENDS)
        before = await asyncio.to_thread(usage, members, fakes, backends)
        start, start_unix = time.monotonic(), time.time()
        await asyncio.sleep(budget(args.window))
        end, end_unix = time.monotonic(), time.time()
        used = (await asyncio.to_thread(usage, members, fakes, backends)).since(before)
        stored = {row[0]: row[1] for row in await connection.fetch(STORED, start_unix, end_unix)}
    finally:
        await connection.close()
    await asyncio.sleep(5 * ATTRIBUTE_EVERY_S)  # the last requests' ports are matched by now
    hits = [hit for hit in (await ask(fakes, "hits", start))[0] if hit[2] < end]
    steady = first_hits(hits, start)
    periods, shared, overlaps = [], 0, 0
    by_service: dict[int, list[Hit]] = collections.defaultdict(list)
    for hit in hits:
        by_service[hit[0]].append(hit)
    for probes in by_service.values():
        shared += len({pid for _, pid, _ in probes if pid}) > 1
        for (_, pid_a, at_a), (_, pid_b, at_b) in itertools.pairwise(probes):
            periods.append(at_b - at_a)
            overlaps += bool(pid_a and pid_b and pid_a != pid_b and at_b - at_a < args.interval)
    pids = collections.Counter(pid for _, pid, _ in hits)
    return Sweep(
        import_s=imported - sent,
        import_error=str(answer["errors"]) if answer.get("errors") else None,
        first_sweep_s=max(firsts.values()) - imported if len(firsts) == args.services else None,
        first_covered=len(firsts),
        window_s=end - start,
        probes=len(hits),
        steady_sweep_s=max(steady.values()) - start if len(steady) == args.services else None,
        steady_covered=len(steady),
        periods=tuple(sorted(periods)),
        by_replica=tuple(pids[member.pid] for member in members),
        unmatched=pids[0],
        shared=shared,
        overlaps=overlaps,
        recorded=stored,
        usage=used,
    )


# The run -----------------------------------------------------------------------------------


@dataclasses.dataclass
class Measured:
    replicas: int
    fan_outs: list[FanOut] = dataclasses.field(default_factory=list)
    sweep: Sweep | None = None
    problems: list[str] = dataclasses.field(default_factory=list)
    load: str = ""  # load average when the cluster was up
    log_errors: tuple[str, ...] = ()  # the replicas' ERROR records, with their tracebacks


async def measure(
    count: int, args: argparse.Namespace, budget: Budget, fakes: tuple[Child, list[int]], flipper: tuple[Child, int]
) -> Measured:
    """Both measurements on a cluster of `count` replicas; what stopped it early goes to `problems`."""
    from models.leases import slot_of
    from tests.integration.replicas import settled

    measured = Measured(count)
    with tempfile.TemporaryDirectory(prefix="vigil-replicas-") as logs:
        try:
            async with cluster(count, args, pathlib.Path(logs)) as (members, database_url):
                measured.load = _load()
                await ask(flipper[0], "behaviour", Behaviour.OK.value)
                data = await query(members[0], REGISTER, {"url": f"http://127.0.0.1:{flipper[1]}"})
                service_id = data["registerService"]["service"]["id"]
                owned = await settled([member.vigil for member in members], 1, timeout_s=budget(30))
                owner = next(i for i, slots in enumerate(owned) if slot_of(int(service_id)) in slots["slots"])
                await wait_healthy(members[owner], service_id, budget(HEALTHY_S))
                baseline = await asyncio.to_thread(subscribers, members)
                watched = Watched(service_id, owner, members[0].vigil.tokens["ADMIN"], baseline)
                for size in args.subscribers:
                    got = await asyncio.to_thread(fan_out, members, watched, flipper[0], size, args, budget)
                    measured.fan_outs.append(got)
                measured.sweep = await sweep(members, fakes[0], fakes[1], database_url, args, budget)
        except (Stalled, OSError, RuntimeError, TimeoutError) as exc:
            measured.problems.append(f"stopped early: {type(exc).__name__}: {exc}")
        measured.log_errors = await asyncio.to_thread(errors_in, pathlib.Path(logs))
    return measured


def errors_in(logs: pathlib.Path) -> tuple[str, ...]:
    """The ERROR records of the replicas' logs, each with the lines that follow it up to the next record
    (our records start with their asctime)."""
    found: list[str] = []
    for path in sorted(logs.iterdir()):
        is_error = False
        for line in path.read_text(errors="replace").splitlines():
            if line[:4].isdigit() or line.startswith(UVICORN_LEVELS):  # where a record starts
                is_error = " ERROR " in line or line.startswith("ERROR:")
            if is_error:
                found.append(f"{path.stem}: {line}")
    return tuple(found)


@contextlib.contextmanager
def load_processes(
    args: argparse.Namespace, budget: Budget
) -> Iterator[tuple[tuple[Child, list[int]], tuple[Child, int]]]:
    """The fakes process and the flipped simulator, each with its port(s); both stopped on exit."""
    with (
        child("bench-fakes", run_fakes, args.servers, args.latency) as fakes,
        child("bench-simulator", run_simulator) as flipper,
    ):
        yield (fakes, fakes.expect("ready", budget(START_S))[1]), (flipper, flipper.expect("ready", budget(START_S))[1])


# Report ------------------------------------------------------------------------------------


def _s(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds:.2f} s"


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.0f} ms"


def _ratio(one: float | None, two: float | None) -> str:
    return "n/a" if one is None or not two else f"{one / two:.2f}"


def _cores(cpu_s: Sequence[float], seconds: float) -> str:
    return " + ".join(f"{cpu / seconds:.2f}" for cpu in cpu_s) if seconds > 0 else "n/a"


def _shares(replicas: Sequence[float], others: Sequence[float], seconds: float) -> str:
    return f"{_cores(replicas, seconds)} / {_cores(others, seconds)}"


def rows_of_sweep(one: Sweep | None, two: Sweep | None) -> Iterator[tuple[str, str, str, str]]:
    def each(figure: Any) -> tuple[str, str]:
        return tuple("n/a" if run is None else figure(run) for run in (one, two))  # type: ignore[return-value]

    def ratio(figure: Any) -> str:
        return "n/a" if one is None or two is None else _ratio(figure(one), figure(two))

    def rate(run: Sweep) -> float:
        return run.probes / run.window_s

    yield "importServices answered after", *each(lambda r: _s(r.import_s)), ""
    first = each(lambda r: f"{_s(r.first_sweep_s)} ({r.first_covered} services)")
    yield "first sweep: every service probed, after the import", *first, ratio(lambda r: r.first_sweep_s)
    steady = each(lambda r: f"{_s(r.steady_sweep_s)} ({r.steady_covered} services)")
    yield "steady: every service probed again, from t0", *steady, ratio(lambda r: r.steady_sweep_s)
    yield "steady probes/s (requests at the fakes)", *each(lambda r: f"{rate(r):.0f}"), ratio(rate)
    periods = each(lambda r: f"{_s(_percentile(r.periods, 50))} / {_s(_percentile(r.periods, 99))}")
    yield "period of one service p50 / p99", *periods, ratio(lambda r: _percentile(r.periods, 50))
    yield "requests per replica in the window", *each(lambda r: " + ".join(map(str, r.by_replica))), ""
    used = each(lambda r: _shares(r.usage.replicas, [r.usage.fakes, r.usage.postgres, r.usage.machine], r.window_s))
    yield "cores: replicas / fakes + PostgreSQL + machine", *used, ""
    batches = each(lambda r: f"{r.usage.written / r.window_s:.0f}/s; {r.usage.written / max(r.usage.batches, 1):.0f}")
    yield "checks written to history; per batch", *batches, ""
    twice = each(lambda r: f"{r.shared} / {r.overlaps} / {r.unmatched}")
    yield "services on 2 replicas / overlaps / unmatched", *twice, ""
    stored = each(lambda r: ", ".join(f"{k} {v}" for k, v in sorted(r.recorded.items())) or "none")
    yield "checks stored in the window, by raw status", *stored, ""


def rows_of_fan_out(one: FanOut | None, two: FanOut | None) -> Iterator[tuple[str, str, str, str]]:
    def each(figure: Any) -> tuple[str, str]:
        return tuple("n/a" if run is None else figure(run) for run in (one, two))  # type: ignore[return-value]

    def p99(run: FanOut) -> float | None:
        return _percentile(run.latencies, 99)

    yield "connected; all in the brokers after", *each(lambda r: f"{r.connected}; {_s(r.connect_s)}"), ""
    spread = each(lambda r: " / ".join(_ms(_percentile(r.latencies, p)) for p in (50, 99, 100)))
    p99_ratio = "n/a" if one is None or two is None else _ratio(p99(one), p99(two))
    yield "latency changedAt -> receipt p50 / p99 / max", *spread, p99_ratio
    local = each(lambda r: " / ".join(f"{name} {_ms(_percentile(v, 99))}" for name, v in r.by_replica) or "-")
    yield "p99 on the probing replica / the other", *local, ""
    yield "events; missed; dropped by the brokers", *each(lambda r: f"{r.events}; {r.missed}; {r.dropped}"), ""
    cpu = each(lambda r: _shares(r.replica_cpu_s, [r.clients_cpu_s, r.machine_cpu_s], r.flips_s))
    yield "cores during the flips: replicas / clients + machine", *cpu, ""
    verdict = each(lambda r: "yes" if (p99(r) or math.inf) < TARGET_P99_S and r.missed == 0 else "NO")
    yield f"p99 < {TARGET_P99_S:g} s and nothing missed", *verdict, ""


def report(one: Measured, two: Measured, args: argparse.Namespace) -> bool:
    """Prints the table; True when both clusters ran every step without a problem."""
    demand = args.services / (args.interval + args.latency)
    rows: list[tuple[str, str, str, str]] = [("", "1 replica", "2 replicas", "1 / 2")]
    rows.append(("load average once the replicas were up", one.load, two.load, ""))
    for index, size in enumerate(args.subscribers):
        rows.append((f"fan-out: {size} subscribers, {args.flips} flips", "", "", ""))
        pair = [m.fan_outs[index] if index < len(m.fan_outs) else None for m in (one, two)]
        rows.extend(rows_of_fan_out(*pair))
    title = f"sweep: {args.services} services, interval {args.interval} s, demand <= {demand:.0f} probes/s"
    rows.append((title, "", "", ""))
    rows.extend(rows_of_sweep(one.sweep, two.sweep))
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    print()
    for label, *cells in rows:
        if not any(cells):  # a section title
            print(label)
            continue
        figures = (cell.rjust(width) for cell, width in zip(cells, widths[1:], strict=True))
        print(f"  {label.ljust(widths[0])}  {'  '.join(figures)}")
    is_complete = True
    for measured in (one, two):
        problems = list(measured.problems) + [p for f in measured.fan_outs for p in f.problems]
        if measured.sweep is not None and measured.sweep.import_error:
            problems.append(f"importServices answered with errors: {measured.sweep.import_error}")
        if measured.sweep is not None and (measured.sweep.overlaps or measured.sweep.first_sweep_s is None):
            problems.append("the sweep found overlapping probes or did not cover every service")
        if measured.log_errors:
            excerpt = "\n     ".join(measured.log_errors[:LOG_EXCERPT_LINES])
            problems.append(f"ERROR records in the replicas' logs (replicas-index: line):\n     {excerpt}")
        for problem in problems:
            print(f"!! {measured.replicas} replica(s): {problem}")
        is_complete = is_complete and not problems
    return is_complete


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.replicas", description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000, help="services to sweep (1000)")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the fakes take to answer (0.2)")
    parser.add_argument("--interval", type=int, default=1, help="checkIntervalSeconds and timeout of each (1)")
    parser.add_argument("--servers", type=int, default=20, help="simulator servers in the fakes process (20)")
    parser.add_argument("--probe-concurrency", type=int, default=100, help="VIGIL_PROBE_CONCURRENCY (100)")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds after the first sweep before t0 (3)")
    parser.add_argument("--window", type=float, default=10.0, help="seconds of steady state measured (10)")
    parser.add_argument("--subscribers", type=int, nargs="+", default=[1000, 2000], help="fan-out sizes (1000 2000)")
    parser.add_argument("--flips", type=int, default=6, help="OK <-> HTTP_500 flips per fan-out, even (6)")
    parser.add_argument("--processes", type=int, default=4, help="client processes per fan-out (4)")
    parser.add_argument("--flip-timeout", type=float, default=20.0, help="seconds for a flip to reach everyone (20)")
    parser.add_argument("--pg-url", default=os.environ.get("VIGIL_TEST_DATABASE_URL", DEFAULT_PG_URL))
    parser.add_argument("--redis-url", default=os.environ.get("VIGIL_TEST_REDIS_URL", DEFAULT_REDIS_URL))
    parser.add_argument("--max-seconds", type=float, default=300.0, help="hard limit on the whole run (300)")
    args = parser.parse_args(argv)
    if args.services < 1 or args.interval < 1 or args.flips < 2 or args.flips % 2 or min(args.subscribers) < 1:
        parser.error("need --services >= 1, --interval >= 1, an even --flips >= 2 and --subscribers >= 1")
    return args


async def run(args: argparse.Namespace) -> bool:
    budget = Budget(args.max_seconds)
    with load_processes(args, budget) as (fakes, flipper):
        one = await measure(1, args, budget, fakes, flipper)
        two = await measure(2, args, budget, fakes, flipper)
    return report(one, two, args)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    _raise_fd_limit()  # the replicas inherit it: 1,000 WebSockets and the probes' sockets
    print(
        f"1 vs 2 `vigil serve` replicas on PostgreSQL {args.pg_url} and Redis {args.redis_url}."
        f" Fakes: {args.servers} servers answering after {args.latency:g} s; VIGIL_PROBE_CONCURRENCY"
        f" {args.probe_concurrency}; fan-out over {args.processes} client processes"
    )
    print(
        f"load average before: {_load()} (replicas, PostgreSQL, Redis, fakes and clients share {os.cpu_count()} cores)"
    )
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a killed run still stops its children
    try:
        is_complete = asyncio.run(run(args))
    except (Stalled, OSError, RuntimeError) as exc:
        print(f"!! stopped: {type(exc).__name__}: {exc}")
        is_complete = False
    except KeyboardInterrupt:
        print("!! interrupted (SIGINT or SIGTERM); every child process was stopped")
        is_complete = False
    print(f"\nload average after: {_load()}")
    return 0 if is_complete else 1


if __name__ == "__main__":
    sys.exit(main())
