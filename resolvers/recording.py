"""Stores what the probe loop observed and tells subscribers.

Observations are written in batches: a writer task collects what arrives within a few
milliseconds (up to `max_batch`) and writes it in ONE transaction, so a sweep over a thousand
services costs a handful of commits, not a thousand. For each observation the batch holds the
check row, the service's current state (status, breaker, hysteresis, next check) and, when the
published status moved, a StatusEvent. Events are published only after the commit, so a
subscriber never hears of a check a query cannot find; the check id is the event's `seq`.

If a batch fails, its observations are retried one transaction each, so one bad row cannot lose
the others; unless the database was unreachable (`is_unreachable`): then every row would fail
the same way, each after its own timeout, so the whole batch goes back to the callers at once
(the probe loop buffers such checks, resolvers/ownership.py). Closing the recorder writes
everything already handed to it before it returns.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Self

import asyncpg
from tortoise.exceptions import BaseORMException, DBConnectionError
from tortoise.transactions import in_transaction

from events.broker import Broker
from events.messages import CheckRecorded, StatusChanged
from models import HealthCheck, Service, StatusEvent
from probes.observation import Observation
from resolvers import incidents, rollups

log = logging.getLogger(__name__)


_UNREACHABLE = (
    OSError,  # refused, reset, unreachable network, name resolution
    TimeoutError,  # connect or command timeout: a database gone silent
    DBConnectionError,
    asyncpg.ConnectionDoesNotExistError,  # closed under the query
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08
    asyncpg.OperatorInterventionError,  # class 57: shutting down, starting up, cancelled
    asyncpg.InsufficientResourcesError,  # class 53: too many connections, disk full
)


def is_unreachable(exc: BaseException) -> bool:
    """Whether a write failed because the database could not be reached (so the same write may
    succeed later), rather than because of the data. Looks down the chain: tortoise wraps
    driver errors in its own."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, _UNREACHABLE):
            return True
        seen.add(id(current))
        # Tortoise wraps without `from`, so its wrappers are followed through `__context__`; any
        # other error raised while handling a connection error is about the data, not the link.
        wrapped = isinstance(current, BaseORMException)
        current = current.__cause__ or (current.__context__ if wrapped else None)
    return False


class RecorderClosed(RuntimeError):
    """An observation arrived after shutdown began; it was not written."""


@dataclasses.dataclass(slots=True)
class RecorderStats:
    batches: int = 0
    checks_written: int = 0
    largest_batch: int = 0
    failed_batches: int = 0
    failed_checks: int = 0


Written = tuple[HealthCheck, StatusEvent | None] | None
_Pending = tuple[Observation, "asyncio.Future[HealthCheck | None]"]


async def _store(observation: Observation) -> Written:
    """Writes one observation inside the caller's transaction; None if the service is gone."""
    service_id = observation.service_id
    result = observation.result
    service = await Service.select_for_update().get_or_none(id=service_id)
    if service is None:
        return None
    check = await HealthCheck.create(
        service_id=service_id,
        checked_at=result.checked_at,
        status=observation.status,
        raw_status=result.status,
        response_time_ms=result.response_time_ms,
        http_status=result.http_status,
        failure_kind=None if result.failure_kind is None else result.failure_kind.value,
        message=result.message[:2000],
        service_version=result.service_version,
        maintenance_message=result.maintenance_message,
        queue_size=result.queue_size,
        manual=observation.is_manual,
        observation_key=observation.key,
    )
    service.status = observation.status
    service.circuit_state = observation.breaker.state
    service.consecutive_failures = observation.breaker.consecutive_failures
    service.breaker_snapshot = observation.breaker.to_dict()
    service.hysteresis_snapshot = observation.hysteresis.to_dict()
    service.last_checked_at = result.checked_at
    if observation.next_check_at is not None:
        service.next_check_at = observation.next_check_at
    service.response_time_ms = result.response_time_ms
    service.last_failure_kind = check.failure_kind
    service.last_message = check.message
    if result.service_version:
        service.service_version = result.service_version
    event = None
    if observation.status_changed:
        service.status_changed_at = result.checked_at
        event = await StatusEvent.create(
            service_id=service_id,
            check_id=check.id,
            previous_status=observation.previous_status,
            status=observation.status,
            changed_at=result.checked_at,
        )
        await incidents.on_status_change(check, observation.status)
    await service.save()
    return check, event


async def _store_all(observations: list[Observation]) -> list[Written]:
    """Writes observations, then folds their checks into the rollups, inside the caller's transaction.

    A retried observation already stored (its COMMIT was applied although the answer was lost)
    is not written again: its stored row is returned, so it is announced, once."""
    stored = await _already_stored([observation.key for observation in observations if observation.retried])
    written = [stored.get(observation.key) or await _store(observation) for observation in observations]
    fresh = [w[0] for w, o in zip(written, observations, strict=True) if w is not None and o.key not in stored]
    await rollups.add_checks(fresh)
    return written


