"""A GA4GH WES node (protocols.md §4) in the 1.1.0, 1.0.x and starter-kit shapes.

`spec_version` picks the wire shape: "1.1.0" nests versions (`{workflow_engine_version:
[...]}`), "1.0.1" gives engines as plain strings, "1.0.0" also drops the service-info fields
(as wes-service 5.0 does). `starter_kit=True` renders `workflow_type_versions` as plain
arrays, the GA4GH starter kit's deviation that eLwazi nodes run.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from simulators.behaviour import Behaviour, Simulator, json_response


class WesSimulator(Simulator):
    """Bearer tokens in `tokens` are accepted; `require_auth` refuses anonymous callers."""

    def __init__(
        self,
        *,
        name: str = "Example WES",
        spec_version: str = "1.1.0",
        group: str = "org.ga4gh",
        service_version: str = "2.3.0",
        workflow_types: dict[str, list[str]] | None = None,
        engines: dict[str, list[str]] | None = None,
        filesystem_protocols: tuple[str, ...] = ("file", "https", "s3"),
        tokens: frozenset[str] = frozenset(),
        require_auth: bool = False,
        starter_kit: bool = False,
        base_path: str = "/ga4gh/wes/v1",
    ) -> None:
        super().__init__()
        self.name, self.spec_version, self.group = name, spec_version, group
        self.service_version = service_version
        self.workflow_types = (
            workflow_types if workflow_types is not None else {"NFL": ["DSL2"], "CWL": ["v1.2"]}
        )
        self.engines = engines if engines is not None else {"nextflow": ["24.10.0"]}
        self.filesystem_protocols = filesystem_protocols
        self.tokens, self.require_auth, self.starter_kit = tokens, require_auth, starter_kit
        self.state_counts = {"QUEUED": 0, "RUNNING": 2, "COMPLETE": 41, "EXECUTOR_ERROR": 3}
        self.base_path = base_path.rstrip("/")
        self.app.router.add_get(f"{self.base_path}/service-info", self.service_info)
        self.app.router.add_get(f"{self.base_path}/runs", self.runs)

    def error_body(self, status: int, message: str) -> Any:
        return {"msg": message, "status_code": status}

    def refusal(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization")
        if header is None:
            return (
                json_response(self.error_body(401, "authentication required"), 401)
                if self.require_auth
                else None
            )
        token = header.removeprefix("Bearer ")
        if self.behaviour is Behaviour.REJECT_TOKEN or token not in self.tokens:
            return json_response(self.error_body(401, "invalid token"), 401)
        return None

    def service_info_json(self) -> dict[str, Any]:
        nested = self.spec_version.startswith("1.1")
        body: dict[str, Any] = {}
        if self.spec_version != "1.0.0":
            body.update(
                id=f"org.example.{self.name.lower().replace(' ', '-')}",
                name=self.name,
                type={"group": self.group, "artifact": "wes", "version": self.spec_version},
                description=f"{self.name} (simulated)",
                organization={"name": "Example Org", "url": "https://example.org"},
                version=self.service_version,
            )
        body.update(
            workflow_type_versions={
                t: list(v) if self.starter_kit else {"workflow_type_version": list(v)}
                for t, v in self.workflow_types.items()
            },
            supported_wes_versions=[self.spec_version],
            supported_filesystem_protocols=list(self.filesystem_protocols),
            workflow_engine_versions={
                e: {"workflow_engine_version": list(v)} if nested else (v[0] if v else "")
                for e, v in self.engines.items()
            },
            default_workflow_engine_parameters=[],
            system_state_counts=dict(self.state_counts),
            auth_instructions_url="https://example.org/wes/auth",
            tags={},
        )
        return body

    async def service_info(self, request: web.Request) -> web.Response:
        if self.behaviour is Behaviour.MAINTENANCE:  # WES has no maintenance signal: it just fails
            return json_response(self.error_body(503, "Service Unavailable"), 503)
        return self.refusal(request) or json_response(self.service_info_json())

    async def runs(self, request: web.Request) -> web.Response:
        return self.refusal(request) or json_response({"runs": [], "next_page_token": ""})

    @classmethod
    def elwazi(cls, tokens: frozenset[str] = frozenset()) -> WesSimulator:
        """An eLwazi-like node: GA4GH starter-kit WES 1.0.1 with Nextflow and Snakemake."""
        return cls(
            name="eLwazi WES Node",
            spec_version="1.0.1",
            service_version="0.3.2",
            workflow_types={"NFL": ["DSL2"], "SMK": ["7"]},
            engines={"nextflow": ["23.04.1"], "snakemake": ["7.32.4"]},
            filesystem_protocols=("file", "http", "https"),
            starter_kit=True,
            tokens=tokens,
        )
