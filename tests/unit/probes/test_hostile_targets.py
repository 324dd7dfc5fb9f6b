"""A watched server is not trusted: bad certificates, trickled answers and resets end as
classified failures, on time and in bounded memory, and never hold up other services' checks.

Each server is real (asyncio on 127.0.0.1, see tests/fakes/hostile.py); each test fails if the
protection it names is removed (no TLS verification, no overall deadline, no cap on what is read).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import pathlib
import time
import tracemalloc
from collections.abc import AsyncIterator

import aiohttp
import pytest

from probes.adapter import check
from probes.http import HttpFailure, HttpLimits, HttpResponse, fetch
from probes.observation import Observation
from probes.result import ApiType, FailureKind, HealthStatus, ProbeResult, ProbeTarget
from probes.schedule import ScheduleSettings
from probes.supervisor import ProbeSupervisor, SupervisorSettings, WatchSpec
from simulators import ServiceInfoSimulator
from tests.fakes import serving
from tests.fakes.hostile import Handler, TestCA, answer_ok, hostile, reset_after, self_signed, trickle

# Generous for a loaded CI machine, yet far below any "it waited for the server" outcome.
MARGIN_S = 0.75


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def target(
    base_url: str, *, timeout_s: float = 5.0, verify_tls: bool = True, service_id: int | None = None
) -> ProbeTarget:
    return ProbeTarget(
        base_url=base_url,
        api_type=ApiType.GA4GH_SERVICE_INFO,
        timeout_seconds=timeout_s,
        verify_tls=verify_tls,
        service_id=service_id,
    )


async def timed_fetch(
    http: aiohttp.ClientSession, probe_target: ProbeTarget
) -> tuple[HttpResponse | HttpFailure, float]:
    started = time.perf_counter()
    async with asyncio.timeout(probe_target.timeout_seconds + 5):
        got = await fetch(http, probe_target, probe_target.base_url + "/service-info", HttpLimits())
    return got, time.perf_counter() - started


# Certificates ------------------------------------------------------------------------------


async def test_a_self_signed_certificate_is_a_tls_failure_unless_verification_is_off(
    http: aiohttp.ClientSession, tmp_path: pathlib.Path
) -> None:
    async with hostile(answer_ok, tls=self_signed().server_context(tmp_path)) as url:
        refused, elapsed_s = await timed_fetch(http, target(url, timeout_s=2))
        unverified, _ = await timed_fetch(http, target(url, timeout_s=2, verify_tls=False))
        result = await check(http, target(url, timeout_s=2), HttpLimits())

    assert isinstance(refused, HttpFailure)
    assert refused.kind is FailureKind.TLS
    assert "self-signed certificate" in refused.message
    assert elapsed_s < 2
    assert isinstance(unverified, HttpResponse) and unverified.status == 200
    assert (result.status, result.failure_kind) == (HealthStatus.UNHEALTHY, FailureKind.TLS)


async def test_an_expired_certificate_from_a_trusted_ca_is_a_tls_failure_that_names_the_expiry(
    tmp_path: pathlib.Path,
) -> None:
    ca = TestCA()
    now = dt.datetime.now(dt.UTC)
    expired = ca.issue(not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1))
    valid = ca.issue(not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=1))
    # The session owner decides which CAs a verified probe trusts (probes.http passes ssl=True).
    connector = aiohttp.TCPConnector(ssl=ca.client_context())
    async with aiohttp.ClientSession(connector=connector) as http:
        (tmp_path / "expired").mkdir()
        (tmp_path / "valid").mkdir()
        async with (
            hostile(answer_ok, tls=expired.server_context(tmp_path / "expired")) as stale,
            hostile(answer_ok, tls=valid.server_context(tmp_path / "valid")) as fresh,
        ):
            refused, elapsed_s = await timed_fetch(http, target(stale, timeout_s=2))
            accepted, _ = await timed_fetch(http, target(fresh, timeout_s=2))
            unverified, _ = await timed_fetch(http, target(stale, timeout_s=2, verify_tls=False))

    assert isinstance(accepted, HttpResponse), "the CA is trusted: only the expiry can be refused"
    assert isinstance(refused, HttpFailure)
    assert refused.kind is FailureKind.TLS
    assert "certificate has expired" in refused.message
    assert elapsed_s < 2
    assert isinstance(unverified, HttpResponse)


# Slow loris --------------------------------------------------------------------------------


SLOW_BODY_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n"


def endless_header() -> bytes:
    return b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 64


@pytest.mark.parametrize(
    "handler",
    [
        trickle(lambda: b" ", 0.2, head=SLOW_BODY_HEAD + b"{"),
        trickle(endless_header, 0.05),
    ],
    ids=["body-byte-every-200ms", "status-line-and-headers-byte-by-byte"],
)
async def test_a_slow_loris_server_ends_as_a_timeout_within_the_deadline_in_bounded_memory(
    http: aiohttp.ClientSession, handler: Handler
) -> None:
    async with hostile(handler) as url:
        tracemalloc.start()
        try:
            got, elapsed_s = await timed_fetch(http, target(url, timeout_s=1.0))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

    assert isinstance(got, HttpFailure)
    assert got.kind is FailureKind.TIMEOUT
    assert 1.0 <= elapsed_s < 1.0 + MARGIN_S
    assert peak < 1024 * 1024


async def test_a_slow_loris_service_does_not_keep_the_others_from_their_schedule(
    http: aiohttp.ClientSession,
) -> None:
    """Real clock: two healthy services every 0.3 s next to one that trickles its body forever."""
    interval_s, run_s = 0.3, 2.6
    seen: dict[int, list[tuple[float, ProbeResult]]] = {1: [], 2: [], 3: []}
    limits = HttpLimits()

    async def probe(probe_target: ProbeTarget) -> ProbeResult:
        return await check(http, probe_target, limits)

    async def on_result(observation: Observation) -> None:
        seen[observation.service_id].append((time.monotonic(), observation.result))

    settings = SupervisorSettings(
        timeout_margin_seconds=0.5,
        shutdown_grace_seconds=0.5,
        schedule=ScheduleSettings(
            default_interval_seconds=interval_s, min_interval_seconds=0.1, max_initial_offset_seconds=0
        ),
    )
    loris = trickle(lambda: b" ", 0.2, head=SLOW_BODY_HEAD + b"{")
    async with (
        serving(ServiceInfoSimulator()) as first,
        serving(ServiceInfoSimulator()) as second,
        hostile(loris) as slow,
    ):
        watches = [
            WatchSpec(target(first, service_id=1)),
            WatchSpec(target(second, service_id=2)),
            WatchSpec(target(slow, timeout_s=0.8, service_id=3)),
        ]
        async with ProbeSupervisor(probe, on_result, watches=watches, settings=settings):
            await asyncio.sleep(run_s)  # the schedule itself is under test: it needs real time to pass

    for service_id in (1, 2):
        times = [at for at, _ in seen[service_id]]
        assert all(result.status is HealthStatus.HEALTHY for _, result in seen[service_id])
        assert len(times) >= run_s / interval_s - 2, (service_id, len(times))
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert max(gaps) < interval_s + 0.5, (service_id, gaps)  # starved, a gap was ~1.3 s
    slow_results = [result for _, result in seen[3]]
    assert slow_results, "the slow service was checked"
    assert {result.failure_kind for result in slow_results} == {FailureKind.TIMEOUT}


# Resets ------------------------------------------------------------------------------------


async def test_a_connection_reset_mid_response_is_a_classified_failure(http: aiohttp.ClientSession) -> None:
    partial = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n" + b'{"name": "cut'
    async with hostile(reset_after(partial)) as url:
        got, elapsed_s = await timed_fetch(http, target(url, timeout_s=2))
        result = await check(http, target(url, timeout_s=2), HttpLimits())

    assert isinstance(got, HttpFailure)
    # The peer answered and then dropped the connection: by the classifier's rules that is a
    # broken response (INVALID_RESPONSE), not a failure to connect (CONNECT).
    assert got.kind is FailureKind.INVALID_RESPONSE
    assert "connection dropped" in got.message
    assert elapsed_s < 1
    assert (result.status, result.failure_kind) == (HealthStatus.UNHEALTHY, FailureKind.INVALID_RESPONSE)
