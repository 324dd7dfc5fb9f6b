"""compareServices: a side-by-side feature matrix a frontend can render as it comes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry

from resolvers.compare import Compared, Comparison, PanelLine
from schema.types.enums import ApiType, GenomeBuild, HealthStatus, ServiceType
from schema.types.panel import ReferencePanel

if TYPE_CHECKING:
    from schema.types.service import Service

ServiceRef = Annotated["Service", strawberry.lazy("schema.types.service")]


@strawberry.type(description="One compared service: its column of the matrix, as typed values")
class ComparedService:
    service: ServiceRef = strawberry.field(description="The service")
    type: ServiceType = strawberry.field(description="Who runs it")
    api_type: ApiType = strawberry.field(description="What its probe speaks")
    location: str = strawberry.field(description="Where it runs, as registered")
    effective_status: HealthStatus = strawberry.field(description="Published status, DEGRADED if a dependency is down")
    status_reason: str | None = strawberry.field(description="Why the effective status is DEGRADED, if it is")
    builds: list[GenomeBuild] = strawberry.field(description="Genome builds of its panels and capabilities")
    populations: list[str] = strawberry.field(description="Population keys its active panels offer (lower case)")
    input_formats: list[str] = strawberry.field(description="Input formats it accepts, as discovered")
    engines: list[str] = strawberry.field(description="Imputation or workflow engines, with versions")
    service_version: str | None = strawberry.field(description="The version the service reports")
    app_version: str | None = strawberry.field(description="The imputation app version (Cloudgene)")
    uptime_24h: float | None = strawberry.field(description="Uptime over 24 hours")
    uptime_7d: float | None = strawberry.field(description="Uptime over 7 days")
    uptime_30d: float | None = strawberry.field(description="Uptime over 30 days")
    latency_p50_ms: float | None = strawberry.field(description="Median response time over 24 hours")
    latency_p95_ms: float | None = strawberry.field(description="95th percentile response time over 24 hours")
    open_incidents: int = strawberry.field(description="Incidents not yet ended")
    queue_size: int | None = strawberry.field(description="Jobs waiting, from the last check that saw it (public)")

    @classmethod
    def from_value(cls, c: Compared) -> ComparedService:
        from schema.types.service import Service

        caps = c.capabilities
        builds = {p.build for p in c.panels if p.build} | set(caps.builds if caps else ())
        populations = sorted(
            {
                str(i["key"]).lower()
                for p in c.panels
                for i in p.populations or []
                if isinstance(i, dict) and i.get("key") and str(i["key"]).lower() != "off"
            }
        )
        return cls(
            service=Service.from_row(c.service),
            type=c.service.type,
            api_type=c.service.api_type,
            location=c.service.location,
            effective_status=c.effective.status,
            status_reason=c.effective.reason,
            builds=sorted(builds),
            populations=populations,
            input_formats=list(caps.input_formats) if caps else [],
            engines=[f"{e.name} {'/'.join(e.versions)}".strip() for e in caps.engines] if caps else [],
            service_version=c.service.service_version,
            app_version=caps.app_version if caps else None,
            uptime_24h=c.uptime["LAST_24_HOURS"],
            uptime_7d=c.uptime["LAST_7_DAYS"],
            uptime_30d=c.uptime["LAST_30_DAYS"],
            latency_p50_ms=c.latency.percentile_ms(0.5),
            latency_p95_ms=c.latency.percentile_ms(0.95),
            open_incidents=c.open_incidents,
            queue_size=c.queue_size,
        )


@strawberry.type(description="One panel, lined up across the compared services by its normalised identity and build")
class PanelAlignment:
    identity: str = strawberry.field(description="Normalised panel id, e.g. 1000g-phase3-v5 (docs/analytics.md)")
    build: GenomeBuild | None = strawberry.field(description="Genome build; null when the label does not say")
    label: str = strawberry.field(description="A label for the row (the first service's)")
    offers: list[ReferencePanel | None] = strawberry.field(
        description="One entry per compared service, in order: its panel (key verbatim), or null if not offered"
    )

    @classmethod
    def from_value(cls, line: PanelLine) -> PanelAlignment:
        return cls(
            identity=line.identity,
            build=line.build,
            label=line.label,
            offers=[None if p is None else ReferencePanel.from_row(p) for p in line.offers],
        )


@strawberry.type(description="One row of the feature matrix: a feature and its value per service, as display text")
class FeatureRow:
    feature: str = strawberry.field(description="Row label, e.g. Builds or Uptime 7 d")
    values: list[str | None] = strawberry.field(description="One per compared service, in order; null: unknown")


@strawberry.type(description="Services side by side: typed columns, aligned panels and a display matrix")
class ServiceComparison:
    services: list[ComparedService] = strawberry.field(description="The compared services, in the order asked")
    panels: list[PanelAlignment] = strawberry.field(description="Panels offered by most services first")
    features: list[FeatureRow] = strawberry.field(description="The matrix as text, ready to render")

    @classmethod
    def from_value(cls, value: Comparison) -> ServiceComparison:
        return cls(
            services=[ComparedService.from_value(c) for c in value.services],
            panels=[PanelAlignment.from_value(p) for p in value.panels],
            features=[FeatureRow(feature=name, values=values) for name, values in value.features],
        )
