"""What discovery learned about a service, as the frontend reads it."""

from __future__ import annotations

import strawberry

from probes import result as values
from schema.types.enums import GenomeBuild


@strawberry.type
class VersionedName:
    name: str
    versions: list[str]


@strawberry.type
class StateCount:
    state: str
    count: int


@strawberry.type(description="Builds, formats, engines and versions a service offers; empty lists mean unknown")
class Capabilities:
    name: str | None
    description: str | None
    service_version: str | None
    app_id: str | None
    app_version: str | None
    service_type: str | None = strawberry.field(description="GA4GH type as group:artifact:version")
    organization: str | None
    builds: list[GenomeBuild]
    input_formats: list[str]
    engines: list[VersionedName]
    modes: list[str]
    workflow_types: list[VersionedName]
    filesystem_protocols: list[str]
    wes_versions: list[str]
    system_state_counts: list[StateCount]

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
