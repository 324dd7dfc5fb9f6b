"""`GET /metrics` after a real outage: the Prometheus figures agree with what GraphQL says."""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
import uvicorn
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from app import create_app
from config import Settings
from simulators import Behaviour, CloudgeneSimulator
from tests.fakes import serving
from tests.integration.conftest import LiveVigil, make_settings

REGISTER = """
mutation($name: String!, $url: String!) {
  registerService(input: {name: $name, type: MICHIGAN, apiType: CLOUDGENE, baseUrl: $url, checkIntervalSeconds: 1,
                          timeoutSeconds: 1}) { service { id } }
}"""
CHECKS = "subscription MetricsTestChecks { healthChecked { seq serviceId status failureKind } }"
FIGURES = """
query MetricsTestFigures($id: ID!) {
  service(id: $id) { status circuitState uptime(window: LAST_24_HOURS) }
  healthHistory(serviceId: $id, first: 100) { totalCount nodes { status failureKind } }
}"""

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@contextlib.asynccontextmanager
async def serve_fresh(settings: Settings) -> AsyncIterator[str]:
    """Like conftest.serve, with the fleet re-read at every scrape (no 15 s reuse) so figures compare."""
    app = create_app(settings)
    app.state.metrics.refresh_seconds = 0
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(20):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("uvicorn stopped before it started")
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        async with asyncio.timeout(20):
            await task


@pytest.fixture
async def watching(database_url: str, tmp_path: pathlib.Path) -> AsyncIterator[LiveVigil]:
    settings = make_settings(
        database_url, tmp_path, probes_enabled=True, min_check_interval_seconds=1, anonymous_read=True
    )
    async with serve_fresh(settings) as url, aiohttp.ClientSession() as http:
        yield LiveVigil(url=url, http=http, settings=settings)


async def scrape(live: LiveVigil) -> Samples:
    async with live.http.get(f"{live.url}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        text = await response.text()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, metric: str, **labels: str) -> float | None:
    return samples.get((metric, frozenset(labels.items())))


def total(samples: Samples, metric: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, have), v in samples.items() if n == metric and wanted <= have)


@contextlib.asynccontextmanager
async def checks(live: LiveVigil) -> AsyncIterator[Callable[[Callable[[dict[str, Any]], bool]], Any]]:
    """healthChecked over graphql-transport-ws; yields `until(predicate)`, which reads up to a match."""
    async with live.http.ws_connect(live.ws_url, protocols=["graphql-transport-ws"]) as ws:
        await ws.send_json({"type": "connection_init", "payload": {}})
        async with asyncio.timeout(10):
            assert (await ws.receive_json())["type"] == "connection_ack"
        await ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": CHECKS}})

        async def until(done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
            async with asyncio.timeout(20):
                while True:
                    message = await ws.receive_json()
                    assert message["type"] == "next", message
                    check = message["payload"]["data"]["healthChecked"]
                    if done(check):
                        return check

        yield until


async def test_metrics_agree_with_graphql_after_an_outage(watching: LiveVigil) -> None:
    fake = CloudgeneSimulator()
    async with serving(fake) as url, checks(watching) as until:
        answer = await watching.gql(REGISTER, {"name": "Fake MIS", "url": url})
        sid = answer["data"]["registerService"]["service"]["id"]
        await until(lambda check: check["serviceId"] == sid and check["status"] == "HEALTHY")
        fake.behaviour = Behaviour.HTTP_500
        await until(lambda check: check["serviceId"] == sid and check["status"] == "UNHEALTHY")

        during = await scrape(watching)
        figures = (await watching.gql(FIGURES, {"id": sid}, role=None))["data"]
        assert figures["service"]["status"] == "UNHEALTHY"
        assert value(during, "vigil_service_status", service_id=sid, status="UNHEALTHY") == 1
        assert total(during, "vigil_service_status", service_id=sid) == 1, "one-hot"
        assert (
            value(during, "vigil_service_circuit_state", service_id=sid, state=figures["service"]["circuitState"]) == 1
        )
        assert value(during, "vigil_graphql_subscriptions_active", operation_name="MetricsTestChecks") == 1
        assert value(during, "vigil_websocket_connections") == 1
        assert value(during, "vigil_probe_watched_services") == 1
        assert (
            value(during, "vigil_service_info", service_id=sid, name="Fake MIS", type="MICHIGAN", api_type="CLOUDGENE")
            == 1
        )

        fake.behaviour = Behaviour.OK
        await until(lambda check: check["serviceId"] == sid and check["status"] == "HEALTHY")
        stop = "mutation($id: ID!) { updateService(id: $id, input: {isActive: false}) { service { isActive } } }"
        assert (await watching.gql(stop, {"id": sid}))["data"]["updateService"]["service"]["isActive"] is False

    after = await scrape(watching)
    figures = (await watching.gql(FIGURES, {"id": sid}, role=None))["data"]
    history = figures["healthHistory"]
    assert total(after, "vigil_checks_total") == history["totalCount"]
    failed = sum(1 for node in history["nodes"] if node["failureKind"] == "HTTP_5XX")
    assert failed >= 2
    assert total(after, "vigil_checks_total", failure_kind="HTTP_5XX") == failed
    unhealthy = sum(1 for node in history["nodes"] if node["status"] == "UNHEALTHY")
    assert total(after, "vigil_checks_total", status="UNHEALTHY") == unhealthy
    assert value(after, "vigil_probe_duration_seconds_count", api_type="CLOUDGENE") == history["totalCount"]
    assert value(after, "vigil_service_status", service_id=sid, status="HEALTHY") == 1
    assert value(after, "vigil_service_uptime_ratio", service_id=sid) == pytest.approx(figures["service"]["uptime"])
    assert value(after, "vigil_history_checks_written_total") == history["totalCount"]
    assert (value(after, "vigil_history_batches_total") or 0) >= 1
    assert value(after, "vigil_history_queue_depth") == 0
    assert (value(after, "vigil_events_published_total") or 0) >= history["totalCount"]
    assert value(after, "vigil_websocket_connections") == 0
    assert value(after, "vigil_graphql_subscriptions_active", operation_name="MetricsTestChecks") == 0
    assert (
        value(after, "vigil_graphql_operations_total", operation_type="query", operation_name="MetricsTestFigures") or 0
    ) >= 1


async def test_graphql_errors_are_counted_by_code(watching: LiveVigil) -> None:
    await watching.raw("query Broken { nope }")
    await watching.raw("query Missing { service(id: 999999) { name } }")
    samples = await scrape(watching)
    errors = value(
        samples,
        "vigil_graphql_errors_total",
        operation_type="query",
        operation_name="Broken",
        code="GRAPHQL_VALIDATION_FAILED",
    )
    assert errors == 1
    assert (
        value(
            samples, "vigil_graphql_operation_duration_seconds_count", operation_type="query", operation_name="Missing"
        )
        == 1
    )


async def test_metrics_live_in_each_app_s_own_registry(watching: LiveVigil, tmp_path: pathlib.Path) -> None:
    second = create_app(make_settings(f"sqlite://{tmp_path / 'other.db'}", tmp_path))  # no clash at creation
    await watching.raw("query OnlyTheFirst { services { totalCount } }")
    samples = await scrape(watching)
    assert value(samples, "vigil_graphql_operations_total", operation_type="query", operation_name="OnlyTheFirst") == 1
    assert b"OnlyTheFirst" not in generate_latest(second.state.metrics.registry)
    assert b"vigil_" not in generate_latest(REGISTRY), "nothing goes to the global default registry"
