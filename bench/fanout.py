"""How fast one status change reaches 1,000 `statusChanged` subscribers over WebSockets.

Run it as `python -m bench.fanout [--subscribers 1000] [--flips 10]`.

Processes, so that each figure belongs to one thing:

- one Vigil process: uvicorn (as `vigil serve` runs it: uvloop, httptools, websockets) serving
  `create_app(Settings(...))` on a SQLite file in a temporary directory, probe loop on, 1 s minimum
  interval. The benchmark wraps the app's lifespan to reach its broker, and wraps the broker's
  `publish` to note when each StatusChanged is handed to the subscribers; nothing else changes.
- one simulator process: a CloudgeneSimulator whose `behaviour` the benchmark flips between
  OK and HTTP_500. The service is registered with `checkIntervalSeconds: 1`.
- `--processes` client processes: the subscribers, raw `graphql-transport-ws` over aiohttp
  (connection_init with a VIEWER token, then one subscribe each). They note the wall-clock time
  each `next` message arrives; the server and clients share the machine's clock.
- this process, which starts the others, flips the simulator, enforces the time limits and prints
  the figures.

Latency is receipt time minus the event's `changedAt`, which is when the probe finished the check
that moved the status (`probes/adapter.py` builds the result with `now()` after the answer): it
covers recording (one SQLite transaction), publishing, the fan-out through strawberry and the
WebSocket, and the client reading the frame. Going down takes two failed checks (hysteresis), so
a flip is seen 1-3 s after it is made; that detection delay is not part of the latency.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import datetime as dt
import gc
import json
import logging
import multiprocessing
import multiprocessing.connection
import os
import pathlib
import signal
import sys
import tempfile
import time
import urllib.request
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import aiohttp
from aiohttp import web

from bench.sweep import _load, _percentile, _raise_fd_limit, _stop
from simulators import Behaviour, CloudgeneSimulator

TARGET_P99_S = 0.25
START_S = 60.0  # a child process imports, migrates the database and listens within this
HEALTHY_S = 30.0  # the service's first check publishes HEALTHY within this
CONNECT_S = 120.0  # every subscriber is acknowledged and subscribed within this
CLOSE_S = 30.0  # clients close, and Vigil shuts down, within this
HTTP_TIMEOUT_S = 10.0
SUBPROTOCOL = "graphql-transport-ws"
STATUS_CHANGED = "subscription($ids: [ID!]) { statusChanged(serviceIds: $ids) { seq status changedAt } }"
REGISTER = """
mutation($url: String!) {
  registerService(input: {name: "Fan-out MIS", type: MICHIGAN, apiType: CLOUDGENE, baseUrl: $url,
                          checkIntervalSeconds: 1, timeoutSeconds: 1}) { service { id } }
}"""
FLIPS = ((Behaviour.HTTP_500, "UNHEALTHY"), (Behaviour.OK, "HEALTHY"))

Delivery = tuple[int, str, float, float]
"""(seq, status, changedAt, received_at), both times as Unix seconds."""


class Stalled(RuntimeError):
    """A child process did not answer in time, or died; the run stops and reports what it has."""


@dataclasses.dataclass(frozen=True, slots=True)
class Published:
    """A StatusChanged as Vigil's broker saw it; times are Unix seconds."""

    seq: int
    service_id: int
    status: str
    changed_at: float
    publish_started_at: float
    publish_done_at: float


@dataclasses.dataclass(frozen=True, slots=True)
class VigilOptions:
    """What-if settings of the Vigil process; the defaults run Vigil as `vigil serve` does."""

    profile: str | None = None  # "connect" or "flips": cProfile that phase
    gc_freeze: bool = False
    gc_threshold: int | None = None  # generation-0 threshold (Python's default is 700)


@dataclasses.dataclass(frozen=True, slots=True)
class ClientReport:
    subscribers: int
    acked: int
    deliveries: tuple[tuple[Delivery, ...], ...]  # one tuple per acknowledged subscriber
    failures: tuple[str, ...]
    leaked_tasks: int
    warnings: tuple[str, ...]


# Child-process plumbing --------------------------------------------------------------------


