"""Slot leases: which probing replica owns which services, held as PostgreSQL advisory locks.

Services are partitioned into `SLOT_COUNT` slots (`slot_of(service_id)`). A replica probes the
services of the slots it holds, and holds them as session-level advisory locks on one dedicated
asyncpg connection, outside Tortoise's pool (whose connections come and go, and would take
their locks with them):

- a *member* lock `(NS_MEMBER, random key)` per live replica, so each can count the others;
- a *slot* lock `(NS_SLOT, slot)` per slot held.

The locks live exactly as long as the session. A killed process's connection closes and
PostgreSQL frees its locks at once: there is no heartbeat table and no expiry to tune. For the
cases where nothing closes the socket, the session asks the server to end it anyway:
`idle_session_timeout` (PostgreSQL 14 and later) ends a session that sent nothing for a while,
which covers a frozen process and a vanished host, and TCP keepalives cover a vanished host on
older servers. A live replica talks to the session every round, well within that time.

This module only takes, releases and counts; `resolvers/ownership.py` decides how many slots to
hold and keeps the probe loop in step. `LocalLease` stands in on SQLite, where a single process
owns the database and therefore every slot.

Errors: every driver failure is translated here into `LeaseLost`, after which the lease holds
nothing (the connection is closed, so the server frees whatever it still had).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, NoReturn, Protocol, TypeVar

import asyncpg
from tortoise.backends.base.config_generator import expand_db_url

log = logging.getLogger(__name__)

_T = TypeVar("_T")

SLOT_COUNT = 64
"""Fixed, because every replica must map a service to the same slot; it also caps how many
replicas can share the work (the 65th would own nothing)."""

# The two-key advisory lock form, (int4, int4), shows up in pg_locks as classid/objid with
# objsubid = 2. The namespaces spell "VGLm" and "VGLs", so they are unlikely to meet another
# application's locks in the same database.
NS_MEMBER = 0x56474C6D
NS_SLOT = 0x56474C73
NS_MIGRATION = 0x56474C4D

_SURVEY = """
SELECT l.classid::int8 AS ns, l.objid::int8 AS key, l.pid = pg_backend_pid() AS mine
FROM pg_locks AS l
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid IN ($1::int8::oid, $2::int8::oid)
"""
_TAKE = "SELECT k, pg_try_advisory_lock($1::int4, k) AS ok FROM unnest($2::int4[]) AS k"
_RELEASE = "SELECT pg_advisory_unlock($1::int4, k) FROM unnest($2::int4[]) AS k"

_DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)  # OSError covers TimeoutError


def slot_of(service_id: int) -> int:
    """The slot a service belongs to; the same on every replica."""
    return service_id % SLOT_COUNT


def fair_share(members: int, slot_count: int = SLOT_COUNT) -> int:
    """Most slots one of `members` replicas should hold. Rounded up, so the shares always cover
    every slot: while a slot is free, some replica is below its share and will take it."""
    return math.ceil(slot_count / max(1, members))


class LeaseLost(RuntimeError):
    """The lease connection failed or closed: this replica holds no slot any more."""


@dataclasses.dataclass(frozen=True, slots=True)
class Survey:
    """One look at the lock table: live members, the slots this session holds as the server
    sees them, and the slots nobody holds."""

    members: int
    held: frozenset[int]
    free: frozenset[int]


@dataclasses.dataclass(frozen=True, slots=True)
class LeaseTimings:
    """Seconds. The server must not free a live replica's locks: a replica notices a dead link by
    its next round plus one command timeout, so `idle_session_timeout_s` is set well above that."""

    connect_timeout_s: float = 5.0
    command_timeout_s: float = 5.0
    idle_session_timeout_s: float = 20.0
    keepalive_idle_s: int = 10
    keepalive_interval_s: int = 3
    keepalive_count: int = 3

    @property
    def locks_freed_within_s(self) -> float:
        """How long the server may keep a dead session's locks: until `idle_session_timeout`, or
        until keepalives give up on a silent peer (servers before PostgreSQL 14)."""
        keepalive = self.keepalive_idle_s + self.keepalive_interval_s * self.keepalive_count
        return max(self.idle_session_timeout_s, float(keepalive))

    @classmethod
    def for_round(cls, round_s: float) -> LeaseTimings:
        """Timings for rounds every `round_s` seconds."""
        command = min(5.0, max(1.0, round_s))
        return cls(command_timeout_s=command, idle_session_timeout_s=max(10.0, 3 * (round_s + command)))


class Lease(Protocol):
    """The slots one replica holds. `lost` is set the moment a held lease breaks."""

    @property
    def member(self) -> str:
        """This lease's name in logs and stats."""
        ...

    @property
    def held(self) -> frozenset[int]: ...

    @property
    def is_connected(self) -> bool: ...

    @property
    def lost(self) -> asyncio.Event: ...

    async def connect(self) -> None:
        """Open the session and join as a member; raises LeaseLost when it cannot."""
        ...

    async def survey(self) -> Survey: ...

    async def take(self, slots: Iterable[int]) -> frozenset[int]:
        """Try each slot without waiting; returns those now held."""
        ...

    async def release(self, slots: Iterable[int]) -> None: ...

    async def close(self) -> None:
        """Give up every slot and the membership. Idempotent."""
        ...


