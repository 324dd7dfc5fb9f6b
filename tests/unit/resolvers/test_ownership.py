"""Ownership over real leases: several replicas in one process, each with its own lease session,
supervisor and broker, on a fresh migrated PostgreSQL database per test (SQLite where noted)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import asyncpg
import pytest

from config import Settings
from events import MemoryBroker, RedisBroker, RedisOptions
from events.broker import Broker
from events.messages import RegistryChanged
from models import Service
from models.db import open_database, tortoise_config
from models.leases import NS_MEMBER, SLOT_COUNT, Lease, connect_args, fair_share, open_lease, slot_of
from probes.clock import Clock, ManualClock, SystemClock
from probes.http import HttpLimits
from probes.observation import Observation
from probes.result import ApiType, HealthStatus, ProbeResult, ProbeTarget, ServiceType
from probes.schedule import ScheduleSettings
from probes.supervisor import ProbeSupervisor, SupervisorSettings
from resolvers.audit import Actor
from resolvers.credentials import CredentialCipher
from resolvers.deps import Deps
from resolvers.errors import VigilError
from resolvers.health import check_service_health
from resolvers.monitoring import sync_watch, watch_spec
from resolvers.ownership import Ownership
from resolvers.recording import record
from tests.conftest import fresh_postgres_database

CIPHER = CredentialCipher(b"test-key-material-123")
ROUND_S = 0.1
FAST = SupervisorSettings(
    schedule=ScheduleSettings(
        default_interval_seconds=0.2, min_interval_seconds=0.1, max_interval_seconds=60, max_initial_offset_seconds=0
    )
)


class CountingProbe:
    """Answers at once (HEALTHY unless `status` says otherwise) and remembers what it probed."""

    def __init__(self, status: HealthStatus = HealthStatus.HEALTHY) -> None:
        self.status = status
        self.calls: list[int] = []

    async def __call__(self, target: ProbeTarget) -> ProbeResult:
        self.calls.append(target.service_id or 0)
        return ProbeResult(self.status, dt.datetime.now(dt.UTC), response_time_ms=1.0)


class Sink:
    """Keeps every observation; with a broker it also stores and announces it, as the app does.
    Its first `unreachable_for` writes fail as a dropped database connection would."""

    def __init__(self, broker: Broker | None = None, unreachable_for: int = 0) -> None:
        self.observations: list[Observation] = []
        self.broker = broker
        self.unreachable_for = unreachable_for

    async def __call__(self, observation: Observation) -> None:
        if self.unreachable_for:
            self.unreachable_for -= 1
            raise ConnectionResetError(104, "connection reset by peer")
        if self.broker is not None:
            await record(self.broker, observation)
        self.observations.append(observation)


@dataclasses.dataclass
class Replica:
    lease: Lease
    ownership: Ownership
    supervisor: ProbeSupervisor
    probe: CountingProbe
    sink: Sink
    deps: Deps

    @property
    def slots(self) -> set[int]:
        return set(self.ownership.stats.slots)


@pytest.fixture
async def pg_registry(pg_url: str) -> AsyncIterator[str]:
    """A fresh, migrated PostgreSQL database with Tortoise open on it, and nobody else's locks."""
    async with fresh_postgres_database(pg_url) as url, open_database(tortoise_config(url)):
        yield url


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@contextlib.asynccontextmanager
async def replica(
    database_url: str,
    http: aiohttp.ClientSession,
    broker: Broker | None = None,
    *,
    clock: Clock | None = None,
    reconcile_s: float = 30.0,
    status: HealthStatus = HealthStatus.HEALTHY,
    stores: bool = False,
    buffer_capacity: int = 10_000,
    unreachable_for: int = 0,
    hold_grace_s: float = 0.3,
) -> AsyncIterator[Replica]:
    """One probing replica, wired as app.py wires it: lease, then supervisor, then ownership."""
    async with contextlib.AsyncExitStack() as stack:
        if broker is None:
            broker = await stack.enter_async_context(MemoryBroker())
        lease = await stack.enter_async_context(open_lease(database_url, round_s=ROUND_S))
        ownership = Ownership(
            lease,
            broker,
            CIPHER,
            round_s=ROUND_S,
            reconcile_s=reconcile_s,
            buffer_capacity=buffer_capacity,
            hold_grace_s=hold_grace_s,
        )
        probe, sink = CountingProbe(status), Sink(broker if stores else None, unreachable_for)
        supervisor = await stack.enter_async_context(
            ProbeSupervisor(probe, ownership.guard(sink), settings=FAST, clock=clock or ManualClock())
        )
        await stack.enter_async_context(ownership.driving(supervisor))
        deps = Deps(
            settings=Settings(_env_file=None, database_url=database_url),
            http=http,
            limits=HttpLimits(),
            cipher=CIPHER,
            broker=broker,
            supervisor=supervisor,
            ownership=ownership,
        )
        yield Replica(lease, ownership, supervisor, probe, sink, deps)


