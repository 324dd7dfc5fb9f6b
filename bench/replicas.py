"""Two `vigil serve` replicas against one: statusChanged fan-out and probe sweep time, side by side.

Run it as `python -m bench.replicas [--services 1000] [--latency 0.2] [--interval 1]
[--subscribers 1000 2000] [--flips 6] [--window 10] [--no-control] [--max-seconds 300]`.

Three clusters in turn, each on a fresh PostgreSQL database and a Redis prefix of its own
(bench/cluster.py): 1 replica, 2 replicas, and, as a control, 1 replica with twice the
VIGIL_PROBE_CONCURRENCY (the sweep only): two replicas have twice the probe permits and twice
the outgoing connections of one, and the control tells that apart from a second process.

On each cluster, in this order:

1. Fan-out (bench/replica_fanout.py): one service with a 1 s interval on a CloudgeneSimulator
   that this process flips between OK and HTTP_500, and each `--subscribers` count of
   statusChanged subscribers over `--processes` client processes, spread over the replicas.
   Nothing else is probed yet.
2. Sweep (bench/replica_sweep.py): `--services` services imported with one `importServices` (the
   common start), interval and timeout `--interval`, on fakes that answer after `--latency` s and
   note which replica sent each request. The first sweep is the time from the import's answer
   until every service has had a request. After `--settle` s, a steady `--window`: requests per
   second, each service's period between two requests, and the time from the window's start
   until every service had one again. No service may be probed by two replicas within one
   interval.

The replicas, PostgreSQL, Redis, the fakes, the clients and this process share the machine's
cores, and so does any other work on it: the table shows how busy the machine was.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import math
import os
import pathlib
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from bench.cluster import DEFAULT_PG_URL, DEFAULT_REDIS_URL, Member, cluster, errors_in, subscribers
from bench.fanout import REGISTER, START_S, Budget, Child, Stalled, child, run_simulator
from bench.replica_fanout import FanOut, Watched, fan_out
from bench.replica_sweep import Plan, Sweep, ask, run_fakes, sweep
from bench.sweep import _load, _percentile, _raise_fd_limit
from simulators import Behaviour

TARGET_P99_S = 1.0
HEALTHY_S = 30.0  # the flipped service's first check makes it HEALTHY within this
SETTLED_S = 30.0  # the replicas split the slots within this
LOG_EXCERPT_LINES = 40
STATUS = "query($id: ID!) { service(id: $id) { status } }"


@dataclasses.dataclass
class Measured:
    """What one cluster gave; partly filled when a step stopped it."""

    label: str
    fan_outs: list[FanOut] = dataclasses.field(default_factory=list)
    sweep: Sweep | None = None
    load: str = ""  # the load average once the replicas were up
    problems: list[str] = dataclasses.field(default_factory=list)
    log_errors: tuple[str, ...] = ()  # the replicas' ERROR records, with their tracebacks


@dataclasses.dataclass(frozen=True)
class Loaders:
    """The processes that every cluster shares: the sweep's fakes and the flipped simulator."""

    fakes: Child
    fake_ports: list[int]
    flipper: Child
    flip_port: int


async def measure(
    replicas: int, concurrency: int, args: argparse.Namespace, loaders: Loaders, budget: Budget, *, fans_out: bool
) -> Measured:
    """The fan-out (if `fans_out`) and the sweep on a new cluster; what stopped it goes to `problems`."""
    label = f"{replicas} replica{'s' if replicas > 1 else ''}"
    measured = Measured(label if concurrency == args.probe_concurrency else f"{label}, concurrency {concurrency}")
    plan = Plan(args.services, args.interval, args.settle, args.window)
    with tempfile.TemporaryDirectory(prefix="vigil-replicas-") as logs:
        started = cluster(replicas, concurrency, args.pg_url, args.redis_url, pathlib.Path(logs))
        try:
            async with started as (members, database_url):
                measured.load = _load()
                if fans_out:
                    watched = await watch(members, loaders, budget)
                    for count in args.subscribers:
                        got = await asyncio.to_thread(
                            fan_out, members, watched, loaders.flipper, count, args.flips, args.processes, budget
                        )
                        measured.fan_outs.append(got)
                fakes = (loaders.fakes, loaders.fake_ports)
                measured.sweep = await sweep(members, database_url, fakes, plan, budget)
        except (Stalled, OSError, RuntimeError, TimeoutError) as exc:
            measured.problems.append(f"stopped early: {type(exc).__name__}: {exc}")
        measured.log_errors = await asyncio.to_thread(errors_in, pathlib.Path(logs))
    return measured


