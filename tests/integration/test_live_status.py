"""The probe loop feeding statusChanged/healthChecked over real WebSockets, against a real fake."""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport
from websockets.exceptions import ConnectionClosed

from models import Role, StatusEvent
from simulators import Behaviour, CloudgeneSimulator
from tests.fakes import serving
from tests.integration.conftest import LiveVigil, make_settings, running

STATUS_CHANGED = """
subscription($ids: [ID!]) {
  statusChanged(serviceIds: $ids) {
    seq serviceId previousStatus status changedAt check { id status failureKind } service { name status }
  }
}"""
HEALTH_CHECKED = "subscription($ids: [ID!]) { healthChecked(serviceIds: $ids) { id serviceId status rawStatus } }"
REGISTER = """
mutation($name: String!, $url: String!) {
  registerService(input: {name: $name, type: MICHIGAN, apiType: CLOUDGENE, baseUrl: $url, checkIntervalSeconds: 1,
                          timeoutSeconds: 1}) { service { id } }
}"""


@pytest.fixture
async def watching(database_url: str, tmp_path: pathlib.Path) -> AsyncIterator[LiveVigil]:
    """Vigil with its probe loop on, checking every second."""
    settings = make_settings(database_url, tmp_path, probes_enabled=True, min_check_interval_seconds=1)
    async with running(settings) as vigil:
        yield vigil


def transport(live: LiveVigil, token: str | None, subprotocol: str) -> WebsocketsTransport:
    payload = {"Authorization": f"Bearer {token}"} if token else {}
    return WebsocketsTransport(url=live.ws_url, init_payload=payload, subprotocols=[subprotocol])


@contextlib.asynccontextmanager
async def subscription(
    live: LiveVigil, query: str, variables: dict[str, Any], subprotocol: str = WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL
) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
    """Events of one subscription, collected in a queue by a task this context owns."""
    received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    ready = asyncio.Event()
    token = await live.token(Role.VIEWER)

    async def pump() -> None:
        async with Client(transport=transport(live, token, subprotocol)) as session:
            request = GraphQLRequest(query, variable_values=variables)
            generator = session.subscribe(request)
            ready.set()
            async for event in generator:
                await received.put(event)

    task = asyncio.create_task(pump())
    try:
        async with asyncio.timeout(10):
            await ready.wait()
        # The subscribe message is on the wire once the first check event arrives for anything;
        # registering afterwards (see the tests) keeps the subscription ahead of the changes.
        await asyncio.sleep(0)
        yield received
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
            await task


async def next_event(queue: asyncio.Queue[dict[str, Any]], seconds: float = 15) -> dict[str, Any]:
    async with asyncio.timeout(seconds):
        return await queue.get()


async def register(live: LiveVigil, name: str, url: str) -> str:
    answer = await live.gql(REGISTER, {"name": name, "url": url})
    return answer["data"]["registerService"]["service"]["id"]


async def checks_until(queue: asyncio.Queue[dict[str, Any]], done: Callable[[dict[str, Any]], bool]) -> int:
    """Reads healthChecked events until one satisfies `done`; returns how many were read."""
    count = 0
    while True:
        count += 1
        if done((await next_event(queue))["healthChecked"]):
            return count


