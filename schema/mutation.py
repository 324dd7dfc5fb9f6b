"""Root mutations: role check, resolver call, conversion. Admin changes are audited in resolvers."""

from __future__ import annotations

import strawberry

from models import Role
from resolvers import registration, tokens, transfer
from resolvers.services import parse_id
from schema.context import Info
from schema.permissions import require
from schema.types.inputs import RegisterServiceInput, UpdateServiceInput
from schema.types.payloads import ApiToken, CreatedApiToken, DeleteServicePayload, ImportResult, ServicePayload
from schema.types.service import Service


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Register a service; without apiType the protocol is detected")
    async def register_service(self, info: Info, input: RegisterServiceInput) -> ServicePayload:
        principal = await require(info, Role.ADMIN)
        row = await registration.register_service(info.context.deps, input.to_fields(), principal.actor())
        return ServicePayload(service=Service.from_row(row))

    @strawberry.mutation
    async def update_service(self, info: Info, id: strawberry.ID, input: UpdateServiceInput) -> ServicePayload:
        principal = await require(info, Role.ADMIN)
        row = await registration.update_service(info.context.deps, parse_id(id), input.to_fields(), principal.actor())
        return ServicePayload(service=Service.from_row(row))

    @strawberry.mutation(description="Delete with history, panels and dependencies; CONFLICT while required by another")
    async def delete_service(self, info: Info, id: strawberry.ID) -> DeleteServicePayload:
        principal = await require(info, Role.ADMIN)
        row = await registration.delete_service(info.context.deps, parse_id(id), principal.actor())
        return DeleteServicePayload(id=strawberry.ID(str(row.id)), name=row.name, deleted=True)

    @strawberry.mutation(description="Idempotent: services are matched by name; all or nothing")
    async def import_services(self, info: Info, document: str) -> ImportResult:
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
    async def create_api_token(self, info: Info, name: str, role: Role) -> CreatedApiToken:
        principal = await require(info, Role.ADMIN)
        row, secret = await tokens.create_token(name, role, principal.actor())
        return CreatedApiToken(token=ApiToken.from_row(row), secret=secret)

    @strawberry.mutation
    async def revoke_api_token(self, info: Info, id: strawberry.ID) -> bool:
        principal = await require(info, Role.ADMIN)
        return await tokens.revoke_token(parse_id(id), principal.actor())
