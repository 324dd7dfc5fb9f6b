"""Cluster-wide windowed counters: the totals behind the platform alert rules.

The figures those rules read (GraphQL operations and errors, cache reads and misses) happen in
every replica, while the evaluator runs in the probing ones. So each replica counts in memory and
adds its counts into shared per-minute buckets, and a total over a window is the sum of every
replica's buckets.

- `count(name, n)` is synchronous and does no I/O: it adds to a pending tally keyed by counter
  and wall-clock minute.
- A background flush, every `flush_seconds`, samples the cumulative sources given to `follow`
  (the read cache's statistics) and moves the pending tally into the buckets. With a Redis URL a
  bucket is the key `{key_prefix}usage:{name}:{minute}` (one `INCRBY` per bucket, and an `EXPIRE`
  of `keep_seconds`, all in one pipeline); without one it is a dict in this process, which is
  then the whole cluster.
- `window_total(names, seconds)` sums the buckets of the minutes the window touches, its start
  rounded down to the minute as the rollup-based rules do (from Redis: one `MGET`).

Redis trouble never reaches a caller. A failed flush keeps its tally pending (minutes older than
`keep_seconds` are dropped: they would have expired anyway), logs once, and Redis is left alone
for `retry_seconds`. Meanwhile `window_total` answers from what this replica still holds, and
`healthy` is False so that a caller can tell a partial total from a cluster-wide one. The first
successful call afterwards writes the held counts into their own minutes. (A flush whose answer
timed out after Redis had applied it is written again: rare, and bounded by one flush's counts.)

Redis calls run with `socket_timeout=None` under our own `asyncio.timeout`, for the reason
events/redis.py gives (redis-py's timeout can swallow a cancellation on Python 3.11).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Final, Self, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from config import Settings

if TYPE_CHECKING:
    from resolvers.cache import CacheStats, ReadCache

log = logging.getLogger(__name__)

T = TypeVar("T")

GRAPHQL_OPERATIONS: Final = "graphql_operations"
"""Queries and mutations answered (subscriptions are not counted)."""
GRAPHQL_ERRORS: Final = "graphql_errors"
"""Queries and mutations that returned at least one error that is not the client's (`is_server_failure`)."""
CACHE_READS: Final = "cache_reads"
"""Read-model cache reads, every region and level (L1 hits, L2 hits and misses)."""
CACHE_MISSES: Final = "cache_misses"
"""Read-model cache reads that neither level could answer."""
NAMES: Final = (GRAPHQL_OPERATIONS, GRAPHQL_ERRORS, CACHE_READS, CACHE_MISSES)

CLIENT_ERROR_CODES: Final = frozenset(
    {
        "BAD_USER_INPUT",
        "NOT_FOUND",
        "CONFLICT",
        "UNAUTHENTICATED",
        "FORBIDDEN",
        "RATE_LIMITED",
        "GRAPHQL_PARSE_FAILED",
        "GRAPHQL_VALIDATION_FAILED",
    }
)
"""Error codes that describe the request, not the server: a user's typo is not an operator's alert."""

_MINUTE_S: Final = 60
_TRANSPORT_ERRORS = (RedisError, OSError)  # OSError covers the builtin TimeoutError


def is_server_failure(error_codes: Iterable[str]) -> bool:
    """True when any code is not a client mistake: INTERNAL_SERVER_ERROR, a missing code, a code added later."""
    return any(code not in CLIENT_ERROR_CODES for code in error_codes)


def cache_totals(stats: CacheStats) -> dict[str, int]:
    """Reads and misses since the cache opened, summed over its regions."""
    reads = misses = 0
    for region in stats.regions.values():
        reads += region.l1_hits + region.l2_hits + region.misses
        misses += region.misses
    return {CACHE_READS: reads, CACHE_MISSES: misses}


class _Unavailable(Exception):
    """Redis is paused after an error, or just failed; the caller goes on from memory."""


