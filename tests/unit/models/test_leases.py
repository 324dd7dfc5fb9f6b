"""Slot leases on a real PostgreSQL: each test gets a fresh database, so no other lock is counted."""

from __future__ import annotations

import asyncio
import pathlib
import sys
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator

import asyncpg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.leases import (
    SLOT_COUNT,
    LeaseLost,
    LeaseTimings,
    LocalLease,
    PostgresLease,
    connect_args,
    fair_share,
    open_lease,
    slot_of,
)
from tests.conftest import fresh_postgres_database

ALL = frozenset(range(SLOT_COUNT))
ROOT = pathlib.Path(__file__).resolve().parents[3]


@pytest.fixture
async def lease_db(pg_url: str) -> AsyncIterator[str]:
    async with fresh_postgres_database(pg_url) as url:
        yield url


@pytest.fixture
async def admin(lease_db: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(**connect_args(lease_db))
    yield connection
    await connection.close()


async def kill_lease_sessions(admin: asyncpg.Connection) -> int:
    """End every lease session in this database, as PostgreSQL does when a replica's host dies."""
    return len(
        await admin.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'vigil-lease' AND datname = current_database()"
        )
    )


@given(st.integers(min_value=1, max_value=500))
def test_fair_shares_always_cover_every_slot_and_never_leave_a_replica_idle_needlessly(members: int) -> None:
    share = fair_share(members)

    assert share * members >= SLOT_COUNT
    assert (share - 1) * members < SLOT_COUNT
    assert share >= 1


def test_a_service_maps_to_the_same_slot_everywhere() -> None:
    assert [slot_of(service_id) for service_id in (0, 1, 63, 64, 65, 1000)] == [0, 1, 63, 0, 1, 1000 % 64]


async def test_two_leases_never_hold_the_same_slot_and_count_each_other(lease_db: str) -> None:
    async with open_lease(lease_db, round_s=1) as a, open_lease(lease_db, round_s=1) as b:
        await a.connect()
        await b.connect()

        assert await a.take(range(0, 40)) == frozenset(range(0, 40))
        assert await b.take(ALL) == ALL - frozenset(range(0, 40))
        survey = await a.survey()

    assert survey.members == 2
    assert survey.held == frozenset(range(0, 40))
    assert survey.free == frozenset()


async def test_released_slots_become_free_for_another_lease(lease_db: str) -> None:
    async with open_lease(lease_db, round_s=1) as a, open_lease(lease_db, round_s=1) as b:
        await a.connect()
        await b.connect()
        await a.take(ALL)
        await a.release(range(32))

        assert (await b.survey()).free == frozenset(range(32))
        assert await b.take(range(64)) == frozenset(range(32))
        assert a.held == frozenset(range(32, 64))


async def test_closing_a_lease_frees_its_slots_and_its_membership(lease_db: str) -> None:
    async with open_lease(lease_db, round_s=1) as survivor:
        async with open_lease(lease_db, round_s=1) as leaving:
            await leaving.connect()
            await leaving.take(ALL)
            await survivor.connect()
            assert (await survivor.survey()).members == 2
        survey = await survivor.survey()

    assert (survey.members, survey.free) == (1, ALL)


async def test_a_killed_session_sets_lost_at_once_and_its_slots_go_to_the_others(
    lease_db: str, admin: asyncpg.Connection
) -> None:
    async with open_lease(lease_db, round_s=1) as a, open_lease(lease_db, round_s=1) as b:
        await a.connect()
        await a.take(ALL)
        await b.connect()
        await a.survey()

        assert await kill_lease_sessions(admin) == 2
        async with asyncio.timeout(5):
            await a.lost.wait()
            await b.lost.wait()

        assert (a.held, a.is_connected) == (frozenset(), False)
        with pytest.raises(LeaseLost):
            await a.survey()
        await b.connect()  # a replica reconnects after a loss; the dead one's slots are free
        assert await b.take(ALL) == ALL


async def test_the_server_ends_a_silent_session_so_a_frozen_replica_cannot_keep_its_slots(lease_db: str) -> None:
    frozen = PostgresLease(lease_db, timings=LeaseTimings(idle_session_timeout_s=0.5))
    async with open_lease(lease_db, round_s=1) as other:
        try:
            await frozen.connect()
            await frozen.take(ALL)
            await other.connect()
            async with asyncio.timeout(5):
                await frozen.lost.wait()  # nothing was asked of the session for 0.5 s
            assert await other.take(ALL) == ALL
        finally:
            await frozen.close()


async def test_a_lease_that_cannot_connect_raises_lease_lost(pg_url: str) -> None:
    lease = PostgresLease(pg_url.rsplit("/", 1)[0] + "/vigil_no_such_database")

    with pytest.raises(LeaseLost, match="cannot open the lease connection"):
        await lease.connect()
    assert lease.held == frozenset()


async def test_on_sqlite_the_only_process_holds_every_slot() -> None:
    async with open_lease("sqlite://vigil.db", round_s=1) as lease:
        assert isinstance(lease, LocalLease)
        await lease.connect()
        survey = await lease.survey()
        assert (survey.members, survey.free) == (1, ALL)
        assert await lease.take(survey.free) == ALL
        assert (await lease.survey()).free == frozenset()


MIGRATE = """
import asyncio, sys
from models.db import open_database, tortoise_config
from models.leases import migration_lock

async def start(url: str) -> None:
    async with migration_lock(url):
        async with open_database(tortoise_config(url)):
            pass

asyncio.run(start(sys.argv[1]))
"""


async def test_replicas_that_start_together_on_an_empty_database_migrate_in_turn(lease_db: str) -> None:
    # Two processes, as two replicas are: without the lock one of them fails while creating a
    # table the other has just created.
    starts = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", MIGRATE, lease_db, cwd=ROOT, stdout=PIPE, stderr=PIPE
        )
        for _ in range(2)
    ]
    async with asyncio.timeout(60):
        outcomes = [await start.communicate() for start in starts]

    assert [start.returncode for start in starts] == [0, 0], [err.decode()[-2000:] for _, err in outcomes]
