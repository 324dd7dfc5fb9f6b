"""The probe sweep of a cluster of replicas, seen from the probed servers.

The fakes process runs CloudgeneSimulators (Behaviour.SLOW) mounted at `/{service}`, as in
bench.sweep, so `http://127.0.0.1:PORT/svc42` is the base URL of service 42. It notes every
`/api/v2/server` request (one per check) with the replica that sent it: the request's
(client port, server port) is matched to a socket of a replica process through /proc/net/tcp and
/proc/<pid>/fd, every ATTRIBUTE_EVERY_S while the connection is still open (aiohttp keeps it
alive after the answer). A request whose connection closed before that stays unmatched.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import itertools
import json
import multiprocessing.connection
import os
import pathlib
import time
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from bench.cluster import Member, machine_cpu_s
from bench.fanout import HTTP_TIMEOUT_S, Budget, Child, Commands, proc_cpu_s, tell
from bench.sweep import _raise_fd_limit
from simulators import Behaviour, CloudgeneSimulator
from simulators.behaviour import Handler

ATTRIBUTE_EVERY_S = 0.25
FIRST_SWEEP_S = 60.0  # every imported service gets its first request within this
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
    """(local port, remote port) of every IPv4 TCP socket that the processes `pids` hold -> its pid."""
    inodes: dict[int, int] = {}
    for pid in pids:
        with contextlib.suppress(OSError), os.scandir(f"/proc/{pid}/fd") as fds:
            for fd in fds:
                with contextlib.suppress(OSError):  # closed since the listing
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
    """Every health request of the fakes, attributed to the replica process that sent it."""

    def __init__(self) -> None:
        self.hits: list[list[int | float]] = []  # [service, pid, at]; pid 0 until matched
        self.pids: list[int] = []  # the replicas to match against
        self._unmatched: list[tuple[int, tuple[int, int]]] = []  # (index in hits, (client port, server port))

    @web.middleware
    async def note(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.endswith("/api/v2/server") and request.transport is not None:
            ports = (request.transport.get_extra_info("peername")[1], request.transport.get_extra_info("sockname")[1])
            self._unmatched.append((len(self.hits), ports))
            self.hits.append([int(request.match_info["service"].removeprefix("svc")), 0, time.monotonic()])
        return await handler(request)

    async def attribute(self) -> None:
        while True:
            await asyncio.sleep(ATTRIBUTE_EVERY_S)
            owners = socket_owners(self.pids) if self.pids else {}
            too_old = time.monotonic() - 4 * ATTRIBUTE_EVERY_S
            waiting = []
            for index, ports in self._unmatched:
                if (pid := owners.get(ports)) is not None:
                    self.hits[index][1] = pid
                elif self.hits[index][2] > too_old:
                    waiting.append((index, ports))
            self._unmatched = waiting


def run_fakes(servers: int, latency_s: float, conn: multiprocessing.connection.Connection) -> None:
    """Fakes process entry: sends `("ready", ports)`, then answers `attribute` and `hits` until EOF."""
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
            sim.app.middlewares.insert(0, log.note)  # outermost: the arrival time, before the delay
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


async def ask(process: Child, kind: str, *args: Any) -> Any:
    """What a child process answers to `(kind, *args)`, without blocking the event loop."""
    return (await asyncio.to_thread(process.ask, kind, HTTP_TIMEOUT_S, *args))[1:]


# Measuring ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Usage:
    """CPU seconds used so far, and the replicas' history counters; `since` makes it a difference."""

    replicas: tuple[float, ...]
    fakes: float
    postgres: float  # the backends connected to the cluster's database
    machine: float  # every process on the machine
    batches: float  # history write transactions, all replicas
    written: float  # checks written to history, all replicas

    def since(self, before: Usage) -> Usage:
        replicas = tuple(now - then for now, then in zip(self.replicas, before.replicas, strict=True))
        rest = (getattr(self, f.name) - getattr(before, f.name) for f in dataclasses.fields(self)[1:])
        return Usage(replicas, *rest)


def usage(members: Sequence[Member], fakes: Child, backends: Sequence[int]) -> Usage:
    """Blocking; the CPU figures are read last, so that the caller's timestamp right after matches them."""
    samples = [member.scrape() for member in members]
    return Usage(
        replicas=tuple(proc_cpu_s(member.pid) for member in members),
        fakes=proc_cpu_s(fakes.proc.pid or 0),
        postgres=sum(_cpu_or_zero(pid) for pid in backends),
        machine=machine_cpu_s(),
        batches=sum(sample["vigil_history_batches_total"] for sample in samples),
        written=sum(sample["vigil_history_checks_written_total"] for sample in samples),
    )


def _cpu_or_zero(pid: int) -> float:
    """A PostgreSQL backend may end between two samples (the pool closes idle connections)."""
    try:
        return proc_cpu_s(pid)
    except OSError:
        return 0.0