class Commands:
    """Messages from the parent, read by the event loop when the pipe is readable.

    `None` arrives when the parent is gone, so a child never outlives the benchmark.
    """

    def __init__(self, conn: multiprocessing.connection.Connection) -> None:
        self._conn = conn
        self._queue: asyncio.Queue[tuple[Any, ...] | None] = asyncio.Queue()

    def __enter__(self) -> Commands:
        asyncio.get_running_loop().add_reader(self._conn.fileno(), self._readable)
        # uvloop (libuv's uv_poll_init) makes a watched fd non-blocking. A send larger than the
        # pipe's buffer would then fail half-written, and `tell` would drop it without a word.
        os.set_blocking(self._conn.fileno(), True)
        return self

    def __exit__(self, *exc_info: object) -> None:
        asyncio.get_running_loop().remove_reader(self._conn.fileno())

    def _readable(self) -> None:
        try:
            while self._conn.poll():
                self._queue.put_nowait(self._conn.recv())
        except (EOFError, OSError):
            asyncio.get_running_loop().remove_reader(self._conn.fileno())
            self._queue.put_nowait(None)

    async def next(self) -> tuple[Any, ...] | None:
        return await self._queue.get()


@dataclasses.dataclass
class Child:
    """A spawned process and the parent's end of its duplex pipe."""

    proc: multiprocessing.process.BaseProcess
    conn: multiprocessing.connection.Connection

    def send(self, *message: Any) -> None:
        self.conn.send(message)

    def expect(self, kind: str, timeout_s: float) -> tuple[Any, ...]:
        """The next message, which must be of `kind`; Stalled when none comes within `timeout_s`."""
        try:
            if not self.conn.poll(max(timeout_s, 0.0)):
                raise Stalled(f"{self.proc.name}: no {kind!r} within {timeout_s:.0f} s")
            message: tuple[Any, ...] = self.conn.recv()
        except EOFError as exc:
            raise _died(self) from exc
        if message[0] != kind:
            raise Stalled(f"{self.proc.name}: expected {kind!r}, got {message!r:.300}")
        return message

    def ask(self, kind: str, timeout_s: float, *args: Any) -> tuple[Any, ...]:
        self.send(kind, *args)
        return self.expect(kind, timeout_s)


@contextlib.contextmanager
def child(name: str, target: Callable[..., None], *args: Any) -> Iterator[Child]:
    """Starts `target(*args, conn)` in a fresh interpreter; on exit, waits briefly, then kills."""
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe(duplex=True)
    proc = ctx.Process(target=target, args=(*args, theirs), name=name)
    proc.start()
    theirs.close()
    try:
        yield Child(proc, ours)
    except BaseException:
        ours.close()
        _stop(proc)  # the run failed or went over its limit: no grace
        raise
    ours.close()  # a child still waiting for a command sees EOF and ends
    proc.join(CLOSE_S)
    _stop(proc)


def tell(conn: multiprocessing.connection.Connection, *message: Any) -> None:
    """A child's message to the parent; dropped if the parent is gone (the child then reads EOF and ends)."""
    with contextlib.suppress(OSError):
        conn.send(message)


def _task_count() -> int:
    return len(asyncio.all_tasks()) - 1


# Vigil -------------------------------------------------------------------------------------


def run_vigil(db_dir: str, options: VigilOptions, conn: multiprocessing.connection.Connection) -> None:
    """Vigil process entry: sends `("ready", port, admin, viewer)`, then answers commands until "stop"."""
    # Imported here: the client processes, which import this module too, need none of it.
    import uvicorn

    from app import create_app
    from config import Settings

    _raise_fd_limit()
    logging.basicConfig(level=logging.WARNING, format="  [vigil] %(levelname)s %(name)s: %(message)s")
    settings = Settings(
        _env_file=None,
        database_url=f"sqlite://{pathlib.Path(db_dir) / 'vigil.db'}",
        secret_key_file=pathlib.Path(db_dir) / "vigil.key",
        secret_key="bench-fanout-not-a-secret",
        probes_enabled=True,
        allow_private_targets=True,  # the simulator listens on 127.0.0.1
        rate_limit_per_minute=0,  # every subscriber connects from 127.0.0.1
        min_check_interval_seconds=1,
        graphiql=False,
        log_level="WARNING",
    )
    app = create_app(settings)
    state: dict[str, Any] = {}
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> Any:
        async with inner(app) as lifespan_state:
            state.update(lifespan_state or {})
            yield lifespan_state

    app.router.lifespan_context = lifespan
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", backlog=4096)
    server = uvicorn.Server(config)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
            leaked = runner.run(_vigil(server, state, options, conn))
        gc.collect()
    tell(conn, "stopped", leaked, tuple(str(w.message) for w in caught))
    conn.close()


