"""A GA4GH Service Registry 1.0.0 (protocols.md §3) and its DNAstack flavour (§5).

`entries` is a plain list of `ExternalService` dicts; tests append entries once the servers
they point at are listening. Bodies go out as exactly `application/json`, which DNAstack's
client requires before it accepts a registry.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from simulators.behaviour import Behaviour, Simulator, json_response
from simulators.service_info import service_info

REGISTRY_TYPE = {"group": "org.ga4gh", "artifact": "service-registry", "version": "1.0.0"}
CLOUDGENE_TYPE = ("io.cloudgene", "cloudgene", "3.1.3")  # no official type exists (§8.9)


def external_service(
    *,
    id: str,
    name: str,
    url: str,
    type: tuple[str, str, str],
    version: str = "1.0.0",
    authentication: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One `/services` entry: service-info fields, `url`, and DNAstack's `authentication` if given."""
    group, artifact, spec_version = type
    entry = service_info(
        id=id, name=name, group=group, artifact=artifact, spec_version=spec_version, version=version
    )
    entry["url"] = url
    if authentication is not None:
        entry["authentication"] = authentication
    return entry


def oauth_device_code(resource: str, scope: str) -> dict[str, Any]:
    """An `authentication[]` item shaped like viral.ai's registry snapshot."""
    return {
        "type": "oauth2",
        "clientId": "explorer-public",
        "clientSecret": "not-a-secret",
        "grantType": "urn:ietf:params:oauth:grant-type:device_code",
        "deviceCodeUrl": "https://auth.example/oauth/device/code",
        "accessTokenUrl": "https://auth.example/oauth/token",
        "authorizationUrl": None,
        "resource": resource,
        "scope": scope,
        "redirectUrl": None,
    }


class RegistrySimulator(Simulator):
    """Routes live under `root_path`; `serve_service_info=False` mimics registries without one."""

    def __init__(
        self,
        entries: list[dict[str, Any]] | None = None,
        *,
        name: str = "Example Service Registry",
        root_path: str = "",
        serve_service_info: bool = True,
        tokens: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__()
        self.entries: list[dict[str, Any]] = entries if entries is not None else []
        self.name, self.tokens = name, tokens
        root = root_path.rstrip("/")
        if serve_service_info:
            self.app.router.add_get(f"{root}/service-info", self.service_info)
        self.app.router.add_get(f"{root}/services", self.services)
        self.app.router.add_get(f"{root}/services/types", self.types)
        self.app.router.add_get(f"{root}/services/{{service_id}}", self.service)

    def refusal(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization")
        if header is None:
            return None
        if self.behaviour is Behaviour.REJECT_TOKEN or header.removeprefix("Bearer ") not in self.tokens:
            return json_response(self.error_body(401, "Unauthorized"), 401)
        return None

    async def service_info(self, request: web.Request) -> web.Response:
        if self.behaviour is Behaviour.MAINTENANCE:
            return self.maintenance_response()
        body = service_info(
            id="org.ga4gh.service-registry", name=self.name, artifact="service-registry", spec_version="1.0.0"
        )
        return self.refusal(request) or json_response(body)

    async def services(self, request: web.Request) -> web.Response:
        if self.behaviour is Behaviour.MAINTENANCE:
            return self.maintenance_response()
        return self.refusal(request) or json_response(self.entries)

    async def types(self, request: web.Request) -> web.Response:
        distinct = {str(e.get("type")): e.get("type") for e in self.entries}
        return self.refusal(request) or json_response(list(distinct.values()))

    async def service(self, request: web.Request) -> web.Response:
        wanted = request.match_info["service_id"]
        for entry in self.entries:
            if entry.get("id") == wanted:
                return self.refusal(request) or json_response(entry)
        return json_response(self.error_body(404, f"Service {wanted} not found"), 404)

    @classmethod
    def dnastack(
        cls, entries: list[dict[str, Any]] | None = None, tokens: frozenset[str] = frozenset()
    ) -> RegistrySimulator:
        """A viral.ai-style registry at `/api/service-registry`, with no service-info of its own."""
        default = [
            external_service(
                id="data-connect-example",
                name="Explorer - Data Connect",
                url="https://explorer.example/api/collection/example/data-connect/",
                type=("org.ga4gh", "data-connect", "1.0.0"),
                version="1.0-1028-g9ffdd94",
                authentication=[
                    oauth_device_code("https://explorer.example/", "data-connect:info data-connect:query")
                ],
            )
        ]
        return cls(
            entries if entries is not None else default,
            name="DNAstack Service Registry",
            root_path="/api/service-registry",
            serve_service_info=False,
            tokens=tokens,
        )