@pytest.mark.parametrize(
    "subprotocol", [WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL, WebsocketsTransport.APOLLO_SUBPROTOCOL]
)
async def test_a_failing_service_produces_exactly_one_status_change_after_hysteresis(
    watching: LiveVigil, subprotocol: str
) -> None:
    fake = CloudgeneSimulator()
    async with serving(fake) as url, subscription(watching, HEALTH_CHECKED, {"ids": None}, subprotocol) as checks:
        sid = await register(watching, "Fake MIS", url)
        await checks_until(checks, lambda check: check["status"] == "HEALTHY")
        async with subscription(watching, STATUS_CHANGED, {"ids": [sid]}, subprotocol) as changes:
            await checks_until(checks, lambda check: True)  # the status subscription is live now
            fake.behaviour = Behaviour.HTTP_500
            first_failure = await next_event(checks)
            assert first_failure["healthChecked"]["rawStatus"] == "UNHEALTHY"
            assert first_failure["healthChecked"]["status"] == "HEALTHY", "one failure must not flip it"
            change = (await next_event(changes))["statusChanged"]
            assert (change["previousStatus"], change["status"]) == ("HEALTHY", "UNHEALTHY")
            assert change["check"]["failureKind"] == "HTTP_5XX"
            assert change["service"]["status"] == "UNHEALTHY"
            await checks_until(checks, lambda check: int(check["id"]) >= change["seq"] + 2)
            assert changes.empty(), "further failures are checks, not changes"
            fake.behaviour = Behaviour.OK
            recovered = (await next_event(changes))["statusChanged"]
            assert (recovered["previousStatus"], recovered["status"]) == ("UNHEALTHY", "HEALTHY")
            assert recovered["seq"] > change["seq"]
    events = await StatusEvent.filter(service_id=int(sid)).order_by("id")
    assert [(e.previous_status, e.status) for e in events] == [
        ("UNKNOWN", "HEALTHY"),
        ("HEALTHY", "UNHEALTHY"),
        ("UNHEALTHY", "HEALTHY"),
    ]


async def test_a_subscriber_filtered_to_another_service_receives_nothing(watching: LiveVigil) -> None:
    watched, other = CloudgeneSimulator(), CloudgeneSimulator()
    async with serving(watched) as watched_url, serving(other) as other_url:
        async with subscription(watching, HEALTH_CHECKED, {"ids": None}) as checks:
            watched_id = await register(watching, "Watched", watched_url)
            other_id = await register(watching, "Other", other_url)
            seen = set()
            while seen != {watched_id, other_id}:
                seen.add((await next_event(checks))["healthChecked"]["serviceId"])
        async with subscription(watching, HEALTH_CHECKED, {"ids": [watched_id]}) as filtered:
            for _ in range(4):
                assert (await next_event(filtered))["healthChecked"]["serviceId"] == watched_id


@pytest.mark.parametrize("payload", [{"Authorization": "Bearer vgl_wrong"}, {"Authorization": "Basic x"}, {}])
async def test_websocket_without_a_good_token_is_closed_with_4403(watching: LiveVigil, payload: dict) -> None:
    async with watching.http.ws_connect(watching.ws_url, protocols=["graphql-transport-ws"]) as ws:
        await ws.send_json({"type": "connection_init", "payload": payload})
        async with asyncio.timeout(10):
            message = await ws.receive()
        assert message.type == aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 4403


async def test_websocket_with_a_viewer_token_is_acknowledged(watching: LiveVigil) -> None:
    token = await watching.token(Role.VIEWER)
    async with watching.http.ws_connect(watching.ws_url, protocols=["graphql-transport-ws"]) as ws:
        await ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        async with asyncio.timeout(10):
            assert (await ws.receive_json())["type"] == "connection_ack"


async def test_a_subscriber_that_never_reads_does_not_delay_the_others(watching: LiveVigil) -> None:
    fake = CloudgeneSimulator()
    token = await watching.token(Role.VIEWER)
    init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
    subscribe = {"id": "1", "type": "subscribe", "payload": {"query": "subscription { healthChecked { id } }"}}
    async with (
        serving(fake) as url,
        watching.http.ws_connect(watching.ws_url, protocols=["graphql-transport-ws"]) as stalled,
    ):
        await stalled.send_json(init)
        await stalled.send_json(subscribe)  # ...and never reads again
        async with subscription(watching, HEALTH_CHECKED, {"ids": None}) as checks:
            await register(watching, "Busy", url)
            for _ in range(5):
                event = await next_event(checks, seconds=5)
                assert event["healthChecked"]["status"] in ("HEALTHY", "UNKNOWN")
