"""Loop checks held in memory while they cannot be written: the database or this replica's lease
is away (resolvers/ownership.py decides when), and written once both are back.

Why per service, first in first out: a service's stored state (status, breaker, hysteresis) and
its status events follow the order of its checks, so they must reach the database in that order.
Why bounded: an outage can last longer than memory. Beyond `capacity` checks a new one is
refused; the caller counts it as dropped and must not buffer any later check of that service
(a gap in the middle of a buffered run would store a status change without its event).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Iterable

from probes.observation import Observation

log = logging.getLogger(__name__)

Write = Callable[[Observation], Awaitable[None]]
"""Writes one check; raises what stopped it. `is_transient` says whether trying again may help."""


@dataclasses.dataclass(frozen=True, slots=True)
class BufferStats:
    """`held`: checks waiting now, of `services` services. Counters since start: `buffered`
    (checks that entered), `written` (left to the database), `dropped` (never written)."""

    capacity: int
    held: int
    services: int
    buffered: int
    written: int
    dropped: int


class CheckBuffer:
    """A bounded FIFO of loop checks per service; see the module docstring."""

    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError("capacity must be >= 0")
        self._capacity = capacity
        self._queues: dict[int, collections.deque[Observation]] = {}
        self._flushing: set[int] = set()
        self._held = 0
        self._buffered = self._written = self._dropped = 0

    @property
    def stats(self) -> BufferStats:
        return BufferStats(
            capacity=self._capacity,
            held=self._held,
            services=len(self._queues),
            buffered=self._buffered,
            written=self._written,
            dropped=self._dropped,
        )

    def holds(self, service_id: int) -> bool:
        """Whether checks of this service wait here (or are being written): a newer check of it
        must queue behind them, not go to the database first."""
        return service_id in self._queues or service_id in self._flushing

    def services(self) -> frozenset[int]:
        return frozenset(self._queues)

    def offer(self, observation: Observation) -> bool:
        """Queue a check; False (and counted as dropped) when the buffer is full."""
        if self._held >= self._capacity:
            self._dropped += 1
            return False
        self._queues.setdefault(observation.service_id, collections.deque()).append(observation)
        self._held += 1
        self._buffered += 1
        return True

    def count_dropped(self, count: int = 1) -> None:
        """Checks the caller did not even offer (their service already lost one); counted here so
        one figure says what the outage cost."""
        self._dropped += count

    def discard(self, service_ids: Iterable[int]) -> int:
        """Forget the checks of these services (their slot went to another replica, or shutdown);
        returns how many were dropped."""
        dropped = 0
        for service_id in service_ids:
            queue = self._queues.pop(service_id, None)
            if queue:
                dropped += len(queue)
        self._held -= dropped
        self._dropped += dropped
        return dropped

    async def flush(
        self, service_ids: Iterable[int], write: Write, is_transient: Callable[[BaseException], bool]
    ) -> FlushOutcome:
        """Write the checks of these services, each service in order, services side by side (so
        the recorder batches them). A service stops at its first failure: a transient one leaves
        the check at the front for the next flush; any other drops that check, and the service is
        reported in `broken` so its watch can restart from what is stored."""
        outcome = FlushOutcome()
        ids = [service_id for service_id in service_ids if service_id in self._queues]
        await asyncio.gather(*(self._flush_one(service_id, write, is_transient, outcome) for service_id in ids))
        return outcome

    async def _flush_one(
        self, service_id: int, write: Write, is_transient: Callable[[BaseException], bool], outcome: FlushOutcome
    ) -> None:
        if service_id in self._flushing:
            return
        self._flushing.add(service_id)
        try:
            while queue := self._queues.get(service_id):
                observation = queue.popleft()
                self._held -= 1
                if not queue:
                    del self._queues[service_id]  # `holds` stays true through `_flushing`
                try:
                    await write(observation)
                except asyncio.CancelledError:  # shutting down mid-write: still ours to count
                    self._queues.setdefault(service_id, collections.deque()).appendleft(observation)
                    self._held += 1
                    raise
                except Exception as exc:
                    if is_transient(exc):
                        self._queues.setdefault(service_id, collections.deque()).appendleft(observation)
                        self._held += 1
                        outcome.waiting.add(service_id)
                        return
                    # The rest of the run follows a check that will never be stored: drop it too.
                    dropped = 1 + self.discard([service_id])
                    self._dropped += 1
                    outcome.broken.add(service_id)
                    log.error(
                        "a buffered check of service %s could not be written; dropped it and the %d after it",
                        service_id,
                        dropped - 1,
                        exc_info=exc,
                    )
                    return
                self._written += 1
                outcome.written += 1
        finally:
            self._flushing.discard(service_id)


@dataclasses.dataclass(slots=True)
class FlushOutcome:
    """What one flush did: checks `written`; services still `waiting` on a transient failure;
    services whose check was dropped on a lasting one (`broken`)."""

    written: int = 0
    waiting: set[int] = dataclasses.field(default_factory=set)
    broken: set[int] = dataclasses.field(default_factory=set)