async def add_services(count: int, *, interval_s: int = 60) -> list[int]:
    rows = [
        await Service.create(
            name=f"service {uuid.uuid4().hex[:8]}",
            type=ServiceType.MICHIGAN,
            api_type=ApiType.CLOUDGENE,
            base_url=f"http://127.0.0.1:9/{index}",
            check_interval_seconds=interval_s,
            timeout_seconds=1.0,
        )
        for index in range(count)
    ]
    return [row.id for row in rows]


async def eventually(condition: Callable[[], bool], timeout_s: float = 5.0) -> float:
    """Wait until `condition()` holds; returns how long that took."""
    started = time.monotonic()
    async with asyncio.timeout(timeout_s):
        # Polling on purpose: the state is spread over leases, supervisors and rounds, and no one event marks it.
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    return time.monotonic() - started


def settled(replicas: list[Replica], service_ids: list[int]) -> Callable[[], bool]:
    """Every slot owned within the fair share, and every service watched by exactly one replica."""

    def check() -> bool:
        slots = [replica.slots for replica in replicas]
        share = fair_share(len(replicas))
        watched = sum(len(replica.supervisor.watched()) for replica in replicas)
        fair = sum(map(len, slots)) == SLOT_COUNT and all(len(s) <= share for s in slots)
        return fair and watched == len(service_ids)

    return check


def assert_each_service_watched_once(replicas: list[Replica], service_ids: list[int]) -> None:
    watched = [replica.supervisor.watched() for replica in replicas]
    assert sum(map(len, watched)) == len(service_ids), "a service is watched twice, or not at all"
    assert frozenset().union(*watched) == frozenset(service_ids)
    for replica, ids in zip(replicas, watched, strict=True):
        assert all(slot_of(service_id) in replica.slots for service_id in ids)


async def kill_session(lease: Lease, database_url: str, server_url: str) -> None:
    """End one replica's lease session from outside, as PostgreSQL does when its process dies.
    Connects to another database of the server, which stays reachable when this one refuses."""
    admin = await asyncpg.connect(**connect_args(server_url))
    try:
        ended = await admin.fetchval(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
            " AND classid = $1::int8::oid AND objid = $2::int8::oid AND objsubid = 2"
            " AND database = (SELECT oid FROM pg_database WHERE datname = $3)",
            NS_MEMBER,
            int(lease.member, 16),
            connect_args(database_url)["database"],
        )
    finally:
        await admin.close()
    assert ended


async def test_two_replicas_split_the_slots_evenly_and_watch_each_service_once(
    pg_registry: str, http: aiohttp.ClientSession
) -> None:
    service_ids = await add_services(40)
    async with replica(pg_registry, http) as a, replica(pg_registry, http) as b:
        await eventually(settled([a, b], service_ids))

        assert a.slots.isdisjoint(b.slots)
        assert (len(a.slots), len(b.slots)) == (32, 32)
        assert (a.ownership.stats.members, b.ownership.stats.members) == (2, 2)
        assert_each_service_watched_once([a, b], service_ids)


