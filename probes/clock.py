"""Time as the probe loop sees it.

Everything time-driven in `probes` (breaker, schedule, supervisor) reads time and sleeps through
a `Clock`, so tests can replace the passage of time with `ManualClock.advance()` and never sleep
for real. Two kinds of time are kept apart on purpose: `now()` is monotonic seconds, used for every
interval and deadline; `utcnow()` is the aware UTC wall clock, used only for timestamps that leave
the process (results, snapshots, `next_check_at`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
import itertools
import math
import time
from typing import Protocol


class Clock(Protocol):
    """Time as the probe loop sees it; tests pass a ManualClock and advance it by hand."""

    def now(self) -> float:
        """Monotonic seconds; only differences are meaningful."""
        ...

    def utcnow(self) -> dt.datetime:
        """The wall clock as an aware UTC datetime."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Suspend for `seconds` of this clock's time; a non-positive value only yields."""
        ...


class SystemClock:
    """The real clocks: `time.monotonic`, `datetime.now(UTC)` and `asyncio.sleep`."""

    def now(self) -> float:
        return time.monotonic()

    def utcnow(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


DEFAULT_MANUAL_START_AT = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class ManualClock:
    """A clock that moves only when a test calls `advance()`.

    Sleepers are woken in deadline order (ties in the order they went to sleep), so a test that
    advances time sees the same interleaving on every run. `advance()` is synchronous: it resolves
    the due sleepers and returns; the woken tasks run at the test's next `await`. A woken sleeper
    sees the clock already at the advanced time, as a real process does after a long pause.

    Tests usually pair `advance()` with `wait_for_sleepers(n)`, which returns once `n` tasks are
    asleep on this clock: that is the event "everything has reached its next wait", awaited with
    a deadline instead of a real sleep.
    """

    def __init__(self, start: float = 0.0, start_at: dt.datetime = DEFAULT_MANUAL_START_AT) -> None:
        if start_at.tzinfo is None:
            raise ValueError("start_at must be timezone-aware")
        self._start = start
        self._now = start
        self._start_at = start_at.astimezone(dt.UTC)
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._sequence = itertools.count()
        self._waiters: list[tuple[int, float | None, asyncio.Future[None]]] = []

    def now(self) -> float:
        return self._now

    def utcnow(self) -> dt.datetime:
        return self._start_at + dt.timedelta(seconds=self._now - self._start)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._sequence), future))
        self._notify_waiters()
        await future

    @property
    def sleepers(self) -> int:
        """How many tasks are asleep on this clock right now (cancelled sleeps do not count)."""
        return self._count()

    @property
    def deadlines(self) -> list[float]:
        """The pending sleepers' deadlines, earliest first (handy in assertion messages)."""
        return sorted(deadline for deadline, _, future in self._sleepers if not future.done())

    @property
    def next_deadline(self) -> float | None:
        """The earliest deadline of a pending sleeper, or None when nobody sleeps."""
        pending = [deadline for deadline, _, future in self._sleepers if not future.done()]
        return min(pending, default=None)

    def advance(self, seconds: float) -> None:
        """Move time forward and wake, in deadline order, every sleeper whose deadline has passed."""
        if seconds < 0:
            raise ValueError("a monotonic clock cannot go back")
        self._now += seconds
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)

    async def wait_for_sleepers(self, count: int = 1, *, deadline: float | None = None) -> None:
        """Return once at least `count` tasks sleep on this clock (only those due exactly at
        `deadline`, when given); wrap it in `asyncio.timeout`.

        Waiting for a sleeper at a known deadline is how a test knows a task has finished
        reacting to the last `advance()` and parked again, without sleeping for real.
        """
        if self._count(deadline) >= count:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((count, deadline, future))
        try:
            await future
        finally:
            self._waiters = [waiter for waiter in self._waiters if waiter[2] is not future]

    def _count(self, deadline: float | None = None) -> int:
        return sum(
            1
            for due, _, future in self._sleepers
            if not future.done() and (deadline is None or math.isclose(due, deadline, abs_tol=1e-9))
        )

    def _notify_waiters(self) -> None:
        for count, deadline, future in self._waiters:
            if not future.done() and self._count(deadline) >= count:
                future.set_result(None)