async def watch(members: Sequence[Member], loaders: Loaders, budget: Budget) -> Watched:
    """Registers the flipped service and waits until it is owned and HEALTHY."""
    from models.leases import slot_of  # imported here: client processes import this module too
    from tests.integration.replicas import settled

    await ask(loaders.flipper, "behaviour", Behaviour.OK.value)
    data = await members[0].gql(REGISTER, {"url": f"http://127.0.0.1:{loaders.flip_port}"})
    service_id = data["registerService"]["service"]["id"]
    owned = await settled([member.vigil for member in members], 1, timeout_s=budget(SETTLED_S))
    owner = next(index for index, seen in enumerate(owned) if slot_of(int(service_id)) in seen["slots"])
    async with asyncio.timeout(budget(HEALTHY_S)):
        # A replica has no event for this that another process could wait on: poll the API.
        while (await members[owner].gql(STATUS, {"id": service_id}))["service"]["status"] != "HEALTHY":  # noqa: ASYNC110
            await asyncio.sleep(0.2)
    return Watched(service_id, owner, await asyncio.to_thread(subscribers, members))


@contextlib.contextmanager
def loaders(args: argparse.Namespace, budget: Budget) -> Iterator[Loaders]:
    with (
        child("bench-fakes", run_fakes, args.servers, args.latency) as fakes,
        child("bench-simulator", run_simulator) as flipper,
    ):
        fake_ports = fakes.expect("ready", budget(START_S))[1]
        yield Loaders(fakes, fake_ports, flipper, flipper.expect("ready", budget(START_S))[1])


# Report ------------------------------------------------------------------------------------


Row = tuple[str, list[str], str]  # label, one cell per cluster, ratio of the first two ("" for none)


def _s(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds:.2f} s"


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.0f} ms"


def _cores(cpu_s: Sequence[float], seconds: float) -> str:
    return " + ".join(f"{cpu / seconds:.2f}" for cpu in cpu_s) if seconds > 0 else "n/a"


def row(
    label: str, runs: Sequence[Any], cell: Callable[[Any], str], ratio: Callable[[Any], float | None] | None = None
) -> Row:
    """A table row: `cell` of each run ("-" where the run has none), and ratio(run 1) / ratio(run 2)."""
    cells = ["-" if run is None else cell(run) for run in runs]
    if ratio is None:
        return label, cells, ""
    one, two = (None if run is None else ratio(run) for run in runs[:2])
    return label, cells, "n/a" if one is None or not two else f"{one / two:.2f}"


def fan_out_rows(runs: Sequence[FanOut | None]) -> Iterator[Row]:
    def p99(run: FanOut) -> float | None:
        return _percentile(run.latencies, 99)

    def per_delivery(run: FanOut) -> str:
        deliveries = len(run.latencies)
        cpu = sum(run.spent.replicas)
        return f"{cpu:.2f} s; {cpu / deliveries * 1e6:.0f} us" if deliveries else f"{cpu:.2f} s"

    yield row("subscribed (in a broker) after", runs, lambda r: f"{r.connected}; {_s(r.connect_s)}")
    yield row(
        "latency changedAt -> receipt p50 / p99 / max",
        runs,
        lambda r: " / ".join(_ms(_percentile(r.latencies, p)) for p in (50, 99, 100)),
        p99,
    )
    yield row(
        "p99 on the probing replica / the other",
        runs,
        lambda r: " / ".join(f"{name} {_ms(_percentile(v, 99))}" for name, v in r.by_replica) or "-",
    )
    yield row("events; missed; dropped", runs, lambda r: f"{r.events}; {r.missed}; {r.dropped}")
    yield row("replica CPU in the flips; per delivery", runs, per_delivery)
    yield row("machine busy in the flips (cores)", runs, lambda r: _cores([r.spent.machine], r.spent.seconds))
    yield row(
        f"p99 < {TARGET_P99_S:g} s and nothing missed",
        runs,
        lambda r: "yes" if (p99(r) or math.inf) < TARGET_P99_S and r.missed == 0 else "NO",
    )


