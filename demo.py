"""`vigil demo`: Vigil on its embedded defaults, watching a simulated fleet that changes.

The fleet is the same protocol simulators the tests use: Michigan-, TOPMed- and AfriGen-D-like
Cloudgene servers, an eLwazi-like WES node and a DNAstack-style registry. Services are
registered through Vigil's own GraphQL API, as an operator would. TOPMed flaps (down, then
back) and AfriGen-D goes into announced maintenance on a timer, so status changes show up
within a minute. Each run starts from a fresh demo database: the simulators get new ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import pathlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import uvicorn

from app import create_app
from config import Settings
from models import Role
from resolvers.audit import CLI_ACTOR
from resolvers.tokens import create_token
from simulators import Behaviour
from simulators.cloudgene import CloudgeneSimulator
from simulators.demo import DEMO_TOKEN, DemoService, serve_demo

log = logging.getLogger("vigil.demo")

DEMO_DATABASE = pathlib.Path("vigil-demo.db")

REGISTER = """
mutation($input: RegisterServiceInput!) { registerService(input: $input) { service { id name } } }"""
SYNC = "mutation($id: ID!) { syncReferencePanels(serviceId: $id) { added message } }"

FLEET: dict[str, dict[str, Any]] = {
    "michigan": {"type": "MICHIGAN", "apiType": "CLOUDGENE", "location": "Ann Arbor, USA (simulated)"},
    "topmed": {"type": "MICHIGAN", "apiType": "CLOUDGENE", "location": "Bethesda, USA (simulated)"},
    "afrigen": {"type": "H3AFRICA", "apiType": "CLOUDGENE", "location": "Cape Town, South Africa (simulated)"},
    "elwazi": {"type": "H3AFRICA", "apiType": "GA4GH_WES", "location": "Johannesburg, South Africa (simulated)"},
    "dnastack": {"type": "DNASTACK", "apiType": "DNASTACK", "location": "Toronto, Canada (simulated)"},
}


@dataclasses.dataclass(frozen=True)
class DemoTimings:
    check_interval_seconds: int = 5
    flap_every_seconds: float = 40.0
    flap_down_seconds: float = 20.0
    maintenance_every_seconds: float = 60.0
    maintenance_seconds: float = 25.0


def demo_settings(host: str, port: int, timings: DemoTimings) -> Settings:
    return Settings(
        database_url=f"sqlite://{DEMO_DATABASE}",
        host=host,
        port=port,
        anonymous_read=True,
        allow_private_targets=True,  # the simulated fleet listens on this machine
        min_check_interval_seconds=min(5, timings.check_interval_seconds),
    )


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[uvicorn.Server, asyncio.Task[None]]]:
    """uvicorn serving Vigil; the task ends on Ctrl-C / SIGTERM (uvicorn's own signal handling)."""
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host=settings.host, port=settings.port, log_level="warning")
    )
    task = asyncio.create_task(server.serve(), name="uvicorn")
    try:
        async with asyncio.timeout(30):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("the server stopped while starting")
                await asyncio.sleep(0.05)
        yield server, task
    finally:
        server.should_exit = True
        if not task.done():
            await task


async def register_fleet(url: str, token: str, fleet: dict[str, DemoService], interval: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as http:

        async def call(query: str, variables: dict[str, Any]) -> dict[str, Any]:
            async with http.post(f"{url}/graphql", json={"query": query, "variables": variables}) as response:
                answer = await response.json()
            if answer.get("errors"):
                raise RuntimeError(f"demo set-up failed: {answer['errors'][0]['message']}")
            return answer["data"]

        for key, service in fleet.items():
            spec = FLEET[key]
            credential = DEMO_TOKEN if spec["apiType"] == "CLOUDGENE" else None
            data = await call(
                REGISTER,
                {
                    "input": {
                        **spec,
                        "name": service.simulator.name,
                        "baseUrl": service.base_url,
                        "description": f"Simulated {service.simulator.name} for the Vigil demo",
                        "credential": credential,
                        "checkIntervalSeconds": interval,
                        "timeoutSeconds": min(4.0, interval),
                    }
                },
            )
            sid = data["registerService"]["service"]["id"]
            if spec["apiType"] == "CLOUDGENE":
                await call(SYNC, {"id": sid})


async def change_on_a_timer(fleet: dict[str, DemoService], timings: DemoTimings) -> None:
    """TOPMed answers 500 for a while, then recovers; AfriGen-D announces maintenance, then ends it."""
    topmed, afrigen = fleet["topmed"].simulator, fleet["afrigen"].simulator
    assert isinstance(afrigen, CloudgeneSimulator)
    elapsed = 0.0
    while True:
        await asyncio.sleep(1.0)
        elapsed += 1.0
        topmed.behaviour = (
            Behaviour.HTTP_500
            if elapsed % timings.flap_every_seconds < timings.flap_down_seconds
            and elapsed >= timings.flap_every_seconds
            else Behaviour.OK
        )
        in_maintenance = (
            elapsed >= timings.maintenance_every_seconds / 2
            and (elapsed % timings.maintenance_every_seconds) < timings.maintenance_seconds
        )
        afrigen.maintenance = in_maintenance


def banner(url: str, token: str, fleet: dict[str, DemoService], timings: DemoTimings) -> str:
    lines = [
        "",
        "Vigil demo is running. Ctrl-C stops everything.",
        f"  Status page:     {url}/   (live, in any browser)",
        f"  GraphiQL:        {url}/graphql   (anonymous reading is on in the demo)",
        f"  Admin token:     {token}",
        '                   (GraphiQL > Headers: {"Authorization": "Bearer <token>"} for mutations)',
        f"  Readiness:       {url}/readyz",
        f"  Metrics:         {url}/metrics   (Prometheus)",
        "  Simulated services:",
        *(f"    {s.simulator.name:<32} {s.base_url}" for s in fleet.values()),
        f"  TOPMed flaps every {timings.flap_every_seconds:g} s; AfriGen-D enters maintenance every "
        f"{timings.maintenance_every_seconds:g} s.",
        "  Try:  subscription { statusChanged { service { name } previousStatus status changedAt } }",
        "",
    ]
    return "\n".join(lines)


async def run_demo(
    host: str = "127.0.0.1",
    port: int = 8000,
    timings: DemoTimings | None = None,
    *,
    stop: asyncio.Event | None = None,
    ready: Callable[[str, str], None] | None = None,
) -> None:
    """Runs until Ctrl-C (or `stop` is set); `ready(url, admin_token)` is told when it is up."""
    timings = timings or DemoTimings()
    stop = stop or asyncio.Event()
    for stale in (DEMO_DATABASE, *DEMO_DATABASE.parent.glob(f"{DEMO_DATABASE.name}-*")):
        stale.unlink(missing_ok=True)
    settings = demo_settings(host, port, timings)
    async with serve_demo(host) as fleet, running(settings) as (server, serving):
        bound = server.servers[0].sockets[0].getsockname()[1]
        url = f"http://{host}:{bound}"
        _, token = await create_token("demo-admin", Role.ADMIN, CLI_ACTOR)
        await register_fleet(url, token, fleet, timings.check_interval_seconds)
        print(banner(url, token, fleet, timings), flush=True)
        if ready is not None:
            ready(url, token)
        changes = asyncio.create_task(change_on_a_timer(fleet, timings), name="demo-changes")
        try:
            stopped = asyncio.create_task(stop.wait(), name="demo-stop")
            await asyncio.wait({serving, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            server.should_exit = True
        finally:
            changes.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await changes
