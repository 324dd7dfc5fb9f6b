"""Inputs of the registration wizard, admin scripts and GraphiQL."""

from __future__ import annotations

import strawberry

from resolvers.registration import ServiceFields
from schema.types.enums import ApiType, ServiceType


def _given(value: object) -> object:
    return None if value is strawberry.UNSET else value


@strawberry.input
class RegisterServiceInput:
    name: str
    type: ServiceType
    base_url: str
    api_type: ApiType | None = strawberry.field(default=None, description="Omitted: detected as testConnection does")
    description: str | None = None
    location: str | None = None
    credential: str | None = strawberry.field(default=None, description="Write-only API key or token")
    check_interval_seconds: int | None = None
    timeout_seconds: float | None = None
    is_active: bool | None = None
    verify_tls: bool | None = strawberry.field(
        default=None, description="false accepts self-signed certificates (test servers only)"
    )
    sla_target: float | None = strawberry.field(
        default=None, description="Availability target as a share (0.999 for 99.9%); omitted: VIGIL_SLA_TARGET"
    )
    cost_per_job: float | None = strawberry.field(
        default=None, description="What one imputation job costs here, in the operator's currency (for analytics)"
    )

    def to_fields(self) -> ServiceFields:
        return ServiceFields(
            name=self.name,
            type=self.type,
            api_type=self.api_type,
            base_url=self.base_url,
            description=self.description,
            location=self.location,
            credential=self.credential,
            check_interval_seconds=self.check_interval_seconds,
            timeout_seconds=self.timeout_seconds,
            is_active=self.is_active,
            verify_tls=self.verify_tls,
            sla_target=self.sla_target,
            cost_per_job=self.cost_per_job,
        )


@strawberry.input(description='Every field optional; credential: "" removes the stored credential')
class UpdateServiceInput:
    name: str | None = strawberry.UNSET
    type: ServiceType | None = strawberry.UNSET
    api_type: ApiType | None = strawberry.UNSET
    base_url: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    location: str | None = strawberry.UNSET
    credential: str | None = strawberry.UNSET
    check_interval_seconds: int | None = strawberry.UNSET
    timeout_seconds: float | None = strawberry.UNSET
    is_active: bool | None = strawberry.UNSET
    verify_tls: bool | None = strawberry.UNSET
    sla_target: float | None = strawberry.field(
        default=strawberry.UNSET, description="Availability target as a share (0.999 for 99.9%)"
    )
    cost_per_job: float | None = strawberry.field(
        default=strawberry.UNSET, description="What one imputation job costs here (for analytics)"
    )

    def to_fields(self) -> ServiceFields:
        return ServiceFields(**{f: _given(getattr(self, f)) for f in ServiceFields.__dataclass_fields__})  # type: ignore[arg-type]


@strawberry.input
class TestConnectionInput:
    base_url: str
    api_type: ApiType | None = None
    credential: str | None = None
