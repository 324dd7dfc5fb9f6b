"""A client is not trusted either: floods of sockets, subscriptions and crafted documents are
refused with a clear code, quickly, while everyone else keeps being served.

SQLite only: nothing here depends on the database, and each test starts a live Vigil.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import logging
import pathlib
import time
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from starlette.routing import Route

import app as app_module
from app import create_app
from models import Role, Service
from schema.view import VigilGraphQL
from simulators import CloudgeneSimulator
from tests.fakes import serving
from tests.integration.conftest import LiveVigil, make_settings, running

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

INIT_TIMEOUT_S = 1.0
TRANSPORT_WS = "graphql-transport-ws"
COUNT = "{ services { totalCount } }"
HEALTH_CHECKED = "subscription { healthChecked { serviceId status } }"
REGISTER = """
mutation($url: String!) {
  registerService(input: {name: "Target", type: MICHIGAN, apiType: CLOUDGENE, baseUrl: $url}) { service { id } }
}"""
CHECK = "mutation($id: ID!) { checkServiceHealth(serviceId: $id) { id } }"


@pytest.fixture
async def live(database_url: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LiveVigil]:
    """Vigil whose WebSockets must initialise within 1 s instead of 60 s, so floods clear quickly."""
    quick = functools.partial(VigilGraphQL, connection_init_wait_timeout=dt.timedelta(seconds=INIT_TIMEOUT_S))
    monkeypatch.setattr(app_module, "VigilGraphQL", quick)
    async with running(make_settings(database_url, tmp_path)) as vigil:
        yield vigil


def codes(answer: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in answer.get("errors", [])]


async def initialised(vigil: LiveVigil, http: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(vigil.ws_url, protocols=[TRANSPORT_WS])
    token = await vigil.token(Role.VIEWER)
    await ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
    async with asyncio.timeout(5):
        assert (await ws.receive_json())["type"] == "connection_ack"
    return ws


def subscribe(operation_id: str, query: str = HEALTH_CHECKED) -> str:
    return json.dumps({"id": operation_id, "type": "subscribe", "payload": {"query": query}})


def test_vigil_runs_with_strawberrys_websocket_bounds(tmp_path: pathlib.Path, database_url: str) -> None:
    """The bounds the tests below rely on; a strawberry upgrade that moves them fails here."""
    view = next(
        route.endpoint
        for route in create_app(make_settings(database_url, tmp_path)).routes
        if isinstance(route, Route) and route.path == "/graphql"
    )
    assert isinstance(view, VigilGraphQL)
    assert view.max_subscriptions_per_connection == 100
    assert view.connection_init_wait_timeout == dt.timedelta(seconds=60)


async def test_ten_thousand_subscriptions_on_one_socket_are_refused_beyond_the_bound_while_others_are_served(
    live: LiveVigil,
) -> None:
    bound = 100
    fake = CloudgeneSimulator()
    async with serving(fake) as url, aiohttp.ClientSession() as http:
        service_id = (await live.gql(REGISTER, {"url": url}))["data"]["registerService"]["service"]["id"]
        flooder = await initialised(live, http)
        started = time.perf_counter()
        tracemalloc.start()
        try:
            for n in range(10_000):
                await flooder.send_str(subscribe(str(n)))
            refused: list[dict[str, Any]] = []
            async with asyncio.timeout(20):
                while len(refused) < 10_000 - bound:
                    message = json.loads((await flooder.receive()).data)
                    assert message["type"] == "error", message
                    refused.append(message)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        elapsed_s = time.perf_counter() - started

        assert {m["payload"][0]["message"] for m in refused} == {"Subscription limit reached"}
        assert {int(m["id"]) for m in refused} == set(range(bound, 10_000)), "the first 100 were accepted"
        assert not flooder.closed
        assert elapsed_s < 10, elapsed_s
        assert peak < 64 * 1024 * 1024, peak

        # Meanwhile another client is answered over HTTP, and its own subscription works.
        assert codes(await live.gql(COUNT, role=Role.VIEWER)) == []
        other = await initialised(live, http)
        await other.send_str(subscribe("mine"))
        event = None
        async with asyncio.timeout(10):
            while event is None:  # the subscription is live once a check reaches it: check until one does
                assert codes(await live.gql(CHECK, {"id": service_id})) == []
                with_deadline = asyncio.timeout(0.5)
                try:
                    async with with_deadline:
                        event = await other.receive_json()
                except TimeoutError:
                    if not with_deadline.expired():
                        raise
        assert event["type"] == "next" and event["id"] == "mine"
        assert event["payload"]["data"]["healthChecked"]["serviceId"] == service_id
        # ...and the flooder's 100 accepted subscriptions are live too, not just counted.
        async with asyncio.timeout(5):
            assert (await flooder.receive_json())["type"] == "next"
        await other.close()
        await flooder.close()


async def test_a_flood_of_silent_connections_is_closed_with_4408_while_queries_are_answered(
    live: LiveVigil,
) -> None:
    port = int(live.url.rsplit(":", 1)[1])
    # Its own session: aiohttp's default pool of 100 connections would queue the flood.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as flood:
        started = time.perf_counter()
        idle_tcp = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port) for _ in range(300)))
        sockets = await asyncio.gather(*(flood.ws_connect(live.ws_url, protocols=[TRANSPORT_WS]) for _ in range(500)))

        for _ in range(10):
            asked = time.perf_counter()
            assert codes(await live.gql(COUNT, role=Role.VIEWER)) == []
            assert time.perf_counter() - asked < 1

        async def closing(ws: aiohttp.ClientWebSocketResponse) -> tuple[aiohttp.WSMsgType, int | None]:
            message = await ws.receive()
            return message.type, ws.close_code

        async with asyncio.timeout(INIT_TIMEOUT_S + 10):
            closes = await asyncio.gather(*(closing(ws) for ws in sockets))
        elapsed_s = time.perf_counter() - started
        assert set(closes) == {(aiohttp.WSMsgType.CLOSE, 4408)}
        assert INIT_TIMEOUT_S <= elapsed_s < INIT_TIMEOUT_S + 10
        assert codes(await live.gql(COUNT, role=Role.VIEWER)) == [], "still answering after the flood"
        for _, writer in idle_tcp:
            writer.close()
            await writer.wait_closed()


async def test_a_websocket_from_another_origin_is_refused_before_it_opens(live: LiveVigil) -> None:
    """A page on another site cannot use a visitor's browser to subscribe (VIGIL_ALLOWED_ORIGINS is empty)."""
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await live.http.ws_connect(live.ws_url, protocols=[TRANSPORT_WS], origin="http://evil.example")
    assert refused.value.status == 403
    same_origin = await live.http.ws_connect(live.ws_url, protocols=[TRANSPORT_WS], origin=live.url)
    await same_origin.close()


