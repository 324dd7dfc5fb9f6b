"""DNAstack (Explorer, viral.ai, Workbench): a GA4GH registry found by scanning three paths.

DNAstack's own client, given a host, tries `{host}/services`, `{host}/service-registry/services`
and `{host}/api/service-registry/services`, and accepts the first 2xx listing whose entries
all carry an `id`. We do the same, so a configured base URL may be either the host or the
registry root. Entries keep their non-standard `authentication[]` (see `AuthMethod`).
Health is that listing: DNAstack registries need not serve `/service-info`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import aiohttp

from probes.adapter import Discovery, JsonAnswer, bearer, get_json, healthy, malformed
from probes.ga4gh_registry import RegistryEntry, parse_services
from probes.http import HttpLimits, MalformedResponse, join_url
from probes.result import ApiType, Capabilities, FailureKind, HealthStatus, ProbeResult, ProbeTarget

CANDIDATE_PATHS = ("services", "service-registry/services", "api/service-registry/services")

# Failures that say the host itself is unreachable: trying another path would only wait again.
_HOST_FAILURES = frozenset(
    {FailureKind.DNS, FailureKind.CONNECT, FailureKind.TLS, FailureKind.TIMEOUT, FailureKind.TOO_LARGE}
)


@dataclasses.dataclass(frozen=True, slots=True)
class DnastackRegistry:
    """`entries` and `root_url` are None when no candidate path held a registry."""

    result: ProbeResult
    entries: tuple[RegistryEntry, ...] | None = None
    root_url: str | None = None


def check_listing(doc: Any) -> tuple[RegistryEntry, ...]:
    """DNAstack's acceptance rule: a JSON array whose items are all objects with a string `id`."""
    if not isinstance(doc, list) or not all(isinstance(e, dict) and isinstance(e.get("id"), str) for e in doc):
        raise MalformedResponse("not a registry listing (entries need an id)", FailureKind.PROTOCOL_MISMATCH)
    entries, _ = parse_services(doc)
    return entries


async def find_registry(http: aiohttp.ClientSession, target: ProbeTarget, limits: HttpLimits) -> DnastackRegistry:
    """Try each candidate path in order; stop at the first listing, auth wall or dead host.

    When no path holds a registry, the reported failure is the most telling one: a path that
    answered wrongly says more than the 404s around it.
    """
    last: ProbeResult | None = None
    for path in CANDIDATE_PATHS:
        url = join_url(target.base_url, path)
        answer = await get_json(http, target, url, limits, auth_headers=bearer(target), what="registry listing")
        if not isinstance(answer, JsonAnswer):
            if answer.failure_kind in _HOST_FAILURES or answer.status is not HealthStatus.UNHEALTHY:
                return DnastackRegistry(answer)
            last = answer if last is None or last.http_status == 404 else last
            continue
        try:
            entries = check_listing(answer.doc)
        except MalformedResponse as exc:
            last = malformed(answer.response, exc, path)  # got further than any 404: keep it
            continue
        root = url.removesuffix("/services")
        result = healthy(answer.response, f"registry at {root}: {len(entries)} services")
        return DnastackRegistry(result, entries, root)
    assert last is not None  # CANDIDATE_PATHS is not empty
    return DnastackRegistry(
        dataclasses.replace(last, message=f"no DNAstack registry found ({last.message})"),
    )


class DnastackAdapter:
    """A DNAstack service registry reached with an optional OAuth2 bearer token."""

    api_type = ApiType.DNASTACK

    async def check(self, http: aiohttp.ClientSession, target: ProbeTarget, limits: HttpLimits) -> ProbeResult:
        return (await find_registry(http, target, limits)).result

    async def discover(self, http: aiohttp.ClientSession, target: ProbeTarget, limits: HttpLimits) -> Discovery:
        found = await find_registry(http, target, limits)
        if found.entries is None:
            return Discovery(found.result)
        return Discovery(found.result, Capabilities())  # a registry offers no panels or engines itself