class GcPauses:
    """Every collection of the cyclic garbage collector: (started_at Unix s, seconds, generation)."""

    def __init__(self) -> None:
        self.pauses: list[tuple[float, float, int]] = []
        self._started = (0.0, 0.0)
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = (time.time(), time.perf_counter())
        else:
            self.pauses.append((self._started[0], time.perf_counter() - self._started[1], info["generation"]))

    def close(self) -> None:
        gc.callbacks.remove(self._on_gc)


class PublishLog:
    """Wraps a broker's `publish` to note when each StatusChanged reaches the subscriber queues."""

    def __init__(self, broker: Any) -> None:
        from events.messages import StatusChanged

        self.entries: list[Published] = []
        self._changed = asyncio.Condition()
        self._broker, self._publish, self._kind = broker, broker.publish, StatusChanged
        broker.publish = self.publish

    async def publish(self, message: Any) -> None:
        started_at = time.time()
        await self._publish(message)
        if isinstance(message, self._kind):
            entry = Published(
                message.seq,
                message.service_id,
                message.status.value,
                message.changed_at.timestamp(),
                started_at,
                time.time(),
            )
            self.entries.append(entry)
            async with self._changed:
                self._changed.notify_all()

    async def wait_for(self, service_id: int, status: str, timeout_s: float) -> int | None:
        """The seq of a published change of `service_id` to `status`, or None after `timeout_s`."""

        def found() -> Published | None:
            return next((e for e in self.entries if (e.service_id, e.status) == (service_id, status)), None)

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s), self._changed:
                await self._changed.wait_for(found)
        entry = found()
        return None if entry is None else entry.seq


async def _vigil(
    server: Any, state: dict[str, Any], options: VigilOptions, conn: multiprocessing.connection.Connection
) -> int:
    import cProfile
    import io
    import pstats

    from models import Role
    from resolvers.audit import CLI_ACTOR
    from resolvers.tokens import create_token

    task = asyncio.create_task(server.serve(), name="uvicorn")
    try:
        async with asyncio.timeout(START_S):
            while not server.started:  # uvicorn has no event for this; conftest.serve polls too
                if task.done():
                    task.result()
                    raise RuntimeError("uvicorn stopped before it started")
                await asyncio.sleep(0.01)
        broker = state["deps"].broker
        log = PublishLog(broker)
        _, admin = await create_token("bench-admin", Role.ADMIN, CLI_ACTOR)
        _, viewer = await create_token("bench-viewer", Role.VIEWER, CLI_ACTOR)
        port = server.servers[0].sockets[0].getsockname()[1]
        if options.gc_threshold is not None:
            gc.set_threshold(options.gc_threshold, *gc.get_threshold()[1:])
        if options.gc_freeze:
            gc.freeze()  # what a server could do once started: later full collections skip these objects
        tell(conn, "ready", port, admin, viewer)
        # CPU time, not wall time: on a shared machine, wall time charges preemption to whatever ran last.
        profiler = cProfile.Profile(time.process_time) if options.profile else None
        pauses = GcPauses()
        with Commands(conn) as commands:
            while (command := await commands.next()) is not None and command[0] != "stop":
                match command:
                    case ("wait_status", service_id, status, timeout_s):
                        tell(conn, "wait_status", await log.wait_for(service_id, status, timeout_s))
                    case ("wait_subscribers", count, timeout_s):
                        reached_at = None
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(timeout_s):
                                # The broker has no event for a new subscriber, so poll its stats.
                                while broker.stats.subscribers < count:  # noqa: ASYNC110
                                    await asyncio.sleep(0.005)
                                reached_at = time.time()
                        tell(conn, "wait_subscribers", broker.stats.subscribers, reached_at)
                    case ("stats",):
                        stats = (
                            dataclasses.asdict(broker.stats),
                            tuple(log.entries),
                            tuple(pauses.pauses),
                            len(gc.get_objects()),
                        )
                        tell(conn, "stats", *stats)
                    case ("profile", True) if profiler is not None:
                        profiler.enable()
                        tell(conn, "profile", None)
                    case ("profile", False) if profiler is not None:
                        profiler.disable()
                        text = io.StringIO()
                        stats = pstats.Stats(profiler, stream=text).strip_dirs()
                        stats.sort_stats("tottime").print_stats(30)
                        stats.sort_stats("cumulative").print_stats(50)
                        tell(conn, "profile", text.getvalue())
                    case _:
                        tell(conn, "error", f"unknown command {command!r}")
    finally:
        pauses.close()
        server.should_exit = True
        async with asyncio.timeout(CLOSE_S):
            await task
    return _task_count()


# Simulator ---------------------------------------------------------------------------------


