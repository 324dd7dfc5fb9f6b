"""Cloudgene 3 and 2 imputation servers (Michigan, TOPMed, AfriGen-D): health, capabilities, panels.

Health is `GET {base}/api/v2/server`, anonymous or with `X-Auth-Token: <raw token>` (no
`Bearer`). The wire spells the maintenance flag `maintenace`; a 503 JSON whose `message`
says "under maintenance" also means maintenance. A token the server ignores (`loggedIn`
false, or a 403) leaves the service alive but our access broken: DEGRADED/AUTH.

Capabilities come from `GET {base}/api/v2/server/apps/{appId}` (protocols.md §7.1). Panel
keys (`apps@<panel>@<ver>`) are kept verbatim because job submission needs them. A panel's
genome build is not API data; it is read only from a label suffix such as "(GRCh38/hg38)"
and otherwise left unknown rather than guessed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import urllib.parse
from typing import Any

import aiohttp

from probes.adapter import (
    Discovery,
    as_object,
    failed,
    get_dict,
    get_list,
    get_str,
    malformed,
    now,
    unexpected_status,
)
from probes.http import HttpFailure, HttpLimits, HttpResponse, MalformedResponse, decode_json, fetch, join_url
from probes.result import (
    ApiType,
    Capabilities,
    Engine,
    FailureKind,
    GenomeBuild,
    HealthStatus,
    PanelInfo,
    Population,
    ProbeResult,
    ProbeTarget,
)

APP_PREFERENCE = ("imputationserver2", "minimac4", "imputationserver")
_BUILD_KEYS = {
    "hg19": GenomeBuild.HG19,
    "grch37": GenomeBuild.HG19,
    "hg38": GenomeBuild.HG38,
    "grch38": GenomeBuild.HG38,
}
_LABEL_BUILD = re.compile(r"\(\s*(GRCh37\s*/\s*hg19|GRCh38\s*/\s*hg38)\s*\)", re.IGNORECASE)
_ENGINE_VERSION = re.compile(r"\bv?(\d+(?:\.\d+)+)\b")


@dataclasses.dataclass(frozen=True, slots=True)
class AppRef:
    """An entry of `apps[]`; CG3 ids carry `@version` (`imputationserver2@2.0.12`)."""

    id: str
    name: str | None = None
    version: str | None = None

    @property
    def base_id(self) -> str:
        return self.id.split("@", 1)[0]


@dataclasses.dataclass(frozen=True, slots=True)
class ServerInfo:
    name: str | None
    maintenance: bool
    maintenance_message: str | None
    logged_in: bool | None
    username: str | None
    apps: tuple[AppRef, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class AppDetails:
    id: str | None
    name: str | None
    version: str | None
    panels: tuple[PanelInfo, ...]
    builds: tuple[GenomeBuild, ...]
    engines: tuple[Engine, ...]
    modes: tuple[str, ...]
    input_formats: tuple[str, ...]


def auth_headers(target: ProbeTarget) -> dict[str, str]:
    return {"X-Auth-Token": target.credential} if target.credential else {}


def parse_server_info(doc: Any) -> ServerInfo:
    """Parse `/api/v2/server`; raises `MalformedResponse` (PROTOCOL_MISMATCH for other JSON)."""
    body = as_object(doc, "Cloudgene server info")
    if not any(key in body for key in ("maintenace", "loggedIn", "apps")):
        raise MalformedResponse("JSON is not a Cloudgene server info", FailureKind.PROTOCOL_MISMATCH)
    maintenance = body.get("maintenace")
    if maintenance is not None and not isinstance(maintenance, bool):
        raise MalformedResponse("`maintenace` is not a boolean")
    logged_in = body.get("loggedIn")
    apps = tuple(
        AppRef(id=item["id"], name=get_str(item, "name"), version=get_str(item, "version"))
        for item in get_list(body, "apps")
        if isinstance(item, dict) and isinstance(item.get("id"), str)
    )
    return ServerInfo(
        name=get_str(body, "name"),
        maintenance=bool(maintenance),
        maintenance_message=get_str(body, "maintenaceMessage"),
        logged_in=logged_in if isinstance(logged_in, bool) else None,
        username=get_str(get_dict(body, "user"), "username"),
        apps=apps,
    )


MAX_QUEUE_SIZE = 2**31 - 1
"""The largest queue size a check stores (an integer column) and GraphQL's `Int` carries."""


def parse_queue_size(doc: Any) -> int | None:
    """`queue.size` of `/api/v2/server/counters`, None when absent or not a plausible size;
    raises on a non-object."""
    size = get_dict(as_object(doc, "Cloudgene counters"), "queue").get("size")
    plausible = isinstance(size, int) and not isinstance(size, bool) and 0 <= size <= MAX_QUEUE_SIZE
    return size if plausible else None


