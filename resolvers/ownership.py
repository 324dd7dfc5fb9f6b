"""Ownership: this replica's probe loop watches exactly the services of the slots it leases.

Every `round_s` seconds a round looks at the lease table (`models/leases.py`): it counts the live
probing replicas, computes the fair share of slots, releases slots above it and takes free
slots up to it. So the work spreads over the replicas, a new replica gets its share within two
rounds, and the slots of a replica that died (its session closed, PostgreSQL freed its locks)
are taken by the next round of the others.

The order of each step is what keeps a service probed by one replica at a time:

- **take**: lock first, then load the rows and start the watches, from the breaker and
  hysteresis state the previous owner stored;
- **release**: stop the watches, wait for their recordings to commit, then unlock, so the next
  owner loads the state they wrote;
- **lease lost** (connection closed or a round failed): the lease drops every slot at once and
  its slots are *held over*: their watches keep probing, and `guard` puts their checks in a
  bounded buffer (`resolvers/check_buffer.py`) instead of the database. The lease reconnects
  with backoff; its first round takes back the held-over slots nobody else took, writes their
  buffered checks in order, and carries on. Checks of slots another replica took meanwhile are
  dropped, counted and logged: that replica owns their state now.
- **database unreachable** while the lease holds (a write fails on a connection error): the
  check joins the same buffer, and the next round writes it.

A check that cannot be buffered (the buffer is full) is dropped, counted and logged, and so is
every later check of that service until its watch restarts from the stored state; otherwise a
status change among the dropped checks would be stored without its event.

Registry changes reach the owner two ways: `RegistryChanged` messages, applied at once, and a
reconciliation against the database every `reconcile_s` seconds (and every round while the
broker is unhealthy, or after a subscription gap), for the messages Redis pub/sub lost.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import AsyncIterator, Collection, Iterable
from typing import Any

from events.broker import Broker
from events.messages import RegistryChanged
from models import Service
from models.leases import SLOT_COUNT, Lease, LeaseLost, Survey, fair_share, slot_of
from probes.backoff import Backoff
from probes.observation import Observation
from probes.supervisor import ProbeSupervisor, ResultSink, WatchSpec
from resolvers.check_buffer import CheckBuffer
from resolvers.credentials import CredentialCipher
from resolvers.monitoring import announce, watch_spec, watch_specs
from resolvers.recording import is_unreachable

log = logging.getLogger(__name__)


class NotOwned(RuntimeError):
    """A buffered check whose slot was lost during the flush: it waits for the lease again."""


class ChecksWaiting(RuntimeError):
    """A manual check of a service whose earlier checks are still buffered: storing it first
    would put the service's history out of order."""


@dataclasses.dataclass(frozen=True, slots=True)
class OwnershipStats:
    """What this replica owns, for `/readyz`, logs and metrics.

    `is_leased`: the lease session is up (always true on SQLite). `members`: live probing
    replicas seen by the last round. `slots`: the slots whose services this replica probes.
    `services`: services it watches. `held_over_slots`: slots kept probing while the lease is
    away. `checks_buffered`: checks waiting for the database or the lease, at most
    `buffer_capacity`. Counters since start: `slots_taken`, `slots_released`, `lease_losses`,
    `checks_buffered_total`, `checks_flushed_total` (buffered checks written later), and
    `observations_dropped` (loop checks never written: buffer full, slot taken by another replica
    during an outage, or still buffered at shutdown).
    """

    member: str
    is_leased: bool
    members: int
    slot_count: int
    slots: tuple[int, ...]
    services: int
    held_over_slots: int
    checks_buffered: int
    buffer_capacity: int
    slots_taken: int
    slots_released: int
    lease_losses: int
    checks_buffered_total: int
    checks_flushed_total: int
    observations_dropped: int
    last_error: str | None

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "slots": list(self.slots)}


