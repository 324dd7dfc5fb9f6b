"""The contract's enums, exposed from the value types the rest of Vigil already uses."""

from __future__ import annotations

from enum import StrEnum

import strawberry

from models.access import Role as RoleValue
from probes.result import ApiType as ApiTypeValue
from probes.result import CircuitState as CircuitStateValue
from probes.result import FailureKind as FailureKindValue
from probes.result import GenomeBuild as GenomeBuildValue
from probes.result import HealthStatus as HealthStatusValue
from probes.result import ServiceType as ServiceTypeValue

ServiceType = strawberry.enum(ServiceTypeValue, name="ServiceType", description="Who runs a service")
ApiType = strawberry.enum(ApiTypeValue, name="ApiType", description="The protocol a probe speaks to it")
HealthStatus = strawberry.enum(HealthStatusValue, name="HealthStatus")
CircuitState = strawberry.enum(CircuitStateValue, name="CircuitState")
GenomeBuild = strawberry.enum(GenomeBuildValue, name="GenomeBuild")
FailureKind = strawberry.enum(FailureKindValue, name="FailureKind", description="Why a check failed")
Role = strawberry.enum(RoleValue, name="Role")


@strawberry.enum(description="How far back a trend or uptime figure looks")
class TrendWindow(StrEnum):
    LAST_HOUR = "LAST_HOUR"
    LAST_24_HOURS = "LAST_24_HOURS"
    LAST_7_DAYS = "LAST_7_DAYS"
    LAST_30_DAYS = "LAST_30_DAYS"
