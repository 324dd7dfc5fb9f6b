"""What mutations return."""

from __future__ import annotations

import datetime as dt

import strawberry

from models import ApiToken as TokenRow
from schema.types.enums import Role
from schema.types.service import Service


@strawberry.type
class ServicePayload:
    service: Service


@strawberry.type
class DeleteServicePayload:
    id: strawberry.ID
    name: str
    deleted: bool


@strawberry.type
class ImportResult:
    created: list[str]
    updated: list[str]
    unchanged: list[str]
    dependencies_set: int
    note: str


@strawberry.type
class ApiToken:
    id: strawberry.ID
    name: str
    role: Role
    prefix: str = strawberry.field(description="The first characters of the secret, to tell tokens apart")
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None

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


@strawberry.type
class CreatedApiToken:
    token: ApiToken
    secret: str = strawberry.field(description="Shown this once: only its hash is stored")