async def test_a_third_replica_gets_its_share_and_no_service_is_watched_twice(
    pg_registry: str, http: aiohttp.ClientSession
) -> None:
    service_ids = await add_services(70)
    async with replica(pg_registry, http) as a, replica(pg_registry, http) as b:
        await eventually(settled([a, b], service_ids))
        async with replica(pg_registry, http) as c:
            await eventually(settled([a, b, c], service_ids))

            assert len(c.slots) >= SLOT_COUNT - 2 * fair_share(3)
            assert a.ownership.stats.slots_released > 0 or b.ownership.stats.slots_released > 0
            assert_each_service_watched_once([a, b, c], service_ids)


async def test_when_a_replica_dies_the_other_takes_over_its_services_within_a_few_rounds(
    pg_registry: str, http: aiohttp.ClientSession
) -> None:
    service_ids = await add_services(30)
    async with replica(pg_registry, http) as survivor:
        async with replica(pg_registry, http) as dying:
            await eventually(settled([survivor, dying], service_ids))
            orphans = dying.supervisor.watched()
            # The context's exit closes the session, as the process's death would.
        took = await eventually(lambda: survivor.supervisor.watched() >= orphans)

        assert took < 2.0, f"{took:.2f} s with rounds every {ROUND_S} s"  # generous: shared CI machines
        await eventually(lambda: survivor.slots == set(range(SLOT_COUNT)))
        assert survivor.supervisor.watched() == frozenset(service_ids)


@contextlib.asynccontextmanager
async def refusing_connections(pg_url: str, database_url: str) -> AsyncIterator[Callable[[bool], Awaitable[None]]]:
    """`refuse(True)` makes PostgreSQL refuse new sessions to the test database (open ones go
    on); left allowed whatever happens. The admin session uses another database of the server."""
    admin = await asyncpg.connect(**connect_args(pg_url))
    name = connect_args(database_url)["database"]

    async def refuse(refused: bool) -> None:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(not refused).lower()}')

    try:
        yield refuse
    finally:
        await refuse(False)
        await admin.close()


def per_service(observations: list[Observation]) -> dict[int, list[dt.datetime]]:
    times: dict[int, list[dt.datetime]] = {}
    for observation in observations:
        times.setdefault(observation.service_id, []).append(observation.result.checked_at)
    return times


async def test_a_replica_whose_lease_is_away_keeps_probing_into_the_buffer_and_writes_every_check_when_back(
    pg_registry: str, pg_url: str, http: aiohttp.ClientSession
) -> None:
    service_ids = await add_services(5, interval_s=1)
    async with refusing_connections(pg_url, pg_registry) as refuse, replica(
        pg_registry, http, clock=SystemClock()
    ) as cut_off:
        await eventually(lambda: len(cut_off.probe.calls) >= 5)
        await refuse(True)
        await kill_session(cut_off.lease, pg_registry, pg_url)
        await eventually(lambda: not cut_off.ownership.stats.is_leased)
        recorded, probed = len(cut_off.sink.observations), len(cut_off.probe.calls)

        await asyncio.sleep(1.5)  # the lease cannot come back: several rounds and check intervals

        stats = cut_off.ownership.stats
        assert cut_off.supervisor.watched() == frozenset(service_ids), "held-over services are still probed"
        assert len(cut_off.probe.calls) >= probed + 5
        assert stats.held_over_slots > 0 and stats.checks_buffered > 0
        assert len(cut_off.sink.observations) <= recorded + 1  # at most one was being recorded as the lease broke
        await refuse(False)
        await eventually(lambda: len(cut_off.slots) == SLOT_COUNT and not cut_off.ownership.stats.checks_buffered)
        await eventually(lambda: len(cut_off.sink.observations) >= len(cut_off.probe.calls) - 5)

        stats = cut_off.ownership.stats
        assert stats.observations_dropped == 0
        assert stats.checks_flushed_total == stats.checks_buffered_total > 0
        assert stats.held_over_slots == 0 and stats.lease_losses == 1
        for times in per_service(cut_off.sink.observations).values():
            assert times == sorted(times), "a service's checks were written out of order"