def run_simulator(conn: multiprocessing.connection.Connection) -> None:
    """Simulator process entry: sends `("ready", port)`; `("behaviour", value)` flips the fake."""
    asyncio.run(_simulator(conn))
    conn.close()


async def _simulator(conn: multiprocessing.connection.Connection) -> None:
    sim = CloudgeneSimulator(name="Fan-out Cloudgene")
    runner = web.AppRunner(sim.app, shutdown_timeout=1.0, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        tell(conn, "ready", runner.addresses[0][1])
        with Commands(conn) as commands:
            while (command := await commands.next()) is not None and command[0] == "behaviour":
                sim.behaviour = Behaviour(command[1])
                tell(conn, "behaviour", time.time())
    finally:
        await runner.cleanup()


# Clients -----------------------------------------------------------------------------------


class Subscriber:
    """One WebSocket with one statusChanged subscription; its deliveries in arrival order."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.handshake_done = asyncio.Event()  # acknowledged and subscribed, or failed
        self.is_acked = False
        self.failure: str | None = None

    async def run(
        self,
        http: aiohttp.ClientSession,
        url: str,
        token: str,
        service_id: str | None,
        on_delivery: Callable[[Subscriber, Delivery], None],
        on_lost: Callable[[Subscriber], None],
    ) -> None:
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
        ids = None if service_id is None else [service_id]  # None: every service's changes
        payload = {"query": STATUS_CHANGED, "variables": {"ids": ids}}
        ws_timeout = aiohttp.ClientWSTimeout(ws_receive=None, ws_close=CLOSE_S / 2)
        try:
            async with http.ws_connect(url, protocols=(SUBPROTOCOL,), timeout=ws_timeout) as ws:
                await ws.send_json(init)
                async with asyncio.timeout(CONNECT_S):
                    ack = await ws.receive()
                if ack.type is not aiohttp.WSMsgType.TEXT or json.loads(ack.data).get("type") != "connection_ack":
                    raise ConnectionError(f"no connection_ack: {ack.type.name} {ack.data!r:.200}")
                await ws.send_json({"id": "1", "type": "subscribe", "payload": payload})
                self.is_acked = True
                self.handshake_done.set()
                async for message in ws:
                    received_at = time.time()
                    if message.type is not aiohttp.WSMsgType.TEXT:
                        raise ConnectionError(f"unexpected {message.type.name} frame")
                    data = json.loads(message.data)
                    if data.get("type") == "next" and "errors" not in data["payload"]:
                        change = data["payload"]["data"]["statusChanged"]
                        changed_at = dt.datetime.fromisoformat(change["changedAt"]).timestamp()
                        on_delivery(self, (int(change["seq"]), change["status"], changed_at, received_at))
                    elif data.get("type") == "ping":
                        await ws.send_json({"type": "pong"})
                    else:
                        raise ConnectionError(f"unexpected message {message.data!r:.300}")
                raise ConnectionError(f"closed by the server, code {ws.close_code}")
        except Exception as exc:  # one subscriber's end: recorded, reported and counted as misses
            self.failure = f"{type(exc).__name__}: {exc}"
            if self.is_acked:
                on_lost(self)
        finally:
            self.handshake_done.set()


def run_clients(
    url: str, token: str, service_id: str | None, count: int, conn: multiprocessing.connection.Connection
) -> None:
    """Client process entry: "ready"; on "connect", opens `count` subscribers; on "report", closes them."""
    import uvloop  # installed with uvicorn[standard]; the lighter loop keeps client overhead out of the figures

    _raise_fd_limit()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            report = runner.run(_clients(url, token, service_id, count, conn))
        gc.collect()
    if report is not None:
        tell(conn, "report", dataclasses.replace(report, warnings=tuple(str(w.message) for w in caught)))
    conn.close()


async def _clients(
    url: str, token: str, service_id: str | None, count: int, conn: multiprocessing.connection.Connection
) -> ClientReport | None:
    subscribers = [Subscriber() for _ in range(count)]
    received: collections.Counter[int] = collections.Counter()  # seq -> live subscribers that have it
    complete: set[int] = set()
    live = 0

    def check_complete(seq: int, status: str) -> None:
        if seq not in complete and received[seq] >= live:
            complete.add(seq)
            tell(conn, "complete", seq, status, time.time())

    def on_delivery(subscriber: Subscriber, delivery: Delivery) -> None:
        subscriber.deliveries.append(delivery)
        received[delivery[0]] += 1
        check_complete(delivery[0], delivery[1])

    def on_lost(subscriber: Subscriber) -> None:
        nonlocal live
        live -= 1
        tell(conn, "lost", subscriber.failure)
        for delivery in {d[0]: d for s in subscribers for d in s.deliveries}.values():
            check_complete(delivery[0], delivery[1])

    tasks: list[asyncio.Task[None]] = []
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, connect=CONNECT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        try:
            with Commands(conn) as commands:
                tell(
                    conn,
                    "ready",
                )
                if await commands.next() is None:
                    return None
                for subscriber in subscribers:
                    coro = subscriber.run(http, url, token, service_id, on_delivery, on_lost)
                    tasks.append(asyncio.create_task(coro))
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(CONNECT_S):
                        for subscriber in subscribers:
                            await subscriber.handshake_done.wait()
                live = sum(s.is_acked and s.failure is None for s in subscribers)
                tell(conn, "connect", live, time.time())
                if await commands.next() is None:
                    return None
        finally:
            for task in tasks:
                task.cancel()
            async with asyncio.timeout(CLOSE_S):  # cancelled readers close their sockets with a handshake
                await asyncio.gather(*tasks, return_exceptions=True)
    acked = [s for s in subscribers if s.is_acked]
    failures = collections.Counter(s.failure for s in subscribers if s.failure)
    return ClientReport(
        subscribers=count,
        acked=len(acked),
        deliveries=tuple(tuple(s.deliveries) for s in acked),
        failures=tuple(f"{n} x {failure}" for failure, n in failures.items()),
        leaked_tasks=_task_count(),
        warnings=(),
    )


# The run -----------------------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    """What the parent gathered; printed by `report`, partly filled when a step stalled."""

    subscribers: int
    flips_asked: int
    connected: int = 0
    connect_s: float | None = None
    subscribed_s: float | None = None
    flips: list[tuple[str, float | None]] = dataclasses.field(default_factory=list)  # status, seconds to everywhere
    lost: list[str] = dataclasses.field(default_factory=list)
    published: tuple[Published, ...] = ()
    subscribed_at: float = 0.0
    broker_stats: dict[str, int] = dataclasses.field(default_factory=dict)
    reports: list[ClientReport] = dataclasses.field(default_factory=list)
    hwm_before_kib: int | None = None
    hwm_kib: int | None = None
    rss_kib: int | None = None
    cpu_flips_s: float | None = None
    clients_cpu_flips_s: float | None = None
    flips_window: tuple[float, float] = (0.0, 0.0)
    gc_pauses: tuple[tuple[float, float, int], ...] = ()
    gc_objects: int = 0
    profile: str | None = None
    profile_phase: str | None = None
    vigil_leaked: int | None = None
    vigil_warnings: tuple[str, ...] = ()
    problems: list[str] = dataclasses.field(default_factory=list)


class Budget:
    """The --max-seconds limit: every wait takes the smaller of its own limit and what is left."""

    def __init__(self, seconds: float) -> None:
        self._ends_at = time.monotonic() + seconds

    def __call__(self, limit_s: float) -> float:
        left = self._ends_at - time.monotonic()
        if left <= 0:
            raise Stalled("--max-seconds used up")
        return min(limit_s, left)


def graphql(url: str, query: str, variables: dict[str, Any], token: str) -> dict[str, Any]:
    body = json.dumps({"query": query, "variables": variables}).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
        answer: dict[str, Any] = json.load(response)
    if answer.get("errors"):
        raise RuntimeError(f"GraphQL errors: {answer['errors']}")
    return answer


def split(total: int, parts: int) -> list[int]:
    """`total` subscribers over `parts` processes, as evenly as possible, no process empty."""
    parts = min(parts, total)
    return [total // parts + (i < total % parts) for i in range(parts)]


def proc_status_kib(pid: int, field: str) -> int | None:
    """A `VmHWM`/`VmRSS`-style line of /proc/<pid>/status, in KiB (None once the process is gone)."""
    with contextlib.suppress(OSError):
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    return None


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of `pid` (fields 14 and 15 of /proc/<pid>/stat)."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def execute(args: argparse.Namespace, run: Run) -> None:
    budget = Budget(args.max_seconds)
    with tempfile.TemporaryDirectory(prefix="vigil-fanout-") as db_dir, contextlib.ExitStack() as stack:
        options = VigilOptions(args.profile, args.gc_freeze, args.gc_threshold)
        vigil = stack.enter_context(child("bench-vigil", run_vigil, db_dir, options))
        _, port, admin, viewer = vigil.expect("ready", budget(START_S))
        simulator = stack.enter_context(child("bench-simulator", run_simulator))
        _, sim_port = simulator.expect("ready", budget(START_S))
        graphql_url = f"http://127.0.0.1:{port}/graphql"
        answer = graphql(graphql_url, REGISTER, {"url": f"http://127.0.0.1:{sim_port}"}, admin)
        service_id = answer["data"]["registerService"]["service"]["id"]
        if vigil.ask("wait_status", budget(HEALTHY_S) + 5, int(service_id), "HEALTHY", budget(HEALTHY_S))[1] is None:
            raise Stalled(f"the service was not HEALTHY within {HEALTHY_S:g} s")
        baseline = vigil.ask("stats", budget(HTTP_TIMEOUT_S))[1]["subscribers"]
        run.hwm_before_kib = proc_status_kib(vigil.proc.pid or 0, "VmHWM")

        ws_url = graphql_url.replace("http://", "ws://")
        clients = [
            stack.enter_context(child(f"bench-clients-{i}", run_clients, ws_url, viewer, service_id, count))
            for i, count in enumerate(split(args.subscribers, args.processes))
        ]
        for client in clients:
            client.expect("ready", budget(START_S))
        if args.profile == "connect":
            vigil.ask("profile", budget(HTTP_TIMEOUT_S), True)
        started_at = time.time()
        for client in clients:
            client.send("connect")
        acked = [client.expect("connect", budget(CONNECT_S + 5)) for client in clients]
        run.connected = sum(a[1] for a in acked)
        run.connect_s = max(a[2] for a in acked) - started_at
        _, subscribed, reached_at = vigil.ask(
            "wait_subscribers", budget(CONNECT_S) + 5, baseline + run.connected, budget(CONNECT_S)
        )
        if reached_at is None:
            raise Stalled(f"{subscribed - baseline} of {run.connected} subscriptions reached the broker")
        run.subscribed_s, run.subscribed_at = reached_at - started_at, reached_at
        if args.profile == "connect":
            run.profile = vigil.ask("profile", budget(HTTP_TIMEOUT_S), False)[1]
        if run.connected < args.subscribers:
            run.problems.append(f"only {run.connected} of {args.subscribers} subscribers were acknowledged")

        if args.profile == "flips":
            vigil.ask("profile", budget(HTTP_TIMEOUT_S), True)
        cpu_before = proc_cpu_s(vigil.proc.pid or 0)
        clients_cpu_before = sum(proc_cpu_s(client.proc.pid or 0) for client in clients)
        flips_started_at = time.time()
        for flip in range(args.flips):
            behaviour, status = FLIPS[flip % 2]
            _, flipped_at = simulator.ask("behaviour", budget(HTTP_TIMEOUT_S), behaviour.value)
            run.flips.append((status, wait_everywhere(clients, status, run, budget(args.flip_timeout))))
            if run.flips[-1][1] is None:
                run.problems.append(f"flip {flip + 1} ({status}) did not reach every subscriber in time")
            else:
                run.flips[-1] = (status, run.flips[-1][1] - flipped_at)
        run.cpu_flips_s = proc_cpu_s(vigil.proc.pid or 0) - cpu_before
        run.clients_cpu_flips_s = sum(proc_cpu_s(client.proc.pid or 0) for client in clients) - clients_cpu_before
        run.flips_window = (flips_started_at, time.time())
        if args.profile == "flips":
            run.profile = vigil.ask("profile", budget(HTTP_TIMEOUT_S), False)[1]
        run.hwm_kib = proc_status_kib(vigil.proc.pid or 0, "VmHWM")
        run.rss_kib = proc_status_kib(vigil.proc.pid or 0, "VmRSS")
        _, run.broker_stats, run.published, run.gc_pauses, run.gc_objects = vigil.ask("stats", budget(HTTP_TIMEOUT_S))

        for client in clients:
            client.send("report")
        for client in clients:
            run.reports.append(drain_until_report(client, run, budget(CLOSE_S + 10)))
        vigil.send("stop")
        _, run.vigil_leaked, run.vigil_warnings = vigil.expect("stopped", budget(CLOSE_S + 10))


def wait_everywhere(clients: Sequence[Child], status: str, run: Run, timeout_s: float) -> float | None:
    """Unix time when every client process had a change to `status` at all its subscribers."""
    waiting = {client.conn: client for client in clients}
    ends_at = time.monotonic() + timeout_s
    last_at = 0.0
    while waiting and (left := ends_at - time.monotonic()) > 0:
        for conn in multiprocessing.connection.wait(list(waiting), left):
            message = _recv(waiting[conn])
            if message[0] == "lost":
                run.lost.append(message[1])
            elif message[0] == "complete" and message[2] == status:
                last_at = max(last_at, message[3])
                del waiting[conn]
    return None if waiting else last_at


def _recv(client: Child) -> tuple[Any, ...]:
    try:
        message: tuple[Any, ...] = client.conn.recv()
    except EOFError as exc:
        raise _died(client) from exc
    return message


def _died(child: Child) -> Stalled:
    child.proc.join(5)  # its pipe closed as it exited; the exit code follows
    return Stalled(f"{child.proc.name} died (exit code {child.proc.exitcode}); see its traceback above")


def drain_until_report(client: Child, run: Run, timeout_s: float) -> ClientReport:
    """The client's report, keeping any "lost" notices that arrive before it."""
    ends_at = time.monotonic() + timeout_s
    while client.conn.poll(max(ends_at - time.monotonic(), 0.0)):
        message = _recv(client)
        if message[0] == "report":
            report: ClientReport = message[1]
            return report
        if message[0] == "lost":
            run.lost.append(message[1])
    raise Stalled(f"{client.proc.name}: no report within {timeout_s:.0f} s")


# Report ------------------------------------------------------------------------------------


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.0f} ms"


