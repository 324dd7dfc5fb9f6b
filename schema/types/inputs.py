"""Inputs of the registration wizard, admin scripts and GraphiQL."""

from __future__ import annotations

import strawberry

from resolvers.registration import ServiceFields
from schema.types.enums import ApiType, ServiceType


def _given(value: object) -> object:
    return None if value is strawberry.UNSET else value


@strawberry.input(description="A service to register; omitted settings take the VIGIL_* defaults")
class RegisterServiceInput:
    name: str = strawberry.field(description="Unique name")
    type: ServiceType = strawberry.field(
        description="Who runs it (grouping and filtering only; does not change the probe)"
    )
    base_url: str = strawberry.field(description="http(s) URL of its API; must not resolve to a forbidden address")
    api_type: ApiType | None = strawberry.field(default=None, description="Omitted: detected as testConnection does")
    description: str | None = strawberry.field(default=None, description="Free text; omitted: empty")
    location: str | None = strawberry.field(
        default=None, description="Where it runs, e.g. a country or region; omitted: empty"
    )
    credential: str | None = strawberry.field(default=None, description="Write-only API key or token")
    check_interval_seconds: int | None = strawberry.field(
        default=None, description="Seconds between checks; omitted: VIGIL_DEFAULT_CHECK_INTERVAL_SECONDS"
    )
    timeout_seconds: float | None = strawberry.field(
        default=None, description="Probe timeout in seconds; omitted: VIGIL_DEFAULT_TIMEOUT_SECONDS"
    )
    is_active: bool | None = strawberry.field(
        default=None, description="false registers it without probing; omitted: true"
    )
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
    name: str | None = strawberry.field(default=strawberry.UNSET, description="New unique name")
    type: ServiceType | None = strawberry.field(default=strawberry.UNSET, description="Who runs it")
    api_type: ApiType | None = strawberry.field(default=strawberry.UNSET, description="The protocol to probe with")
    base_url: str | None = strawberry.field(default=strawberry.UNSET, description="http(s) URL of its API")
    description: str | None = strawberry.field(default=strawberry.UNSET, description="Free text")
    location: str | None = strawberry.field(default=strawberry.UNSET, description="Where it runs")
    credential: str | None = strawberry.field(
        default=strawberry.UNSET, description="Write-only API key or token; an empty string removes the stored one"
    )
    check_interval_seconds: int | None = strawberry.field(
        default=strawberry.UNSET, description="Seconds between checks, within VIGIL_MIN/MAX_CHECK_INTERVAL_SECONDS"
    )
    timeout_seconds: float | None = strawberry.field(
        default=strawberry.UNSET, description="Probe timeout in seconds, at most VIGIL_MAX_TIMEOUT_SECONDS"
    )
    is_active: bool | None = strawberry.field(
        default=strawberry.UNSET, description="false stops probing; true resumes it"
    )
    verify_tls: bool | None = strawberry.field(
        default=strawberry.UNSET, description="false accepts self-signed certificates (test servers only)"
    )
    sla_target: float | None = strawberry.field(
        default=strawberry.UNSET, description="Availability target as a share (0.999 for 99.9%)"
    )
    cost_per_job: float | None = strawberry.field(
        default=strawberry.UNSET, description="What one imputation job costs here (for analytics)"
    )

    def to_fields(self) -> ServiceFields:
        return ServiceFields(**{f: _given(getattr(self, f)) for f in ServiceFields.__dataclass_fields__})  # type: ignore[arg-type]


@strawberry.input(description="A URL to probe as registration would")
class TestConnectionInput:
    base_url: str = strawberry.field(description="http(s) URL to probe")
    api_type: ApiType | None = strawberry.field(
        default=None, description="The protocol to try; omitted: each known protocol is tried in turn"
    )
    credential: str | None = strawberry.field(
        default=None, description="API key or token, sent only to this URL's origin; not stored"
    )