async def test_a_batched_request_is_refused_and_none_of_its_operations_runs(live: LiveVigil) -> None:
    token = await live.token(Role.ADMIN)
    batch = [{"query": REGISTER, "variables": {"url": f"https://s{n}.example"}} for n in range(3)]
    async with live.http.post(live.graphql_url, json=batch, headers={"Authorization": f"Bearer {token}"}) as response:
        assert response.status == 400
        assert await response.text() == "Batching is not enabled"
    assert await Service.all().count() == 0


async def test_a_query_over_get_is_refused_so_a_link_cannot_run_one(live: LiveVigil) -> None:
    token = await live.token(Role.VIEWER)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    async with live.http.get(live.graphql_url, params={"query": COUNT}, headers=headers) as response:
        assert response.status == 400
        assert await response.text() == "queries are not allowed when using GET"


def bomb(levels: int) -> str:
    """Each fragment spreads the one before it twice: `levels` fragments select 2^(levels-1) fields."""
    fragments = ["fragment F0 on ServiceConnection { totalCount }"]
    fragments += [f"fragment F{n} on ServiceConnection {{ ...F{n - 1} ...F{n - 1} }}" for n in range(1, levels)]
    return f"query {{ services {{ ...F{levels - 1} }} }} " + " ".join(fragments)


def cyclic(size: int) -> str:
    """`size` fragments that each spread all the others: every order of them is a cycle."""
    fragments = [
        f"fragment F{n} on ServiceConnection {{ totalCount {' '.join(f'...F{m}' for m in range(size) if m != n)} }}"
        for n in range(size)
    ]
    return "query { services { ...F0 } } " + " ".join(fragments)


def chain(length: int) -> str:
    fragments = ["fragment F0 on ServiceConnection { totalCount }"]
    fragments += [f"fragment F{n} on ServiceConnection {{ ...F{n - 1} }}" for n in range(1, length)]
    return f"query {{ services {{ ...F{length - 1} }} }} " + " ".join(fragments)


# Without MaxExpandedFields (schema/limits.py), each of these blocked the event loop: bomb(21)
# ~4.5 s (bomb(29), a 2 KB document, for hours), cyclic(9) ~1 s (cyclic(12) for many minutes), and
# chain(300) raised a RecursionError that reached the client. The sizes are kept small so that a
# regression fails on the time limit instead of hanging the suite.
@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            "query { services { ...A } } fragment A on ServiceConnection { ...B } "
            "fragment B on ServiceConnection { ...A }",
            "Cannot spread fragment 'A' within itself via 'B'.",
        ),
        (cyclic(9), "Cannot spread fragment 'F0' within itself via 'F1'."),
        (bomb(21), "the document selects more than 10000 fields once its fragments are inlined"),
        (chain(300), "Validation aborted."),
    ],
    ids=["circular", "cyclic-bomb", "fragment-bomb", "deep-chain"],
)
async def test_circular_and_exploding_fragments_are_refused_quickly_as_validation_errors_without_a_trace(
    live: LiveVigil, caplog: pytest.LogCaptureFixture, document: str, message: str
) -> None:
    started = time.perf_counter()
    with caplog.at_level(logging.ERROR):
        answer = await live.gql(document, role=Role.VIEWER)
    elapsed_s = time.perf_counter() - started

    assert answer["data"] is None
    assert answer["errors"][0]["message"] == message
    assert set(codes(answer)) == {"GRAPHQL_VALIDATION_FAILED"}
    assert "Traceback" not in json.dumps(answer) and "Error:" not in json.dumps(answer)
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert elapsed_s < 1, elapsed_s
    assert codes(await live.gql(COUNT, role=Role.VIEWER)) == []


async def test_every_operation_on_a_websocket_takes_from_the_rate_limit(
    database_url: str, tmp_path: pathlib.Path
) -> None:
    settings = make_settings(database_url, tmp_path, rate_limit_per_minute=5)
    async with running(settings) as vigil, aiohttp.ClientSession() as http:
        ws = await initialised(vigil, http)
        answers = []
        for n in range(8):
            await ws.send_json({"id": str(n), "type": "subscribe", "payload": {"query": COUNT}})
            async with asyncio.timeout(5):
                message = await ws.receive_json()
                if message["type"] == "next":
                    assert (await ws.receive_json())["type"] == "complete"
            answers.append(message["payload"])
        await ws.close()
        limited = [codes(answer) for answer in answers]
        assert limited[:5] == [[]] * 5
        assert limited[5:] == [["RATE_LIMITED"]] * 3
