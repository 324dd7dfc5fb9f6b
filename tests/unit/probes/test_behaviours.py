"""Every adapter against every simulator misbehaviour: one table, real servers on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest

from probes.adapter import adapter_for
from probes.http import HttpLimits
from probes.result import ApiType, FailureKind, HealthStatus, ProbeTarget
from simulators import (
    Behaviour,
    CloudgeneSimulator,
    RegistrySimulator,
    ServiceInfoSimulator,
    Simulator,
    WesSimulator,
)
from tests.fakes import serving

TOKEN = "good-token"
H, D, U, M = HealthStatus.HEALTHY, HealthStatus.DEGRADED, HealthStatus.UNHEALTHY, HealthStatus.MAINTENANCE

# adapter name -> (simulator factory, path of the base URL on the server, api type)
ADAPTERS: dict[str, tuple[Callable[[], Simulator], str, ApiType]] = {
    "cloudgene": (lambda: CloudgeneSimulator.michigan({TOKEN: "alice"}), "", ApiType.CLOUDGENE),
    "wes": (lambda: WesSimulator(tokens=frozenset({TOKEN})), "/ga4gh/wes/v1", ApiType.GA4GH_WES),
    "service_info": (lambda: ServiceInfoSimulator(tokens=frozenset({TOKEN})), "", ApiType.GA4GH_SERVICE_INFO),
    "registry": (lambda: RegistrySimulator(tokens=frozenset({TOKEN})), "", ApiType.GA4GH_SERVICE_REGISTRY),
    "dnastack": (
        lambda: RegistrySimulator.dnastack(tokens=frozenset({TOKEN})),
        "",
        ApiType.DNASTACK,
    ),  # base is the host: paths are scanned
}

# behaviour -> (credential to configure, expected status, expected kind); per-adapter overrides below
EXPECTED: dict[Behaviour, tuple[str | None, HealthStatus, FailureKind | None]] = {
    Behaviour.OK: (None, H, None),
    Behaviour.SLOW: (None, H, None),
    Behaviour.HANG: (None, U, FailureKind.TIMEOUT),
    Behaviour.HTTP_500: (None, U, FailureKind.HTTP_5XX),
    Behaviour.MAINTENANCE: (None, U, FailureKind.HTTP_5XX),
    Behaviour.MAINTENANCE_503: (None, U, FailureKind.HTTP_5XX),
    Behaviour.GARBAGE_HTML: (None, U, FailureKind.INVALID_RESPONSE),
    Behaviour.HUGE_BODY: (None, U, FailureKind.TOO_LARGE),
    Behaviour.ENDLESS_BODY: (None, U, FailureKind.TOO_LARGE),
    Behaviour.RESET: (None, U, FailureKind.INVALID_RESPONSE),
    Behaviour.UNAUTHORIZED: (None, H, None),
    Behaviour.FORBIDDEN: (TOKEN, D, FailureKind.AUTH),
    Behaviour.REJECT_TOKEN: (TOKEN, D, FailureKind.AUTH),
}
OVERRIDES = {
    ("cloudgene", Behaviour.MAINTENANCE): (None, M, None),
    ("cloudgene", Behaviour.MAINTENANCE_503): (None, M, None),
}
CASES = [(a, b) for a in ADAPTERS for b in Behaviour]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.mark.parametrize(("adapter_name", "behaviour"), CASES, ids=[f"{a}-{b.value}" for a, b in CASES])
async def test_adapter_reports_the_status_and_failure_kind_each_behaviour_deserves(
    http: aiohttp.ClientSession, adapter_name: str, behaviour: Behaviour
) -> None:
    make, path, api_type = ADAPTERS[adapter_name]
    credential, status, kind = OVERRIDES.get((adapter_name, behaviour), EXPECTED[behaviour])
    simulator = make()
    simulator.behaviour = behaviour
    simulator.delay_s = 0.2
    timeout_s = 0.5 if behaviour is Behaviour.HANG else 5.0
    async with serving(simulator, path) as base_url:
        target = ProbeTarget(base_url=base_url, api_type=api_type, credential=credential, timeout_seconds=timeout_s)
        result = await adapter_for(api_type).check(http, target, HttpLimits())

    assert (result.status, result.failure_kind) == (status, kind), result.message
    assert result.response_time_ms is not None
    if behaviour is Behaviour.SLOW:
        assert result.response_time_ms >= 200
    if behaviour is Behaviour.HANG:
        assert result.response_time_ms < 2000


@pytest.mark.parametrize("adapter_name", list(ADAPTERS))
async def test_adapter_discovers_capabilities_from_a_healthy_simulator(
    http: aiohttp.ClientSession, adapter_name: str
) -> None:
    make, path, api_type = ADAPTERS[adapter_name]
    async with serving(make(), path) as base_url:
        target = ProbeTarget(base_url=base_url, api_type=api_type, credential=TOKEN)
        found = await adapter_for(api_type).discover(http, target, HttpLimits())

    assert found.result.status is HealthStatus.HEALTHY, found.result.message
    assert found.capabilities is not None
