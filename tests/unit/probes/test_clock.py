import asyncio
import datetime as dt

import pytest

from probes.clock import ManualClock, SystemClock


async def test_system_clock_is_monotonic_and_utc_aware() -> None:
    clock = SystemClock()
    first = clock.now()
    await clock.sleep(0)
    assert clock.now() >= first
    assert clock.utcnow().tzinfo is dt.UTC


def test_manual_clock_starts_where_told_and_moves_only_when_advanced() -> None:
    start_at = dt.datetime(2030, 5, 1, 12, 0, tzinfo=dt.UTC)
    clock = ManualClock(start=100.0, start_at=start_at)
    assert clock.now() == 100.0
    assert clock.utcnow() == start_at
    clock.advance(2.5)
    assert clock.now() == 102.5
    assert clock.utcnow() == start_at + dt.timedelta(seconds=2.5)


def test_manual_clock_refuses_naive_start_and_going_backwards() -> None:
    with pytest.raises(ValueError):
        ManualClock(start_at=dt.datetime(2030, 1, 1))
    with pytest.raises(ValueError):
        ManualClock().advance(-1)


async def test_advance_wakes_only_sleepers_whose_deadline_passed() -> None:
    clock = ManualClock()
    short = asyncio.create_task(clock.sleep(5))
    long = asyncio.create_task(clock.sleep(10))
    async with asyncio.timeout(2):
        await clock.wait_for_sleepers(2)
    clock.advance(5)
    async with asyncio.timeout(2):
        await short
    assert not long.done()
    assert clock.sleepers == 1
    assert clock.next_deadline == 10
    clock.advance(5)
    async with asyncio.timeout(2):
        await long


async def test_sleepers_wake_in_deadline_order_even_when_they_slept_in_another_order() -> None:
    clock = ManualClock()
    woke: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(name)

    tasks = [
        asyncio.create_task(sleeper("late", 3)),
        asyncio.create_task(sleeper("early", 1)),
        asyncio.create_task(sleeper("tie-first", 2)),
        asyncio.create_task(sleeper("tie-second", 2)),
    ]
    async with asyncio.timeout(2):
        await clock.wait_for_sleepers(4)
        clock.advance(10)
        await asyncio.gather(*tasks)
    assert woke == ["early", "tie-first", "tie-second", "late"]


async def test_a_cancelled_sleeper_is_no_longer_counted() -> None:
    clock = ManualClock()
    task = asyncio.create_task(clock.sleep(5))
    async with asyncio.timeout(2):
        await clock.wait_for_sleepers(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert clock.sleepers == 0
    assert clock.next_deadline is None
    clock.advance(10)  # resolving nothing, and not tripping over the cancelled future


async def test_sleeping_zero_seconds_returns_without_advancing() -> None:
    clock = ManualClock()
    async with asyncio.timeout(2):
        await clock.sleep(0)
        await clock.sleep(-3)
    assert clock.sleepers == 0


async def test_a_sleeper_sees_the_advanced_time_when_it_wakes() -> None:
    clock = ManualClock()

    async def sleep_and_read() -> float:
        await clock.sleep(1)
        return clock.now()

    task = asyncio.create_task(sleep_and_read())
    async with asyncio.timeout(2):
        await clock.wait_for_sleepers(1)
        clock.advance(7)
        assert await task == 7


async def test_a_test_can_wait_for_a_sleeper_at_a_given_deadline() -> None:
    clock = ManualClock()

    async def sleep_twice() -> None:
        await clock.sleep(1)
        await clock.sleep(30)

    task = asyncio.create_task(sleep_twice())
    async with asyncio.timeout(2):
        await clock.wait_for_sleepers(1, deadline=1)
        clock.advance(1)
        await clock.wait_for_sleepers(1, deadline=31)
    assert clock.deadlines == [31]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