class UsageCounters:
    """Counters summed across replicas per minute; the context owns the flush task and the Redis client.

    `keep_seconds` is how long a bucket lives: more than the longest window asked of
    `window_total`. `wall_clock` gives epoch seconds (tests pass their own).
    """

    def __init__(
        self,
        *,
        redis_url: str | None = None,
        key_prefix: str = "vigil:",
        keep_seconds: float = 3600.0,
        flush_seconds: float = 5.0,
        timeout_seconds: float = 1.0,
        retry_seconds: float = 5.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if min(keep_seconds, flush_seconds, timeout_seconds) <= 0 or retry_seconds < 0:
            raise ValueError("usage counter intervals must be positive")
        self._redis_url = redis_url
        self._key_prefix = key_prefix
        self._keep_s = keep_seconds
        self._flush_s = flush_seconds
        self._timeout_s = timeout_seconds
        self._retry_s = retry_seconds
        self._clock = wall_clock
        self._pending: dict[tuple[str, int], int] = {}
        self._buckets: dict[tuple[str, int], int] = {}  # memory mode only
        self._sources: list[tuple[Callable[[], Mapping[str, int]], dict[str, int]]] = []
        self._redis: aioredis.Redis | None = None
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._down = False
        self._paused_until = 0.0
        self._last_error: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> UsageCounters:
        """Buckets outlive the alert window by three minutes: its start is rounded down, and flushes lag."""
        return cls(
            redis_url=settings.redis_url,
            key_prefix=settings.redis_prefix,
            keep_seconds=settings.alert_window_seconds + 3 * _MINUTE_S,
        )

    async def __aenter__(self) -> Self:
        if self._redis_url:
            self._redis = aioredis.Redis.from_url(
                self._redis_url,
                protocol=2,
                socket_connect_timeout=self._timeout_s,
                socket_timeout=None,  # see the module docstring; each call has an asyncio.timeout
                retry=Retry(NoBackoff(), 0),
                client_name="vigil-usage",
            )
        self._lock, self._stopping = asyncio.Lock(), asyncio.Event()  # this loop's, whoever built the object
        self._task = asyncio.create_task(self._run(), name="usage-counters-flush")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Stops the loop after one last flush (each Redis call is timed), then closes the client."""
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    @property
    def healthy(self) -> bool:
        """False while Redis is configured but failing: totals are then this replica's share only."""
        return self._redis_url is None or not self._down

    @property
    def last_error(self) -> str | None:
        return self._last_error

    def count(self, name: str, n: int = 1) -> None:
        """Add `n` to the counter `name` in the current minute; no I/O."""
        if n:
            key = (name, self._minute(self._clock()))
            self._pending[key] = self._pending.get(key, 0) + n

    def follow(self, read: Callable[[], Mapping[str, int]]) -> None:
        """Sample `read` (totals since some start, by counter name) at each flush and count their growth.

        Growth is counted from now on. A total that goes down was reset: its new value is counted.
        """
        self._sources.append((read, dict(read())))

    def follow_cache(self, cache: ReadCache) -> None:
        self.follow(lambda: cache_totals(cache.stats))

    async def flush(self) -> None:
        """Sample the followed sources and add the pending counts to the buckets; never raises for Redis."""
        async with self._lock:
            self._sample()
            horizon = self._minute(self._clock() - self._keep_s)
            batch = {key: n for key, n in self._pending.items() if key[1] >= horizon}
            self._pending = {}
            if self._redis is None:
                self._add(self._buckets, batch)
                self._buckets = {key: n for key, n in self._buckets.items() if key[1] >= horizon}
                return
            try:
                if batch:
                    await self._call(lambda: self._write(batch))
                elif self._down:
                    await self._call(lambda: self._redis.ping())  # type: ignore[union-attr]
            except _Unavailable:
                self._add(self._pending, batch)  # counted meanwhile ones are in there already: add, do not replace

    async def window_total(self, names: Sequence[str], seconds: float, *, now: float | None = None) -> dict[str, int]:
        """Each counter summed over the minutes from `now - seconds` (rounded down) to `now`.

        Counts still pending in any replica are not included: call `flush` first for this one's.
        While Redis fails this answers from the counts this replica holds, and `healthy` is False.
        """
        if seconds > self._keep_s:
            raise ValueError(f"a {seconds:g} s window is longer than the {self._keep_s:g} s the buckets live")
        now = self._clock() if now is None else now
        minutes = range(self._minute(now - seconds), self._minute(now) + 1)
        if self._redis is None:
            return {name: sum(self._buckets.get((name, m), 0) for m in minutes) for name in names}
        keys = [self._key(name, m) for name in names for m in minutes]
        with contextlib.suppress(_Unavailable):
            values = await self._call(lambda: self._redis.mget(keys))  # type: ignore[union-attr]
            totals = dict.fromkeys(names, 0)
            for index, value in enumerate(values):
                if value is not None:
                    totals[names[index // len(minutes)]] += int(value)
            return totals
        return {name: sum(self._pending.get((name, m), 0) for m in minutes) for name in names}

    # -- inside ----------------------------------------------------------------------------

    async def _run(self) -> None:
        """Flushes every `flush_seconds`, and once more when stopping."""
        while True:
            stopping = self._stopping.is_set()
            if not stopping:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._flush_s):
                        await self._stopping.wait()
            try:
                await self.flush()
            except Exception:  # a failing source must not stop counting; the next round tries again
                log.exception("flushing usage counters failed")
            if stopping:
                return

    def _sample(self) -> None:
        for read, last in self._sources:
            for name, total in read().items():
                grown = total - last.get(name, 0)
                self.count(name, grown if grown >= 0 else total)
                last[name] = total

    async def _write(self, batch: Mapping[tuple[str, int], int]) -> None:
        assert self._redis is not None
        ttl = math.ceil(self._keep_s)
        async with self._redis.pipeline(transaction=False) as pipe:
            for (name, minute), n in batch.items():
                key = self._key(name, minute)
                pipe.incrby(key, n)
                pipe.expire(key, ttl)
            await pipe.execute()

    async def _call(self, call: Callable[[], Awaitable[T]]) -> T:
        if self._down and time.monotonic() < self._paused_until:
            raise _Unavailable
        try:
            async with asyncio.timeout(self._timeout_s):
                result = await call()
        except _TRANSPORT_ERRORS as exc:
            self._last_error = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
            if not self._down:
                log.warning(
                    "usage counters: Redis failed, counting in this replica until it is back: %s", self._last_error
                )
            self._down = True
            self._paused_until = time.monotonic() + self._retry_s
            raise _Unavailable from exc
        if self._down:
            self._down = False
            log.info("usage counters: Redis reachable again")
        return result

    def _key(self, name: str, minute: int) -> str:
        return f"{self._key_prefix}usage:{name}:{minute}"

    @staticmethod
    def _minute(epoch_s: float) -> int:
        return int(epoch_s // _MINUTE_S)

    @staticmethod
    def _add(into: dict[tuple[str, int], int], counts: Mapping[tuple[str, int], int]) -> None:
        for key, n in counts.items():
            into[key] = into.get(key, 0) + n
