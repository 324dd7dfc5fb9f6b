"""Protocol fakes: real aiohttp servers that speak protocols.md, quirks and failures included.

They live outside `tests/` because `vigil demo` runs them as simulated services. Each is a
`Simulator` with an `app` (an `aiohttp.web.Application`) and a switchable `behaviour`.
"""

from simulators.behaviour import Behaviour, SeenRequest, Simulator
from simulators.cloudgene import CloudgeneSimulator, PanelSpec
from simulators.registry import RegistrySimulator, external_service
from simulators.service_info import ServiceInfoSimulator
from simulators.wes import WesSimulator

__all__ = [
    "Behaviour",
    "CloudgeneSimulator",
    "PanelSpec",
    "RegistrySimulator",
    "SeenRequest",
    "ServiceInfoSimulator",
    "Simulator",
    "WesSimulator",
    "external_service",
]
