"""How long the probe loop takes to check every service once, against real HTTP on 127.0.0.1.

Run it as `python -m bench.sweep [--services 1000] [--latency 0.2] [--hanging 0.1]`.

Three kinds of process, so that each figure belongs to one thing:

- one server process: CloudgeneSimulators on free ports of 127.0.0.1. Each is mounted at the
  context path `/{service}`, so `http://127.0.0.1:PORT/svc42` is a distinct Cloudgene base URL.
  Healthy servers answer every request after `--latency` seconds (Behaviour.SLOW); hanging
  servers never answer (Behaviour.HANG) until they shut down. It runs on the other core.
- one fresh process per scenario: a ProbeSupervisor over one shared aiohttp.ClientSession, with
  `adapter.check` as its probe. A fresh process makes ru_maxrss the peak of that scenario alone.
- this process, which starts the others, enforces the time limits and prints the table.

A Cloudgene check is two requests sent together (`/api/v2/server` and `/api/v2/server/counters`),
so one check of a healthy service takes at least one latency.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import gc
import logging
import math
import multiprocessing
import multiprocessing.connection
import os
import random
import resource
import signal
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from functools import partial

import aiohttp
from aiohttp import web

from probes.adapter import check
from probes.http import HttpLimits
from probes.observation import Observation
from probes.result import ApiType, ProbeTarget
from probes.schedule import ScheduleSettings
from probes.supervisor import ProbeSupervisor, SupervisorSettings, WatchSpec
from simulators import Behaviour, CloudgeneSimulator

TARGET_S = 2.0
INTERVAL_S = 30.0
DEFAULT_OFFSET_S = ScheduleSettings().max_initial_offset_seconds
DEFAULT_IN_FLIGHT = SupervisorSettings().max_in_flight
SERVER_START_S = 30.0
SCENARIO_SLACK_S = 30.0  # on top of a scenario's own deadline: process start-up and shutdown

log = logging.getLogger("bench.sweep")


@dataclasses.dataclass(frozen=True)
class Scenario:
    services: int
    hanging: int
    latency_s: float
    timeout_s: float
    max_in_flight: int
    max_initial_offset_s: float
    seed: int
    loop: str = "asyncio"

    @property
    def deadline_s(self) -> float:
        """How long the scenario waits for every first check before it gives up and reports."""
        return self.max_initial_offset_s + self.timeout_s + 60.0

    @property
    def floor_s(self) -> float:
        """The least time a first sweep can take: waves of `max_in_flight` checks, one round trip each."""
        waves = math.ceil((self.services - self.hanging) / self.max_in_flight)
        return waves * self.latency_s

    def label(self) -> str:
        load = f"{self.hanging} hanging" if self.hanging else "all healthy"
        spread = f"offset<={self.max_initial_offset_s:g}s" if self.max_initial_offset_s else "offset=0"
        return f"{load}, max_in_flight={self.max_in_flight}, {spread}"


@dataclasses.dataclass(frozen=True)
class Outcome:
    """`*_s` figures are seconds from entering the supervisor; None when not reached by the deadline."""

    checked: int
    healthy_checked: int
    all_s: float | None
    healthy_all_s: float | None
    healthy_p50_s: float | None
    healthy_p99_s: float | None
    worst_lag_s: float
    results: dict[str, int]
    baseline_rss_mib: float
    peak_rss_mib: float
    cpu_s: float
    leaked_tasks: int
    warnings: tuple[str, ...]


# Servers -----------------------------------------------------------------------------------


def serve(healthy: int, hanging: int, latency_s: float, conn: multiprocessing.connection.Connection) -> None:
    """Server process entry: send `(healthy_ports, hanging_ports)` on `conn`, serve until SIGTERM."""
    _raise_fd_limit()
    asyncio.run(_serve(healthy, hanging, latency_s, conn))


async def _serve(healthy: int, hanging: int, latency_s: float, conn: multiprocessing.connection.Connection) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    runners: list[web.AppRunner] = []
    ports: dict[Behaviour, list[int]] = {Behaviour.SLOW: [], Behaviour.HANG: []}
    try:
        for behaviour, count in ((Behaviour.SLOW, healthy), (Behaviour.HANG, hanging)):
            for _ in range(count):
                sim = CloudgeneSimulator(name="Bench Cloudgene", context_path="/{service}")
                sim.behaviour, sim.delay_s = behaviour, latency_s
                runner = web.AppRunner(sim.app, shutdown_timeout=1.0, access_log=None)
                await runner.setup()
                runners.append(runner)
                await web.TCPSite(runner, "127.0.0.1", 0, backlog=1024).start()
                ports[behaviour].append(runner.addresses[0][1])
        conn.send((ports[Behaviour.SLOW], ports[Behaviour.HANG]))
        await stop.wait()
    finally:
        for runner in reversed(runners):
            await runner.cleanup()  # on_shutdown releases the hanging handlers


@contextlib.contextmanager
def servers(healthy: int, hanging: int, latency_s: float) -> Iterator[tuple[list[int], list[int]]]:
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=serve, args=(healthy, hanging, latency_s, sender), name="bench-servers")
    proc.start()
    sender.close()
    try:
        if not receiver.poll(SERVER_START_S):
            raise RuntimeError(f"the simulator servers did not start within {SERVER_START_S:g} s")
        yield receiver.recv()
    finally:
        receiver.close()
        _stop(proc)


def _stop(proc: multiprocessing.process.BaseProcess) -> None:
    if proc.is_alive():
        proc.terminate()
        proc.join(10)
    if proc.is_alive():
        proc.kill()
    proc.join()


# One scenario ------------------------------------------------------------------------------


def run_scenario(
    scenario: Scenario,
    healthy_ports: list[int],
    hanging_ports: list[int],
    conn: multiprocessing.connection.Connection,
) -> None:
    """Scenario process entry: measure once and send the Outcome on `conn`."""
    _raise_fd_limit()
    logging.basicConfig(level=logging.WARNING, format="  [scenario] %(levelname)s %(name)s: %(message)s")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with asyncio.Runner(loop_factory=_loop_factory(scenario.loop)) as runner:
            outcome = runner.run(measure(scenario, healthy_ports, hanging_ports))
        gc.collect()  # an unclosed socket or session warns when it is collected
    conn.send(dataclasses.replace(outcome, warnings=tuple(str(w.message) for w in caught)))
    conn.close()


def watch_specs(
    scenario: Scenario, healthy_ports: list[int], hanging_ports: list[int]
) -> tuple[list[WatchSpec], set[int]]:
    """One distinct base URL per service, and the ids of the hanging ones (spread at random)."""
    hanging = set(random.Random(scenario.seed).sample(range(scenario.services), scenario.hanging))
    specs = []
    for service_id in range(scenario.services):
        ports = hanging_ports if service_id in hanging else healthy_ports
        target = ProbeTarget(
            base_url=f"http://127.0.0.1:{ports[service_id % len(ports)]}/svc{service_id}",
            api_type=ApiType.CLOUDGENE,
            timeout_seconds=scenario.timeout_s,
            service_id=service_id,
        )
        specs.append(WatchSpec(target=target, interval_seconds=INTERVAL_S))
    return specs, hanging


async def measure(scenario: Scenario, healthy_ports: list[int], hanging_ports: list[int]) -> Outcome:
    specs, hanging = watch_specs(scenario, healthy_ports, hanging_ports)
    settings = SupervisorSettings(
        max_in_flight=scenario.max_in_flight,
        shutdown_grace_seconds=1.0,
        recording_grace_seconds=1.0,
        schedule=ScheduleSettings(max_initial_offset_seconds=scenario.max_initial_offset_s),
    )
    first_s: dict[int, float] = {}
    results: collections.Counter[str] = collections.Counter()
    everyone_checked = asyncio.Event()
    started = 0.0

    async def on_result(observation: Observation) -> None:
        service_id = observation.service_id
        if service_id in first_s:
            return
        first_s[service_id] = time.monotonic() - started
        result = observation.result
        results[f"{result.status.value}/{result.failure_kind.value if result.failure_kind else '-'}"] += 1
        if len(first_s) == scenario.services:
            everyone_checked.set()

    baseline_rss, cpu_before = _peak_rss_mib(), _cpu_s()
    connector = aiohttp.TCPConnector(limit=0)  # the supervisor's semaphore is the only bound
    session_timeout = aiohttp.ClientTimeout(total=scenario.timeout_s + 5.0)
    async with aiohttp.ClientSession(connector=connector, timeout=session_timeout) as http:
        probe = partial(check, http, limits=HttpLimits())
        supervisor = ProbeSupervisor(probe, on_result, watches=specs, settings=settings)
        started = time.monotonic()
        async with supervisor:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(scenario.deadline_s):
                    await everyone_checked.wait()
            worst_lag_s = supervisor.stats.lag_seconds
    cpu_s = _cpu_s() - cpu_before
    leaked = len(asyncio.all_tasks()) - 1

    healthy_times = sorted(t for sid, t in first_s.items() if sid not in hanging)
    healthy_total = scenario.services - len(hanging)
    return Outcome(
        checked=len(first_s),
        healthy_checked=len(healthy_times),
        all_s=max(first_s.values()) if len(first_s) == scenario.services else None,
        healthy_all_s=healthy_times[-1] if healthy_times and len(healthy_times) == healthy_total else None,
        healthy_p50_s=_percentile(healthy_times, 50),
        healthy_p99_s=_percentile(healthy_times, 99),
        worst_lag_s=worst_lag_s,
        results=dict(results),
        baseline_rss_mib=baseline_rss,
        peak_rss_mib=_peak_rss_mib(),
        cpu_s=cpu_s,
        leaked_tasks=leaked,
        warnings=(),
    )


def _loop_factory(loop: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """None is asyncio's own loop; uvloop is what uvicorn picks when it is installed."""
    if loop == "uvloop":
        import uvloop  # installed with uvicorn[standard]; imported only when asked for

        return uvloop.new_event_loop
    return None