class LocalLease:
    """Every slot, without locking: SQLite allows one process, so it is the only member."""

    def __init__(self) -> None:
        self._held: frozenset[int] = frozenset()
        self._lost = asyncio.Event()

    @property
    def member(self) -> str:
        return "local"

    @property
    def held(self) -> frozenset[int]:
        return self._held

    @property
    def is_connected(self) -> bool:
        return True

    @property
    def lost(self) -> asyncio.Event:
        return self._lost

    async def connect(self) -> None:
        return None

    async def survey(self) -> Survey:
        return Survey(members=1, held=self._held, free=frozenset(range(SLOT_COUNT)) - self._held)

    async def take(self, slots: Iterable[int]) -> frozenset[int]:
        taken = frozenset(slots) - self._held
        self._held |= taken
        return taken

    async def release(self, slots: Iterable[int]) -> None:
        self._held -= frozenset(slots)

    async def close(self) -> None:
        self._held = frozenset()


class PostgresLease:
    """Advisory locks on one dedicated asyncpg connection; see the module docstring."""

    def __init__(
        self, database_url: str, *, timings: LeaseTimings | None = None, rng: random.Random | None = None
    ) -> None:
        self._connect_args = connect_args(database_url)
        self._timings = timings or LeaseTimings()
        self._rng = rng or random.Random()
        self._connection: asyncpg.Connection | None = None
        self._member_key: int | None = None
        self._held: frozenset[int] = frozenset()
        self._lost = asyncio.Event()

    @property
    def member(self) -> str:
        return "none" if self._member_key is None else f"{self._member_key:08x}"

    @property
    def held(self) -> frozenset[int]:
        return self._held

    @property
    def is_connected(self) -> bool:
        return self._connection is not None and not self._connection.is_closed()

    @property
    def lost(self) -> asyncio.Event:
        return self._lost

    async def connect(self) -> None:
        await self._discard()
        timings = self._timings
        try:
            connection = await asyncpg.connect(
                **self._connect_args,
                timeout=timings.connect_timeout_s,
                command_timeout=timings.command_timeout_s,
                statement_cache_size=0,
                server_settings={
                    "application_name": "vigil-lease",
                    "tcp_keepalives_idle": str(timings.keepalive_idle_s),
                    "tcp_keepalives_interval": str(timings.keepalive_interval_s),
                    "tcp_keepalives_count": str(timings.keepalive_count),
                },
            )
        except _DRIVER_ERRORS as exc:
            raise LeaseLost(f"cannot open the lease connection: {type(exc).__name__}: {exc}") from exc
        self._connection = connection
        connection.add_termination_listener(self._on_terminated)
        try:
            if connection.get_server_version().major >= 14:
                timeout_ms = int(timings.idle_session_timeout_s * 1000)
                await connection.execute(f"SET idle_session_timeout = {timeout_ms}")
            self._member_key = await self._join(connection)
        except _DRIVER_ERRORS as exc:
            await self._discard()
            raise LeaseLost(f"cannot join as a member: {type(exc).__name__}: {exc}") from exc
        except BaseException:
            await self._discard()
            raise
        self._lost.clear()

    async def survey(self) -> Survey:
        rows = await self._call("survey", lambda c: c.fetch(_SURVEY, NS_MEMBER, NS_SLOT))
        members = sum(1 for row in rows if row["ns"] == NS_MEMBER)
        mine = frozenset(row["key"] for row in rows if row["ns"] == NS_SLOT and row["mine"])
        taken = frozenset(row["key"] for row in rows if row["ns"] == NS_SLOT)
        if not any(row["ns"] == NS_MEMBER and row["mine"] and row["key"] == self._member_key for row in rows):
            await self._fail("the member lock is gone")
        if mine != self._held:  # every failed call drops the session, so only a bug gets here
            await self._fail(f"the server holds slots {sorted(mine)}, this replica believed {sorted(self._held)}")
        return Survey(members=members, held=mine, free=frozenset(range(SLOT_COUNT)) - taken)

    async def take(self, slots: Iterable[int]) -> frozenset[int]:
        wanted = sorted(frozenset(slots) - self._held)
        if not wanted:
            return frozenset()
        rows = await self._call("take", lambda c: c.fetch(_TAKE, NS_SLOT, wanted))
        taken = frozenset(row["k"] for row in rows if row["ok"])
        self._held |= taken
        return taken

    async def release(self, slots: Iterable[int]) -> None:
        leaving = sorted(frozenset(slots) & self._held)
        if not leaving:
            return
        await self._call("release", lambda c: c.fetch(_RELEASE, NS_SLOT, leaving))
        self._held -= frozenset(leaving)

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        self._held, self._member_key = frozenset(), None
        if connection is not None:
            await _close(connection, self._timings.command_timeout_s)

    async def _join(self, connection: asyncpg.Connection) -> int:
        for _ in range(8):  # a clash needs two replicas to draw the same of 2**31 keys
            key = self._rng.randrange(1, 2**31)
            if await connection.fetchval("SELECT pg_try_advisory_lock($1::int4, $2::int4)", NS_MEMBER, key):
                return key
        raise LeaseLost("no free member key after 8 attempts")

    async def _call(self, what: str, call: Callable[[asyncpg.Connection], Awaitable[_T]]) -> _T:
        connection = self._connection
        if connection is None or connection.is_closed():
            await self._fail(f"{what}: not connected")
        try:
            async with asyncio.timeout(self._timings.command_timeout_s + 1):
                return await call(connection)
        except _DRIVER_ERRORS as exc:
            await self._fail(f"{what}: {type(exc).__name__}: {exc}", cause=exc)

    async def _fail(self, reason: str, cause: BaseException | None = None) -> NoReturn:
        """Drop everything and raise LeaseLost: the caller must stop using the slots at once."""
        self._lost.set()
        await self._discard()
        raise LeaseLost(reason) from cause

    async def _discard(self) -> None:
        connection, self._connection = self._connection, None
        self._held, self._member_key = frozenset(), None
        if connection is not None and not connection.is_closed():
            connection.terminate()  # no goodbye over a link that just failed; the server notices the close

    def _on_terminated(self, connection: asyncpg.Connection) -> None:
        """asyncpg calls this when the session ends for any reason; a planned close clears
        `_connection` first, so only a loss gets here with it set."""
        if connection is self._connection:
            self._held = frozenset()
            self._lost.set()
            log.warning("ownership: the lease connection closed; every slot is lost")


