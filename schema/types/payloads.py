"""What mutations return."""

from __future__ import annotations

import datetime as dt

import strawberry

from models import ApiToken as TokenRow
from schema.types.enums import Role
from schema.types.service import Service


@strawberry.type(description="The service a mutation changed")
class ServicePayload:
    service: Service = strawberry.field(description="The service, after the change")


@strawberry.type(description="The service deleteService removed")
class DeleteServicePayload:
    id: strawberry.ID = strawberry.field(description="Id it had")
    name: str = strawberry.field(description="Name it had")
    deleted: bool = strawberry.field(description="Always true: a failed delete is an error")


@strawberry.type(description="What importServices did, by service name")
class ImportResult:
    created: list[str] = strawberry.field(description="Names of services created")
    updated: list[str] = strawberry.field(description="Names of existing services changed")
    unchanged: list[str] = strawberry.field(description="Names of services already as described")
    dependencies_set: int = strawberry.field(description="Dependencies created or changed")
    note: str = strawberry.field(description="A reminder that credentials are never exported and must be set again")


@strawberry.type(description="An API token; its secret is never shown again after creation")
class ApiToken:
    id: strawberry.ID = strawberry.field(description="Token id (revokeApiToken takes it)")
    name: str = strawberry.field(description="Who or what uses it")
    role: Role = strawberry.field(description="What it may do")
    prefix: str = strawberry.field(description="The first characters of the secret, to tell tokens apart")
    created_at: dt.datetime = strawberry.field(description="When it was created (UTC)")
    last_used_at: dt.datetime | None = strawberry.field(
        description="When it last authenticated a request (UTC, to the minute); null: never"
    )
    revoked_at: dt.datetime | None = strawberry.field(description="When it was revoked (UTC); null while valid")

    @classmethod
    def from_row(cls, row: TokenRow) -> ApiToken:
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            role=row.role,
            prefix=row.prefix,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
        )


@strawberry.type(description="A new token and its secret")
class CreatedApiToken:
    token: ApiToken = strawberry.field(description="The token")
    secret: str = strawberry.field(description="Shown this once: only its hash is stored")
