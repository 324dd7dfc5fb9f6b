"""What discovery learned about a service, as the frontend reads it."""

from __future__ import annotations

import strawberry

from probes import result as values
from schema.types.enums import GenomeBuild


@strawberry.type(description="Something offered in one or more versions: an engine or a workflow language")
class VersionedName:
    name: str = strawberry.field(description="Its name, as the service reports it")
    versions: list[str] = strawberry.field(description="Versions offered; empty when the service does not say")


@strawberry.type(description="How many workflow runs a WES node reports in one state")
class StateCount:
    state: str = strawberry.field(description="WES run state as reported, e.g. RUNNING or QUEUED")
    count: int = strawberry.field(description="Runs in that state")


@strawberry.type(description="Builds, formats, engines and versions a service offers; empty lists mean unknown")
class Capabilities:
    name: str | None = strawberry.field(description="The service's own name for itself; null: not reported")
    description: str | None = strawberry.field(description="The service's own description; null: not reported")
    service_version: str | None = strawberry.field(description="The software version the service reports")
    app_id: str | None = strawberry.field(description="Cloudgene: id of the imputation app; null for other protocols")
    app_version: str | None = strawberry.field(description="Cloudgene: version of the imputation app")
    service_type: str | None = strawberry.field(description="GA4GH type as group:artifact:version")
    organization: str | None = strawberry.field(description="The organization the service names (GA4GH service-info)")
    builds: list[GenomeBuild] = strawberry.field(description="Genome builds it offers")
    input_formats: list[str] = strawberry.field(description="Input file formats it accepts, e.g. vcf.gz")
    engines: list[VersionedName] = strawberry.field(description="Imputation or workflow engines, with versions")
    modes: list[str] = strawberry.field(description="Cloudgene: job modes the app offers, e.g. imputation or qconly")
    workflow_types: list[VersionedName] = strawberry.field(description="WES: workflow languages and their versions")
    filesystem_protocols: list[str] = strawberry.field(
        description="WES: storage protocols a workflow may read from, e.g. https or s3"
    )
    wes_versions: list[str] = strawberry.field(description="WES: API versions the node supports")
    system_state_counts: list[StateCount] = strawberry.field(description="WES: runs per state, as last reported")

    @classmethod
    def from_value(cls, value: values.Capabilities) -> Capabilities:
        return cls(
            name=value.name,
            description=value.description,
            service_version=value.service_version,
            app_id=value.app_id,
            app_version=value.app_version,
            service_type=value.service_type,
            organization=value.organization,
            builds=list(value.builds),
            input_formats=list(value.input_formats),
            engines=[VersionedName(name=e.name, versions=list(e.versions)) for e in value.engines],
            modes=list(value.modes),
            workflow_types=[VersionedName(name=w.name, versions=list(w.versions)) for w in value.workflow_types],
            filesystem_protocols=list(value.filesystem_protocols),
            wes_versions=list(value.wes_versions),
            system_state_counts=[StateCount(state=s, count=n) for s, n in value.system_state_counts],
        )