def connect_args(database_url: str) -> dict[str, Any]:
    """asyncpg.connect arguments for the same server and database as Tortoise's pool, read by
    Tortoise's own URL parser so that the two can never disagree."""
    url = "postgres://" + database_url.split("://", 1)[1]
    credentials = expand_db_url(url)["credentials"]
    args = {key: credentials.get(key) for key in ("host", "port", "user", "password", "database")}
    if "ssl" in credentials:
        args["ssl"] = credentials["ssl"]
    return args


@contextlib.asynccontextmanager
async def open_lease(database_url: str, *, round_s: float) -> AsyncIterator[Lease]:
    """The lease for this process: PostgreSQL advisory locks, or every slot on SQLite.

    Not connected yet: the ownership rounds connect it, so a failure there is retried instead of
    stopping the start. Leaving the context closes the session, which frees every lock.
    """
    lease: PostgresLease | LocalLease
    if database_url.startswith("sqlite://"):
        lease = LocalLease()
    else:
        lease = PostgresLease(database_url, timings=LeaseTimings.for_round(round_s))
    try:
        yield lease
    finally:
        await lease.close()


@contextlib.asynccontextmanager
async def migration_lock(database_url: str, *, timeout_s: float = 600.0) -> AsyncIterator[None]:
    """Hold an advisory lock while this process migrates, so replicas that start together take
    turns instead of creating the same tables at once (which fails: Tortoise takes no lock).
    A no-op on SQLite. Raises TimeoutError when another process migrates for longer than `timeout_s`."""
    if database_url.startswith("sqlite://"):
        yield
        return
    connection = await asyncpg.connect(**connect_args(database_url), timeout=10, statement_cache_size=0)
    try:
        async with asyncio.timeout(timeout_s):
            await connection.execute(f"SELECT pg_advisory_lock({NS_MIGRATION}, 0)")
        yield
    finally:
        await _close(connection, 10.0)  # ends the session, which frees the lock


async def _close(connection: asyncpg.Connection, timeout_s: float) -> None:
    if connection.is_closed():
        return
    try:
        await connection.close(timeout=timeout_s)
    except _DRIVER_ERRORS:  # the server frees the locks when the socket goes, either way
        connection.terminate()