def maintenance_message(body: bytes) -> str | None:
    """The `message` of a Cloudgene 503 JSON when it says maintenance, else None."""
    try:
        doc = decode_json(body)
    except MalformedResponse:
        return None
    message = get_str(doc, "message") if isinstance(doc, dict) else None
    return message if message is not None and "maintenance" in message.lower() else None


def choose_app(apps: tuple[AppRef, ...]) -> str | None:
    """The imputation workflow among `apps[]`, by id prefix in order of preference."""
    for wanted in APP_PREFERENCE:
        for app in apps:
            if app.base_id == wanted:
                return app.id
    return None


def build_from_label(label: str) -> GenomeBuild | None:
    """ "HRC r1.1 2016 (GRCh37/hg19)" -> HG19; no suffix (or two different ones) -> None."""
    found = {_BUILD_KEYS[m.split("/")[-1].strip().lower()] for m in _LABEL_BUILD.findall(label)}
    return found.pop() if len(found) == 1 else None


def _options(param: dict[str, Any] | None) -> list[tuple[str, str | None]]:
    """`(key, value)` of a list/radio/checkbox parameter's `values[]`."""
    if param is None:
        return []
    return [
        (item["key"], get_str(item, "value"))
        for item in get_list(param, "values")
        if isinstance(item, dict) and isinstance(item.get("key"), str)
    ]


def _populations(
    param: dict[str, Any] | None,
) -> tuple[dict[str, tuple[Population, ...]], tuple[Population, ...]]:
    """Populations per panel key from a `binded_list`, and a flat list for CG2-era plain lists."""
    bound: dict[str, tuple[Population, ...]] = {}
    flat: list[Population] = []
    for item in get_list(param or {}, "values"):
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            continue
        nested = item.get("values")
        if isinstance(nested, list):
            bound.setdefault(item["key"], tuple(Population(k, v or k) for k, v in _options(item)))
        else:
            flat.append(Population(item["key"], get_str(item, "value") or item["key"]))
    return bound, tuple(flat)


def parse_app(doc: Any) -> AppDetails:
    """Parse `/api/v2/server/apps/{appId}`; raises `MalformedResponse` when it has no `params` list."""
    body = as_object(doc, "Cloudgene app")
    params = body.get("params")
    if not isinstance(params, list):
        raise MalformedResponse("Cloudgene app has no params list", FailureKind.PROTOCOL_MISMATCH)
    by_id: dict[str, dict[str, Any]] = {}
    for param in params:
        if isinstance(param, dict) and isinstance(param.get("id"), str):
            by_id.setdefault(param["id"], param)
    bound, flat = _populations(by_id.get("population"))
    panels = tuple(
        PanelInfo(
            key=key,
            label=(label := value or key),
            build=build_from_label(label),
            populations=bound.get(key, flat),
        )
        for key, value in _options(by_id.get("refpanel"))
    )
    builds = tuple(
        dict.fromkeys(_BUILD_KEYS[k.lower()] for k, _ in _options(by_id.get("build")) if k.lower() in _BUILD_KEYS)
    )
    # `no_phasing` is a choice not to phase, not an engine.
    engines = tuple(
        Engine(name=key, versions=tuple(_ENGINE_VERSION.findall(value or ""))[:1])
        for key, value in _options(by_id.get("phasing"))
        if key != "no_phasing"
    )
    files = by_id.get("files")
    has_upload = files is not None and get_str(files, "type") in ("local_folder", "local_file")
    return AppDetails(
        id=get_str(body, "id"),
        name=get_str(body, "name"),
        version=get_str(body, "version"),
        panels=panels,
        builds=builds,
        engines=engines,
        modes=tuple(key for key, _ in _options(by_id.get("mode"))),
        input_formats=("vcf.gz",) if has_upload else (),  # the pipeline globs `${files}/*.vcf.gz`
    )


def _result(resp: HttpResponse, status: HealthStatus, **fields: Any) -> ProbeResult:
    return ProbeResult(
        status=status, checked_at=now(), response_time_ms=resp.elapsed_ms, http_status=resp.status, **fields
    )


def _maintenance(resp: HttpResponse, message: str | None) -> ProbeResult:
    return _result(resp, HealthStatus.MAINTENANCE, message="in maintenance", maintenance_message=message)


