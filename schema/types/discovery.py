"""What testConnection, discoverServices and syncReferencePanels report: probes that store little or nothing."""

from __future__ import annotations

import datetime as dt

import strawberry

from probes.result import PanelInfo, ProbeResult
from resolvers.connection import ConnectionReport
from resolvers.discovery import DiscoveryCandidate, DiscoveryError, DiscoveryReport
from resolvers.panels import PanelSyncResult
from schema.types.capabilities import Capabilities
from schema.types.enums import ApiType, FailureKind, GenomeBuild, HealthStatus, ServiceType
from schema.types.panel import Population, ReferencePanel
from schema.types.service import Service


@strawberry.type(description="One probe's verdict, as a check would record it")
class ProbeVerdict:
    status: HealthStatus
    checked_at: dt.datetime
    response_time_ms: float | None
    http_status: int | None
    failure_kind: FailureKind | None
    message: str
    service_version: str | None
    maintenance_message: str | None
    queue_size: int | None

    @classmethod
    def from_value(cls, result: ProbeResult) -> ProbeVerdict:
        return cls(
            status=result.status,
            checked_at=result.checked_at,
            response_time_ms=result.response_time_ms,
            http_status=result.http_status,
            failure_kind=result.failure_kind,
            message=result.message,
            service_version=result.service_version,
            maintenance_message=result.maintenance_message,
            queue_size=result.queue_size,
        )


@strawberry.type(description="A panel a service offers, as discovery saw it (not stored)")
class OfferedPanel:
    key: str
    label: str
    build: GenomeBuild | None
    populations: list[Population]

    @classmethod
    def from_value(cls, panel: PanelInfo) -> OfferedPanel:
        return cls(
            key=panel.key,
            label=panel.label,
            build=panel.build,
            populations=[Population(key=p.key, name=p.name) for p in panel.populations],
        )


@strawberry.type
class ConnectionTest:
    base_url: str = strawberry.field(description="Where the API answered (detection may add a path)")
    api_type: ApiType | None = strawberry.field(description="Null: no known protocol answered")
    suggested_type: ServiceType | None
    name: str
    result: ProbeVerdict
    capabilities: Capabilities | None
    reference_panels: list[OfferedPanel]
    already_registered_id: strawberry.ID | None

    @classmethod
    def from_report(cls, report: ConnectionReport) -> ConnectionTest:
        caps = report.capabilities
        return cls(
            base_url=report.base_url,
            api_type=report.api_type,
            suggested_type=report.suggested_type,
            name=report.name,
            result=ProbeVerdict.from_value(report.result),
            capabilities=None if caps is None else Capabilities.from_value(caps),
            reference_panels=[] if caps is None else [OfferedPanel.from_value(p) for p in caps.panels],
            already_registered_id=_id(report.already_registered_id),
        )


def _id(value: int | None) -> strawberry.ID | None:
    return None if value is None else strawberry.ID(str(value))


@strawberry.type
class DiscoveredService:
    base_url: str
    api_type: ApiType
    suggested_type: ServiceType
    name: str | None
    result: ProbeVerdict
    capabilities: Capabilities | None
    listed_by: str | None = strawberry.field(description="The registry that listed it; null for the URL given")
    registered_id: strawberry.ID | None
    newly_registered: bool

    @classmethod
    def from_candidate(cls, candidate: DiscoveryCandidate) -> DiscoveredService:
        found = candidate.service
        return cls(
            base_url=found.base_url,
            api_type=found.api_type,
            suggested_type=found.service_type,
            name=found.name,
            result=ProbeVerdict.from_value(found.result),
            capabilities=None if found.capabilities is None else Capabilities.from_value(found.capabilities),
            listed_by=found.listed_by,
            registered_id=_id(candidate.registered_id),
            newly_registered=candidate.newly_registered,
        )


@strawberry.type(description="A found service that could not be registered, with the error's code")
class DiscoveryIssue:
    base_url: str
    name: str | None
    code: str
    message: str
    field: str | None

    @classmethod
    def from_error(cls, error: DiscoveryError) -> DiscoveryIssue:
        return cls(base_url=error.base_url, name=error.name, code=error.code, message=error.message, field=error.field)


@strawberry.type
class DiscoveryResult:
    url: str
    result: ProbeVerdict = strawberry.field(description="The verdict on the URL itself")
    services: list[DiscoveredService]
    issues: list[DiscoveryIssue]

    @classmethod
    def from_report(cls, report: DiscoveryReport) -> DiscoveryResult:
        return cls(
            url=report.url,
            result=ProbeVerdict.from_value(report.result),
            services=[DiscoveredService.from_candidate(c) for c in report.candidates],
            issues=[DiscoveryIssue.from_error(e) for e in report.errors],
        )


@strawberry.type(name="PanelSyncResult")
class PanelSync:
    service: Service
    synced: bool = strawberry.field(description="False: nothing was learned, stored panels were kept")
    message: str
    result: ProbeVerdict
    added: int
    updated: int
    reactivated: int
    deactivated: int
    unchanged: int
    panels: list[ReferencePanel]

    @classmethod
    def from_result(cls, outcome: PanelSyncResult) -> PanelSync:
        changes = outcome.changes
        return cls(
            service=Service.from_row(outcome.service),
            synced=outcome.is_synced,
            message=outcome.message,
            result=ProbeVerdict.from_value(outcome.result),
            added=changes.added,
            updated=changes.updated,
            reactivated=changes.reactivated,
            deactivated=changes.deactivated,
            unchanged=changes.unchanged,
            panels=[ReferencePanel.from_row(row) for row in changes.panels],
        )
