"""The interface every protocol adapter implements, the results they share, and `adapter_for`.

An adapter knows one protocol. `check` is the cheap health probe the loop runs; `discover`
also learns capabilities (panel sync is `discover(...).capabilities.panels`). Both return
values: a network or protocol failure is a `ProbeResult` with a `FailureKind`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any, Protocol

import aiohttp

from probes.http import HttpFailure, HttpLimits, HttpResponse, MalformedResponse, decode_json, fetch
from probes.redaction import redact
from probes.result import (
    ApiType,
    Capabilities,
    FailureKind,
    HealthStatus,
    PanelInfo,
    ProbeResult,
    ProbeTarget,
)


@dataclasses.dataclass(frozen=True, slots=True)
class Discovery:
    """A health result plus what discovery learned.

    `capabilities is None` means "could not learn this time" (down, maintenance, no token):
    callers must keep what they stored before rather than wipe it.
    """

    result: ProbeResult
    capabilities: Capabilities | None = None

    @property
    def panels(self) -> tuple[PanelInfo, ...] | None:
        return None if self.capabilities is None else self.capabilities.panels


class Adapter(Protocol):
    """One protocol. Implementations hold no state, so one instance may serve every target."""

    api_type: ApiType

    async def check(self, http: aiohttp.ClientSession, target: ProbeTarget, limits: HttpLimits) -> ProbeResult: ...

    async def discover(self, http: aiohttp.ClientSession, target: ProbeTarget, limits: HttpLimits) -> Discovery: ...


def adapter_for(api_type: ApiType) -> Adapter:
    """The adapter for a protocol; adding one means a line here and its own module."""
    # Imported here because each adapter module imports this one for `Discovery` and the helpers.
    from probes import cloudgene, dnastack, ga4gh_registry, ga4gh_service_info, ga4gh_wes

    adapters: Mapping[ApiType, type[Adapter]] = {
        ApiType.CLOUDGENE: cloudgene.CloudgeneAdapter,
        ApiType.GA4GH_WES: ga4gh_wes.WesAdapter,
        ApiType.GA4GH_SERVICE_INFO: ga4gh_service_info.ServiceInfoAdapter,
        ApiType.GA4GH_SERVICE_REGISTRY: ga4gh_registry.RegistryAdapter,
        ApiType.DNASTACK: dnastack.DnastackAdapter,
    }
    return adapters[api_type]()


async def check(http: aiohttp.ClientSession, target: ProbeTarget, limits: HttpLimits) -> ProbeResult:
    """Health-check `target` with the adapter for its `api_type`; the credential never comes back in it."""
    return redact(await adapter_for(target.api_type).check(http, target, limits), target.credential)


async def discover(http: aiohttp.ClientSession, target: ProbeTarget, limits: HttpLimits) -> Discovery:
    """Health plus capabilities (and reference panels) of `target`; the credential never comes back in them."""
    return redact(await adapter_for(target.api_type).discover(http, target, limits), target.credential)


# Shared result builders -------------------------------------------------------------------


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def bearer(target: ProbeTarget) -> dict[str, str]:
    """GA4GH and DNAstack credentials: OAuth2 bearer, only when one is configured."""
    return {"Authorization": f"Bearer {target.credential}"} if target.credential else {}


def failed(failure: HttpFailure) -> ProbeResult:
    """No usable answer at all: the service is down from where we stand."""
    return ProbeResult(
        status=HealthStatus.UNHEALTHY,
        checked_at=now(),
        response_time_ms=failure.elapsed_ms,
        http_status=failure.http_status,
        failure_kind=failure.kind,
        message=failure.message,
    )


def malformed(resp: HttpResponse, exc: MalformedResponse, what: str) -> ProbeResult:
    """A 2xx whose body is not the protocol's: a proxy page, an error page, another API."""
    return ProbeResult(
        status=HealthStatus.UNHEALTHY,
        checked_at=now(),
        response_time_ms=resp.elapsed_ms,
        http_status=resp.status,
        failure_kind=exc.kind,
        message=f"{what}: {exc}",
    )


def unexpected_status(resp: HttpResponse, *, credential_sent: bool) -> ProbeResult:
    """Non-2xx answers every protocol treats alike.

    401/403 prove the service is alive. With a credential that was sent and refused the
    result is DEGRADED/AUTH (someone must fix the credential); without one it is HEALTHY,
    since the caller never promised access.
    """
    base = ProbeResult(
        status=HealthStatus.UNHEALTHY,
        checked_at=now(),
        response_time_ms=resp.elapsed_ms,
        http_status=resp.status,
    )
    if resp.status in (401, 403):
        if credential_sent:
            return dataclasses.replace(
                base,
                status=HealthStatus.DEGRADED,
                failure_kind=FailureKind.AUTH,
                message=f"alive, but the credential was refused (HTTP {resp.status})",
            )
        return dataclasses.replace(
            base, status=HealthStatus.HEALTHY, message=f"alive; requires authentication (HTTP {resp.status})"
        )
    if resp.status >= 500:
        return dataclasses.replace(base, failure_kind=FailureKind.HTTP_5XX, message=f"HTTP {resp.status}")
    if resp.status >= 400:
        return dataclasses.replace(base, failure_kind=FailureKind.HTTP_4XX, message=f"HTTP {resp.status}")
    return dataclasses.replace(
        base, failure_kind=FailureKind.INVALID_RESPONSE, message=f"unexpected HTTP {resp.status}"
    )


@dataclasses.dataclass(frozen=True, slots=True)
class JsonAnswer:
    """A 2xx response whose body parsed as JSON (of any shape: the protocol parser checks it)."""

    response: HttpResponse
    doc: Any


async def get_json(
    http: aiohttp.ClientSession,
    target: ProbeTarget,
    url: str,
    limits: HttpLimits,
    *,
    auth_headers: Mapping[str, str] | None = None,
    what: str,
    timeout_s: float | None = None,
) -> JsonAnswer | ProbeResult:
    """GET and decode JSON; anything short of a 2xx JSON body comes back as a finished result."""
    got = await fetch(http, target, url, limits, auth_headers=auth_headers, timeout_s=timeout_s)
    if isinstance(got, HttpFailure):
        return failed(got)
    if not 200 <= got.status < 300:
        return unexpected_status(got, credential_sent=got.credential_sent)
    try:
        doc = decode_json(got.body)
    except MalformedResponse as exc:
        return malformed(got, exc, what)
    return JsonAnswer(got, doc)


def healthy(resp: HttpResponse, message: str = "", **fields: Any) -> ProbeResult:
    return ProbeResult(
        status=HealthStatus.HEALTHY,
        checked_at=now(),
        response_time_ms=resp.elapsed_ms,
        http_status=resp.status,
        message=message,
        **fields,
    )


# Lenient field access for parsers ---------------------------------------------------------


def as_object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedResponse(f"{what} is not a JSON object")
    return value


def get_str(doc: Mapping[str, Any], key: str) -> str | None:
    """The value if it is a string; servers put nulls and numbers where strings belong."""
    value = doc.get(key)
    return value if isinstance(value, str) else None


def get_list(doc: Mapping[str, Any], key: str) -> list[Any]:
    value = doc.get(key)
    return value if isinstance(value, list) else []


def get_dict(doc: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key)
    return value if isinstance(value, dict) else {}


def strings(values: Any) -> tuple[str, ...]:
    """The string items of a list, in order; anything else yields nothing."""
    if not isinstance(values, list):
        return ()
    return tuple(v for v in values if isinstance(v, str))