@dataclasses.dataclass(frozen=True)
class Plan:
    services: int
    interval_s: int  # each service's checkIntervalSeconds, and its timeoutSeconds
    settle_s: float  # from the end of the first sweep to the window's start
    window_s: float  # the steady state measured


@dataclasses.dataclass(frozen=True)
class Sweep:
    import_s: float
    import_error: str | None
    first_sweep_s: float | None  # after importServices answered; None if some service got no request
    first_covered: int
    window_s: float
    probes: int  # requests at the fakes in the window
    steady_sweep_s: float | None  # from the window's start until every service had a request
    steady_covered: int
    periods: tuple[float, ...]  # ascending: time between two requests for one service
    by_replica: tuple[int, ...]  # requests per replica in the window
    unmatched: int
    shared: int  # services probed by more than one replica in the window
    overlaps: int  # two replicas' requests for one service less than one interval apart
    first_stored: dict[str, int]  # checks stored from the import to the window's start, by raw status
    stored: dict[str, int]  # checks stored in the window, by raw status and failure kind
    usage: Usage  # in the window


def import_document(plan: Plan, ports: Sequence[int]) -> str:
    """`importServices` input: service i at `/svc{i}` on one of the fakes' ports."""
    from resolvers.transfer import FORMAT  # imported here: client processes import this module too

    entries = [
        {
            "name": f"Sweep {index}",
            "type": "MICHIGAN",
            "apiType": "CLOUDGENE",
            "baseUrl": f"http://127.0.0.1:{ports[index % len(ports)]}/svc{index}",
            "checkIntervalSeconds": plan.interval_s,
            "timeoutSeconds": plan.interval_s,
        }
        for index in range(plan.services)
    ]
    return json.dumps({"format": FORMAT, "services": entries})


def first_hits(hits: Sequence[Hit], since: float) -> dict[int, float]:
    firsts: dict[int, float] = {}
    for service, _, at in hits:
        if at >= since and service not in firsts:
            firsts[service] = at
    return firsts


async def sweep(
    members: Sequence[Member], database_url: str, fakes: tuple[Child, Sequence[int]], plan: Plan, budget: Budget
) -> Sweep:
    """Imports the services at once, times the first sweep, waits, then measures a steady window."""
    import asyncpg

    from tests.conftest import _asyncpg_dsn

    process, ports = fakes
    await ask(process, "attribute", [member.pid for member in members])
    sent, sent_unix = time.monotonic(), time.time()
    answer = await members[0].vigil.gql(IMPORT, {"document": import_document(plan, ports)})
    imported = time.monotonic()
    ends_at = imported + budget(FIRST_SWEEP_S)
    while len(firsts := first_hits((await ask(process, "hits", sent))[0], sent)) < plan.services:
        if time.monotonic() > ends_at:
            break
        await asyncio.sleep(0.25)

    await asyncio.sleep(plan.settle_s)
    connection = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        backends = await connection.fetchval(BACKENDS)
        before = await asyncio.to_thread(usage, members, process, backends)
        start, start_unix = time.monotonic(), time.time()
        await asyncio.sleep(budget(plan.window_s))
        after = await asyncio.to_thread(usage, members, process, backends)
        end, end_unix = time.monotonic(), time.time()
        first_stored = {row[0]: row[1] for row in await connection.fetch(STORED, sent_unix, start_unix)}
        stored = {row[0]: row[1] for row in await connection.fetch(STORED, start_unix, end_unix)}
    finally:
        await connection.close()
    await asyncio.sleep(5 * ATTRIBUTE_EVERY_S)  # the last requests are matched to a replica by now
    hits = [hit for hit in (await ask(process, "hits", start))[0] if hit[2] < end]
    steady = first_hits(hits, start)
    periods, shared, overlaps = [], 0, 0
    by_service: dict[int, list[Hit]] = collections.defaultdict(list)
    for hit in hits:
        by_service[hit[0]].append(hit)
    for probes in by_service.values():
        shared += len({pid for _, pid, _ in probes if pid}) > 1
        for (_, pid_a, at_a), (_, pid_b, at_b) in itertools.pairwise(probes):
            periods.append(at_b - at_a)
            overlaps += bool(pid_a and pid_b and pid_a != pid_b and at_b - at_a < plan.interval_s)
    pids = collections.Counter(pid for _, pid, _ in hits)
    return Sweep(
        import_s=imported - sent,
        import_error=str(answer["errors"]) if answer.get("errors") else None,
        first_sweep_s=max(firsts.values()) - imported if len(firsts) == plan.services else None,
        first_covered=len(firsts),
        window_s=end - start,
        probes=len(hits),
        steady_sweep_s=max(steady.values()) - start if len(steady) == plan.services else None,
        steady_covered=len(steady),
        periods=tuple(sorted(periods)),
        by_replica=tuple(pids[member.pid] for member in members),
        unmatched=pids[0],
        shared=shared,
        overlaps=overlaps,
        first_stored=first_stored,
        stored=stored,
        usage=after.since(before),
    )
