"""The simulated fleet `vigil demo` serves: Michigan-, TOPMed- and AfriGen-D-like Cloudgene
servers, an eLwazi-like WES node and a DNAstack-style registry that lists them all."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator

from aiohttp import web

from simulators.behaviour import Simulator
from simulators.cloudgene import CloudgeneSimulator
from simulators.registry import CLOUDGENE_TYPE, RegistrySimulator, external_service
from simulators.wes import WesSimulator

DEMO_TOKEN = "demo-token"


@dataclasses.dataclass(frozen=True, slots=True)
class DemoService:
    key: str
    simulator: Simulator
    base_url: str


def demo_simulators() -> dict[str, Simulator]:
    """Fresh simulators for the demo; every Cloudgene accepts `DEMO_TOKEN` as user `demo`."""
    tokens = {DEMO_TOKEN: "demo"}
    return {
        "michigan": CloudgeneSimulator.michigan(tokens),
        "topmed": CloudgeneSimulator.topmed(tokens),
        "afrigen": CloudgeneSimulator.afrigen(tokens),
        "elwazi": WesSimulator.elwazi(),
        "dnastack": RegistrySimulator.dnastack(entries=[]),
    }


@contextlib.asynccontextmanager
async def serve_demo(host: str = "127.0.0.1") -> AsyncIterator[dict[str, DemoService]]:
    """Start every demo simulator on a free port of `host`; stop them all on exit.

    The registry lists the other four once their URLs are known.
    """
    sims = demo_simulators()
    runners: list[web.AppRunner] = []
    services: dict[str, DemoService] = {}
    try:
        for name, sim in sims.items():
            runner = web.AppRunner(sim.app, shutdown_timeout=1.0)
            await runner.setup()
            runners.append(runner)
            site = web.TCPSite(runner, host, 0)
            await site.start()
            port = runner.addresses[0][1]
            path = "/api/service-registry" if name == "dnastack" else ""
            path = "/ga4gh/wes/v1" if name == "elwazi" else path
            services[name] = DemoService(name, sim, f"http://{host}:{port}{path}")
        registry = sims["dnastack"]
        assert isinstance(registry, RegistrySimulator)
        for name, service in services.items():
            if name == "dnastack":
                continue
            kind = ("org.ga4gh", "wes", "1.0.1") if name == "elwazi" else CLOUDGENE_TYPE
            registry.entries.append(
                external_service(
                    id=f"demo.{name}", name=service.simulator.name, url=service.base_url, type=kind
                )
            )
        yield services
    finally:
        for runner in reversed(runners):
            await runner.cleanup()
