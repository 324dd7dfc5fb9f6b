"""A Cloudgene 3 (or 2) imputation server speaking protocols.md §1, quirks included.

Faithful on purpose: the `maintenace` spelling, `X-Auth-Token` without `Bearer`, `apps[]`
empty for anonymous CG3 callers, 401 on app details without a token, 503 maintenance JSON
on apps and jobs, every parameter field present even when null, list values sorted by
key, `apps@<panel>@<ver>` keys, populations as a `binded_list` keyed by those strings. In
`generation=2` mode JSON goes out as text/plain, anonymous callers may read public apps,
keys lose their version and counters grow `running`/`waiting`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web

from simulators.behaviour import Behaviour, Simulator, json_response

_PARAM_FIELDS = [
    "id",
    "description",
    "type",
    "bind",
    "value",
    "visible",
    "required",
    "adminOnly",
    "help",
    "pattern",
    "accept",
    "details",
    "source",
    "emptySelection",
    "values",
    "key",
    "label",
]


@dataclasses.dataclass(frozen=True, slots=True)
class PanelSpec:
    """A reference panel app (`category: RefPanel`) installed on the server."""

    id: str
    version: str
    label: str
    populations: tuple[tuple[str, str], ...] = (("off", "Off"),)


def _param(**fields: Any) -> dict[str, Any]:
    param: dict[str, Any] = dict.fromkeys(_PARAM_FIELDS)
    param.update(value="", visible=True, required=True, adminOnly=False)
    param.update(fields)
    return param


def _options(pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [{"key": k, "value": v, "label": None, "values": None, "enabled": False} for k, v in sorted(pairs)]


class CloudgeneSimulator(Simulator):
    """Set `maintenance`, `queue_size`, `tokens` or `behaviour` between requests."""

    def __init__(
        self,
        *,
        name: str = "Cloudgene",
        panels: tuple[PanelSpec, ...] = (),
        app_id: str = "imputationserver2",
        app_name: str = "Genotype Imputation",
        app_version: str = "2.0.12",
        tokens: dict[str, str] | None = None,
        generation: int = 3,
        context_path: str = "",
        phasing: tuple[tuple[str, str], ...] = (
            ("eagle", "Eagle v2.4"),
            ("beagle", "Beagle 5.4 (HRC and 1KG only)"),
            ("no_phasing", "No phasing"),
        ),
    ) -> None:
        super().__init__()
        self.name, self.panels = name, panels
        self.app_id, self.app_name, self.app_version = app_id, app_name, app_version
        self.tokens = dict(tokens or {})  # token -> username
        self.generation = generation
        self.phasing = phasing
        self.maintenance = False
        self.maintenance_message = "<p>Scheduled maintenance: we will be back soon.</p>"
        self.queue_size = 0
        prefix = context_path.rstrip("/")
        self.app.router.add_get(f"{prefix}/api/v2/server", self.server)
        self.app.router.add_get(f"{prefix}/api/v2/server/counters", self.counters)
        self.app.router.add_get(f"{prefix}/api/v2/server/apps/{{app_id}}", self.app_details)
        self.app.router.add_get(f"{prefix}/api/v2/jobs", self.jobs)

    # What the protocol says -----------------------------------------------------------------

    def error_body(self, status: int, message: str) -> Any:
        return {"message": message, "success": False}

    def respond(self, body: Any, status: int = 200) -> web.Response:
        return json_response(body, status, "text/plain" if self.generation == 2 else "application/json")

    def maintenance_response(self) -> web.Response:
        return self.respond(self.error_body(503, "This functionality is currently under maintenance."), 503)

    def panel_key(self, panel: PanelSpec) -> str:
        return f"apps@{panel.id}@{panel.version}" if self.generation == 3 else f"apps@{panel.id}"

    @property
    def in_maintenance(self) -> bool:
        return self.maintenance or self.behaviour is Behaviour.MAINTENANCE

    def user_of(self, request: web.Request) -> str | None:
        token = request.headers.get("X-Auth-Token")
        if token is None and self.generation == 2:
            token = request.query.get("token")
        if token is None or self.behaviour is Behaviour.REJECT_TOKEN:
            return None
        return self.tokens.get(token)

    def app_json(self) -> dict[str, Any]:
        keys = [(self.panel_key(p), p.label) for p in self.panels]
        populations = [
            {
                "key": self.panel_key(p),
                "label": p.label,
                "value": None,
                "enabled": False,
                "values": _options(list(p.populations)),
            }
            for p in sorted(self.panels, key=self.panel_key)
        ]
        params = [
            _param(id="refpanel", type="app_list", description="Reference Panel", values=_options(keys)),
            _param(id="files", type="local_folder", source="upload", description="Input Files (VCF)"),
            _param(
                id="build",
                type="list",
                value="hg19",
                description="Array Build",
                values=_options([("hg19", "GRCh37/hg19"), ("hg38", "GRCh38/hg38")]),
            ),
            _param(
                id="r2Filter",
                type="list",
                value="0",
                values=_options(
                    [("0", "off"), ("0.001", "0.001"), ("0.1", "0.1"), ("0.2", "0.2"), ("0.3", "0.3")]
                ),
            ),
            _param(id="phasing", type="list", value="eagle", values=_options(list(self.phasing))),
            _param(id="population", type="binded_list", bind="refpanel", values=populations),
            _param(
                id="mode",
                type="list",
                value="imputation",
                values=_options(
                    [("imputation", "Quality Control & Imputation"), ("qc_only", "Quality Control Only")]
                ),
            ),
            _param(
                id="aesEncryption",
                type="checkbox",
                value="false",
                values=_options([("false", "false"), ("true", "true")]),
            ),
            _param(id="myseparator", type="separator"),
            _param(
                id="check1",
                type="terms_checkbox",
                description="I will not attempt to re-identify participants.",
            ),
        ]
        return {
            "id": self.app_id,
            "name": self.app_name,
            "version": self.app_version,
            "description": f"<p>{self.name} pipeline</p>",
            "author": None,
            "website": "https://imputationserver.readthedocs.io",
            "logo": None,
            "submitButton": "Start Imputation",
            "s3Workspace": False,
            "footer": None,
            "params": params,
        }

    # Routes ---------------------------------------------------------------------------------

    async def server(self, request: web.Request) -> web.Response:
        user = self.user_of(request)
        body: dict[str, Any] = {
            "name": self.name,
            "background": "#343a40",
            "foreground": "#ffffff",
            "footer": "<p>Simulated by Vigil</p>",
            "emailRequired": True,
            "userEmailDescription": "<p>Notified by e-mail.</p>",
            "userWithoutEmailDescription": "<p>No e-mail.</p>",
            "navigation": [{"id": "home", "name": "Home", "link": "#!", "items": []}],
            "loggedIn": user is not None,
        }
        if self.generation == 3:
            body["oauth"] = []
        if user is not None:
            app_id = f"{self.app_id}@{self.app_version}" if self.generation == 3 else self.app_id
            app: dict[str, Any] = {"id": app_id, "name": self.app_name}
            if self.generation == 3:
                app["version"] = self.app_version
            body.update(
                user={"username": user, "mail": f"{user}@example.org", "admin": False, "name": user.title()},
                apps=[app],
                deprecatedApps=[],
                experimentalApps=[],
            )
        else:
            body["apps"] = [] if self.generation == 3 else [self.app_json()]
        body["maintenace"] = self.in_maintenance
        if self.in_maintenance:
            body["maintenaceMessage"] = self.maintenance_message
        return self.respond(body)

    async def counters(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = {
            "complete": {"samples": 1200345, "genotypes": 98765432100, "chromosomes": 45012, "runs": 2301},
            "queue": {"size": self.queue_size},
            "users": 4821,
        }
        if self.generation == 2:
            body.update(running={"runs": 1}, waiting={"runs": self.queue_size})
        return self.respond(body)

    async def app_details(self, request: web.Request) -> web.Response:
        if self.in_maintenance:
            return self.maintenance_response()
        if self.generation == 3 and self.user_of(request) is None:
            return self.respond({"message": "Unauthorized"}, 401)
        wanted = request.match_info["app_id"]
        base, _, version = wanted.partition("@")
        if base != self.app_id or (version and version != self.app_version):
            message = f"Application {wanted} not found or the request requires user authentication."
            return self.respond(self.error_body(404, message), 404)
        return self.respond(self.app_json())

    async def jobs(self, request: web.Request) -> web.Response:
        if self.in_maintenance:
            return self.maintenance_response()
        if self.user_of(request) is None:
            return self.respond(self.error_body(401, "The request requires user authentication."), 401)
        page: dict[str, Any] = {"count": 0, "page": 1, "prev": None, "next": None, "pages": [1], "data": []}
        if self.generation == 3:
            page["pageSize"] = 0
        return self.respond(page)

    # Demo identities (protocols.md §1.11) ---------------------------------------------------

    @classmethod
    def michigan(cls, tokens: dict[str, str] | None = None) -> CloudgeneSimulator:
        """Michigan Imputation Server 2 with the panel keys and labels observed on the live server."""
        return cls(
            name="Michigan Imputation Server 2", tokens=tokens, panels=MICHIGAN_PANELS, app_version="2.0.12"
        )

    @classmethod
    def topmed(cls, tokens: dict[str, str] | None = None) -> CloudgeneSimulator:
        """TOPMed: its fork's version and Eagle label; panel labels carry no build suffix."""
        return cls(
            name="TOPMed Imputation Server",
            tokens=tokens,
            app_version="2.0.10-statgen.2",
            panels=TOPMED_PANELS,
            phasing=(("eagle", "Eagle v2.4 (phased output)"), ("no_phasing", "No phasing")),
        )

    @classmethod
    def afrigen(cls, tokens: dict[str, str] | None = None) -> CloudgeneSimulator:
        """AfriGen-D (H3Africa panels). Its panel keys are unverified third-party reports (§8.1)."""
        return cls(
            name="AfriGen-D Imputation Service", tokens=tokens, app_version="2.0.12", panels=AFRIGEN_PANELS
        )

    @classmethod
    def legacy_michigan(cls, tokens: dict[str, str] | None = None) -> CloudgeneSimulator:
        """A Cloudgene 2 server running the v1 `minimac4` app."""
        return cls(
            name="Michigan Imputation Server",
            tokens=tokens,
            generation=2,
            app_id="minimac4",
            app_version="1.7.4",
            panels=MICHIGAN_PANELS[:2],
        )


