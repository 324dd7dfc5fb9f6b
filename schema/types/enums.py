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


def _describe_values(enum: type[StrEnum], **descriptions: str) -> None:
    """Attach a description to every value of a wrapped enum: strawberry.enum() takes none for a class it
    did not define. Missing or unknown names raise at import, so a new value cannot go undescribed."""
    values = enum.__strawberry_definition__.values  # type: ignore[attr-defined]
    names = {v.name for v in values}
    if names != descriptions.keys():
        raise ValueError(f"{enum.__name__}: describe exactly {sorted(names)}, got {sorted(descriptions)}")
    for value in values:
        value.description = descriptions[value.name]


ServiceType = strawberry.enum(ServiceTypeValue, name="ServiceType", description="Who runs a service")
_describe_values(
    ServiceType,
    MICHIGAN="Michigan Imputation Server family (Michigan, TOPMed)",
    H3AFRICA="H3Africa family (AfriGen-D, eLwazi)",
    GA4GH="Any other GA4GH service",
    DNASTACK="DNAstack Explorer, viral.ai or Workbench registry, and what it lists",
)
ApiType = strawberry.enum(ApiTypeValue, name="ApiType", description="The protocol a probe speaks to it")
_describe_values(
    ApiType,
    CLOUDGENE="Cloudgene server API (/api/v2/server and its apps): Michigan, TOPMed, AfriGen-D",
    GA4GH_WES="GA4GH Workflow Execution Service (service-info and system state counts)",
    GA4GH_SERVICE_INFO="GA4GH service-info only",
    GA4GH_SERVICE_REGISTRY="GA4GH Service Registry: listed services can be discovered",
    DNASTACK="DNAstack service registry: listed services can be discovered",
)
HealthStatus = strawberry.enum(
    HealthStatusValue,
    name="HealthStatus",
    description="A service's health; published statuses pass hysteresis (docs/monitoring.md)",
)
_describe_values(
    HealthStatus,
    HEALTHY="The checks answered correctly",
    DEGRADED="Answers, but not fully (a refused credential, a missing app), or a required dependency is down",
    UNHEALTHY="Checks failed (published after two in a row); see the failure kind",
    MAINTENANCE="Announced by the service, or a scheduled window covers now; not downtime",
    UNKNOWN="Never checked yet, or only Vigil's own probe failed",
)
CircuitState = strawberry.enum(
    CircuitStateValue, name="CircuitState", description="The per-service circuit breaker that pauses probing"
)
_describe_values(
    CircuitState,
    CLOSED="Probed on schedule",
    OPEN="Too many failures in a row: not probed until the backoff elapses",
    HALF_OPEN="Trial probes let through; enough successes close it, any failure reopens it",
)
GenomeBuild = strawberry.enum(GenomeBuildValue, name="GenomeBuild", description="Human reference genome build")
_describe_values(GenomeBuild, HG19="GRCh37 / hg19", HG38="GRCh38 / hg38")
FailureKind = strawberry.enum(FailureKindValue, name="FailureKind", description="Why a check failed")
_describe_values(
    FailureKind,
    DNS="The host name does not resolve",
    CONNECT="No TCP connection: refused, unreachable, or reset before an answer",
    TIMEOUT="No complete answer within the service's timeoutSeconds",
    TLS="The TLS handshake or certificate check failed",
    HTTP_5XX="The server answered 5xx (a 503 announcing maintenance is MAINTENANCE instead)",
    HTTP_4XX="A 4xx other than authentication, usually a wrong path",
    AUTH="401/403, or the service refused the credential",
    INVALID_RESPONSE="Not what the protocol promises: not JSON, wrong types, cut off, an unexpected status",
    PROTOCOL_MISMATCH="Valid JSON of another protocol: the apiType is probably wrong",
    TOO_LARGE="The body went past VIGIL_MAX_RESPONSE_BYTES",
    REDIRECT="Too many redirects, a loop, or a redirect to a non-http(s) URL",
    FORBIDDEN_ADDRESS="The address is one probes may not reach (loopback, private, link-local, cloud metadata)",
    CIRCUIT_OPEN="Reserved for a check refused by the circuit breaker (not recorded today)",
    INTERNAL="Vigil's own probe crashed; the status is UNKNOWN and the traceback is in the log",
)
Role = strawberry.enum(
    RoleValue, name="Role", description="What an API token may do; each role includes the ones before"
)
_describe_values(
    Role,
    VIEWER="Read queries and subscriptions",
    OPERATOR="Also run checks, sync panels, test connections, discover and schedule maintenance",
    ADMIN="Also register, update, delete and import services, set dependencies and manage tokens",
)


@strawberry.enum(description="How far back a trend or uptime figure looks; each ends now")
class TrendWindow(StrEnum):
    LAST_HOUR = "LAST_HOUR"
    LAST_24_HOURS = "LAST_24_HOURS"
    LAST_7_DAYS = "LAST_7_DAYS"
    LAST_30_DAYS = "LAST_30_DAYS"


_describe_values(
    TrendWindow,
    LAST_HOUR="The last 60 minutes",
    LAST_24_HOURS="The last 24 hours",
    LAST_7_DAYS="The last 7 days",
    LAST_30_DAYS="The last 30 days",
)


class _ServiceAlertRule(StrEnum):
    SERVICE_UNHEALTHY = "service_unhealthy"
    FAILURE_RATE = "failure_rate"
    SLOW_RESPONSE = "slow_response"


ServiceAlertRule = strawberry.enum(
    _ServiceAlertRule,
    name="ServiceAlertRule",
    description="A per-service alert rule; the platform rules are global only",
)
_describe_values(
    ServiceAlertRule,
    SERVICE_UNHEALTHY="Published UNHEALTHY for longer than the threshold, in seconds",
    FAILURE_RATE="Failed checks in the window above the threshold, a share (0.1 for 10%)",
    SLOW_RESPONSE="Mean response time in the window above the threshold, in milliseconds",
)
