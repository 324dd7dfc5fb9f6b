"""Value types that cross every boundary: what a probe is pointed at and what it learned.

Any package may import this module; it imports nothing from Vigil. A failed probe is a
`ProbeResult` with a `FailureKind`, never an exception, so the probe loop can store it like
any other observation.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from enum import StrEnum


class ApiType(StrEnum):
    """The protocol a probe speaks to a service."""

    CLOUDGENE = "CLOUDGENE"
    GA4GH_WES = "GA4GH_WES"
    GA4GH_SERVICE_INFO = "GA4GH_SERVICE_INFO"
    GA4GH_SERVICE_REGISTRY = "GA4GH_SERVICE_REGISTRY"
    DNASTACK = "DNASTACK"


class ServiceType(StrEnum):
    """Which family of the platform runs a service (independent of its protocol)."""

    MICHIGAN = "MICHIGAN"
    H3AFRICA = "H3AFRICA"
    GA4GH = "GA4GH"
    DNASTACK = "DNASTACK"


class HealthStatus(StrEnum):
    HEALTHY = "HEALTHY"
    DEGRADED = "DEGRADED"
    UNHEALTHY = "UNHEALTHY"
    MAINTENANCE = "MAINTENANCE"
    UNKNOWN = "UNKNOWN"


class FailureKind(StrEnum):
    """Why a check did not come back clean; None on a result means nothing went wrong."""

    DNS = "DNS"
    CONNECT = "CONNECT"
    TIMEOUT = "TIMEOUT"
    TLS = "TLS"
    HTTP_5XX = "HTTP_5XX"
    HTTP_4XX = "HTTP_4XX"
    AUTH = "AUTH"
    INVALID_RESPONSE = "INVALID_RESPONSE"
    PROTOCOL_MISMATCH = "PROTOCOL_MISMATCH"
    TOO_LARGE = "TOO_LARGE"
    REDIRECT = "REDIRECT"
    FORBIDDEN_ADDRESS = "FORBIDDEN_ADDRESS"
    CIRCUIT_OPEN = "CIRCUIT_OPEN"
    INTERNAL = "INTERNAL"


class CircuitState(StrEnum):
    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


class GenomeBuild(StrEnum):
    HG19 = "HG19"
    HG38 = "HG38"


@dataclasses.dataclass(frozen=True, slots=True)
class ProbeTarget:
    """Everything a probe needs to reach one service; `credential` is already decrypted."""

    base_url: str
    api_type: ApiType
    credential: str | None = None
    timeout_seconds: float = 10.0
    verify_tls: bool = True
    service_id: int | None = None

    def __repr__(self) -> str:
        # A target ends up in logs and tracebacks: never show the credential.
        secret = "set" if self.credential else "none"
        return (
            f"ProbeTarget(base_url={self.base_url!r}, api_type={self.api_type.value}, "
            f"credential={secret}, service_id={self.service_id})"
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Population:
    key: str
    name: str


@dataclasses.dataclass(frozen=True, slots=True)
class PanelInfo:
    """A reference panel as the service names it; `key` is kept verbatim for job submission."""

    key: str
    label: str
    build: GenomeBuild | None = None
    populations: tuple[Population, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class WorkflowType:
    name: str
    versions: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class Engine:
    name: str
    versions: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class Capabilities:
    """What discovery learned about a service; empty tuples mean "not offered or not known"."""

    name: str | None = None
    description: str | None = None
    service_version: str | None = None
    app_id: str | None = None
    app_version: str | None = None
    service_type: str | None = None  # "group:artifact:version" from service-info
    organization: str | None = None
    builds: tuple[GenomeBuild, ...] = ()
    input_formats: tuple[str, ...] = ()
    engines: tuple[Engine, ...] = ()
    modes: tuple[str, ...] = ()
    workflow_types: tuple[WorkflowType, ...] = ()
    filesystem_protocols: tuple[str, ...] = ()
    wes_versions: tuple[str, ...] = ()
    system_state_counts: tuple[tuple[str, int], ...] = ()
    panels: tuple[PanelInfo, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class ProbeResult:
    """One observation of one service. `message` is written for humans, never a raw body."""

    status: HealthStatus
    checked_at: dt.datetime
    response_time_ms: float | None = None
    http_status: int | None = None
    failure_kind: FailureKind | None = None
    message: str = ""
    service_version: str | None = None
    maintenance_message: str | None = None
    queue_size: int | None = None

    @property
    def is_success(self) -> bool:
        """A success for the circuit breaker: the service answered as a live service does."""
        return self.status in (HealthStatus.HEALTHY, HealthStatus.DEGRADED, HealthStatus.MAINTENANCE)
