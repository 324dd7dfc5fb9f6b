"""GA4GH service-info 1.0.0 (`GET {base}/service-info`), also in its 2019 draft shape.

The draft used a string `type` ("group:artifact:version") and a string `organization`;
both are still met in the wild and are parsed as if they were the objects.

Conformance decision (protocols.md §7.3): a 200 JSON object that lacks required fields is
reported HEALTHY with a message naming the missing fields, not DEGRADED/PROTOCOL_MISMATCH.
Health is about whether the service answers; a metadata gap (wes-service 5.0 has none of
the service-info fields) would otherwise keep a working service degraded forever and feed
alerts nobody can act on. The message keeps the gap visible on the dashboard.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import aiohttp

from probes.adapter import (
    Discovery,
    JsonAnswer,
    as_object,
    bearer,
    get_dict,
    get_json,
    get_str,
    healthy,
    malformed,
)
from probes.http import HttpLimits, MalformedResponse, join_url
from probes.result import ApiType, Capabilities, ProbeResult, ProbeTarget

_REQUIRED = ("id", "name", "type", "organization", "version")


@dataclasses.dataclass(frozen=True, slots=True)
class ServiceTypeRef:
    """`type` of a service; empty strings stand for parts the server left out."""

    group: str
    artifact: str
    version: str

    def __str__(self) -> str:
        return f"{self.group}:{self.artifact}:{self.version}"


@dataclasses.dataclass(frozen=True, slots=True)
class ServiceInfo:
    id: str | None
    name: str | None
    type: ServiceTypeRef | None
    organization_name: str | None
    organization_url: str | None
    version: str | None
    description: str | None = None
    environment: str | None = None
    missing: tuple[str, ...] = ()

    @property
    def is_conformant(self) -> bool:
        return not self.missing


def parse_type(value: Any) -> ServiceTypeRef | None:
    """An object `{group, artifact, version}` or a draft string `group:artifact:version`."""
    if isinstance(value, dict):
        parts = [value.get(k) for k in ("group", "artifact", "version")]
        if not any(isinstance(p, str) for p in parts):
            return None
        group, artifact, version = (p if isinstance(p, str) else "" for p in parts)
        return ServiceTypeRef(group, artifact, version)
    if isinstance(value, str):
        pieces = value.split(":")
        if len(pieces) == 3:
            return ServiceTypeRef(*pieces)
    return None


def parse_service_info(doc: Any) -> ServiceInfo:
    """Parse a service-info body; raises `MalformedResponse` unless it is a JSON object."""
    info = as_object(doc, "service-info")
    missing = [key for key in _REQUIRED if info.get(key) is None]
    type_ref = parse_type(info.get("type"))
    if type_ref is None and "type" not in missing:
        missing.append("type")
    elif type_ref is not None and not all((type_ref.group, type_ref.artifact, type_ref.version)):
        missing.append("type.group/artifact/version")
    org = info.get("organization")
    if isinstance(org, str):
        org_name, org_url = org, None
    else:
        org_dict = get_dict(info, "organization")
        org_name, org_url = get_str(org_dict, "name"), get_str(org_dict, "url")
        if isinstance(org, dict) and (org_name is None or org_url is None):
            missing.append("organization.name/url")
    return ServiceInfo(
        id=get_str(info, "id"),
        name=get_str(info, "name"),
        type=type_ref,
        organization_name=org_name,
        organization_url=org_url,
        version=get_str(info, "version"),
        description=get_str(info, "description"),
        environment=get_str(info, "environment"),
        missing=tuple(missing),
    )


def capabilities_of(info: ServiceInfo) -> Capabilities:
    return Capabilities(
        name=info.name,
        description=info.description,
        service_version=info.version,
        service_type=None if info.type is None else str(info.type),
        organization=info.organization_name,
    )


def judge(answer: JsonAnswer) -> tuple[ProbeResult, ServiceInfo | None]:
    """The verdict on a 2xx JSON service-info answer (see the module doc on conformance)."""
    try:
        info = parse_service_info(answer.doc)
    except MalformedResponse as exc:
        return malformed(answer.response, exc, "service-info"), None
    message = "" if info.is_conformant else f"UP (non-conformant): missing {', '.join(info.missing)}"
    return healthy(answer.response, message, service_version=info.version), info


async def fetch_service_info(
    http: aiohttp.ClientSession, target: ProbeTarget, limits: HttpLimits, *, base_url: str | None = None
) -> tuple[ProbeResult, ServiceInfo | None]:
    """GET `{base}/service-info` and judge it as plain service-info; the parsed body when there is one."""
    answer = await get_json(
        http,
        target,
        join_url(base_url or target.base_url, "service-info"),
        limits,
        auth_headers=bearer(target),
        what="service-info",
    )
    if not isinstance(answer, JsonAnswer):
        return answer, None
    return judge(answer)


class ServiceInfoAdapter:
    """Any GA4GH service that offers only `/service-info`."""

    api_type = ApiType.GA4GH_SERVICE_INFO

    async def check(self, http: aiohttp.ClientSession, target: ProbeTarget, limits: HttpLimits) -> ProbeResult:
        result, _ = await fetch_service_info(http, target, limits)
        return result

    async def discover(self, http: aiohttp.ClientSession, target: ProbeTarget, limits: HttpLimits) -> Discovery:
        result, info = await fetch_service_info(http, target, limits)
        return Discovery(result, None if info is None else capabilities_of(info))
