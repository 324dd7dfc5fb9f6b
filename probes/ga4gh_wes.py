"""GA4GH WES 1.0.0 / 1.0.1 / 1.1.0 (`GET {base}/service-info`, base usually ends `/ga4gh/wes/v1`).

Real servers deviate (protocols.md §4), so every field is parsed leniently:
`workflow_engine_versions` as engine -> "x" (1.0), engine -> {workflow_engine_version: [...]}
(1.1) or a plain list (toil); `workflow_type_versions` as type -> {workflow_type_version:
[...]} or type -> [...] (GA4GH starter kit, which eLwazi nodes run). A body is WES when
`type.artifact == "wes"` in any group (sapporo uses `sapporo-wes`) or, lacking a `type`
(wes-service 5.0), when it carries `workflow_type_versions`.
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
    strings,
)
from probes.ga4gh_service_info import ServiceInfo, parse_service_info
from probes.http import HttpLimits, MalformedResponse, join_url
from probes.result import (
    ApiType,
    Capabilities,
    Engine,
    FailureKind,
    ProbeResult,
    ProbeTarget,
    WorkflowType,
)


@dataclasses.dataclass(frozen=True, slots=True)
class WesInfo:
    service: ServiceInfo
    workflow_types: tuple[WorkflowType, ...]
    engines: tuple[Engine, ...]
    filesystem_protocols: tuple[str, ...]
    wes_versions: tuple[str, ...]
    system_state_counts: tuple[tuple[str, int], ...]
    auth_instructions_url: str | None = None

    def count(self, state: str) -> int | None:
        return dict(self.system_state_counts).get(state)


def is_wes(doc: dict[str, Any], info: ServiceInfo) -> bool:
    if info.type is not None and info.type.artifact.lower() == "wes":
        return True
    return "workflow_type_versions" in doc


def _versions(value: Any, nested_key: str) -> tuple[str, ...]:
    """Versions given as "x", ["x", ...] or {nested_key: ["x", ...]}."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, dict):
        nested = value.get(nested_key)
        return (nested,) if isinstance(nested, str) else strings(nested)
    return strings(value)


def parse_workflow_types(value: Any) -> tuple[WorkflowType, ...]:
    if not isinstance(value, dict):
        return ()
    return tuple(
        WorkflowType(name=name, versions=_versions(versions, "workflow_type_version"))
        for name, versions in value.items()
    )


def parse_engines(value: Any) -> tuple[Engine, ...]:
    if isinstance(value, dict):
        return tuple(
            Engine(name=name, versions=_versions(versions, "workflow_engine_version"))
            for name, versions in value.items()
        )
    if isinstance(value, list):
        engines: list[Engine] = []
        for item in value:
            if isinstance(item, str):
                engines.append(Engine(name=item))
            elif isinstance(item, dict):
                engines.extend(parse_engines(item))
        return tuple(engines)
    return ()


def parse_state_counts(value: Any) -> tuple[tuple[str, int], ...]:
    if not isinstance(value, dict):
        return ()
    counts = {k: v for k, v in value.items() if isinstance(v, int) and not isinstance(v, bool)}
    return tuple(sorted(counts.items()))


def parse_wes_service_info(doc: Any) -> WesInfo:
    """Parse a WES service-info; raises `MalformedResponse` (PROTOCOL_MISMATCH when it is not WES)."""
    body = as_object(doc, "WES service-info")
    info = parse_service_info(body)
    if not is_wes(body, info):
        raise MalformedResponse("not a WES service-info", FailureKind.PROTOCOL_MISMATCH)
    return WesInfo(
        service=info,
        workflow_types=parse_workflow_types(body.get("workflow_type_versions")),
        engines=parse_engines(body.get("workflow_engine_versions")),
        filesystem_protocols=strings(body.get("supported_filesystem_protocols")),
        wes_versions=strings(body.get("supported_wes_versions")),
        system_state_counts=parse_state_counts(get_dict(body, "system_state_counts")),
        auth_instructions_url=get_str(body, "auth_instructions_url"),
    )


def capabilities_of(wes: WesInfo) -> Capabilities:
    info = wes.service
    return Capabilities(
        name=info.name,
        description=info.description,
        service_version=info.version,
        service_type=None if info.type is None else str(info.type),
        organization=info.organization_name,
        engines=wes.engines,
        workflow_types=wes.workflow_types,
        filesystem_protocols=wes.filesystem_protocols,
        wes_versions=wes.wes_versions,
        system_state_counts=wes.system_state_counts,
    )


def judge(answer: JsonAnswer) -> tuple[ProbeResult, WesInfo | None]:
    """The verdict on a 2xx JSON answer from `{base}/service-info`."""
    try:
        wes = parse_wes_service_info(answer.doc)
    except MalformedResponse as exc:
        return malformed(answer.response, exc, "WES service-info"), None
    result = healthy(answer.response, service_version=wes.service.version, queue_size=wes.count("QUEUED"))
    return result, wes


async def fetch_wes_info(
    http: aiohttp.ClientSession, target: ProbeTarget, limits: HttpLimits
) -> tuple[ProbeResult, WesInfo | None]:
    answer = await get_json(
        http,
        target,
        join_url(target.base_url, "service-info"),
        limits,
        auth_headers=bearer(target),
        what="WES service-info",
    )
    if not isinstance(answer, JsonAnswer):
        return answer, None
    return judge(answer)


class WesAdapter:
    """A WES node; WES has no maintenance flag, so results are HEALTHY, DEGRADED (auth) or UNHEALTHY."""

    api_type = ApiType.GA4GH_WES

    async def check(self, http: aiohttp.ClientSession, target: ProbeTarget, limits: HttpLimits) -> ProbeResult:
        result, _ = await fetch_wes_info(http, target, limits)
        return result

    async def discover(self, http: aiohttp.ClientSession, target: ProbeTarget, limits: HttpLimits) -> Discovery:
        result, wes = await fetch_wes_info(http, target, limits)
        return Discovery(result, None if wes is None else capabilities_of(wes))
