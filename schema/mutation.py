"""Root mutations: role check, resolver call, conversion. Admin changes are audited in resolvers."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry

from models import Role
from resolvers import (
    alert_overrides,
    connection,
    dependencies,
    discovery,
    health,
    maintenance,
    panels,
    registration,
    tokens,
    transfer,
)
from resolvers.services import parse_id
from schema.context import Info
from schema.permissions import require
from schema.types.discovery import ConnectionTest, DiscoveryResult, PanelSync
from schema.types.enums import ServiceAlertRule
from schema.types.health import HealthCheck
from schema.types.inputs import RegisterServiceInput, TestConnectionInput, UpdateServiceInput
from schema.types.maintenance import MaintenanceWindow
from schema.types.payloads import ApiToken, CreatedApiToken, DeleteServicePayload, ImportResult, ServicePayload
from schema.types.service import Service


@strawberry.type(description="Changes; the role each needs is in docs/api.md (OPERATOR or ADMIN)")
class Mutation:
    @strawberry.mutation(description="Register a service; without apiType the protocol is detected")
    async def register_service(
        self,
        info: Info,
        input: Annotated[RegisterServiceInput, strawberry.argument(description="The service to register")],
    ) -> ServicePayload:
        principal = await require(info, Role.ADMIN)
        row = await registration.register_service(info.context.deps, input.to_fields(), principal.actor())
        return ServicePayload(service=Service.from_row(row))

    @strawberry.mutation(description="Change a service's settings; only the fields given change")
    async def update_service(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The service; NOT_FOUND when there is none")],
        input: Annotated[UpdateServiceInput, strawberry.argument(description="The fields to change")],
    ) -> ServicePayload:
        principal = await require(info, Role.ADMIN)
        row = await registration.update_service(info.context.deps, parse_id(id), input.to_fields(), principal.actor())
        return ServicePayload(service=Service.from_row(row))

    @strawberry.mutation(description="Delete with history, panels and dependencies; CONFLICT while required by another")
    async def delete_service(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The service; NOT_FOUND when there is none")],
    ) -> DeleteServicePayload:
        principal = await require(info, Role.ADMIN)
        row = await registration.delete_service(info.context.deps, parse_id(id), principal.actor())
        return DeleteServicePayload(id=strawberry.ID(str(row.id)), name=row.name, deleted=True)

    @strawberry.mutation(description="Idempotent: services are matched by name; all or nothing")
    async def import_services(
        self,
        info: Info,
        document: Annotated[
            str, strawberry.argument(description="A JSON document as exportServices or vigil export writes it")
        ],
    ) -> ImportResult:
        principal = await require(info, Role.ADMIN)
        outcome = await transfer.import_document(info.context.deps, document, principal.actor())
        return ImportResult(
            created=outcome.created,
            updated=outcome.updated,
            unchanged=outcome.unchanged,
            dependencies_set=outcome.dependencies_set,
            note=transfer.CREDENTIAL_NOTE,
        )

    @strawberry.mutation(description="The secret is in the answer, once; only its hash is stored")
    async def create_api_token(
        self,
        info: Info,
        name: Annotated[str, strawberry.argument(description="Who or what will use it")],
        role: Annotated[Role, strawberry.argument(description="What it may do")],
    ) -> CreatedApiToken:
        principal = await require(info, Role.ADMIN)
        row, secret = await tokens.create_token(name, role, principal.actor())
        return CreatedApiToken(token=ApiToken.from_row(row), secret=secret)

    @strawberry.mutation(
        description=(
            "Revoke a token at once, closing its open WebSockets (code 4403); "
            "true when it was valid until now, false when already revoked"
        )
    )
    async def revoke_api_token(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The token (ApiToken.id)")]
    ) -> bool:
        principal = await require(info, Role.ADMIN)
        return await tokens.revoke_token(info.context.deps.broker, parse_id(id), principal.actor())

    @strawberry.mutation(description="Probe and discover a URL as registration would; stores nothing")
    async def test_connection(
        self, info: Info, input: Annotated[TestConnectionInput, strawberry.argument(description="What to probe")]
    ) -> ConnectionTest:
        await require(info, Role.OPERATOR)
        report = await connection.test_connection(info.context.deps, input.base_url, input.api_type, input.credential)
        return ConnectionTest.from_report(report)

    @strawberry.mutation(description="Detect what answers at a URL, crawl registries; register: true adds new ones")
    async def discover_services(
        self,
        info: Info,
        url: Annotated[
            str,
            strawberry.argument(
                description="An http(s) URL: a service, or a registry whose listed services are probed too"
            ),
        ],
        register: Annotated[
            bool, strawberry.argument(description="Register what is new (needs ADMIN); nothing is registered twice")
        ] = False,
        credential: Annotated[
            str | None,
            strawberry.argument(description="Sent only to the URL's own origin; stored with what registers there"),
        ] = None,
    ) -> DiscoveryResult:
        principal = await require(info, Role.ADMIN if register else Role.OPERATOR)
        report = await discovery.discover(info.context.deps, url, register, principal.actor(), credential=credential)
        return DiscoveryResult.from_report(report)

    @strawberry.mutation(description="Fetch panels now; vanished panels become inactive, never deleted")
    async def sync_reference_panels(
        self,
        info: Info,
        service_id: Annotated[
            strawberry.ID, strawberry.argument(description="The service; NOT_FOUND when there is none")
        ],
    ) -> PanelSync:
        principal = await require(info, Role.OPERATOR)
        outcome = await panels.sync_reference_panels(
            info.context.deps, parse_id(service_id, "serviceId"), principal.actor()
        )
        return PanelSync.from_result(outcome)

    @strawberry.mutation(description="Probe now, bypassing the schedule and the breaker; the check is recorded")
    async def check_service_health(
        self,
        info: Info,
        service_id: Annotated[
            strawberry.ID, strawberry.argument(description="The service; NOT_FOUND when there is none")
        ],
    ) -> HealthCheck:
        principal = await require(info, Role.OPERATOR)
        row = await health.check_service_health(info.context.deps, parse_id(service_id, "serviceId"), principal.actor())
        return HealthCheck.from_row(row)

    @strawberry.mutation(description="A required dependency blocks deleting the service depended on")
    async def set_service_dependency(
        self,
        info: Info,
        service_id: Annotated[strawberry.ID, strawberry.argument(description="The service that needs the other")],
        depends_on_id: Annotated[strawberry.ID, strawberry.argument(description="The service it needs")],
        required: Annotated[
            bool,
            strawberry.argument(description="Blocks deleting the one needed, and degrades this one while it is down"),
        ] = True,
    ) -> ServicePayload:
        principal = await require(info, Role.ADMIN)
        row = await dependencies.set_dependency(
            info.context.deps,
            parse_id(service_id, "serviceId"),
            parse_id(depends_on_id, "dependsOnId"),
            required,
            principal.actor(),
        )
        return ServicePayload(service=Service.from_row(row))

    @strawberry.mutation(
        description="Give one service its own threshold for a rule, or switch the rule off for it; the next "
        "evaluation pass uses it"
    )
    async def set_alert_override(
        self,
        info: Info,
        service_id: Annotated[strawberry.ID, strawberry.argument(description="The service")],
        rule: Annotated[ServiceAlertRule, strawberry.argument(description="The rule")],
        threshold: Annotated[
            float | None,
            strawberry.argument(description="In the rule's unit; null keeps the global threshold (VIGIL_ALERT_*)"),
        ] = None,
        enabled: Annotated[bool, strawberry.argument(description="false: never fire this rule for it")] = True,
    ) -> ServicePayload:
        principal = await require(info, Role.ADMIN)
        row = await alert_overrides.set_override(
            parse_id(service_id, "serviceId"), rule.value, threshold, enabled, principal.actor()
        )
        return ServicePayload(service=Service.from_row(row))

    @strawberry.mutation(description="Back to the global settings for a rule; nothing to remove is not an error")
    async def remove_alert_override(
        self,
        info: Info,
        service_id: Annotated[strawberry.ID, strawberry.argument(description="The service")],
        rule: Annotated[ServiceAlertRule, strawberry.argument(description="The rule")],
    ) -> ServicePayload:
        principal = await require(info, Role.ADMIN)
        row = await alert_overrides.remove_override(parse_id(service_id, "serviceId"), rule.value, principal.actor())
        return ServicePayload(service=Service.from_row(row))

    @strawberry.mutation(description="Remove a dependency set with setServiceDependency")
    async def remove_service_dependency(
        self,
        info: Info,
        service_id: Annotated[strawberry.ID, strawberry.argument(description="The service that needs the other")],
        depends_on_id: Annotated[strawberry.ID, strawberry.argument(description="The service it needs")],
    ) -> ServicePayload:
        principal = await require(info, Role.ADMIN)
        row = await dependencies.remove_dependency(
            info.context.deps,
            parse_id(service_id, "serviceId"),
            parse_id(depends_on_id, "dependsOnId"),
            principal.actor(),
        )
        return ServicePayload(service=Service.from_row(row))

    @strawberry.mutation(description="Checks inside the window count as MAINTENANCE, not downtime")
    async def schedule_maintenance(
        self,
        info: Info,
        service_id: Annotated[
            strawberry.ID, strawberry.argument(description="The service; NOT_FOUND when there is none")
        ],
        starts_at: Annotated[dt.datetime, strawberry.argument(description="Start (inclusive), with a timezone")],
        ends_at: Annotated[
            dt.datetime,
            strawberry.argument(description="End (exclusive), with a timezone; after startsAt, at most 30 days later"),
        ],
        reason: Annotated[
            str | None, strawberry.argument(description="Why, for the status page and the audit trail")
        ] = None,
    ) -> MaintenanceWindow:
        principal = await require(info, Role.OPERATOR)
        row = await maintenance.schedule_maintenance(
            info.context.deps, parse_id(service_id, "serviceId"), starts_at, ends_at, reason, principal.actor()
        )
        return MaintenanceWindow.from_row(row)
