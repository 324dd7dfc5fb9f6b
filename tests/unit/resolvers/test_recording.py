"""The batch recorder: many checks, few transactions, nothing lost at shutdown, order kept."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

import pytest

from events.messages import CheckRecorded, StatusChanged
from models import HealthCheck, Service, StatusEvent
from probes.adapter import check
from probes.breaker import BreakerSnapshot
from probes.hysteresis import HysteresisSnapshot
from probes.observation import Observation
from probes.result import ApiType, HealthStatus, ProbeResult, ProbeTarget
from resolvers.deps import Deps
from resolvers.recording import BatchRecorder, RecorderClosed, record
from simulators import CloudgeneSimulator
from tests.fakes import serving
from tests.unit.resolvers.conftest import add_service

T0 = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)


def observation(service_id: int, n: int, status: HealthStatus, previous: HealthStatus) -> Observation:
    return Observation(
        target=ProbeTarget(base_url="https://x.example", api_type=ApiType.CLOUDGENE, service_id=service_id),
        result=ProbeResult(status=status, checked_at=T0 + dt.timedelta(seconds=n), response_time_ms=12.5),
        status=status,
        previous_status=previous,
        status_changed=status != previous,
        breaker=BreakerSnapshot(),
        hysteresis=HysteresisSnapshot(published=status),
        next_check_at=T0 + dt.timedelta(seconds=n + 30),
    )


async def test_concurrent_checks_are_written_in_few_batches_and_announced(deps: Deps) -> None:
    ids = [await add_service(deps, f"https://s{i}.example", name=f"S{i}") for i in range(40)]
    async with deps.broker.subscribe(CheckRecorded, StatusChanged, queue_size=1000) as events:
        async with BatchRecorder(deps.broker) as recorder:
            rows = await asyncio.gather(
                *(recorder.record(observation(sid, 0, HealthStatus.HEALTHY, HealthStatus.UNKNOWN)) for sid in ids)
            )
        assert all(row is not None for row in rows)
        assert recorder.stats.checks_written == 40
        assert recorder.stats.batches < 10, recorder.stats
        received = []
        async with asyncio.timeout(5):
            while len(received) < 80:
                received.append(await anext(events))
    assert sum(isinstance(e, StatusChanged) for e in received) == 40
    assert await HealthCheck.all().count() == 40
    assert await StatusEvent.all().count() == 40
    service = await Service.get(id=ids[0])
    assert service.status is HealthStatus.HEALTHY and service.next_check_at == T0 + dt.timedelta(seconds=30)


async def test_one_service_keeps_its_order_and_only_changes_make_events(deps: Deps) -> None:
    sid = await add_service(deps, "https://one.example")
    statuses = [HealthStatus.HEALTHY, HealthStatus.HEALTHY, HealthStatus.UNHEALTHY, HealthStatus.HEALTHY]
    async with BatchRecorder(deps.broker) as recorder:
        previous = HealthStatus.UNKNOWN
        for n, status in enumerate(statuses):
            await recorder.record(observation(sid, n, status, previous))
            previous = status
    checks = await HealthCheck.filter(service_id=sid).order_by("id")
    assert [c.status for c in checks] == statuses
    changes = await StatusEvent.filter(service_id=sid).order_by("id")
    assert [(c.previous_status, c.status) for c in changes] == [
        (HealthStatus.UNKNOWN, HealthStatus.HEALTHY),
        (HealthStatus.HEALTHY, HealthStatus.UNHEALTHY),
        (HealthStatus.UNHEALTHY, HealthStatus.HEALTHY),
    ]


async def test_a_check_written_again_after_an_uncertain_failure_is_stored_and_announced_once(deps: Deps) -> None:
    """A COMMIT that timed out may have been applied: the retried write finds the stored row by
    the observation key, changes nothing, and announces that row (its first announcement was lost)."""
    sid = await add_service(deps, "https://once.example")
    change = observation(sid, 0, HealthStatus.UNHEALTHY, HealthStatus.UNKNOWN)
    async with BatchRecorder(deps.broker) as recorder:
        first = await recorder.record(change)
        later = await recorder.record(observation(sid, 1, HealthStatus.UNHEALTHY, HealthStatus.UNHEALTHY))
        async with deps.broker.subscribe(StatusChanged) as events:
            again = await recorder.record(dataclasses.replace(change, retried=True))  # as the buffer sends it
            async with asyncio.timeout(5):
                announced = await anext(events)
    assert first is not None and again is not None and later is not None
    assert again.id == first.id
    assert await HealthCheck.filter(service_id=sid).count() == 2
    assert await StatusEvent.filter(service_id=sid).count() == 1
    assert isinstance(announced, StatusChanged) and announced.seq == first.id
    service = await Service.get(id=sid)
    assert service.last_checked_at == later.checked_at  # the older copy did not roll the state back


async def test_a_server_sending_nul_and_lone_surrogates_still_gets_its_checks_stored(deps: Deps) -> None:
    """PostgreSQL refuses NUL in text and no UTF-8 store takes a lone surrogate: unless the probe
    cleans them, one such string fails every write of the service (found by fuzzing the parsers)."""
    simulator = CloudgeneSimulator(app_version="2.0\u0000.12\ud800", tokens={"token-of-a-user": "user"})
    async with serving(simulator) as url:
        sid = await add_service(deps, url)
        target = ProbeTarget(base_url=url, api_type=ApiType.CLOUDGENE, credential="token-of-a-user", service_id=sid)
        healthy = await check(deps.http, target, deps.limits)
        simulator.maintenance, simulator.maintenance_message = True, "<p>back\u0000 soon</p>"
        maintenance = await check(deps.http, target, deps.limits)
    for n, result in enumerate((healthy, maintenance)):
        base = observation(sid, n, result.status, HealthStatus.UNKNOWN if n == 0 else healthy.status)
        assert await record(deps.broker, dataclasses.replace(base, result=result)) is not None
    stored = await HealthCheck.filter(service_id=sid).order_by("id")
    assert [c.service_version for c in stored] == ["2.0\ufffd.12\ufffd"] * 2
    assert stored[1].maintenance_message == "<p>back\ufffd soon</p>"


async def test_closing_writes_everything_already_handed_over(deps: Deps) -> None:
    ids = [await add_service(deps, f"https://c{i}.example", name=f"C{i}") for i in range(10)]
    recorder = BatchRecorder(deps.broker, linger_seconds=0.2)
    await recorder.__aenter__()
    pending = [
        asyncio.create_task(recorder.record(observation(sid, 0, HealthStatus.HEALTHY, HealthStatus.UNKNOWN)))
        for sid in ids
    ]
    await asyncio.sleep(0)  # the tasks hand their observations over
    await recorder.__aexit__(None, None, None)
    assert await HealthCheck.all().count() == 10, "written before close returned"
    async with asyncio.timeout(1):
        rows = await asyncio.gather(*pending)
    assert all(row is not None for row in rows)
    with pytest.raises(RecorderClosed):
        await recorder.record(observation(ids[0], 1, HealthStatus.HEALTHY, HealthStatus.HEALTHY))


async def test_a_deleted_service_does_not_spoil_the_batch(deps: Deps) -> None:
    kept = await add_service(deps, "https://kept.example", name="Kept")
    gone = await add_service(deps, "https://gone.example", name="Gone")
    await Service.filter(id=gone).delete()
    async with BatchRecorder(deps.broker) as recorder:
        rows = await asyncio.gather(
            recorder.record(observation(kept, 0, HealthStatus.HEALTHY, HealthStatus.UNKNOWN)),
            recorder.record(observation(gone, 0, HealthStatus.HEALTHY, HealthStatus.UNKNOWN)),
        )
    assert rows[0] is not None and rows[1] is None
    assert await HealthCheck.all().count() == 1