def _percentile(sorted_values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile of an ascending sequence."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def _load() -> str:
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _raise_fd_limit() -> None:
    """1,000 concurrent probes need 1,000 sockets; the usual soft limit is 1,024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 8192 if hard == resource.RLIM_INFINITY else min(8192, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def run_in_process(
    scenario: Scenario, healthy_ports: list[int], hanging_ports: list[int], budget_s: float
) -> Outcome | str:
    """The scenario's Outcome, or why there is none; the process is killed if it overruns."""
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    args = (scenario, healthy_ports, hanging_ports, sender)
    proc = ctx.Process(target=run_scenario, args=args, name="bench-scenario")
    proc.start()
    sender.close()
    try:
        if not receiver.poll(budget_s):
            return f"no outcome within {budget_s:.0f} s: killed"
        outcome: Outcome = receiver.recv()
        return outcome
    except EOFError:
        return "the scenario process died without an outcome"
    finally:
        receiver.close()
        _stop(proc)


# Report ------------------------------------------------------------------------------------


def _fmt(seconds: float | None) -> str:
    return "not reached" if seconds is None else f"{seconds:.2f} s"


def median_run(runs: Sequence[Outcome]) -> Outcome:
    """The run whose healthy sweep time is the median (a run that never finished counts as slowest)."""
    ranked = sorted(runs, key=lambda run: math.inf if run.healthy_all_s is None else run.healthy_all_s)
    return ranked[(len(ranked) - 1) // 2]


def report(scenario: Scenario, runs: Sequence[Outcome], failures: Sequence[str]) -> None:
    print(f"\n== {scenario.label()}")
    for failure in failures:
        print(f"   !! {failure}")
    if not runs:
        return
    got = median_run(runs)
    if len(runs) > 1:
        print(f"   runs (every healthy service checked): {', '.join(_fmt(r.healthy_all_s) for r in runs)}; median:")
    healthy = scenario.services - scenario.hanging
    if scenario.max_initial_offset_s == 0:
        verdict = "n/a" if got.healthy_all_s is None else ("yes" if got.healthy_all_s <= TARGET_S else "NO")
        note = f"(target <= {TARGET_S:g} s: {verdict}; floor ceil(n/in_flight) x latency = "
        note += f"{scenario.floor_s:.2f} s)"
    else:
        note = "(includes the random start offset; lag below is the queueing part)"
    checked = f"{got.healthy_checked}/{healthy}"
    print(f"   every healthy service ({checked}) checked: {_fmt(got.healthy_all_s)} {note}")
    print(f"   healthy first-check p50 / p99: {_fmt(got.healthy_p50_s)} / {_fmt(got.healthy_p99_s)}")
    if scenario.hanging:
        print(f"   every service incl. hanging ({got.checked}/{scenario.services}): {_fmt(got.all_s)}")
    print(f"   worst start lag behind schedule (stats.lag_seconds): {got.worst_lag_s:.2f} s")
    print(f"   first results: {', '.join(f'{k} {v}' for k, v in sorted(got.results.items()))}")
    print(
        f"   peak RSS: {got.peak_rss_mib:.0f} MiB (before the supervisor: {got.baseline_rss_mib:.0f} MiB);"
        f" CPU: {got.cpu_s:.2f} s"
    )
    for run in runs:
        if run.leaked_tasks or run.warnings:
            print(f"   !! leaked tasks: {run.leaked_tasks}; warnings: {list(run.warnings)}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.sweep", description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000, help="watched services (default 1000)")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per healthy answer (0.2)")
    parser.add_argument("--hanging", type=float, default=0.1, help="fraction hanging in scenario 2 (0.1)")
    parser.add_argument("--timeout", type=float, default=5.0, help="ProbeTarget.timeout_seconds (5)")
    parser.add_argument("--servers", type=int, default=20, help="simulator servers (20)")
    parser.add_argument(
        "--in-flight",
        type=int,
        nargs="+",
        default=[DEFAULT_IN_FLIGHT, 1000],
        help="max_in_flight values to compare (100 1000)",
    )
    parser.add_argument("--no-spread", action="store_true", help="skip the runs with the default offset")
    parser.add_argument(
        "--loop", choices=("asyncio", "uvloop"), default="asyncio", help="event loop of the probe process"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per scenario; the median is shown (1)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-seconds", type=float, default=600.0, help="hard limit on the whole run (600)")
    args = parser.parse_args(argv)
    if args.services < 1 or args.servers < 2 or not 0 <= args.hanging < 1 or min(args.in_flight) < 1 or args.repeat < 1:
        parser.error("need --services >= 1, --servers >= 2, 0 <= --hanging < 1, --in-flight and --repeat >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    hanging = round(args.services * args.hanging)
    hang_servers = max(1, round(args.servers * args.hanging)) if hanging else 0
    scenarios = [
        Scenario(args.services, hang, args.latency, args.timeout, in_flight, offset, args.seed, args.loop)
        for hang in dict.fromkeys((0, hanging))
        for offset in ((0.0,) if args.no_spread else (0.0, DEFAULT_OFFSET_S))
        for in_flight in args.in_flight
    ]
    print(
        f"{args.services} services, latency {args.latency:g} s per request (a Cloudgene check: 2 concurrent requests),"
        f" probe timeout {args.timeout:g} s, interval {INTERVAL_S:g} s, {args.loop} loop,"
        f" {args.servers - hang_servers} healthy + {hang_servers} hanging simulator servers"
    )
    print(
        f"offset=0: ScheduleSettings(max_initial_offset_seconds=0), every watch due at once (first sweep);"
        f" offset<={DEFAULT_OFFSET_S:g}s: the default random start spread"
    )
    print(
        f"a sequential loop would need {args.services} x 2 x {args.latency:g} = "
        f"{args.services * 2 * args.latency:.0f} s"
    )
    print(f"load average before: {_load()} (other processes on the machine share its {os.cpu_count()} cores)")
    deadline = time.monotonic() + args.max_seconds
    is_complete = True
    with servers(args.servers - hang_servers, hang_servers, args.latency) as (healthy_ports, hanging_ports):
        for scenario in scenarios:
            runs: list[Outcome] = []
            failures: list[str] = []
            for _ in range(args.repeat):
                budget_s = min(scenario.deadline_s + SCENARIO_SLACK_S, deadline - time.monotonic())
                if budget_s <= 0:
                    failures.append(f"skipped: --max-seconds {args.max_seconds:g} used up")
                    break
                got = run_in_process(scenario, healthy_ports, hanging_ports, budget_s)
                if isinstance(got, str):
                    failures.append(got)
                else:
                    runs.append(got)
            is_complete = is_complete and not failures
            report(scenario, runs, failures)
            sys.stdout.flush()
    print(f"\nload average after: {_load()}")
    return 0 if is_complete else 1


if __name__ == "__main__":
    sys.exit(main())
