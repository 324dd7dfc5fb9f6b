"""From one URL to the services behind it: which protocol it speaks, and what registries list.

`detect` tries, in order: Cloudgene (`/api/v2/server`), GA4GH service-info at the URL
(WES, registry or any other service), WES at the spec's default `/ga4gh/wes/v1`, and the
registry listing paths DNAstack scans. It stops early when the host itself is unreachable:
trying more paths would only wait for more timeouts.

`discover_services` crawls registries breadth-first under three bounds: a set of
normalised URLs (so cycles end), a depth limit and a service count. A credential given for
the starting URL is only ever sent to that URL's origin, never to hosts a registry lists.
"""

from __future__ import annotations

import asyncio
import dataclasses

import aiohttp
from yarl import URL

from probes import cloudgene, dnastack, ga4gh_registry, ga4gh_service_info, ga4gh_wes
from probes.adapter import Discovery, JsonAnswer, adapter_for, bearer, get_json
from probes.ga4gh_service_info import capabilities_of
from probes.http import HttpLimits, join_url, origin
from probes.redaction import redact
from probes.result import (
    ApiType,
    Capabilities,
    FailureKind,
    HealthStatus,
    ProbeResult,
    ProbeTarget,
    ServiceType,
)

WES_PATH = "ga4gh/wes/v1"
_HOST_FAILURES = frozenset({FailureKind.DNS, FailureKind.CONNECT, FailureKind.TLS, FailureKind.TIMEOUT})
_AFRICAN_HINTS = ("h3africa", "afrigen", "elwazi")


@dataclasses.dataclass(frozen=True, slots=True)
class Detection:
    """What answered at a URL. `api_type is None` means nothing recognisable did, and
    `discovery.result` then carries the most telling failure (DNS, timeout, 404...)."""

    base_url: str
    api_type: ApiType | None
    discovery: Discovery


@dataclasses.dataclass(frozen=True, slots=True)
class DiscoveredService:
    base_url: str
    api_type: ApiType
    service_type: ServiceType  # a suggestion for registration; the operator may change it
    name: str | None
    capabilities: Capabilities | None
    result: ProbeResult
    listed_by: str | None = None  # the registry whose listing named it; None for the start URL


def normalise(url: str) -> str:
    """The identity of a URL for cycle detection: case, default port, trailing slash, fragment."""
    parsed = URL(url)
    path = parsed.path.rstrip("/")
    port = "" if parsed.is_default_port() else f":{parsed.port}"
    query = f"?{parsed.query_string}" if parsed.query_string else ""
    return f"{parsed.scheme.lower()}://{(parsed.host or '').lower()}{port}{path}{query}"


def suggest_service_type(
    api_type: ApiType, name: str | None, base_url: str, *, listed_by_dnastack: bool = False
) -> ServiceType:
    """Cloudgene is Michigan-type unless its name or host says H3Africa/AfriGen-D; eLwazi-like
    WES nodes are H3Africa too (schema-contract.md); DNAstack registries and what they list
    (other than imputation servers) are DNAstack; everything else is GA4GH."""
    hint = f"{name or ''} {URL(base_url).host or ''}".lower()
    african = any(word in hint for word in _AFRICAN_HINTS)
    if api_type is ApiType.CLOUDGENE:
        return ServiceType.H3AFRICA if african else ServiceType.MICHIGAN
    if api_type is ApiType.GA4GH_WES and african:
        return ServiceType.H3AFRICA
    if api_type is ApiType.DNASTACK or listed_by_dnastack:
        return ServiceType.DNASTACK
    return ServiceType.GA4GH


def _target(url: str, api_type: ApiType, credential: str | None, timeout_s: float, verify_tls: bool) -> ProbeTarget:
    return ProbeTarget(
        base_url=url,
        api_type=api_type,
        credential=credential,
        timeout_seconds=timeout_s,
        verify_tls=verify_tls,
    )


