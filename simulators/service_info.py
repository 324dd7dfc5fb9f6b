"""Any GA4GH service that answers `/service-info` (protocols.md §2), current or 2019-draft shape."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from simulators.behaviour import Behaviour, Simulator, json_response


def service_info(
    *,
    id: str = "org.example.beacon",
    name: str = "Example Beacon",
    artifact: str = "beacon",
    group: str = "org.ga4gh",
    spec_version: str = "2.0.0",
    version: str = "1.4.0",
) -> dict[str, Any]:
    """A conformant service-info 1.0.0 body."""
    return {
        "id": id,
        "name": name,
        "type": {"group": group, "artifact": artifact, "version": spec_version},
        "description": f"{name} (simulated)",
        "organization": {"name": "Example Org", "url": "https://example.org"},
        "contactUrl": "mailto:support@example.org",
        "documentationUrl": "https://docs.example.org",
        "createdAt": "2025-01-01T00:00:00Z",
        "updatedAt": "2025-06-01T00:00:00Z",
        "environment": "prod",
        "version": version,
    }


class ServiceInfoSimulator(Simulator):
    """Serves `document` at `{base_path}/service-info`; edit `document` to change the answer."""

    def __init__(
        self,
        document: dict[str, Any] | None = None,
        *,
        base_path: str = "",
        tokens: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__()
        self.document = document if document is not None else service_info()
        self.tokens = tokens
        self.app.router.add_get(f"{base_path.rstrip('/')}/service-info", self.service_info)

    async def service_info(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization")
        if header is not None and (
            self.behaviour is Behaviour.REJECT_TOKEN or header.removeprefix("Bearer ") not in self.tokens
        ):
            return json_response(self.error_body(401, "invalid token"), 401)
        if self.behaviour is Behaviour.MAINTENANCE:
            return self.maintenance_response()
        return json_response(self.document)

    @classmethod
    def legacy_draft(cls) -> ServiceInfoSimulator:
        """The 2019 draft: `type` as "group:artifact:version" and `organization` as a string."""
        return cls(
            {
                "id": "org.example.legacy",
                "name": "Legacy Beacon",
                "type": "org.ga4gh:beacon:1.0.1",
                "organization": "Example Org",
                "version": "0.9.0",
            }
        )

    @classmethod
    def non_conformant(cls) -> ServiceInfoSimulator:
        """JSON, but without the required `id`, `type` and `organization`."""
        return cls({"name": "Half a service-info", "version": "0.1"})