async def server_status(
    http: aiohttp.ClientSession, target: ProbeTarget, limits: HttpLimits
) -> tuple[ProbeResult, ServerInfo | None]:
    """Judge `/api/v2/server` (protocols.md §7.1); the parsed body when there is one."""
    got = await fetch(
        http, target, join_url(target.base_url, "api/v2/server"), limits, auth_headers=auth_headers(target)
    )
    if isinstance(got, HttpFailure):
        return failed(got), None
    if got.status == 503 and (message := maintenance_message(got.body)) is not None:
        return _maintenance(got, message), None
    if not 200 <= got.status < 300:
        return unexpected_status(got, credential_sent=got.credential_sent), None
    try:
        info = parse_server_info(decode_json(got.body))
    except MalformedResponse as exc:
        return malformed(got, exc, "Cloudgene server info"), None
    app_id = choose_app(info.apps)
    version = next((a.version for a in info.apps if a.id == app_id), None)
    if info.maintenance:
        result = _maintenance(got, info.maintenance_message)
    elif got.credential_sent and info.logged_in is False:
        result = _result(
            got,
            HealthStatus.DEGRADED,
            failure_kind=FailureKind.AUTH,
            message="alive, but the token was not accepted (loggedIn false)",
        )
    else:
        result = _result(got, HealthStatus.HEALTHY)
    return dataclasses.replace(result, service_version=version), info


async def queue_size(
    http: aiohttp.ClientSession, target: ProbeTarget, limits: HttpLimits, timeout_s: float
) -> int | None:
    """`queue.size` from the public counters. A load hint only: any failure here leaves it None
    and never changes the health verdict."""
    got = await fetch(http, target, join_url(target.base_url, "api/v2/server/counters"), limits, timeout_s=timeout_s)
    if isinstance(got, HttpFailure) or got.status != 200:
        return None
    try:
        return parse_queue_size(decode_json(got.body))
    except MalformedResponse:
        return None


def _degraded(result: ProbeResult, kind: FailureKind | None, message: str) -> ProbeResult:
    return dataclasses.replace(result, status=HealthStatus.DEGRADED, failure_kind=kind, message=message)


async def app_capabilities(
    http: aiohttp.ClientSession,
    target: ProbeTarget,
    limits: HttpLimits,
    result: ProbeResult,
    info: ServerInfo,
) -> Discovery:
    """Second step of discovery: the workflow app's parameters, judged against the health result."""
    chosen = choose_app(info.apps)
    app_id = chosen or APP_PREFERENCE[0]
    path = "api/v2/server/apps/" + urllib.parse.quote(app_id, safe="@")
    got = await fetch(http, target, join_url(target.base_url, path), limits, auth_headers=auth_headers(target))
    if isinstance(got, HttpFailure):
        return Discovery(_degraded(result, got.kind, f"app details unavailable: {got.message}"))
    if got.status == 503 and (message := maintenance_message(got.body)) is not None:
        return Discovery(_maintenance(got, message))
    if got.status in (401, 403, 404) and not got.credential_sent:
        note = f"capabilities unknown: {app_id} details need a token (HTTP {got.status})"
        return Discovery(dataclasses.replace(result, message=note))
    if got.status in (401, 403):
        return Discovery(_degraded(result, FailureKind.AUTH, f"token refused for app details (HTTP {got.status})"))
    if got.status == 404:
        note = f"{app_id} not found or not permitted for this account"
        return Discovery(_degraded(result, FailureKind.HTTP_4XX, note))
    if got.status != 200:
        kind = FailureKind.HTTP_5XX if got.status >= 500 else FailureKind.HTTP_4XX
        return Discovery(_degraded(result, kind, f"app details: HTTP {got.status}"))
    try:
        details = parse_app(decode_json(got.body))
    except MalformedResponse as exc:
        return Discovery(_degraded(result, exc.kind, f"app details: {exc}"))
    capabilities = Capabilities(
        name=info.name,
        service_version=details.version,
        app_id=details.id or app_id.split("@", 1)[0],
        app_version=details.version,
        builds=details.builds,
        input_formats=details.input_formats,
        engines=details.engines,
        modes=details.modes,
        panels=details.panels,
    )
    return Discovery(dataclasses.replace(result, service_version=details.version), capabilities)


class CloudgeneAdapter:
    """Cloudgene 3 (and Cloudgene 2, which differs here only in Content-Type and `apps[]`)."""

    api_type = ApiType.CLOUDGENE

    async def check(self, http: aiohttp.ClientSession, target: ProbeTarget, limits: HttpLimits) -> ProbeResult:
        # The counters are asked for alongside the server info, not after it: one round trip
        # per check instead of two keeps a sweep of many services twice as fast.
        counters = asyncio.create_task(queue_size(http, target, limits, target.timeout_seconds))
        try:
            result, info = await server_status(http, target, limits)
            if info is None or result.status is HealthStatus.MAINTENANCE:
                return result
            return dataclasses.replace(result, queue_size=await counters)
        finally:
            if not counters.done():
                counters.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await counters

    async def discover(self, http: aiohttp.ClientSession, target: ProbeTarget, limits: HttpLimits) -> Discovery:
        result, info = await server_status(http, target, limits)
        if info is None or result.status is HealthStatus.MAINTENANCE:
            return Discovery(result)
        return await app_capabilities(http, target, limits, result, info)