async def detect(
    http: aiohttp.ClientSession,
    url: str,
    limits: HttpLimits,
    credential: str | None = None,
    *,
    timeout_s: float = 10.0,
    verify_tls: bool = True,
) -> Detection:
    """Find which protocol `url` speaks, with its health and capabilities (see the module doc).

    Whatever the servers sent back, `credential` does not appear in the answer (probes/redaction.py).
    """
    found = await _detect(http, url, limits, credential, timeout_s=timeout_s, verify_tls=verify_tls)
    return redact(found, credential)


async def _detect(
    http: aiohttp.ClientSession,
    url: str,
    limits: HttpLimits,
    credential: str | None,
    *,
    timeout_s: float,
    verify_tls: bool,
) -> Detection:
    url = url.rstrip("/")

    def target(api_type: ApiType, base: str = url) -> ProbeTarget:
        return _target(base, api_type, credential, timeout_s, verify_tls)

    first, info = await cloudgene.server_status(http, target(ApiType.CLOUDGENE), limits)
    if first.status is HealthStatus.MAINTENANCE:  # the flag, or a 503 maintenance JSON: Cloudgene's own
        # Asking for app details now would only replace the server's message with a generic one.
        return Detection(url, ApiType.CLOUDGENE, Discovery(first))
    if info is not None:
        found = await cloudgene.app_capabilities(http, target(ApiType.CLOUDGENE), limits, first, info)
        return Detection(url, ApiType.CLOUDGENE, found)
    if first.failure_kind in _HOST_FAILURES:
        return Detection(url, None, Discovery(first))

    generic: Detection | None = None
    info_target = target(ApiType.GA4GH_SERVICE_INFO)
    answer = await get_json(
        http,
        info_target,
        join_url(url, "service-info"),
        limits,
        auth_headers=bearer(info_target),
        what="service-info",
    )
    if isinstance(answer, JsonAnswer) and isinstance(answer.doc, dict):
        result, wes = ga4gh_wes.judge(answer)
        if wes is not None:
            return Detection(url, ApiType.GA4GH_WES, Discovery(result, ga4gh_wes.capabilities_of(wes)))
        result, service = ga4gh_service_info.judge(answer)
        if service is not None and service.type is not None and service.type.artifact.lower() == "service-registry":
            found = await adapter_for(ApiType.GA4GH_SERVICE_REGISTRY).discover(
                http, target(ApiType.GA4GH_SERVICE_REGISTRY), limits
            )
            return Detection(url, ApiType.GA4GH_SERVICE_REGISTRY, found)
        if service is not None:
            generic = Detection(url, ApiType.GA4GH_SERVICE_INFO, Discovery(result, capabilities_of(service)))

    if not url.endswith(WES_PATH):
        wes_url = join_url(url, WES_PATH)
        result, wes = await ga4gh_wes.fetch_wes_info(http, target(ApiType.GA4GH_WES, wes_url), limits)
        if wes is not None:
            return Detection(wes_url, ApiType.GA4GH_WES, Discovery(result, ga4gh_wes.capabilities_of(wes)))

    registry = await dnastack.find_registry(http, target(ApiType.DNASTACK), limits)
    if registry.entries is not None and registry.root_url is not None:
        # A registry without service-info, under DNAstack's path names or with its
        # `authentication[]` entries, is DNAstack's; a bare `/services` is a plain GA4GH one.
        is_dnastack = registry.root_url.endswith("service-registry") or any(e.authentication for e in registry.entries)
        api_type = ApiType.DNASTACK if is_dnastack else ApiType.GA4GH_SERVICE_REGISTRY
        return Detection(registry.root_url, api_type, Discovery(registry.result, Capabilities()))

    if generic is not None:
        return generic
    miss = dataclasses.replace(first, message=f"no known protocol answered at {url} ({first.message})")
    return Detection(url, None, Discovery(miss))