class Ownership:
    """Drives one ProbeSupervisor from one Lease; see the module docstring.

    Build it, wrap the supervisor's sink with `guard`, then enter `driving(supervisor)` after the
    supervisor and leave it before: the rounds stop, then the supervisor drains, then the lease
    closes (the app's exit stack does this in that order).
    """

    def __init__(
        self,
        lease: Lease,
        broker: Broker,
        cipher: CredentialCipher,
        *,
        round_s: float,
        reconcile_s: float = 30.0,
        drain_timeout_s: float = 30.0,
        buffer_capacity: int = 10_000,
        hold_grace_s: float = 30.0,
        rng: random.Random | None = None,
    ) -> None:
        self._lease = lease
        self._broker = broker
        self._cipher = cipher
        self._round_s = round_s
        self._reconcile_s = reconcile_s
        self._drain_timeout_s = drain_timeout_s
        self._rng = rng or random.Random()
        self._backoff = Backoff(base_seconds=min(round_s, 0.5), multiplier=2.0, cap_seconds=10.0, jitter=0.2)
        self._supervisor: ProbeSupervisor | None = None
        self._owned: set[int] = set()
        self._held_over: set[int] = set()  # slots of a lost lease, still probed, checks buffered
        self._buffer = CheckBuffer(buffer_capacity)
        self._broken: set[int] = set()  # services that lost a check: nothing more of theirs is stored until restarted
        self._sink: ResultSink | None = None
        self._closing = False
        self._hold_grace_s = hold_grace_s  # how long held-over slots still locked may be our own dead session's
        self._leased_at = 0.0
        self._specs: dict[int, WatchSpec] = {}  # what each watch was built from, snapshots left out
        self._recording: collections.Counter[int] = collections.Counter()
        self._recorded = asyncio.Condition()
        self._changing = asyncio.Lock()  # one change to the watches at a time
        self._members = 0
        self._failures = 0
        self._reconcile_at = 0.0
        self._taken = self._released = self._losses = self._dropped = 0
        self._last_error: str | None = None

    @property
    def stats(self) -> OwnershipStats:
        buffered = self._buffer.stats
        return OwnershipStats(
            member=self._lease.member,
            is_leased=self._lease.is_connected and not self._lease.lost.is_set(),
            members=self._members,
            slot_count=SLOT_COUNT,
            slots=tuple(sorted(self._owned)),
            services=len(self._specs),
            held_over_slots=len(self._held_over),
            checks_buffered=buffered.held,
            buffer_capacity=buffered.capacity,
            slots_taken=self._taken,
            slots_released=self._released,
            lease_losses=self._losses,
            checks_buffered_total=buffered.buffered,
            checks_flushed_total=buffered.written,
            observations_dropped=self._dropped + buffered.dropped,
            last_error=self._last_error,
        )

    def owns(self, service_id: int) -> bool:
        """Whether this replica's loop is the one that probes the service now."""
        slot = slot_of(service_id)
        return slot in self._owned and slot in self._lease.held

    def guard(self, sink: ResultSink) -> ResultSink:
        """Wrap the supervisor's sink: record loop checks of owned slots, buffer those that cannot
        be written now (see the module docstring), count recordings in flight (a release waits
        for them), and after a manual check of a service another replica watches, tell that
        replica to restart the watch from the stored state."""
        self._sink = sink

        async def guarded(observation: Observation) -> None:
            if observation.is_manual:
                await self._record_manual(sink, observation)
                return
            service_id = observation.service_id
            if service_id in self._broken:
                self._buffer.count_dropped()
                return
            if not self.owns(service_id):
                if self._may_hold(service_id) and not self._closing:
                    self._hold(observation)
                    return
                self._dropped += 1
                log.info("ownership: dropping a check of service %s, whose slot was lost", service_id)
                return
            if self._buffer.holds(service_id):  # behind its earlier checks
                self._hold(observation)
                return
            async with self._recording_of(service_id):
                try:
                    await sink(observation)
                except Exception as exc:
                    if not is_unreachable(exc) or self._closing:
                        raise
                    if not self._may_hold(service_id):  # the slot left while the write was failing
                        self._dropped += 1
                        log.info("ownership: dropping a check of service %s, whose slot was lost", service_id)
                        return
                    log.warning(
                        "ownership: the database is unreachable (%s); buffering the checks of service %s",
                        type(exc).__name__,
                        service_id,
                    )
                    self._hold(observation)

        return guarded

    def _keeps_watching(self, service_id: int) -> bool:
        """Whether this replica keeps the service's watch: its slot is owned or held over."""
        return self.owns(service_id) or slot_of(service_id) in self._held_over

    def _may_hold(self, service_id: int) -> bool:
        """Whether a check of this service may wait in the buffer: the watch is kept, or its slot
        was owned when the lease broke a moment ago (before the round holds it over)."""
        lost_just_now = slot_of(service_id) in self._owned and self._lease.lost.is_set()
        return self._keeps_watching(service_id) or lost_just_now

    def has_waiting_checks(self, service_id: int) -> bool:
        """Whether checks of this service wait in the buffer: a manual check must not overtake them."""
        return self._buffer.holds(service_id)

    async def _record_manual(self, sink: ResultSink, observation: Observation) -> None:
        service_id = observation.service_id
        if self._buffer.holds(service_id):
            # The watch's breaker and hysteresis have seen this check; it will not be stored, so
            # restart the watch from the stored state once the buffered checks are written.
            self._broken.add(service_id)
            raise ChecksWaiting(f"earlier checks of service {service_id} are waiting to be written")
        async with self._recording_of(service_id):
            await sink(observation)
        if not self.owns(service_id):
            await announce(self._broker, service_id, reseed=True)

    @contextlib.asynccontextmanager
    async def _recording_of(self, service_id: int) -> AsyncIterator[None]:
        """Count a recording in flight, so that releasing the slot waits until it committed."""
        self._recording[service_id] += 1
        try:
            yield
        finally:
            self._recording[service_id] -= 1
            if not self._recording[service_id]:
                del self._recording[service_id]
            async with self._recorded:
                self._recorded.notify_all()

    def _hold(self, observation: Observation) -> None:
        """Buffer a check; when the buffer is full, drop it and mark its service broken. Buffered
        checks are `retried`: a write of one may have committed although it seemed to fail."""
        if self._buffer.offer(dataclasses.replace(observation, retried=True)):
            return
        service_id = observation.service_id
        self._broken.add(service_id)
        log.warning(
            "ownership: the check buffer is full (%d checks); dropping the checks of service %s until its "
            "watch restarts from the stored state",
            self._buffer.stats.capacity,
            service_id,
        )

    @contextlib.asynccontextmanager
    async def driving(self, supervisor: ProbeSupervisor) -> AsyncIterator[Ownership]:
        """Run the first round now (so the replica starts with its share), then keep rounding
        and listening to registry changes until the context exits."""
        self._supervisor = supervisor
        listening = asyncio.Event()
        listener = asyncio.create_task(self._listen(listening), name="ownership-registry-listener")
        rounds: asyncio.Task[None] | None = None
        try:
            await listening.wait()  # subscribing does not wait on anything, so this is immediate
            self._reconcile_at = time.monotonic() + self._reconcile_s  # the first round loads everything
            delay = await self._round_safely()
            rounds = asyncio.create_task(self._run(delay), name="ownership-rounds")
            yield self
        finally:
            tasks = [task for task in (listener, rounds) if task is not None]
            for task in tasks:
                task.cancel()
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
            for task, outcome in zip(tasks, outcomes, strict=True):
                if isinstance(outcome, Exception):
                    log.error("ownership: %s had failed", task.get_name(), exc_info=outcome)
            await self._flush_at_exit()

    async def apply(self, row: Service) -> None:
        """Apply a committed change of `row` if this replica owns it (`sync_watch` calls this)."""
        async with self._changing:
            if self._keeps_watching(row.id) and row.is_active:
                await self._watch(await watch_spec(row, self._cipher))
            else:
                await self._unwatch(row.id)

    async def forget(self, service_id: int) -> None:
        """Stop watching a service that is being deleted (`unwatch` calls this)."""
        async with self._changing:
            await self._unwatch(service_id)

    # -- rounds ----------------------------------------------------------------------------

    async def _run(self, delay: float) -> None:
        while True:
            await self._pause(delay)
            delay = await self._round_safely()

    async def _pause(self, delay: float) -> None:
        """Sleep until the next round, or until the lease breaks while slots are owned."""
        if not self._owned:
            await asyncio.sleep(delay)
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._lease.lost.wait()

    async def _round_safely(self) -> float:
        """One round; returns the delay before the next. The loop's error boundary."""
        try:
            await self._stop_broken()
            await self._round()
        except LeaseLost as exc:
            self._last_error = str(exc)
            await self._hold_over(f"lease lost ({exc})")
            delay = self._backoff.delay(self._failures, self._rng)
            if self._failures % 10 == 0:
                log.warning("ownership: no lease (%s); retrying in %.1f s", exc, delay)
            self._failures += 1
            return delay
        except Exception as exc:  # a database error while loading rows: logged, retried next round
            self._last_error = f"{type(exc).__name__}: {exc}"
            log.exception("ownership: round failed; trying again in %.1f s", self._round_s)
            return self._round_s
        self._failures = 0
        return self._round_s

    async def _round(self) -> None:
        lease = self._lease
        if lease.lost.is_set() or not lease.is_connected:
            await self._hold_over("lease lost")
            await lease.connect()
            self._leased_at = time.monotonic()
            log.info("ownership: joined as lease member %s", lease.member)
        survey = await lease.survey()
        self._members = survey.members
        if self._held_over:
            survey = await self._take_back(survey)
        await self._flush()
        await self._restart_broken()
        surplus = len(self._owned) - fair_share(survey.members)
        if surplus > 0:
            await self._release(self._pick(self._owned, surplus))
        elif surplus < 0 and survey.free:
            taken = await lease.take(self._pick(survey.free, -surplus))
            if taken:
                await self._adopt(taken)
        if time.monotonic() >= self._reconcile_at or not self._broker.healthy:
            await self._reconcile()

    def _pick(self, pool: Collection[int], count: int) -> set[int]:
        """Random slots, so replicas that take at the same moment rarely reach for the same ones."""
        return set(self._rng.sample(sorted(pool), min(count, len(pool))))

    async def _adopt(self, slots: set[int]) -> None:
        supervisor = self._require_supervisor()
        async with self._changing:
            self._owned |= slots
            try:
                rows = [row for row in await Service.filter(is_active=True) if slot_of(row.id) in slots]
                for spec in await watch_specs(rows, self._cipher):
                    await self._watch(spec)
            except BaseException:
                self._owned -= slots
                for service_id in supervisor.watched():
                    if slot_of(service_id) in slots:
                        await self._unwatch(service_id)
                await self._lease.release(slots)
                raise
        self._taken += len(slots)
        log.info(
            "ownership: took %d slot(s) with %d service(s); now %d of %d slots, %d service(s), %d member(s)",
            len(slots),
            len(rows),
            len(self._owned),
            SLOT_COUNT,
            len(self._specs),
            self._members,
        )

    async def _release(self, slots: set[int]) -> None:
        supervisor = self._require_supervisor()
        async with self._changing:
            self._owned -= slots  # first: from now on `guard` drops their loop checks
            leaving = [service_id for service_id in supervisor.watched() if slot_of(service_id) in slots]
            for service_id in leaving:
                await self._unwatch(service_id)
            await self._drained(leaving)
            stranded = self._buffer.discard(i for i in self._buffer.services() if slot_of(i) in slots)
            if stranded:
                log.warning("ownership: released slots with %d buffered check(s); dropped", stranded)
            await self._lease.release(slots)
        self._released += len(slots)
        log.info(
            "ownership: released %d slot(s) with %d service(s); now %d of %d slots, %d member(s)",
            len(slots),
            len(leaving),
            len(self._owned),
            SLOT_COUNT,
            self._members,
        )

    async def _hold_over(self, reason: str) -> None:
        """The slots are not ours any more, but their watches keep probing into the buffer until
        the lease is back (`_take_back`), so an outage of the database loses no check."""
        if not self._owned:
            return
        async with self._changing:
            slots = len(self._owned)
            self._held_over |= self._owned
            self._owned.clear()
        self._losses += 1
        log.warning(
            "ownership: %s; holding %d slot(s) over: their %d service(s) are still probed and their checks "
            "buffered (at most %d) until the lease is back",
            reason,
            slots,
            len(self._specs),
            self._buffer.stats.capacity,
        )

    async def _take_back(self, survey: Survey) -> Survey:
        """Rounds after a lost lease: take back the held-over slots that are free. A slot still
        locked may be held by this replica's own dead session until PostgreSQL notices it
        (`idle_session_timeout` or keepalives), so it stays held over, still buffering, for
        `hold_grace_s`; after that it went to another replica: stop its watches and drop its
        buffered checks."""
        supervisor = self._require_supervisor()
        wanted = self._held_over & survey.free
        taken = await self._lease.take(wanted) if wanted else frozenset()
        waiting = time.monotonic() - self._leased_at < self._hold_grace_s
        async with self._changing:
            gone = set() if waiting else self._held_over - taken
            leaving = [service_id for service_id in supervisor.watched() if slot_of(service_id) in gone]
            for service_id in leaving:
                await self._unwatch(service_id)
            await self._drained(leaving)
            # From here to the end, nothing awaits: `guard` sees the hand-over as one step.
            dropped = self._buffer.discard(i for i in self._buffer.services() if slot_of(i) in gone)
            self._broken = {i for i in self._broken if slot_of(i) not in gone}
            self._owned |= taken
            self._held_over -= taken | gone
        self._reconcile_at = 0.0  # registry changes of the outage reach the watches this round
        if taken or gone:
            log.warning(
                "ownership: lease back; took back %d held-over slot(s)%s%s",
                len(taken),
                f", {len(gone)} had gone to another replica ({dropped} buffered check(s) of theirs dropped)"
                if gone
                else "",
                f"; {len(self._held_over)} still locked, waiting for them" if self._held_over else "",
            )
        return dataclasses.replace(survey, held=survey.held | taken, free=survey.free - taken)

    async def _flush(self) -> None:
        """Write the buffered checks of owned services, oldest first."""
        if self._sink is None:
            return
        owned = [service_id for service_id in self._buffer.services() if self.owns(service_id)]
        if not owned:
            return
        sink = self._sink

        async def write(observation: Observation) -> None:
            if not self.owns(observation.service_id):  # the lease broke during the flush
                raise NotOwned(f"service {observation.service_id} is not owned any more")
            async with self._recording_of(observation.service_id):
                await sink(observation)

        def transient(exc: BaseException) -> bool:
            return isinstance(exc, NotOwned) or is_unreachable(exc)

        outcome = await self._buffer.flush(owned, write, transient)
        self._broken |= outcome.broken
        if outcome.written:
            log.info(
                "ownership: wrote %d buffered check(s); %d still waiting", outcome.written, self._buffer.stats.held
            )

    async def _stop_broken(self) -> None:
        """Stop the watches of services that lost a check: more checks of theirs would be dropped."""
        if not self._broken or self._supervisor is None:
            return
        async with self._changing:
            for service_id in self._broken & self._supervisor.watched():
                await self._unwatch(service_id)

    async def _restart_broken(self) -> None:
        """Restart, from the stored state, the owned broken services whose buffered checks are written."""
        if not self._broken:
            return
        async with self._changing:
            ready = [i for i in self._broken if not self._buffer.holds(i) and self.owns(i)]
            for service_id in ready:
                await self._unwatch(service_id)
            await self._drained(ready)
            self._broken.difference_update(ready)
            rows = [row for row in await Service.filter(id__in=ready, is_active=True) if self.owns(row.id)]
            for spec in await watch_specs(rows, self._cipher):
                await self._watch(spec)
        if ready:
            log.info("ownership: restarted %d service(s) that had lost checks, from their stored state", len(ready))

    async def _flush_at_exit(self) -> None:
        """Shutting down: write what the buffer holds while the lease allows, drop and count the rest."""
        self._closing = True
        if self._buffer.stats.held:
            with contextlib.suppress(Exception):  # whatever is left is counted just below
                async with asyncio.timeout(self._drain_timeout_s):
                    await self._flush()
        waiting = self._buffer.services()
        self._broken |= waiting  # checks the supervisor still drains must not follow a dropped run
        dropped = self._buffer.discard(waiting)
        if dropped:
            log.warning("ownership: shutting down with %d check(s) still buffered; dropped", dropped)

    async def _reconcile(self) -> None:
        """Compare the watches with the database, for registry changes no message brought."""
        supervisor = self._require_supervisor()
        if self._lease.lost.is_set():
            return  # `owns` is false for every slot now: the next round holds them over instead
        async with self._changing:
            rows = [
                row
                for row in await Service.filter(is_active=True)
                # Held-over services keep their watches (and take registry changes) while they wait.
                if self._keeps_watching(row.id) and row.id not in self._broken  # `_restart_broken` restarts those
            ]
            wanted = {spec.service_id: spec for spec in await watch_specs(rows, self._cipher)}
            for service_id in supervisor.watched() - wanted.keys():
                await self._unwatch(service_id)
            for service_id, spec in wanted.items():
                if self._specs.get(service_id) != _without_state(spec):
                    await self._watch(spec)
        self._reconcile_at = time.monotonic() + self._reconcile_s

    # -- registry messages -----------------------------------------------------------------

    async def _listen(self, ready: asyncio.Event) -> None:
        """Apply the registry changes other replicas announce, until the broker closes."""
        try:
            async with self._broker.subscribe(RegistryChanged) as changes:
                ready.set()
                async for change in changes:
                    if changes.gap:
                        self._reconcile_at = 0.0  # messages were lost: compare with the database next round
                    if not isinstance(change, RegistryChanged) or change.origin == self._broker.replica_id:
                        continue
                    if not self.owns(change.service_id):
                        continue
                    try:
                        await self._refresh(change)
                    except Exception:  # the listener must outlive a database error; reconciliation catches up
                        log.exception("ownership: applying a registry change of service %s failed", change.service_id)
        finally:
            ready.set()  # `driving` must not wait forever on a listener that failed to start

    async def _refresh(self, change: RegistryChanged) -> None:
        service_id = change.service_id
        async with self._changing:
            if not self.owns(service_id):
                return
            if change.deleted:
                await self._unwatch(service_id)
                return
            if change.reseed:
                if service_id not in self._specs:
                    return
                # A manual check elsewhere stored state this watch has not seen: start again from it.
                await self._unwatch(service_id)
                await self._drained([service_id])
            row = await Service.get_or_none(id=service_id)
            if row is None or not row.is_active:
                await self._unwatch(service_id)
            else:
                await self._watch(await watch_spec(row, self._cipher))

    # -- watches ---------------------------------------------------------------------------

    async def _watch(self, spec: WatchSpec) -> None:
        supervisor = self._require_supervisor()
        if spec.service_id not in supervisor.watched() and self._buffer.holds(spec.service_id):
            self._broken.add(spec.service_id)  # a new watch would start from state its buffered checks change
        if spec.service_id in self._broken:
            return  # restarted by `_restart_broken` once its buffered checks are written
        await supervisor.upsert(spec)
        self._specs[spec.service_id] = _without_state(spec)

    async def _unwatch(self, service_id: int) -> None:
        self._specs.pop(service_id, None)
        if self._supervisor is not None:
            await self._supervisor.remove(service_id)

    async def _drained(self, service_ids: Iterable[int]) -> None:
        """Wait until no recording of these services is running, so their state is committed."""
        ids = list(service_ids)
        try:
            async with asyncio.timeout(self._drain_timeout_s), self._recorded:
                await self._recorded.wait_for(lambda: not any(self._recording.get(i) for i in ids))
        except TimeoutError:
            log.warning("ownership: recordings still running after %.0f s; releasing anyway", self._drain_timeout_s)

    def _require_supervisor(self) -> ProbeSupervisor:
        if self._supervisor is None:
            raise RuntimeError("Ownership.driving(supervisor) has not been entered")
        return self._supervisor


def _without_state(spec: WatchSpec) -> WatchSpec:
    """A spec with its breaker and hysteresis snapshots left out: they change with every check,
    so only the rest says whether the registry changed."""
    return dataclasses.replace(spec, breaker=None, hysteresis=None)
