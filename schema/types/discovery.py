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
    status: HealthStatus = strawberry.field(description="What this probe observed (no hysteresis applied)")
    checked_at: dt.datetime = strawberry.field(description="When the check was made (UTC)")
    response_time_ms: float | None = strawberry.field(description="Time to the answer, in ms; null when none came")
    http_status: int | None = strawberry.field(description="HTTP status of the last response; null without one")
    failure_kind: FailureKind | None = strawberry.field(description="Why it failed; null when nothing went wrong")
    message: str = strawberry.field(description="What happened, for humans; never a raw response body")
    service_version: str | None = strawberry.field(description="The version the service reported, if any")
    maintenance_message: str | None = strawberry.field(description="The service's maintenance announcement, if any")
    queue_size: int | None = strawberry.field(description="Jobs waiting, when the service makes its queue public")

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
    key: str = strawberry.field(description="The service's own key: submit it verbatim")
    label: str = strawberry.field(description="Human-readable name")
    build: GenomeBuild | None = strawberry.field(description="Parsed from the label; null when the label does not say")
    populations: list[Population] = strawberry.field(
        description="Populations the panel covers; empty when not reported"
    )

    @classmethod
    def from_value(cls, panel: PanelInfo) -> OfferedPanel:
        return cls(
            key=panel.key,
            label=panel.label,
            build=panel.build,
            populations=[Population(key=p.key, name=p.name) for p in panel.populations],
        )


@strawberry.type(description="What testConnection found at a URL; nothing is stored")
class ConnectionTest:
    base_url: str = strawberry.field(description="Where the API answered (detection may add a path)")
    api_type: ApiType | None = strawberry.field(description="Null: no known protocol answered")
    suggested_type: ServiceType | None = strawberry.field(
        description="The service type registration would default to; null when no protocol answered"
    )
    name: str = strawberry.field(description="A name for the service: the one it reports, else its host")
    result: ProbeVerdict = strawberry.field(description="The probe's verdict")
    capabilities: Capabilities | None = strawberry.field(
        description="What the service offers; null when nothing was learned"
    )
    reference_panels: list[OfferedPanel] = strawberry.field(description="Panels it offers (Cloudgene), not stored")
    already_registered_id: strawberry.ID | None = strawberry.field(
        description="The registered service at this base URL, if there is one"
    )

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


@strawberry.type(description="A service discovery found: the URL itself, or one a registry there listed")
class DiscoveredService:
    base_url: str = strawberry.field(description="Where its API answers")
    api_type: ApiType = strawberry.field(description="The protocol that answered")
    suggested_type: ServiceType = strawberry.field(description="The service type registration would use")
    name: str | None = strawberry.field(description="Its name, as reported or listed; null when unknown")
    result: ProbeVerdict = strawberry.field(description="The probe's verdict on it")
    capabilities: Capabilities | None = strawberry.field(description="What it offers; null when nothing was learned")
    listed_by: str | None = strawberry.field(description="The registry that listed it; null for the URL given")
    registered_id: strawberry.ID | None = strawberry.field(
        description="Its id when registered (now or before); null when not registered"
    )
    newly_registered: bool = strawberry.field(description="True when this call registered it")

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
    base_url: str = strawberry.field(description="The service's URL")
    name: str | None = strawberry.field(description="Its name, if known")
    code: str = strawberry.field(description="The error's extensions.code, e.g. CONFLICT or BAD_USER_INPUT")
    message: str = strawberry.field(description="The error message")
    field: str | None = strawberry.field(description="The input field at fault, for BAD_USER_INPUT; else null")

    @classmethod
    def from_error(cls, error: DiscoveryError) -> DiscoveryIssue:
        return cls(base_url=error.base_url, name=error.name, code=error.code, message=error.message, field=error.field)


@strawberry.type(description="What discoverServices found at a URL and, with register: true, what it registered")
class DiscoveryResult:
    url: str = strawberry.field(description="The URL asked about")
    result: ProbeVerdict = strawberry.field(description="The verdict on the URL itself")
    services: list[DiscoveredService] = strawberry.field(
        description="Services found: the URL itself and what registries there list"
    )
    issues: list[DiscoveryIssue] = strawberry.field(description="Services that were found but could not be registered")

    @classmethod
    def from_report(cls, report: DiscoveryReport) -> DiscoveryResult:
        return cls(
            url=report.url,
            result=ProbeVerdict.from_value(report.result),
            services=[DiscoveredService.from_candidate(c) for c in report.candidates],
            issues=[DiscoveryIssue.from_error(e) for e in report.errors],
        )


@strawberry.type(name="PanelSyncResult", description="What syncReferencePanels changed")
class PanelSync:
    service: Service = strawberry.field(description="The service, after the sync")
    synced: bool = strawberry.field(description="False: nothing was learned, stored panels were kept")
    message: str = strawberry.field(description="What happened, for humans")
    result: ProbeVerdict = strawberry.field(description="The verdict of the probe that fetched the panels")
    added: int = strawberry.field(description="Panels seen for the first time")
    updated: int = strawberry.field(description="Panels whose label, build or populations changed")
    reactivated: int = strawberry.field(description="Inactive panels offered again")
    deactivated: int = strawberry.field(description="Panels no longer offered, now inactive (never deleted)")
    unchanged: int = strawberry.field(description="Panels offered as before")
    panels: list[ReferencePanel] = strawberry.field(
        description="The service's panels after the sync, active and inactive"
    )

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