@dataclasses.dataclass
class _Crawl:
    """One `discover_services` run: the shared bounds and what was found so far."""

    http: aiohttp.ClientSession
    limits: HttpLimits
    credential: str | None
    home: tuple[str, str, int | None]
    timeout_s: float
    verify_tls: bool
    max_depth: int
    max_services: int
    gate: asyncio.Semaphore
    seen: set[str] = dataclasses.field(default_factory=set)
    found: list[DiscoveredService] = dataclasses.field(default_factory=list)

    def claim(self, url: str) -> bool:
        """Reserve a slot for `url` unless it was seen or the budget is spent (no await: race-free)."""
        key = normalise(url)
        if key in self.seen or len(self.seen) >= self.max_services:
            return False
        self.seen.add(key)
        return True

    def target(self, url: str, api_type: ApiType) -> ProbeTarget:
        credential = self.credential if origin(url) == self.home else None
        return _target(url, api_type, credential, self.timeout_s, self.verify_tls)

    async def visit(self, entry: ga4gh_registry.RegistryEntry, listed_by: str, depth: int, dnastack_root: bool) -> None:
        async with self.gate:
            found = await adapter_for(entry.api_type).discover(
                self.http, self.target(entry.url, entry.api_type), self.limits
            )
        name = entry.name or (found.capabilities.name if found.capabilities else None)
        service_type = suggest_service_type(entry.api_type, name, entry.url, listed_by_dnastack=dnastack_root)
        self.found.append(
            DiscoveredService(
                entry.url, entry.api_type, service_type, name, found.capabilities, found.result, listed_by
            )
        )
        if entry.api_type is ApiType.GA4GH_SERVICE_REGISTRY and depth + 1 < self.max_depth:
            await self.crawl(entry.url, ApiType.GA4GH_SERVICE_REGISTRY, depth + 1)

    async def crawl(self, url: str, api_type: ApiType, depth: int) -> None:
        async with self.gate:
            if api_type is ApiType.DNASTACK:
                entries = (await dnastack.find_registry(self.http, self.target(url, api_type), self.limits)).entries
            else:
                listing = await ga4gh_registry.list_services(self.http, self.target(url, api_type), self.limits)
                entries = listing.entries
        async with asyncio.TaskGroup() as tasks:
            for entry in entries or ():
                if self.claim(entry.url):
                    tasks.create_task(self.visit(entry, url, depth, api_type is ApiType.DNASTACK))


async def discover_services(
    http: aiohttp.ClientSession,
    url: str,
    limits: HttpLimits,
    credential: str | None = None,
    max_depth: int = 3,
    max_services: int = 200,
    *,
    timeout_s: float = 10.0,
    verify_tls: bool = True,
    concurrency: int = 8,
) -> list[DiscoveredService]:
    """Every service reachable from `url`: itself, and through registries what they list.

    Empty when nothing recognisable answers at `url` (call `detect` for the reason).
    Probes run at most `concurrency` at a time, each bounded by `timeout_s`.
    """
    detection = await detect(http, url, limits, credential, timeout_s=timeout_s, verify_tls=verify_tls)
    if detection.api_type is None:
        return []
    crawl = _Crawl(
        http,
        limits,
        credential,
        origin(url),
        timeout_s,
        verify_tls,
        max_depth,
        max_services,
        asyncio.Semaphore(concurrency),
    )
    crawl.claim(detection.base_url)
    caps = detection.discovery.capabilities
    name = caps.name if caps else None
    crawl.found.append(
        DiscoveredService(
            detection.base_url,
            detection.api_type,
            suggest_service_type(detection.api_type, name, detection.base_url),
            name,
            caps,
            detection.discovery.result,
        )
    )
    if detection.api_type in (ApiType.GA4GH_SERVICE_REGISTRY, ApiType.DNASTACK) and max_depth > 0:
        await crawl.crawl(detection.base_url, detection.api_type, 0)
    return [redact(service, credential) for service in crawl.found]
