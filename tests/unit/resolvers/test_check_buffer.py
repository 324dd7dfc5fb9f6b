"""The outage buffer on its own: order per service, the bound, and what a failed write does."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from probes.observation import Observation
from probes.result import HealthStatus
from resolvers.check_buffer import CheckBuffer
from tests.unit.resolvers.timeline import T0, observation


def check(service_id: int, n: int) -> Observation:
    """The n-th check of a service; `n` rides in the response time so order can be read back."""
    healthy = HealthStatus.HEALTHY
    return observation(service_id, T0 + dt.timedelta(seconds=n), healthy, healthy, latency_ms=float(n))


class Database:
    """A write target that can be made unreachable, or to refuse one check for good."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, float]] = []
        self.unreachable = False
        self.poison: tuple[int, float] | None = None

    async def write(self, observation: Observation) -> None:
        await asyncio.sleep(0)  # a real write yields; the order must survive that
        key = (observation.service_id, observation.result.response_time_ms or 0.0)
        if self.unreachable:
            raise ConnectionRefusedError("connection refused")
        if key == self.poison:
            raise ValueError("a row the database will never take")
        self.rows.append(key)


def transient(exc: BaseException) -> bool:
    return isinstance(exc, OSError)


async def test_flush_writes_each_service_in_order_and_empties_the_buffer() -> None:
    buffer, database = CheckBuffer(capacity=100), Database()
    for n in range(5):
        for service_id in (1, 2, 3):
            assert buffer.offer(check(service_id, n))

    outcome = await buffer.flush({1, 2, 3}, database.write, transient)

    assert outcome.written == 15 and not outcome.waiting and not outcome.broken
    for service_id in (1, 2, 3):
        assert [n for sid, n in database.rows if sid == service_id] == [0, 1, 2, 3, 4]
    stats = buffer.stats
    assert (stats.held, stats.services, stats.buffered, stats.written, stats.dropped) == (0, 0, 15, 15, 0)
    assert not buffer.holds(1)


async def test_only_the_services_asked_for_are_flushed() -> None:
    buffer, database = CheckBuffer(capacity=10), Database()
    buffer.offer(check(1, 0))
    buffer.offer(check(2, 0))

    await buffer.flush({1}, database.write, transient)

    assert database.rows == [(1, 0.0)]
    assert buffer.holds(2) and not buffer.holds(1)


async def test_beyond_the_bound_a_check_is_refused_and_counted() -> None:
    buffer = CheckBuffer(capacity=3)
    accepted = [buffer.offer(check(1, n)) for n in range(5)]
    buffer.count_dropped(2)  # later checks of the service the caller did not offer

    assert accepted == [True, True, True, False, False]
    assert (buffer.stats.held, buffer.stats.dropped) == (3, 4)


async def test_a_zero_capacity_buffer_holds_nothing() -> None:
    buffer = CheckBuffer(capacity=0)
    assert not buffer.offer(check(1, 0))
    assert buffer.stats.dropped == 1
    with pytest.raises(ValueError):
        CheckBuffer(capacity=-1)


async def test_an_unreachable_database_leaves_the_check_first_in_line_for_the_next_flush() -> None:
    buffer, database = CheckBuffer(capacity=10), Database()
    for n in range(3):
        buffer.offer(check(1, n))
    database.unreachable = True

    outcome = await buffer.flush({1}, database.write, transient)

    assert outcome.waiting == {1} and outcome.written == 0
    assert buffer.stats.held == 3 and buffer.holds(1)
    database.unreachable = False
    await buffer.flush({1}, database.write, transient)
    assert database.rows == [(1, 0.0), (1, 1.0), (1, 2.0)]
    assert buffer.stats.dropped == 0


async def test_a_check_the_database_refuses_for_good_drops_the_rest_of_its_run_and_breaks_the_service() -> None:
    buffer, database = CheckBuffer(capacity=10), Database()
    for n in range(4):
        buffer.offer(check(1, n))
    buffer.offer(check(2, 0))
    database.poison = (1, 1.0)

    outcome = await buffer.flush({1, 2}, database.write, transient)

    assert outcome.broken == {1}
    assert sorted(database.rows) == [(1, 0.0), (2, 0.0)]  # nothing of service 1 after the refused check
    assert (buffer.stats.held, buffer.stats.dropped, buffer.stats.written) == (0, 3, 2)
    assert not buffer.holds(1)


async def test_a_check_offered_while_its_service_is_flushing_queues_behind_and_is_written_in_the_same_flush() -> None:
    buffer, database = CheckBuffer(capacity=10), Database()
    buffer.offer(check(1, 0))
    seen_holding: list[bool] = []

    async def write(observation: Observation) -> None:
        seen_holding.append(buffer.holds(1))
        if observation.result.response_time_ms == 0.0:
            buffer.offer(check(1, 1))  # the watch finished another check meanwhile
        await database.write(observation)

    await buffer.flush({1}, write, transient)

    assert database.rows == [(1, 0.0), (1, 1.0)]
    assert seen_holding == [True, True]  # a newer check never overtook the buffered one
    assert not buffer.holds(1)


async def test_discard_forgets_and_counts() -> None:
    buffer = CheckBuffer(capacity=10)
    for n in range(3):
        buffer.offer(check(1, n))
    buffer.offer(check(2, 0))

    assert buffer.discard([1, 7]) == 3
    assert buffer.services() == {2}
    assert (buffer.stats.held, buffer.stats.dropped) == (1, 3)
