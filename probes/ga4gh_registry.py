"""GA4GH Service Registry 1.0.0: `GET {base}/service-info` for health, `GET {base}/services` to list.

Each listed `ExternalService` is service-info plus a `url`. The entry's `type` decides which
adapter speaks to it: artifact `wes` -> WES, `service-registry` -> a registry (crawl it),
`cloudgene` in any group (there is no official Cloudgene type) -> Cloudgene, anything else
-> plain service-info. DNAstack's non-standard `authentication[]` is kept on the entry.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import aiohttp

from probes.adapter import (
    Discovery,
    JsonAnswer,
    bearer,
    get_json,
    get_str,
    healthy,
    malformed,
)
from probes.ga4gh_service_info import ServiceTypeRef, capabilities_of, fetch_service_info, parse_service_info
from probes.http import HttpLimits, MalformedResponse, join_url
from probes.result import ApiType, Capabilities, FailureKind, HealthStatus, ProbeResult, ProbeTarget


@dataclasses.dataclass(frozen=True, slots=True)
class AuthMethod:
    """One item of DNAstack's `authentication[]`: how to get a token for the listed service."""

    type: str | None
    grant_type: str | None = None
    client_id: str | None = None
    access_token_url: str | None = None
    device_code_url: str | None = None
    authorization_url: str | None = None
    resource: str | None = None
    scope: str | None = None
    redirect_url: str | None = None
    client_secret: str | None = dataclasses.field(default=None, repr=False)


@dataclasses.dataclass(frozen=True, slots=True)
class RegistryEntry:
    url: str
    api_type: ApiType
    id: str | None = None
    name: str | None = None
    type: ServiceTypeRef | None = None
    version: str | None = None
    organization: str | None = None
    authentication: tuple[AuthMethod, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class RegistryListing:
    """`entries is None` when the listing could not be read; `result` says why."""

    result: ProbeResult
    entries: tuple[RegistryEntry, ...] | None
    skipped: int = 0  # entries without a usable http(s) `url`


def api_type_for(type_ref: ServiceTypeRef | None) -> ApiType:
    artifact = "" if type_ref is None else type_ref.artifact.lower()
    if artifact == "wes":
        return ApiType.GA4GH_WES
    if artifact == "service-registry":
        return ApiType.GA4GH_SERVICE_REGISTRY
    if artifact == "cloudgene":
        return ApiType.CLOUDGENE
    return ApiType.GA4GH_SERVICE_INFO


def _auth_method(item: dict[str, Any]) -> AuthMethod:
    return AuthMethod(
        type=get_str(item, "type"),
        grant_type=get_str(item, "grantType"),
        client_id=get_str(item, "clientId"),
        access_token_url=get_str(item, "accessTokenUrl"),
        device_code_url=get_str(item, "deviceCodeUrl"),
        authorization_url=get_str(item, "authorizationUrl"),
        resource=get_str(item, "resource"),
        scope=get_str(item, "scope"),
        redirect_url=get_str(item, "redirectUrl"),
        client_secret=get_str(item, "clientSecret"),
    )


def parse_entry(item: Any) -> RegistryEntry | None:
    """One `ExternalService`, or None when it has no http(s) `url` to probe."""
    if not isinstance(item, dict):
        return None
    url = get_str(item, "url")
    if url is None or not url.lower().startswith(("http://", "https://")):
        return None
    info = parse_service_info(item)
    auth = item.get("authentication")
    methods = tuple(_auth_method(a) for a in auth if isinstance(a, dict)) if isinstance(auth, list) else ()
    return RegistryEntry(
        url=url,
        api_type=api_type_for(info.type),
        id=info.id,
        name=info.name,
        type=info.type,
        version=info.version,
        organization=info.organization_name,
        authentication=methods,
    )


def parse_services(doc: Any) -> tuple[tuple[RegistryEntry, ...], int]:
    """Entries of a `/services` body and how many were skipped; raises `MalformedResponse`."""
    if not isinstance(doc, list):
        raise MalformedResponse("service listing is not a JSON array", FailureKind.PROTOCOL_MISMATCH)
    entries = tuple(e for e in (parse_entry(item) for item in doc) if e is not None)
    return entries, len(doc) - len(entries)


async def list_services(
    http: aiohttp.ClientSession, target: ProbeTarget, limits: HttpLimits, *, services_url: str | None = None
) -> RegistryListing:
    """GET the listing (`{base}/services` unless `services_url` is given) and parse it."""
    answer = await get_json(
        http,
        target,
        services_url or join_url(target.base_url, "services"),
        limits,
        auth_headers=bearer(target),
        what="service listing",
    )
    if not isinstance(answer, JsonAnswer):
        return RegistryListing(answer, None)
    try:
        entries, skipped = parse_services(answer.doc)
    except MalformedResponse as exc:
        return RegistryListing(malformed(answer.response, exc, "service listing"), None)
    result = healthy(answer.response, f"{len(entries)} services listed")
    return RegistryListing(result, entries, skipped)


async def check_registry(
    http: aiohttp.ClientSession, target: ProbeTarget, limits: HttpLimits
) -> tuple[ProbeResult, Capabilities | None]:
    """service-info first; a registry without one (404) is judged by its listing instead.

    A service-info that names another artifact is UNHEALTHY/PROTOCOL_MISMATCH: the service
    answers, but not as a registry, so crawling it would find nothing.
    """
    result, info = await fetch_service_info(http, target, limits)
    if info is None:
        if result.http_status != 404:
            return result, None
        listing = await list_services(http, target, limits)
        if listing.entries is None:
            return listing.result, None
        return dataclasses.replace(listing.result, message="no service-info; the listing answers"), Capabilities()
    if info.type is not None and info.type.artifact.lower() != "service-registry":
        mismatch = dataclasses.replace(
            result,
            status=HealthStatus.UNHEALTHY,
            failure_kind=FailureKind.PROTOCOL_MISMATCH,
            message=f"service-info names {info.type}, not a service registry",
        )
        return mismatch, None
    return result, capabilities_of(info)


class RegistryAdapter:
    """A GA4GH Service Registry; `discover` also reads the listing to prove it is usable."""

    api_type = ApiType.GA4GH_SERVICE_REGISTRY

    async def check(self, http: aiohttp.ClientSession, target: ProbeTarget, limits: HttpLimits) -> ProbeResult:
        result, _ = await check_registry(http, target, limits)
        return result

    async def discover(self, http: aiohttp.ClientSession, target: ProbeTarget, limits: HttpLimits) -> Discovery:
        result, capabilities = await check_registry(http, target, limits)
        if capabilities is None or result.status is not HealthStatus.HEALTHY:
            return Discovery(result, capabilities)
        listing = await list_services(http, target, limits)
        if listing.entries is None:
            degraded = dataclasses.replace(
                result,
                status=HealthStatus.DEGRADED,
                failure_kind=listing.result.failure_kind,
                message=f"service-info answers, the listing does not: {listing.result.message}",
            )
            return Discovery(degraded, capabilities)
        return Discovery(result, capabilities)
