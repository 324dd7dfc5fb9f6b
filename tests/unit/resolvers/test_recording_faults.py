"""The batch recorder after a database fault: a failed BEGIN must not poison the writes that follow.

Found by `tests/integration/test_faults.py` (PostgreSQL gone silent, ended by asyncpg's command
timeout): every check after the outage failed with "connection has been released back to the pool".
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from tortoise.backends.asyncpg.client import TransactionWrapper
from tortoise.exceptions import IntegrityError, OperationalError

from models import HealthCheck
from probes.observation import Observation
from probes.result import HealthStatus
from resolvers import recording
from resolvers.deps import Deps
from resolvers.recording import BatchRecorder, is_unreachable
from tests.unit.resolvers.conftest import add_service
from tests.unit.resolvers.test_recording import observation


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # asyncpg's pooled transactions leak
async def test_a_transaction_whose_begin_times_out_does_not_poison_later_writes(
    deps: Deps, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = await add_service(deps, "https://silent.example")
    real_begin = TransactionWrapper.begin
    failures = 1  # the batch; a timeout means an unreachable database, so no one-by-one retry

    async def begin(self: TransactionWrapper, *args: Any, **kwargs: Any) -> None:
        nonlocal failures
        if failures:
            failures -= 1
            self._connection.terminate()  # what asyncpg does to a connection whose command timed out
            raise TimeoutError
        await real_begin(self, *args, **kwargs)

    monkeypatch.setattr(TransactionWrapper, "begin", begin)
    async with BatchRecorder(deps.broker, linger_seconds=0) as recorder:
        with pytest.raises(TimeoutError):
            await recorder.record(observation(sid, 0, HealthStatus.HEALTHY, HealthStatus.UNKNOWN))
        for n in (1, 2):
            assert await recorder.record(observation(sid, n, HealthStatus.HEALTHY, HealthStatus.UNKNOWN)) is not None
    assert recorder.stats.failed_checks == 1
    assert await HealthCheck.filter(service_id=sid).count() == 2  # committed, seen from another connection


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(111, "refused"),
        TimeoutError(),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
    ],
)
def test_connection_failures_are_unreachable_even_when_wrapped(exc: Exception) -> None:
    assert is_unreachable(exc)
    try:
        try:
            raise exc
        except Exception as inner:
            raise OperationalError(inner) from inner
    except OperationalError as wrapped:
        assert is_unreachable(wrapped)


@pytest.mark.parametrize(
    "exc",
    [
        IntegrityError("duplicate key value violates unique constraint"),
        asyncpg.UndefinedColumnError("column does not exist"),
        ValueError("bad row"),
    ],
)
def test_data_errors_are_not_unreachable(exc: Exception) -> None:
    assert not is_unreachable(exc)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_batch_that_meets_an_unreachable_database_goes_back_to_its_callers_at_once(
    deps: Deps, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not retried row by row: each retry would wait out its own timeout on a silent database."""
    sid = await add_service(deps, "https://silent.example")
    writes: list[int] = []

    async def unreachable(observations: list[Observation]) -> list[Any]:
        writes.append(len(observations))
        raise ConnectionResetError(104, "reset by peer")

    monkeypatch.setattr(recording, "_write", unreachable)
    async with BatchRecorder(deps.broker, linger_seconds=0.05) as recorder:
        outcomes = await asyncio.gather(
            *(recorder.record(observation(sid, n, HealthStatus.HEALTHY, HealthStatus.UNKNOWN)) for n in range(3)),
            return_exceptions=True,
        )
    assert writes == [3]
    assert all(isinstance(outcome, ConnectionResetError) for outcome in outcomes)
    assert (recorder.stats.failed_batches, recorder.stats.failed_checks) == (1, 3)
