"""`vigil demo` registers its simulated fleet through the API and shows status changes."""

from __future__ import annotations

import asyncio
import contextlib
import pathlib

import aiohttp
import pytest

from demo import DemoTimings, run_demo


async def test_demo_registers_the_fleet_and_status_changes_arrive(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    stop, up = asyncio.Event(), asyncio.Future()
    timings = DemoTimings(
        check_interval_seconds=1,
        flap_every_seconds=3,
        flap_down_seconds=2,
        maintenance_every_seconds=4,
        maintenance_seconds=2,
    )
    demo = asyncio.create_task(
        run_demo(port=0, timings=timings, stop=stop, ready=lambda url, token: up.set_result((url, token)))
    )
    try:
        async with asyncio.timeout(60):
            await asyncio.wait({up, demo}, return_when=asyncio.FIRST_COMPLETED)
        if demo.done():
            demo.result()  # the demo failed while starting: show why
        url, _ = up.result()
        async with aiohttp.ClientSession() as http:
            query = "{ services { totalCount nodes { name apiType referencePanels { key } } } }"
            async with http.post(f"{url}/graphql", json={"query": query}) as response:
                services = (await response.json())["data"]["services"]
            assert services["totalCount"] == 5
            michigan = next(s for s in services["nodes"] if s["name"].startswith("Michigan"))
            assert any(panel["key"] == "apps@hrc-r1.1@2.0.0" for panel in michigan["referencePanels"])
            async with http.ws_connect(
                f"{url.replace('http', 'ws')}/graphql", protocols=["graphql-transport-ws"]
            ) as ws:
                await ws.send_json({"type": "connection_init", "payload": {}})
                assert (await ws.receive_json())["type"] == "connection_ack"
                subscription = "subscription { statusChanged { service { name } previousStatus status } }"
                await ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": subscription}})
                seen: set[tuple[str, str]] = set()
                async with asyncio.timeout(40):
                    while not {"UNHEALTHY", "MAINTENANCE"} <= {status for _, status in seen}:
                        message = await ws.receive_json()
                        assert message["type"] == "next", message
                        change = message["payload"]["data"]["statusChanged"]
                        seen.add((change["service"]["name"], change["status"]))
            assert ("TOPMed Imputation Server", "UNHEALTHY") in seen
            assert ("AfriGen-D Imputation Service", "MAINTENANCE") in seen
    finally:
        stop.set()
        async with asyncio.timeout(30):
            with contextlib.suppress(asyncio.CancelledError):
                await demo
