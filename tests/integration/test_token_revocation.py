"""Revoking an API token closes the WebSockets it opened, on a live Vigil, over graphql-transport-ws."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from models import Role
from simulators import CloudgeneSimulator
from tests.fakes import serving
from tests.integration.conftest import LiveVigil

TRANSPORT_WS = "graphql-transport-ws"
CREATE_TOKEN = "mutation($name: String!) { createApiToken(name: $name, role: VIEWER) { token { id } secret } }"
REVOKE_TOKEN = "mutation($id: ID!) { revokeApiToken(id: $id) }"
REGISTER = """
mutation($url: String!) {
  registerService(input: {name: "Watched", type: MICHIGAN, apiType: CLOUDGENE, baseUrl: $url}) { service { id } }
}"""
CHECK = "mutation($id: ID!) { checkServiceHealth(serviceId: $id) { id } }"
STATUS_CHANGED = "subscription($ids: [ID!]) { statusChanged(serviceIds: $ids) { serviceId status } }"


async def viewer_token(live: LiveVigil, name: str) -> tuple[str, str]:
    answer = await live.gql(CREATE_TOKEN, {"name": name})
    created = answer["data"]["createApiToken"]
    return created["token"]["id"], created["secret"]


async def connect(live: LiveVigil, secret: str) -> aiohttp.ClientWebSocketResponse:
    ws = await live.http.ws_connect(live.ws_url, protocols=[TRANSPORT_WS])
    await ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {secret}"}})
    return ws


async def subscribe(live: LiveVigil, secret: str, service_id: str) -> aiohttp.ClientWebSocketResponse:
    ws = await connect(live, secret)
    async with asyncio.timeout(5):
        assert (await ws.receive_json())["type"] == "connection_ack"
    payload = {"query": STATUS_CHANGED, "variables": {"ids": [service_id]}}
    await ws.send_json({"id": "1", "type": "subscribe", "payload": payload})
    return ws


async def next_message(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    async with asyncio.timeout(10):
        message: dict[str, Any] = await ws.receive_json()
        return message


async def test_revoking_a_token_closes_its_websockets_with_4403_and_leaves_the_others_open(
    live: LiveVigil,
) -> None:
    revoked_id, revoked_secret = await viewer_token(live, "wall screen")
    _, kept_secret = await viewer_token(live, "laptop")
    async with serving(CloudgeneSimulator()) as url:
        service_id = (await live.gql(REGISTER, {"url": url}))["data"]["registerService"]["service"]["id"]
        revoked = await subscribe(live, revoked_secret, service_id)
        kept = await subscribe(live, kept_secret, service_id)
        try:
            assert (await live.gql(REVOKE_TOKEN, {"id": revoked_id}))["data"]["revokeApiToken"] is True

            async with asyncio.timeout(1):
                closing = await revoked.receive()
            assert closing.type == aiohttp.WSMsgType.CLOSE
            assert (revoked.close_code, closing.extra) == (4403, "token revoked")

            await live.gql(CHECK, {"id": service_id})  # UNKNOWN -> HEALTHY: one status change
            event = await next_message(kept)
            assert event["type"] == "next"
            assert event["payload"]["data"]["statusChanged"] == {"serviceId": service_id, "status": "HEALTHY"}
        finally:
            await revoked.close()
            await kept.close()


async def test_a_revoked_token_is_refused_when_it_connects_again(live: LiveVigil) -> None:
    token_id, secret = await viewer_token(live, "old script")
    await live.gql(REVOKE_TOKEN, {"id": token_id})

    ws = await connect(live, secret)
    try:
        async with asyncio.timeout(5):
            message = await ws.receive()
        assert message.type == aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 4403
    finally:
        await ws.close()


async def test_revoking_an_already_revoked_token_answers_false_and_closes_nothing_else(live: LiveVigil) -> None:
    token_id, _ = await viewer_token(live, "twice")
    viewer = await subscribe(live, await live.token(Role.VIEWER), "1")
    try:
        assert (await live.gql(REVOKE_TOKEN, {"id": token_id}))["data"]["revokeApiToken"] is True
        assert (await live.gql(REVOKE_TOKEN, {"id": token_id}))["data"]["revokeApiToken"] is False
        await viewer.send_json({"type": "ping"})
        assert (await next_message(viewer))["type"] == "pong"
    finally:
        await viewer.close()