async def test_a_full_buffer_drops_and_counts_and_the_service_restarts_from_its_stored_state(
    pg_registry: str, pg_url: str, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    service_ids = await add_services(4, interval_s=1)
    async with refusing_connections(pg_url, pg_registry) as refuse, replica(
        pg_registry, http, clock=SystemClock(), stores=True, buffer_capacity=3
    ) as cut_off:
        await eventually(lambda: len(cut_off.sink.observations) >= 4)
        await refuse(True)
        await kill_session(cut_off.lease, pg_registry, pg_url)
        await eventually(lambda: cut_off.ownership.stats.observations_dropped >= 4, timeout_s=10)
        await refuse(False)
        await eventually(lambda: len(cut_off.slots) == SLOT_COUNT, timeout_s=10)
        await eventually(lambda: cut_off.supervisor.watched() == frozenset(service_ids))
        written = len(cut_off.sink.observations)
        await eventually(lambda: len(cut_off.sink.observations) >= written + 4)  # probing again, every service

        stats = cut_off.ownership.stats
        assert stats.checks_flushed_total == 3 and stats.checks_buffered == 0
        assert "the check buffer is full (3 checks)" in caplog.text
        assert "restarted" in caplog.text and "from their stored state" in caplog.text
    for service_id in service_ids:  # no status change was stored without its event
        row = await Service.get(id=service_id)
        assert row.status == HealthStatus.HEALTHY


async def test_slots_another_replica_took_during_the_outage_drop_their_buffered_checks(
    pg_registry: str, pg_url: str, http: aiohttp.ClientSession
) -> None:
    service_ids = await add_services(16, interval_s=1)
    async with refusing_connections(pg_url, pg_registry) as refuse, replica(
        pg_registry, http, clock=SystemClock()
    ) as first, replica(pg_registry, http, clock=SystemClock()) as second:
        await eventually(settled([first, second], service_ids))
        mine = set(first.supervisor.watched())
        await refuse(True)  # `first` cannot come back; `second` keeps its open session
        await kill_session(first.lease, pg_registry, pg_url)
        await eventually(lambda: len(second.slots) == SLOT_COUNT, timeout_s=10)
        await eventually(lambda: first.ownership.stats.checks_buffered >= len(mine))
        flushed_before = first.ownership.stats.checks_flushed_total
        await refuse(False)
        await eventually(lambda: first.ownership.stats.is_leased and first.ownership.stats.held_over_slots == 0)

        await eventually(lambda: first.ownership.stats.checks_buffered == 0, timeout_s=10)

        # The slots `second` released to even the share out came back with their checks; the ones
        # it kept were given up after the grace, their checks dropped and counted.
        stats = first.ownership.stats
        assert stats.observations_dropped > 0 and stats.held_over_slots == 0, stats
        assert stats.checks_flushed_total - flushed_before + stats.observations_dropped == stats.checks_buffered_total
        await eventually(settled([first, second], service_ids), timeout_s=10)  # each service watched once


async def test_a_registry_change_taken_by_a_replica_that_does_not_own_the_service_reaches_its_owner(
    pg_registry: str, http: aiohttp.ClientSession, redis_url: str
) -> None:
    prefix = f"test-{uuid.uuid4().hex}:"
    options = RedisOptions(reconnect_initial_s=0.05, reconnect_max_s=0.5)
    async with (
        RedisBroker(redis_url, channel_prefix=prefix, options=options) as broker_a,
        RedisBroker(redis_url, channel_prefix=prefix, options=options) as broker_b,
        replica(pg_registry, http, broker_a) as a,
        replica(pg_registry, http, broker_b) as b,
    ):
        await eventually(settled([a, b], []))
        (service_id,) = await add_services(1)
        row = await Service.get(id=service_id)
        owner, other = (a, b) if a.ownership.owns(service_id) else (b, a)

        await sync_watch(other.deps, row)  # as registerService on the other replica would
        await eventually(lambda: service_id in owner.supervisor.watched())
        assert service_id not in other.supervisor.watched()

        row.is_active = False
        await row.save()
        await sync_watch(other.deps, row)
        await eventually(lambda: service_id not in owner.supervisor.watched())


async def test_a_manual_check_on_another_replica_is_carried_on_by_the_owner(
    pg_registry: str, http: aiohttp.ClientSession, redis_url: str
) -> None:
    prefix = f"test-{uuid.uuid4().hex}:"
    options = RedisOptions(reconnect_initial_s=0.05, reconnect_max_s=0.5)
    failing = HealthStatus.UNHEALTHY
    (service_id,) = await add_services(1)
    async with (
        RedisBroker(redis_url, channel_prefix=prefix, options=options) as broker_a,
        RedisBroker(redis_url, channel_prefix=prefix, options=options) as broker_b,
        replica(pg_registry, http, broker_a, status=failing, stores=True) as a,
        replica(pg_registry, http, broker_b, status=failing, stores=True) as b,
    ):
        await eventually(settled([a, b], [service_id]))
        owner, other = (a, b) if a.ownership.owns(service_id) else (b, a)
        await eventually(lambda: len(owner.sink.observations) == 1)  # its first check, on taking the slot
        failures = (await Service.get(id=service_id)).consecutive_failures  # one per replica that held it

        manual = await check_service_health(other.deps, service_id, Actor(name="alice", token_id=1))

        assert manual.manual
        # The owner's clock never moves, so only a restarted watch probes again: from the stored
        # state, which has the manual failure in it.
        await eventually(lambda: len(owner.sink.observations) == 2)
        latest = owner.sink.observations[-1]
        assert (latest.is_manual, latest.breaker.consecutive_failures) == (False, failures + 2)


async def test_reconciliation_applies_registry_changes_that_no_message_announced(
    pg_registry: str, http: aiohttp.ClientSession
) -> None:
    gone, kept = await add_services(2)
    async with replica(pg_registry, http, reconcile_s=0.2) as lonely:
        await eventually(lambda: lonely.supervisor.watched() == {gone, kept})
        await Service.filter(id=gone).update(is_active=False)
        (added,) = await add_services(1)
        await Service.filter(id=kept).update(base_url="http://127.0.0.1:9/moved")

        await eventually(lambda: lonely.supervisor.watched() == {kept, added})
        spec = await watch_spec(await Service.get(id=kept), CIPHER)
        assert lonely.ownership._specs[kept].target == spec.target


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_on_sqlite_one_replica_owns_every_slot_and_records_only_what_it_owns(
    db: str, http: aiohttp.ClientSession
) -> None:
    (service_id,) = await add_services(1)
    async with (
        MemoryBroker() as broker,
        broker.subscribe(RegistryChanged) as announced,
        replica(db, http, broker) as only,
    ):
        assert only.slots == set(range(SLOT_COUNT))
        assert only.supervisor.watched() == {service_id}
        await eventually(lambda: len(only.sink.observations) == 1)  # the first check, on taking the slot
        stranger = await watch_spec(await Service.get(id=service_id), CIPHER)
        await only.ownership.forget(service_id)
        await only.lease.release([slot_of(service_id)])  # as if another replica owned it now
        await only.supervisor.upsert(stranger)  # a stray watch (it checks at once) the fence must not record
        await eventually(lambda: only.ownership.stats.observations_dropped == 1)
        assert len(only.sink.observations) == 1

        manual = await only.supervisor.check_now(stranger.service_id)

        assert only.sink.observations[1:] == [manual]  # a manual check is recorded whoever owns it
        async with asyncio.timeout(2):
            reseed = await anext(announced)
        assert reseed == RegistryChanged(seq=reseed.seq, origin=broker.replica_id, service_id=service_id, reseed=True)


async def test_a_held_over_slot_still_locked_when_the_lease_returns_is_waited_for_not_given_up(
    pg_registry: str, pg_url: str, http: aiohttp.ClientSession
) -> None:
    """After a partition, the old session may keep its locks until PostgreSQL notices it is dead:
    the slots look taken. Within the grace they stay held over (still buffering) and are taken
    back, with nothing dropped, once they are free; here another replica plays the old session."""
    service_ids = await add_services(8, interval_s=1)
    async with contextlib.AsyncExitStack() as stack:
        refuse = await stack.enter_async_context(refusing_connections(pg_url, pg_registry))
        first = await stack.enter_async_context(replica(pg_registry, http, clock=SystemClock(), hold_grace_s=30))
        await eventually(lambda: first.supervisor.watched() == frozenset(service_ids))
        async with replica(pg_registry, http, clock=SystemClock()) as holder:
            await refuse(True)
            await kill_session(first.lease, pg_registry, pg_url)
            await eventually(lambda: len(holder.slots) == SLOT_COUNT, timeout_s=10)
            await refuse(False)
            await eventually(lambda: first.ownership.stats.is_leased, timeout_s=10)
            probed = len(first.probe.calls)
            await eventually(lambda: len(first.probe.calls) >= probed + 8)  # many rounds, slots still locked

            stats = first.ownership.stats  # `holder` released half to even the share out; the rest wait
            assert 0 < stats.held_over_slots < SLOT_COUNT and stats.observations_dropped == 0, stats
            assert first.supervisor.watched() == frozenset(service_ids), "still probing, into the buffer"
        await eventually(lambda: first.ownership.stats.held_over_slots == 0, timeout_s=10)  # freed: taken back
        await eventually(lambda: first.ownership.stats.checks_buffered == 0, timeout_s=10)

        stats = first.ownership.stats
        assert stats.observations_dropped == 0 and stats.checks_flushed_total == stats.checks_buffered_total > 0
        for times in per_service(first.sink.observations).values():
            assert times == sorted(times)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_check_that_meets_an_unreachable_database_waits_in_the_buffer_and_keeps_its_place(
    db: str, http: aiohttp.ClientSession
) -> None:
    (service_id,) = await add_services(1, interval_s=1)
    async with replica(db, http, clock=SystemClock(), unreachable_for=3) as only:
        await eventually(lambda: len(only.sink.observations) >= 4, timeout_s=10)

        stats = only.ownership.stats
        assert stats.checks_buffered_total >= 1 and stats.observations_dropped == 0
        assert len(only.sink.observations) + stats.checks_buffered >= len(only.probe.calls) - 1  # one in flight
        times = per_service(only.sink.observations)[service_id]
        assert times == sorted(times), "a later check overtook one waiting in the buffer"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_manual_check_is_refused_while_that_services_checks_wait_in_the_buffer(
    db: str, http: aiohttp.ClientSession
) -> None:
    """Stored first, it would land before the older checks; probed at all, it would change the
    watch's state with a check that is never stored."""
    (service_id,) = await add_services(1, interval_s=1)
    async with replica(db, http, unreachable_for=1_000) as only:  # a manual clock: only the first loop check
        await eventually(lambda: only.ownership.has_waiting_checks(service_id), timeout_s=5)
        probed = len(only.probe.calls)

        with pytest.raises(VigilError, match="still being written"):
            await check_service_health(only.deps, service_id, Actor(name="alice", token_id=1))

        assert len(only.probe.calls) == probed, "refused before probing"
        assert only.ownership.stats.observations_dropped == 0
