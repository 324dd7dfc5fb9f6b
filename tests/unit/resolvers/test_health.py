"""checkServiceHealth with the probe loop off and on: one stored, manual check either way."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import AsyncIterator

import pytest

from models import HealthCheck, Service, StatusEvent
from probes.adapter import check
from probes.clock import ManualClock
from probes.observation import Observation
from probes.result import ApiType, CircuitState, FailureKind, HealthStatus, ProbeResult, ProbeTarget
from probes.supervisor import ProbeSupervisor
from resolvers.deps import Deps
from resolvers.errors import NotFound, VigilError
from resolvers.health import check_service_health
from resolvers.recording import record
from simulators import Behaviour, CloudgeneSimulator
from tests.fakes import free_port, serving
from tests.unit.resolvers.conftest import ADMIN, add_service


def supervisor_for(deps: Deps, on_result: object = None) -> ProbeSupervisor:
    """The app's loop, on a ManualClock that never moves: only `check_now` ever probes."""

    async def probe(target: ProbeTarget) -> ProbeResult:
        return await check(deps.http, target, deps.limits)

    sink = on_result if on_result is not None else functools.partial(record, deps.broker)
    return ProbeSupervisor(probe, sink, clock=ManualClock())  # type: ignore[arg-type]


@pytest.fixture
async def looping(deps: Deps) -> AsyncIterator[Deps]:
    async with supervisor_for(deps) as supervisor:
        yield dataclasses.replace(deps, supervisor=supervisor)


async def test_without_the_loop_a_check_is_probed_stored_and_published(deps: Deps) -> None:
    async with serving(CloudgeneSimulator.michigan()) as url:
        service_id = await add_service(deps, url)
        published_before = deps.broker.stats.published  # registering announced a RegistryChanged
        stored = await check_service_health(deps, service_id, ADMIN)

    assert (stored.manual, stored.status, stored.raw_status) == (True, HealthStatus.HEALTHY, HealthStatus.HEALTHY)
    assert stored.http_status == 200
    assert await HealthCheck.filter(service_id=service_id).count() == 1
    service = await Service.get(id=service_id)
    assert (service.status, service.last_checked_at) == (HealthStatus.HEALTHY, stored.checked_at)
    assert await StatusEvent.filter(service_id=service_id, check_id=stored.id).exists()
    # the check, the change from UNKNOWN, and the notice that lets an owning replica resume from it
    assert deps.broker.stats.published - published_before == 3


async def test_without_the_loop_an_unreachable_service_is_stored_as_unhealthy(deps: Deps) -> None:
    service_id = await add_service(deps, f"http://127.0.0.1:{free_port()}")
    stored = await check_service_health(deps, service_id, ADMIN)

    assert (stored.status, stored.failure_kind) == (HealthStatus.UNHEALTHY, FailureKind.CONNECT.value)


async def test_without_the_loop_the_stored_hysteresis_and_breaker_carry_on(deps: Deps) -> None:
    sim = CloudgeneSimulator.michigan()
    async with serving(sim) as url:
        service_id = await add_service(deps, url)
        await check_service_health(deps, service_id, ADMIN)
        sim.behaviour = Behaviour.HTTP_500
        first_failure = await check_service_health(deps, service_id, ADMIN)
        second_failure = await check_service_health(deps, service_id, ADMIN)

    assert (first_failure.raw_status, first_failure.status) == (HealthStatus.UNHEALTHY, HealthStatus.HEALTHY)
    assert second_failure.status is HealthStatus.UNHEALTHY  # two in a row move the published status
    service = await Service.get(id=service_id)
    assert service.consecutive_failures == 2
    assert service.breaker_snapshot is not None and service.breaker_snapshot["window"][-2:] == [False, False]


async def test_with_the_loop_a_watched_service_is_checked_with_its_live_state(looping: Deps) -> None:
    assert looping.supervisor is not None
    async with serving(CloudgeneSimulator.michigan()) as url:
        service_id = await add_service(looping, url)
        stored = await check_service_health(looping, service_id, ADMIN)

    assert service_id in looping.supervisor.watched()
    assert looping.supervisor.stats.checks_total == 1
    assert (stored.manual, stored.status) == (True, HealthStatus.HEALTHY)
    service = await Service.get(id=service_id)
    assert (service.status, service.circuit_state) == (HealthStatus.HEALTHY, CircuitState.CLOSED)
    assert service.next_check_at is not None


async def test_with_the_loop_an_inactive_service_is_checked_from_its_row(looping: Deps) -> None:
    assert looping.supervisor is not None
    async with serving(CloudgeneSimulator.michigan()) as url:
        service_id = await add_service(looping, url, is_active=False)
        stored = await check_service_health(looping, service_id, ADMIN)

    assert service_id not in looping.supervisor.watched()
    assert (stored.manual, stored.status) == (True, HealthStatus.HEALTHY)
    assert (await Service.get(id=service_id)).next_check_at is None


async def test_a_check_that_cannot_be_stored_is_an_internal_error(deps: Deps) -> None:
    async def broken_storage(observation: Observation) -> None:
        raise RuntimeError("disk full")

    async with serving(CloudgeneSimulator.michigan()) as url, supervisor_for(deps, broken_storage) as loop:
        service_id = await add_service(deps, url, api_type=ApiType.CLOUDGENE)
        with pytest.raises(VigilError) as caught:
            await check_service_health(dataclasses.replace(deps, supervisor=loop), service_id, ADMIN)

    assert caught.value.extensions == {"code": "INTERNAL_SERVER_ERROR"}
    assert "disk full" not in caught.value.message


async def test_checking_an_unknown_service_is_not_found_on_the_service_id(deps: Deps) -> None:
    with pytest.raises(NotFound) as caught:
        await check_service_health(deps, 404, ADMIN)

    assert caught.value.extensions == {"code": "NOT_FOUND", "field": "serviceId"}