def _spread(values: Sequence[float]) -> str:
    ordered = sorted(values)
    figures = (_percentile(ordered, 50), _percentile(ordered, 99), ordered[-1] if ordered else None)
    return " / ".join(_ms(x) for x in figures)


def report(run: Run) -> bool:
    """Prints the figures; True when the run completed (whether or not it met the targets)."""
    print(f"\n== {run.subscribers} subscribers, {run.flips_asked} flips")
    print(f"   connected (connection_ack): {run.connected}/{run.subscribers} in {_ms(run.connect_s)}")
    print(f"   all subscriptions in the broker: {_ms(run.subscribed_s)} after the first connect")
    if run.flips:
        detail = ", ".join(f"{status[0]} {_ms(seconds)}" for status, seconds in run.flips)
        print(f"   flip -> everywhere (detection 1-3 s + delivery): {detail}")
    expected = {p.seq: p for p in run.published if p.publish_started_at >= run.subscribed_at}
    latencies, after_publish, spreads = [], [], collections.defaultdict(list)
    missed = unexpected = short = 0
    for client in run.reports:
        for deliveries in client.deliveries:
            seen = {d[0] for d in deliveries}
            missed += len(expected.keys() - seen)
            short += bool(expected.keys() - seen)
            unexpected += sum(d[0] not in expected for d in deliveries)
            for seq, _, changed_at, received_at in deliveries:
                if seq in expected:
                    latencies.append(received_at - changed_at)
                    after_publish.append(received_at - expected[seq].publish_started_at)
                    spreads[seq].append(received_at)
    subscribers = sum(client.acked for client in run.reports)
    deliveries = len(latencies)
    if run.reports:
        print(
            f"   events: {len(expected)} published per subscriber; {deliveries} of {len(expected) * subscribers}"
            f" deliveries received; missed {missed} (at {short} subscribers); unexpected {unexpected}"
        )
    is_complete = bool(run.reports) and not run.problems and len(run.flips) == run.flips_asked
    if latencies:
        ordered = sorted(latencies)
        p99 = _percentile(ordered, 99) or 0.0
        verdict = "yes" if p99 <= TARGET_P99_S else "NO"
        print(
            f"   latency changedAt -> receipt, p50 / p99 / max: {_spread(latencies)}"
            f" (target p99 <= {_ms(TARGET_P99_S)}: {verdict}; missed 0: {'yes' if missed == 0 else 'NO'})"
        )
        recording = [p.publish_started_at - p.changed_at for p in expected.values()]
        offering = [p.publish_done_at - p.publish_started_at for p in expected.values()]
        print(f"     changedAt -> publish (recording, per event) p50 / p99 / max: {_spread(recording)}")
        print(f"     broker.publish itself (offer to every queue) p50 / p99 / max: {_spread(offering)}")
        print(f"     publish -> receipt (fan-out and WebSocket) p50 / p99 / max: {_spread(after_publish)}")
        first_to_last = [max(times) - min(times) for times in spreads.values()]
        print(f"     first -> last receipt of one event p50 / p99 / max: {_spread(first_to_last)}")
    if run.cpu_flips_s is not None and deliveries:
        print(
            f"   Vigil CPU during the flips: {run.cpu_flips_s:.2f} s"
            f" ({run.cpu_flips_s / deliveries * 1e6:.0f} us per delivery, includes the probe loop);"
            f" client processes: {run.clients_cpu_flips_s or 0:.2f} s"
        )
    window = [p for p in run.gc_pauses if run.flips_window[0] <= p[0] <= run.flips_window[1]]
    if window:
        by_generation = [[p[1] for p in window if p[2] == generation] for generation in range(3)]
        detail = ", ".join(
            f"gen {g}: {len(t)} x, {sum(t) * 1000:.0f} ms, longest {_ms(max(t))}"
            for g, t in enumerate(by_generation)
            if t
        )
        print(f"   Vigil GC pauses during the flips: {detail}; {run.gc_objects:,} objects tracked at the end")
    if run.broker_stats:
        stats = run.broker_stats
        print(
            f"   broker (every message type): published {stats['published']}, delivered {stats['delivered']},"
            f" dropped {stats['dropped']}"
        )
    if run.hwm_kib is not None:
        before = run.hwm_before_kib or 0
        print(
            f"   Vigil peak RSS (VmHWM): {run.hwm_kib / 1024:.0f} MiB (before the subscribers: {before / 1024:.0f} MiB;"
            f" {(run.hwm_kib - before) / max(run.connected, 1):.0f} KiB per subscriber); VmRSS at the end"
            f" {(run.rss_kib or 0) / 1024:.0f} MiB"
        )
    for line in collections.Counter(run.lost).most_common(5):
        print(f"   !! subscriber lost ({line[1]} x): {line[0]}")
    for problem in run.problems:
        print(f"   !! {problem}")
    for client in run.reports:
        for failure in client.failures:
            print(f"   !! client: {failure}")
        if client.leaked_tasks or client.warnings:
            print(f"   !! client leaked tasks: {client.leaked_tasks}; warnings: {list(client.warnings)}")
    if run.vigil_leaked or run.vigil_warnings:
        print(f"   !! Vigil leaked tasks: {run.vigil_leaked}; warnings: {list(run.vigil_warnings)}")
    if run.profile:
        print(
            f"\n== cProfile (CPU time) of the Vigil process, {run.profile_phase}: it slows Vigil, so the figures"
            " above are inflated"
        )
        print(run.profile)
    return is_complete


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1000, help="WebSocket subscribers (1000)")
    parser.add_argument("--flips", type=int, default=10, help="OK <-> HTTP_500 flips of the simulator (10)")
    parser.add_argument("--processes", type=int, default=4, help="client processes sharing the subscribers (4)")
    parser.add_argument(
        "--flip-timeout", type=float, default=20.0, help="seconds for one flip to reach every subscriber (20)"
    )
    parser.add_argument(
        "--profile",
        choices=("connect", "flips"),
        help="cProfile (CPU time) the Vigil process while the subscribers connect, or during the flips",
    )
    parser.add_argument(
        "--gc-freeze", action="store_true", help="what-if: gc.freeze() in Vigil once it has started (off)"
    )
    parser.add_argument(
        "--gc-threshold", type=int, help="what-if: Vigil's generation-0 GC threshold (Python's default: 700)"
    )
    parser.add_argument("--max-seconds", type=float, default=300.0, help="hard limit on the whole run (300)")
    args = parser.parse_args(argv)
    if args.subscribers < 1 or args.flips < 1 or args.processes < 1 or args.flip_timeout <= 0:
        parser.error("need --subscribers, --flips and --processes >= 1 and --flip-timeout > 0")
    if args.gc_threshold is not None and args.gc_threshold < 1:
        parser.error("need --gc-threshold >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(
        f"{args.subscribers} statusChanged subscribers over {min(args.processes, args.subscribers)} client processes,"
        f" {args.flips} flips OK <-> HTTP_500, check interval 1 s, Vigil on SQLite with the memory broker"
    )
    if args.gc_freeze or args.gc_threshold:
        print(f"what-if in the Vigil process: gc.freeze() {args.gc_freeze}, generation-0 threshold {args.gc_threshold}")
    print(f"load average before: {_load()} (other processes on the machine share its {os.cpu_count()} cores)")
    run = Run(subscribers=args.subscribers, flips_asked=args.flips, profile_phase=args.profile)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a killed run still stops its children
    try:
        execute(args, run)
    except (Stalled, OSError, RuntimeError) as exc:
        run.problems.append(f"stopped early: {type(exc).__name__}: {exc}")
    except KeyboardInterrupt:
        run.problems.append("interrupted (SIGINT or SIGTERM); every child process was stopped")
    is_complete = report(run)
    print(f"\nload average after: {_load()}")
    return 0 if is_complete else 1


if __name__ == "__main__":
    sys.exit(main())