def sweep_rows(runs: Sequence[Sweep | None]) -> Iterator[Row]:
    def rate(run: Sweep) -> float:
        return run.probes / run.window_s

    def cores(run: Sweep) -> str:
        use = run.usage
        return f"{_cores(use.replicas, run.window_s)} / {_cores([use.fakes, use.postgres, use.machine], run.window_s)}"

    yield row("importServices answered after", runs, lambda r: _s(r.import_s))
    yield row(
        "first sweep: all probed, after the import",
        runs,
        lambda r: f"{_s(r.first_sweep_s)} ({r.first_covered})",
        lambda r: r.first_sweep_s,
    )
    yield row(
        "steady: all probed again, from t0",
        runs,
        lambda r: f"{_s(r.steady_sweep_s)} ({r.steady_covered})",
        lambda r: r.steady_sweep_s,
    )
    yield row(
        "period of a service p50 / p99",
        runs,
        lambda r: f"{_s(_percentile(r.periods, 50))} / {_s(_percentile(r.periods, 99))}",
        lambda r: _percentile(r.periods, 50),
    )
    yield row("probes/s (requests at the fakes)", runs, lambda r: f"{rate(r):.0f}", rate)
    yield row("probes/s per replica", runs, lambda r: " + ".join(f"{n / r.window_s:.0f}" for n in r.by_replica))
    yield row(
        "checks written to history/s; per batch",
        runs,
        lambda r: f"{r.usage.written / r.window_s:.0f}; {r.usage.written / max(r.usage.batches, 1):.0f}",
    )
    yield row("cores: replicas / fakes + PostgreSQL + machine", runs, cores)
    yield row("services on 2 replicas; overlaps; unmatched", runs, lambda r: f"{r.shared}; {r.overlaps}; {r.unmatched}")
    yield row("checks stored before t0, by raw status", runs, lambda r: _counts(r.first_stored))
    yield row("checks stored in the window, by raw status", runs, lambda r: _counts(r.stored))


def _counts(by_status: dict[str, int]) -> str:
    return ", ".join(f"{status} {n}" for status, n in sorted(by_status.items())) or "none"


