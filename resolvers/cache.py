"""The read-model cache: L1 in this process in front of L2 in Redis, shared by every replica.

The only module that touches aiocache. L1 is a `SimpleMemoryCache` (no I/O: a hot dashboard is
answered from a dict); L2 is a `RedisCache`, so one replica's computation serves the others.
Without a Redis URL only L1 exists and everything else behaves the same.

Freshness is driven by events; TTLs are only a backstop against a lost event:

- Every region (a family of read models, `Region`) has a generation number in Redis. An L2 key
  names the generation that was current when its value was computed. Invalidating a region
  increments the generation, so every older L2 entry becomes unreachable on every replica at
  once and expires later by TTL. L2 reads fetch the current generation first (one extra round
  trip, paid only on an L1 miss), so a replica never reads an entry older than the last
  invalidation it could know about.
- L1 entries of a region are dropped when this replica hears an invalidation: a status change,
  a batch of checks (coalesced to one invalidation per `check_coalesce_seconds`), a registry
  mutation, or a `CacheInvalidated` sent by another replica. All of them arrive through the
  broker, which spans replicas over Redis pub/sub.
- A value computed while its region was invalidated is returned to its caller but not stored:
  it may have been read before the change.

Redis trouble never fails a read. An L2 error is counted and remembered, L2 is skipped for
`l2_retry_seconds`, and reads go on from L1 and the database. `degraded_reason` says why, for
`/readyz`. When L2 (or the broker's link) comes back, every L1 region is dropped and every
generation bumped: events sent while the link was down never reached this replica.

L2 values are pickled and signed (HMAC-SHA256 with a key derived from the secret key): someone
who can write to Redis but does not hold the key cannot make a replica unpickle their data.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import enum
import hashlib
import hmac
import logging
import pickle
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable, Sequence
from typing import Any, Final, Self, TypeVar

import redis.asyncio as aioredis
from aiocache import RedisCache, SimpleMemoryCache
from aiocache.serializers import BaseSerializer

from events import Broker, CacheInvalidated, CheckRecorded, Message, StatusChanged
from events.messages import MESSAGE_TYPES, RegistryChanged, TokenRevoked

log = logging.getLogger(__name__)

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


class Region(enum.StrEnum):
    """A family of cached read models, invalidated and counted together."""

    DASHBOARD = "dashboard"
    SERVICE_LISTS = "service_lists"
    SERVICE_FIELDS = "service_fields"
    TRENDS = "trends"
    COMPARISONS = "comparisons"
    ANALYTICS = "analytics"
    RESPONSES = "responses"


ALL_REGIONS: Final = tuple(Region)


@dataclasses.dataclass(frozen=True, slots=True)
class CacheSettings:
    """How long entries live and how often check batches may invalidate; see docs/caching.md."""

    l1_ttl_seconds: float = 10.0
    l1_max_entries: int = 2000
    l2_ttl_seconds: float = 300.0
    l2_timeout_seconds: float = 1.0
    l2_retry_seconds: float = 5.0
    check_coalesce_seconds: float = 2.0
    key_prefix: str = "vigil:"

    def __post_init__(self) -> None:
        if min(self.l1_ttl_seconds, self.l2_ttl_seconds, self.l2_timeout_seconds) <= 0:
            raise ValueError("cache TTLs and the L2 timeout must be positive")
        if self.l1_max_entries < 1:
            raise ValueError("l1_max_entries must be at least 1")
        if min(self.l2_retry_seconds, self.check_coalesce_seconds) < 0:
            raise ValueError("retry and coalesce intervals must be >= 0")


@dataclasses.dataclass(slots=True)
class RegionStats:
    """Counters since this process started; `entries` is the L1 size now."""

    l1_hits: int = 0
    l2_hits: int = 0
    misses: int = 0
    invalidations: int = 0
    discarded: int = 0
    entries: int = 0

    @property
    def hit_ratio(self) -> float | None:
        """Share of reads answered by L1 or L2; None before the first read."""
        reads = self.l1_hits + self.l2_hits + self.misses
        return None if reads == 0 else (self.l1_hits + self.l2_hits) / reads


@dataclasses.dataclass(frozen=True, slots=True)
class CacheStats:
    l2_enabled: bool
    l2_healthy: bool
    l2_errors: int
    last_error: str | None
    regions: dict[Region, RegionStats]


class SignedPickleSerializer(BaseSerializer):
    """Pickle behind an HMAC tag: a value whose tag does not verify loads as a miss."""

    DEFAULT_ENCODING = None

    def __init__(self, key: bytes) -> None:
        super().__init__()
        self._key = key

    def dumps(self, value: Any) -> bytes:
        body = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        return hmac.new(self._key, body, hashlib.sha256).digest() + body

    def loads(self, value: bytes | None) -> Any:
        if value is None:
            return None
        tag, body = value[:32], value[32:]
        if len(tag) < 32 or not hmac.compare_digest(tag, hmac.new(self._key, body, hashlib.sha256).digest()):
            log.warning("an L2 cache entry failed its signature check and was ignored")
            return None
        return pickle.loads(body)  # signed above by a replica that holds the secret key


class _L2Unavailable(Exception):
    """L2 is switched off, paused after an error, or just failed; the caller reads on without it."""


Invalidator = Callable[[], Awaitable[None]]

TIMEOUTS_BEFORE_DOWN: Final = 3
"""L2 timeouts in a row before L2 counts as down; a refused or reset connection counts at once."""


class ReadCache:
    """Get-or-compute over L1 and L2, invalidated by broker events; open with `open_cache`."""

    def __init__(
        self,
        settings: CacheSettings,
        *,
        broker: Broker | None = None,
        redis_url: str | None = None,
        signing_key: bytes = b"",
    ) -> None:
        self._settings = settings
        self._broker = broker
        self._l1 = SimpleMemoryCache()
        self._l1_keys: dict[Region, collections.OrderedDict[str, None]] = {r: collections.OrderedDict() for r in Region}
        self._epochs: dict[Region, int] = dict.fromkeys(Region, 0)
        self._stats: dict[Region, RegionStats] = {r: RegionStats() for r in Region}
        self._inflight: dict[tuple[Region, str], asyncio.Future[Any]] = {}
        self._l2: RedisCache | None = None
        self._redis: aioredis.Redis | None = None
        if redis_url:
            if not signing_key:
                raise ValueError("an L2 cache needs a signing key")
            self._redis = aioredis.Redis.from_url(
                redis_url,
                socket_connect_timeout=settings.l2_timeout_seconds,
                socket_timeout=None,  # redis-py's own timeout can swallow a cancellation: we use asyncio.timeout
                decode_responses=False,
            )
            self._l2 = RedisCache(
                serializer=SignedPickleSerializer(signing_key),
                namespace=f"{settings.key_prefix}cache",
                timeout=None,
            )
            self._l2.client = self._redis
        self._l2_paused_until = 0.0
        self._l2_errors = 0
        self._timeouts_in_a_row = 0
        self._l2_was_down = False
        self._last_error: str | None = None
        self._checks_dirty = False
        self._warmers: list[Invalidator] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Self:
        if self._broker is not None:
            ready = asyncio.Event()
            self._tasks.append(asyncio.create_task(self._listen(ready), name="cache-invalidation-listener"))
            await ready.wait()
            self._tasks.append(asyncio.create_task(self._coalesce_checks(), name="cache-check-coalescer"))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self._l1.clear()
        if self._redis is not None:
            await self._redis.aclose()

    # -- reading ---------------------------------------------------------------------------

    @property
    def l2_enabled(self) -> bool:
        return self._l2 is not None

    @property
    def stats(self) -> CacheStats:
        for region, stats in self._stats.items():
            stats.entries = len(self._l1_keys[region])
        return CacheStats(
            l2_enabled=self._l2 is not None,
            l2_healthy=self._l2 is not None and not self._l2_was_down,
            l2_errors=self._l2_errors,
            last_error=self._last_error,
            regions={region: dataclasses.replace(stats) for region, stats in self._stats.items()},
        )

    @property
    def degraded_reason(self) -> str | None:
        """Why this replica serves without its shared cache; None while L2 works or is not configured."""
        if self._l2 is None or not self._l2_was_down:
            return None
        return f"shared cache (Redis) unreachable, serving from memory and the database: {self._last_error}"

    def add_warmer(self, warm: Invalidator) -> None:
        """Run `warm` after each coalesced check invalidation, so readers find fresh entries waiting."""
        self._warmers.append(warm)

    async def get_or_load(self, region: Region, key: str, load: Callable[[], Awaitable[T]]) -> T:
        """The cached value for `key`, computing it once (per replica) when neither level has it."""
        l1_key = f"{region.value}:{key}"
        boxed = await self._l1.get(l1_key)
        keys = self._l1_keys[region]
        if boxed is not None and l1_key in keys:  # not indexed: an invalidation is deleting it
            self._stats[region].l1_hits += 1
            keys.move_to_end(l1_key, last=True)
            return boxed[0]
        waiting = self._inflight.get((region, key))
        if waiting is not None:  # another reader is computing it: share its answer
            self._stats[region].l1_hits += 1
            return await asyncio.shield(waiting)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inflight[(region, key)] = future
        try:
            value = await self._read_through(region, key, l1_key, load)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: a failure with no other waiter is not logged as lost
            raise
        else:
            future.set_result(value)
            return value
        finally:
            self._inflight.pop((region, key), None)

    async def get_many_or_load(
        self,
        region: Region,
        keys: Sequence[K],
        key_text: Callable[[K], str],
        load: Callable[[list[K]], Awaitable[Sequence[T]]],
    ) -> list[T]:
        """Values for `keys` in order; the missing ones are computed by one `load(missing)` call.

        `load` returns values in the order of the keys it was given. Meant for DataLoader batch
        functions: a list page asks for one batch, whatever its length.
        """
        texts = [f"{region.value}:{key_text(key)}" for key in keys]
        found: list[Any] = list(await self._l1.multi_get(texts)) if texts else []
        results: dict[int, T] = {}
        missing: list[int] = []
        indexed = self._l1_keys[region]
        for index, boxed in enumerate(found):
            if boxed is not None and texts[index] in indexed:
                results[index] = boxed[0]
                self._stats[region].l1_hits += 1
            else:
                missing.append(index)
        if missing:
            epoch = self._epochs[region]
            generation = None
            with contextlib.suppress(_L2Unavailable):
                generation = await self._generation(region)
                l2_values = await self._l2_call(
                    lambda: self._l2.multi_get([self._l2_key(generation, texts[i]) for i in missing])  # type: ignore[union-attr]
                )
                still: list[int] = []
                for index, boxed in zip(missing, l2_values, strict=True):
                    if boxed is not None:
                        results[index] = boxed[0]
                        self._stats[region].l2_hits += 1
                        await self._l1_store(region, texts[index], boxed)
                    else:
                        still.append(index)
                missing = still
            if missing:
                self._stats[region].misses += len(missing)
                loaded = list(await load([keys[i] for i in missing]))
                if len(loaded) != len(missing):
                    raise ValueError(f"load returned {len(loaded)} values for {len(missing)} keys")
                fresh = self._epochs[region] == epoch
                pairs = []
                for index, value in zip(missing, loaded, strict=True):
                    results[index] = value
                    if fresh:
                        await self._l1_store(region, texts[index], (value,))
                        pairs.append((index, (value,)))
                if not fresh:
                    self._stats[region].discarded += len(missing)
                elif generation is not None and pairs:
                    await self._l2_store_many(region, generation, [(texts[i], boxed) for i, boxed in pairs])
        return [results[index] for index in range(len(keys))]

    async def _read_through(self, region: Region, key: str, l1_key: str, load: Callable[[], Awaitable[T]]) -> T:
        epoch = self._epochs[region]
        generation = None
        with contextlib.suppress(_L2Unavailable):
            generation = await self._generation(region)
            boxed = await self._l2_call(lambda: self._l2.get(self._l2_key(generation, l1_key)))  # type: ignore[union-attr]
            if boxed is not None:
                self._stats[region].l2_hits += 1
                if self._epochs[region] == epoch:
                    await self._l1_store(region, l1_key, boxed)
                return boxed[0]
        self._stats[region].misses += 1
        value = await load()
        if self._epochs[region] != epoch:
            self._stats[region].discarded += 1
            return value
        await self._l1_store(region, l1_key, (value,))
        if generation is not None:
            await self._l2_store_many(region, generation, [(l1_key, (value,))])
        return value

    async def _l1_store(self, region: Region, l1_key: str, boxed: tuple[Any]) -> None:
        keys = self._l1_keys[region]
        await self._l1.set(l1_key, boxed, ttl=self._settings.l1_ttl_seconds)
        keys[l1_key] = None
        keys.move_to_end(l1_key)
        while len(keys) > self._settings.l1_max_entries:
            oldest, _ = keys.popitem(last=False)
            await self._l1.delete(oldest)

    async def _l2_store_many(self, region: Region, generation: int, pairs: list[tuple[str, tuple[Any]]]) -> None:
        ttl = int(self._settings.l2_ttl_seconds)
        entries = [(self._l2_key(generation, text), boxed) for text, boxed in pairs]
        with contextlib.suppress(_L2Unavailable):
            await self._l2_call(lambda: self._l2.multi_set(entries, ttl=ttl))  # type: ignore[union-attr]

    # -- invalidating ----------------------------------------------------------------------

    async def invalidate(self, regions: Iterable[Region] = ALL_REGIONS, *, reason: str, announce: bool = True) -> None:
        """Forget `regions` here and in L2; `announce` tells the other replicas' L1 too.

        Call it after a change has been committed. Events the broker already carries to every
        replica (status changes, checks) are not announced again: each replica hears them.
        """
        chosen = tuple(dict.fromkeys(regions))
        await self._drop_l1(chosen)
        with contextlib.suppress(_L2Unavailable):
            await self._bump(chosen)
        log.debug("cache invalidated: %s (%s)", ", ".join(chosen), reason)
        if announce and self._broker is not None:
            message = CacheInvalidated(seq=time.time_ns(), origin=self._broker.replica_id, tags=chosen)
            try:
                await self._broker.publish(message)
            except Exception:  # the local part is done; other replicas fall back to their L1 TTL
                log.exception("announcing a cache invalidation failed")

    async def _drop_l1(self, regions: Iterable[Region]) -> None:
        for region in regions:
            self._epochs[region] += 1
            self._stats[region].invalidations += 1
            keys = list(self._l1_keys[region])  # reads go on while we await: iterate over a copy
            self._l1_keys[region].clear()
            for key in keys:
                await self._l1.delete(key)

    async def _bump(self, regions: Sequence[Region]) -> None:
        names = [self._generation_key(region) for region in regions]

        async def increment() -> None:
            async with self._redis.pipeline(transaction=False) as pipe:  # type: ignore[union-attr]
                for name in names:
                    pipe.incr(name)
                await pipe.execute()

        await self._l2_call(increment)

    # -- listening -------------------------------------------------------------------------

    async def _listen(self, ready: asyncio.Event) -> None:
        assert self._broker is not None
        topics = [kind for kind in MESSAGE_TYPES if kind is not CheckRecorded]
        topics.append(CheckRecorded)
        while True:
            try:
                async with self._broker.subscribe(*topics, queue_size=1024) as subscription:
                    ready.set()
                    async for message in subscription:
                        await self._on_message(message)
                        if subscription.gap:
                            await self.invalidate(reason="missed invalidation messages", announce=False)
                return  # the broker closed
            except asyncio.CancelledError:
                raise
            except Exception:
                ready.set()
                log.exception("the cache invalidation listener failed; restarting it")
                await asyncio.sleep(1.0)

    async def _on_message(self, message: Message) -> None:
        if isinstance(message, CheckRecorded):
            self._checks_dirty = True
        elif isinstance(message, CacheInvalidated):
            if self._broker is not None and message.origin == self._broker.replica_id:
                return
            regions = [Region(tag) for tag in message.tags if tag in Region.__members__.values()]
            await self._drop_l1(regions or ALL_REGIONS)
        elif isinstance(message, RegistryChanged):
            if message.reseed:  # a manual check's state handed to the owner: news like any check
                self._checks_dirty = True
            elif self._broker is None or message.origin != self._broker.replica_id:
                # The replica (or CLI) that made the change bumps the shared generations itself;
                # here only this replica's memory may still hold the old rows.
                await self._drop_l1(ALL_REGIONS)
        elif isinstance(message, StatusChanged):
            await self.invalidate(reason=f"service {message.service_id} changed status", announce=False)
        elif isinstance(message, TokenRevoked):
            return  # access, not data: cached answers are keyed by role and checked per request
        else:  # a message kind added later: it may be about data, so forget everything
            await self.invalidate(reason=f"{type(message).__name__} received", announce=False)

    async def _coalesce_checks(self) -> None:
        """Invalidate at most once per `check_coalesce_seconds` while checks arrive, then warm."""
        broker_was_healthy = True
        while True:
            await asyncio.sleep(max(self._settings.check_coalesce_seconds, 0.05))
            try:
                broker_healthy = self._broker is None or self._broker.healthy
                if broker_healthy and not broker_was_healthy:
                    await self.invalidate(reason="event link restored; events may have been missed", announce=False)
                broker_was_healthy = broker_healthy
                await self._retry_l2()
                if self._checks_dirty:
                    self._checks_dirty = False
                    await self.invalidate(reason="new checks recorded", announce=False)
                    for warm in self._warmers:
                        await warm()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("cache upkeep failed; trying again next round")

    async def _retry_l2(self) -> None:
        """After an outage, probe L2 once the pause is over; on success forget everything local."""
        if self._l2 is None or not self._l2_was_down or time.monotonic() < self._l2_paused_until:
            return
        with contextlib.suppress(_L2Unavailable):
            # Connections pooled before the outage are dead, and redis-py would find that out one
            # failed command at a time, each taking L2 down again for `l2_retry_seconds`.
            await self._redis.connection_pool.disconnect()  # type: ignore[union-attr]
            await self._l2_call(lambda: self._redis.ping(), probing=True)  # type: ignore[union-attr]
            self._l2_was_down = False
            log.info("shared cache (Redis) reachable again; dropping local entries")
            await self.invalidate(reason="shared cache reachable again", announce=False)

    # -- L2 plumbing -----------------------------------------------------------------------

    def _l2_key(self, generation: int, l1_key: str) -> str:
        return f":{generation}:{l1_key}"

    def _generation_key(self, region: Region) -> str:
        return f"{self._settings.key_prefix}cache-generation:{region.value}"

    async def _generation(self, region: Region) -> int:
        raw = await self._l2_call(lambda: self._redis.get(self._generation_key(region)))  # type: ignore[union-attr]
        return int(raw or 0)

    async def _l2_call(self, call: Callable[[], Awaitable[T]], *, probing: bool = False) -> T:
        if self._l2 is None or (self._l2_was_down and not probing):
            raise _L2Unavailable
        try:
            async with asyncio.timeout(self._settings.l2_timeout_seconds):
                answer = await call()
        except (OSError, TimeoutError, aioredis.RedisError) as exc:
            self._l2_errors += 1
            self._last_error = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
            if isinstance(exc, TimeoutError) and not probing:
                # A busy event loop makes a healthy Redis look slow: skip L2 for this read only,
                # and call it down after several timeouts in a row.
                self._timeouts_in_a_row += 1
                if self._timeouts_in_a_row < TIMEOUTS_BEFORE_DOWN:
                    raise _L2Unavailable from exc
            if not self._l2_was_down:
                log.warning("shared cache (Redis) failed, reading without it: %s", self._last_error)
            self._l2_was_down = True
            self._l2_paused_until = time.monotonic() + self._settings.l2_retry_seconds
            raise _L2Unavailable from exc
        self._timeouts_in_a_row = 0
        return answer


@contextlib.asynccontextmanager
async def open_cache(
    settings: CacheSettings, *, broker: Broker | None, redis_url: str | None, signing_key: bytes
) -> AsyncIterator[ReadCache]:
    """The process's cache, listening to `broker` for invalidations until the context exits."""
    async with ReadCache(settings, broker=broker, redis_url=redis_url, signing_key=signing_key) as cache:
        yield cache
