"""statusChanged fan-out over a cluster of replicas, with bench.fanout's client processes and flips.

The client processes alternate between the replicas, so the subscribers split evenly. One
replica probes the flipped service and publishes its changes; its own subscribers get them from
its memory, the other replica's through Redis. Latency is receipt minus `changedAt`, as in
bench.fanout. The replicas run as `vigil serve`, so nothing inside them is timed: an event is
expected at every subscriber once any subscriber got it.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import time
from collections.abc import Sequence

from bench.cluster import Member, machine_cpu_s, subscribers
from bench.fanout import (
    CONNECT_S,
    FLIPS,
    HTTP_TIMEOUT_S,
    START_S,
    Budget,
    Child,
    ClientReport,
    Run,
    Stalled,
    child,
    drain_until_report,
    proc_cpu_s,
    run_clients,
    split,
    wait_everywhere,
)

FLIP_S = 20.0  # one flip reaches every subscriber within this: detection (1-3 s) and delivery


@dataclasses.dataclass(frozen=True)
class Watched:
    """The flipped service of one cluster."""

    service_id: str
    owner: int  # index of the replica that probes it
    baseline: int  # broker subscriptions of the replicas before any subscriber connected


@dataclasses.dataclass(frozen=True)
class Spent:
    """CPU seconds over `seconds` of wall time."""

    seconds: float
    replicas: tuple[float, ...]
    clients: float
    machine: float  # every process on the machine


@dataclasses.dataclass(frozen=True)
class FanOut:
    subscribers: int
    connected: int
    connect_s: float | None  # from the first connect until every subscription was in a broker
    events: int
    missed: int
    dropped: int  # by the replicas' brokers (a subscriber queue overflowed)
    latencies: tuple[float, ...]  # ascending
    by_replica: tuple[tuple[str, tuple[float, ...]], ...]  # ("owner", ...), ("other", ...); 2 replicas only
    spent: Spent  # during the flips
    problems: tuple[str, ...]


def fan_out(
    members: Sequence[Member], watched: Watched, flipper: Child, count: int, flips: int, processes: int, budget: Budget
) -> FanOut:
    """Connects `count` subscribers over `processes` client processes, then flips the service `flips`
    times, each time waiting until every subscriber has the change (blocking)."""
    run = Run(subscribers=count, flips_asked=flips)
    dropped_before = sum(member.scrape()["vigil_events_dropped_total"] for member in members)
    homes = [index % len(members) for index in range(min(processes, count))]  # the replica of each process
    with contextlib.ExitStack() as stack:
        clients = [
            stack.enter_context(
                child(f"bench-clients-{i}", run_clients, members[home].ws_url, members[0].token, watched.service_id, n)
            )
            for i, (home, n) in enumerate(zip(homes, split(count, processes), strict=True))
        ]
        for client in clients:
            client.expect("ready", budget(START_S))
        started_at = time.monotonic()
        for client in clients:
            client.send("connect")
        run.connected = sum(client.expect("connect", budget(CONNECT_S + 5))[1] for client in clients)
        ends_at = time.monotonic() + budget(CONNECT_S)
        # A replica has no event for a new subscription that this process could wait on: poll /metrics.
        while (open_now := subscribers(members) - watched.baseline) < run.connected:
            if time.monotonic() > ends_at:
                raise Stalled(f"{open_now} of {run.connected} subscriptions reached the brokers")
            time.sleep(0.25)  # each scrape costs the replicas CPU
        run.connect_s = time.monotonic() - started_at

        pids = [member.pid for member in members]
        before = (time.monotonic(), [proc_cpu_s(pid) for pid in pids], _clients_cpu_s(clients), machine_cpu_s())
        for flip in range(flips):
            behaviour, status = FLIPS[flip % 2]
            flipper.ask("behaviour", budget(HTTP_TIMEOUT_S), behaviour.value)
            if wait_everywhere(clients, status, run, budget(FLIP_S)) is None:
                run.problems.append(f"flip {flip + 1} ({status}) did not reach every subscriber in time")
        spent = Spent(
            seconds=time.monotonic() - before[0],
            replicas=tuple(proc_cpu_s(pid) - cpu for pid, cpu in zip(pids, before[1], strict=True)),
            clients=_clients_cpu_s(clients) - before[2],
            machine=machine_cpu_s() - before[3],
        )
        for client in clients:
            client.send("report")
        reports = [drain_until_report(client, run, budget(CONNECT_S)) for client in clients]
    dropped = sum(member.scrape()["vigil_events_dropped_total"] for member in members) - dropped_before
    return summarise(run, reports, homes, watched.owner, spent, int(dropped))


def _clients_cpu_s(clients: Sequence[Child]) -> float:
    return sum(proc_cpu_s(client.proc.pid or 0) for client in clients)


def summarise(
    run: Run, reports: Sequence[ClientReport], homes: Sequence[int], owner: int, spent: Spent, dropped: int
) -> FanOut:
    expected = {d[0] for report in reports for deliveries in report.deliveries for d in deliveries}
    missed = 0
    latencies: dict[int, list[float]] = collections.defaultdict(list)
    for report, home in zip(reports, homes, strict=True):
        for deliveries in report.deliveries:
            missed += len(expected - {d[0] for d in deliveries})
            latencies[home].extend(received_at - changed_at for _, _, changed_at, received_at in deliveries)
    problems = list(run.problems)
    problems += [f"{n} x subscriber lost: {why}" for why, n in collections.Counter(run.lost).items()]
    problems += [failure for report in reports for failure in report.failures]
    if len(expected) != run.flips_asked:
        problems.append(f"{len(expected)} status changes seen for {run.flips_asked} flips")
    by_replica = tuple(
        ("owner" if home == owner else "other", tuple(sorted(values)))
        for home, values in sorted(latencies.items(), key=lambda item: item[0] != owner)  # the owner first
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
        spent=spent,
        problems=tuple(problems),
    )