def report(runs: Sequence[Measured], args: argparse.Namespace) -> bool:
    """Prints the table and the problems; True when no cluster had one."""
    demand = args.services / (args.interval + args.latency)
    rows: list[Row | str] = [("", [run.label for run in runs], "1 / 2")]
    rows.append(row("load average with the replicas up", runs, lambda r: r.load))
    for index, count in enumerate(args.subscribers):
        rows.append(f"fan-out: {count} subscribers, {args.flips} flips")
        rows.extend(fan_out_rows([run.fan_outs[index] if index < len(run.fan_outs) else None for run in runs]))
    rows.append(f"sweep: {args.services} services, interval {args.interval} s: at most {demand:.0f} probes/s due")
    rows.extend(sweep_rows([run.sweep for run in runs]))
    table = [line for line in rows if not isinstance(line, str)]
    label_width = max(len(label) for label, _, _ in table)
    widths = [max(len(cells[column]) for _, cells, _ in table) for column in range(len(runs))]
    print()
    for line in rows:
        if isinstance(line, str):
            print(line)
            continue
        label, cells, ratio = line
        figures = [cell.rjust(width) for cell, width in zip(cells, widths, strict=True)]
        figures.insert(2, ratio.rjust(5))
        print(f"  {label.ljust(label_width)}  {'  '.join(figures)}")
    is_clean = True
    for run in runs:
        problems = list(run.problems) + [problem for got in run.fan_outs for problem in got.problems]
        if run.sweep is not None and run.sweep.import_error:
            problems.append(f"importServices answered with errors: {run.sweep.import_error}")
        if run.sweep is not None and (run.sweep.overlaps or run.sweep.first_sweep_s is None):
            problems.append("two replicas probed a service within one interval, or a service was never probed")
        if run.log_errors:
            excerpt = "\n     ".join(run.log_errors[:LOG_EXCERPT_LINES])
            problems.append(f"ERROR records in the replicas' logs (replicas-index: line):\n     {excerpt}")
        for problem in problems:
            print(f"!! {run.label}: {problem}")
        is_clean = is_clean and not problems
    return is_clean


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.replicas", description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000, help="services to sweep (1000)")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the fakes take to answer (0.2)")
    parser.add_argument("--interval", type=int, default=1, help="checkIntervalSeconds and timeoutSeconds (1)")
    parser.add_argument("--servers", type=int, default=20, help="simulator servers in the fakes process (20)")
    parser.add_argument("--probe-concurrency", type=int, default=100, help="VIGIL_PROBE_CONCURRENCY (100)")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds from the first sweep to t0 (3)")
    parser.add_argument("--window", type=float, default=10.0, help="seconds of steady state measured (10)")
    parser.add_argument("--subscribers", type=int, nargs="+", default=[1000, 2000], help="fan-out sizes (1000 2000)")
    parser.add_argument("--flips", type=int, default=6, help="OK <-> HTTP_500 flips per fan-out, even (6)")
    parser.add_argument("--processes", type=int, default=4, help="client processes per fan-out (4)")
    parser.add_argument("--no-control", action="store_true", help="skip 1 replica with twice the concurrency")
    parser.add_argument("--pg-url", default=os.environ.get("VIGIL_TEST_DATABASE_URL", DEFAULT_PG_URL))
    parser.add_argument("--redis-url", default=os.environ.get("VIGIL_TEST_REDIS_URL", DEFAULT_REDIS_URL))
    parser.add_argument("--max-seconds", type=float, default=300.0, help="hard limit on the whole run (300)")
    args = parser.parse_args(argv)
    if args.services < 1 or args.interval < 1 or args.flips < 2 or args.flips % 2 or min(args.subscribers) < 1:
        parser.error("need --services >= 1, --interval >= 1, an even --flips >= 2 and --subscribers >= 1")
    return args


async def run(args: argparse.Namespace) -> list[Measured]:
    budget = Budget(args.max_seconds)
    with loaders(args, budget) as shared:
        runs = [
            await measure(1, args.probe_concurrency, args, shared, budget, fans_out=True),
            await measure(2, args.probe_concurrency, args, shared, budget, fans_out=True),
        ]
        if not args.no_control:
            runs.append(await measure(1, 2 * args.probe_concurrency, args, shared, budget, fans_out=False))
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    _raise_fd_limit()  # the replicas inherit it: 2,000 WebSockets and the probes' sockets
    print(
        f"`vigil serve` replicas on PostgreSQL {args.pg_url} and Redis {args.redis_url};"
        f" fakes: {args.servers} servers answering after {args.latency:g} s; VIGIL_PROBE_CONCURRENCY"
        f" {args.probe_concurrency}; subscribers over {args.processes} client processes"
    )
    print(f"load average before: {_load()} (everything here shares the machine's {os.cpu_count()} cores)")
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a killed run still stops its children
    try:
        is_clean = report(asyncio.run(run(args)), args)
    except (Stalled, OSError, RuntimeError) as exc:
        print(f"!! stopped: {type(exc).__name__}: {exc}")
        is_clean = False
    except KeyboardInterrupt:
        print("!! interrupted (SIGINT or SIGTERM); every child process was stopped")
        is_clean = False
    print(f"\nload average after: {_load()}")
    return 0 if is_clean else 1


if __name__ == "__main__":
    sys.exit(main())
