"""The batch recorder after a database fault: a failed BEGIN must not poison the writes that follow.

Found by `tests/integration/test_faults.py` (PostgreSQL gone silent, ended by asyncpg's command
timeout): every check after the outage failed with "connection has been released back to the pool".
"""

from __future__ import annotations

from typing import Any

import pytest
from tortoise.backends.asyncpg.client import TransactionWrapper

from models import HealthCheck
from probes.result import HealthStatus
from resolvers.deps import Deps
from resolvers.recording import BatchRecorder
from tests.unit.resolvers.conftest import add_service
from tests.unit.resolvers.test_recording import observation


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # asyncpg's pooled transactions leak
async def test_a_transaction_whose_begin_times_out_does_not_poison_later_writes(
    deps: Deps, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = await add_service(deps, "https://silent.example")
    real_begin = TransactionWrapper.begin
    failures = 2  # the batch, then its one-by-one retry

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