def _pops(*keys: str) -> tuple[tuple[str, str], ...]:
    return tuple((k, "Off" if k == "off" else k.upper()) for k in keys)


MICHIGAN_PANELS = (
    PanelSpec("hrc-r1.1", "2.0.0", "HRC r1.1 2016 (GRCh37/hg19)", _pops("eur", "off")),
    PanelSpec(
        "1000g-phase-3-v5",
        "2.0.0",
        "1000G Phase 3 v5 (GRCh37/hg19)",
        _pops("afr", "amr", "eas", "eur", "sas", "off"),
    ),
    PanelSpec(
        "1000g-phase-1",
        "2.0.0",
        "1000G Phase 1 v3 Shapeit2 (no singletons) (GRCh37/hg19)",
        _pops("afr", "amr", "asn", "eur", "off"),
    ),
    PanelSpec("caapa", "2.0.0", "CAAPA African American Panel (GRCh37/hg19)", (("AA", "AA"), ("off", "Off"))),
    PanelSpec("genome-asia-panel", "1.0.0", "Genome Asia Pilot - GAsP (GRCh37/hg19)", _pops("asn", "off")),
    PanelSpec("hapmap-2", "2.0.0", "HapMap 2 (GRCh37/hg19)", _pops("eur", "off")),
    PanelSpec("samoan", "2.0.0", "Samoan (GRCh37/hg19)"),
    PanelSpec("1000g-phase3-low", "1.0.0", "1000G Phase 3 (GRCh38/hg38) [BETA]"),
    PanelSpec("1000g-phase3-deep", "1.0.0", "1000G Phase 3 30x (GRCh38/hg38) [BETA]"),
)
TOPMED_PANELS = (
    PanelSpec("topmed-r3", "1.0.0", "TOPMed (Version R3 on GRC38)", (("all", "ALL"),)),
    PanelSpec(
        "topmed-r2", "1.0.0", "TOPMed (Version R2 on GRC38)", (("all", "ALL"), ("mixed", "Other/Mixed"))
    ),
)
AFRIGEN_PANELS = (
    PanelSpec("h3africa-v6hc-s", "1.0.0", "H3Africa V6HC-S (GRCh38/hg38)", _pops("afr", "off")),
    PanelSpec("h3africa-v6hc-s-afr", "1.0.0", "H3Africa V6HC-S_AFR (GRCh38/hg38)", _pops("afr", "off")),
    PanelSpec("h3africa-v7hc-s", "1.0.0", "H3Africa V7HC-S (GRCh38/hg38)", _pops("afr", "off")),
    PanelSpec("1kg-nygc-30x", "1.0.0", "1000 Genomes NYGC 30x (GRCh38/hg38)", _pops("afr", "off")),
)
