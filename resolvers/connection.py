"""testConnection: what answers at a URL, how healthy it is and what it offers, before registering it.

Nothing is stored: the wizard calls this while an operator is still typing, so a probe here
leaves no check, no audit row and no panel behind. The URL is cleaned with the same rule as
registration, so `already_registered_id` matches exactly what `registerService` would refuse.
"""

from __future__ import annotations

import dataclasses

from yarl import URL

from models import Service
from probes.adapter import discover
from probes.discovery import detect, suggest_service_type
from probes.result import ApiType, Capabilities, ProbeResult, ProbeTarget, ServiceType
from resolvers import validation
from resolvers.deps import Deps
from resolvers.outbound import check_target


@dataclasses.dataclass(frozen=True, slots=True)
class ConnectionReport:
    """The outcome of one connection test.

    `base_url` is where the service really answers: detection may move it (a WES node found
    under `/ga4gh/wes/v1`, a DNAstack registry under `/api/service-registry`), and registering
    that URL is what the wizard should offer. `api_type` is None when no known protocol
    answered; `result` then says why. `capabilities` is None when they could not be learned
    (down, maintenance, no or refused token). `name` is a suggestion for the registration
    form: the service's own name, else its host.
    """

    base_url: str
    api_type: ApiType | None
    suggested_type: ServiceType | None
    name: str
    result: ProbeResult
    capabilities: Capabilities | None
    already_registered_id: int | None


async def test_connection(
    deps: Deps, base_url: str, api_type: ApiType | None = None, credential: str | None = None
) -> ConnectionReport:
    """Probe `base_url` as registration would (detecting the protocol when `api_type` is None).

    Raises BadUserInput (field `baseUrl` or `credential`) for input registration would refuse;
    an unreachable or unrecognised service is a report, not an error.
    """
    url = validation.clean_base_url(base_url)
    await check_target(url, deps.limits.address_policy)
    secret = validation.check_credential(credential) if credential else None
    timeout_s = deps.settings.default_timeout_seconds
    if api_type is None:
        detection = await detect(deps.http, url, deps.limits, secret, timeout_s=timeout_s)
        found_url, found_type, discovery = detection.base_url, detection.api_type, detection.discovery
    else:
        target = ProbeTarget(base_url=url, api_type=api_type, credential=secret, timeout_seconds=timeout_s)
        discovery = await discover(deps.http, target, deps.limits)
        found_url, found_type = url, api_type
    found_url = validation.clean_base_url(found_url)
    caps = discovery.capabilities
    own_name = caps.name.strip() if caps is not None and caps.name else ""
    return ConnectionReport(
        base_url=found_url,
        api_type=found_type,
        suggested_type=None if found_type is None else suggest_service_type(found_type, own_name, found_url),
        name=own_name or (URL(found_url).host or found_url),
        result=discovery.result,
        capabilities=caps,
        already_registered_id=await registered_id(url, found_url),
    )


async def registered_id(*base_urls: str) -> int | None:
    """The id of a service registered at any of `base_urls` (already cleaned), lowest id first."""
    row = await Service.filter(base_url__in=list(dict.fromkeys(base_urls))).order_by("id").first()
    return None if row is None else row.id