async def _already_stored(keys: list[str]) -> dict[str, Written]:
    if not keys:
        return {}
    checks = await HealthCheck.filter(observation_key__in=keys)
    if not checks:
        return {}
    events = {e.check_id: e for e in await StatusEvent.filter(check_id__in=[c.id for c in checks])}  # type: ignore[attr-defined]
    return {check.observation_key: (check, events.get(check.id)) for check in checks if check.observation_key}


async def _write(observations: list[Observation]) -> list[Written]:
    """`_store_all` in one transaction, run in a task of its own.

    Tortoise keeps the open transaction in a context variable and leaves it set when BEGIN
    itself fails (a database gone silent, ended by asyncpg's command timeout). In the recorder's
    long-lived task every later write would then become a savepoint of that dead transaction,
    and fail, until the process restarts. A task's copy of the context dies with the task.
    """

    async def transaction() -> list[Written]:
        async with in_transaction():
            return await _store_all(observations)

    return await asyncio.create_task(transaction(), name="batch-recorder-transaction")


async def _announce(broker: Broker, written: Written) -> None:
    if written is None:
        return
    check, event = written
    message = check_message(check)
    await broker.publish(message)
    if event is not None:
        await broker.publish(
            StatusChanged(
                seq=check.id,
                service_id=event.service_id,  # type: ignore[attr-defined]
                previous_status=event.previous_status,
                status=event.status,
                changed_at=event.changed_at,
                check=message,
            )
        )


async def record(broker: Broker, observation: Observation) -> HealthCheck | None:
    """One observation in its own transaction (manual checks outside the loop use this)."""
    async with in_transaction():
        (written,) = await _store_all([observation])
    await _announce(broker, written)
    return None if written is None else written[0]


class BatchRecorder:
    """The probe loop's `on_result`: queues observations and writes them in batches.

    `record` returns once its observation is committed (or raises why it was not), so the
    caller keeps the per-service order the loop guarantees, and `checkServiceHealth` gets its row.
    """

    def __init__(self, broker: Broker, *, max_batch: int = 200, linger_seconds: float = 0.01) -> None:
        self._broker = broker
        self._max_batch = max_batch
        self._linger = linger_seconds
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.stats = RecorderStats()

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._run(), name="batch-recorder")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._closing = True
        if self._task is not None:
            self._queue.put_nowait(_STOP)  # type: ignore[arg-type]
            await self._task

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    async def record(self, observation: Observation) -> HealthCheck | None:
        if self._closing or self._task is None or self._task.done():
            raise RecorderClosed("the recorder is closed")
        done: asyncio.Future[HealthCheck | None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((observation, done))
        return await asyncio.shield(done)

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is _STOP:
                break
            if self._linger > 0:
                await asyncio.sleep(self._linger)
            batch = [first]
            while len(batch) < self._max_batch and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            await self._flush(batch)
        leftovers = []
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is not _STOP:
                leftovers.append(item)
        if leftovers:
            await self._flush(leftovers)

    async def _flush(self, batch: list[_Pending]) -> None:
        self.stats.batches += 1
        self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
        try:
            written = await _write([observation for observation, _ in batch])
        except Exception as exc:  # the batch is retried row by row below, or handed back; logged
            self.stats.failed_batches += 1
            if is_unreachable(exc):
                log.warning("writing a batch of %d checks failed: the database is unreachable (%r)", len(batch), exc)
                self.stats.failed_checks += len(batch)
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                return
            log.exception("writing a batch of %d checks failed; retrying them one by one", len(batch))
            await self._flush_one_by_one(batch)
            return
        self.stats.checks_written += sum(1 for w in written if w is not None)
        for (_, done), row in zip(batch, written, strict=True):
            await self._deliver(done, row)

    async def _flush_one_by_one(self, batch: list[_Pending]) -> None:
        for observation, done in batch:
            try:
                (row,) = await _write([observation])
            except Exception as exc:  # handed to the waiting caller, which logs it with the service id
                self.stats.failed_checks += 1
                if not done.done():
                    done.set_exception(exc)
                continue
            self.stats.checks_written += row is not None
            await self._deliver(done, row)

    async def _deliver(self, done: asyncio.Future[HealthCheck | None], written: Written) -> None:
        try:
            await _announce(self._broker, written)
        except Exception:  # the check is stored; only its announcement is lost, and that is logged
            log.exception("publishing a recorded check failed")
        finally:
            if not done.done():
                done.set_result(None if written is None else written[0])


_STOP = object()


def check_message(check: HealthCheck) -> CheckRecorded:
    return CheckRecorded(
        seq=check.id,
        service_id=check.service_id,  # type: ignore[attr-defined]
        check_id=check.id,
        status=check.status,
        raw_status=check.raw_status,
        checked_at=check.checked_at,
        response_time_ms=check.response_time_ms,
        http_status=check.http_status,
        failure_kind=check.failure_kind,
        message=check.message,
        service_version=check.service_version,
    )


__all__ = ["BatchRecorder", "RecorderClosed", "check_message", "is_unreachable", "record"]
