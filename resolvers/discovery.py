"""discoverServices: every service reachable from a URL, optionally registered in one go.

Registration is idempotent by normalised base URL (case, default port, trailing slash): a
candidate already in the registry is reported with its id and left alone, so running the same
discovery twice registers each service once. Each new candidate goes through
`register_service` with its detected API type (no second detection), so it is validated,
audited and watched exactly like a hand-registered service.

Names come from the services themselves, and two registries may well list "Example WES". A
clash does not abort the run: the candidate is registered as "Example WES (2)" (then "(3)"...)
so an operator can rename it later. Any other refusal (a URL registration does not accept, a
concurrent registration of the same URL) is reported in `errors`, and the other candidates go on.
"""

from __future__ import annotations

import dataclasses
import logging
import re

from yarl import URL

from models import Service
from probes.discovery import DiscoveredService, detect, discover_services, normalise, suggest_service_type
from probes.http import origin
from probes.result import ApiType, ProbeResult
from resolvers import validation
from resolvers.audit import Actor
from resolvers.deps import Deps
from resolvers.errors import Conflict, VigilError
from resolvers.outbound import check_target
from resolvers.panels import store_capabilities
from resolvers.registration import ServiceFields, register_service

log = logging.getLogger(__name__)

_MAX_NAME = 100
_MAX_SUFFIX = 50  # "(2)".."(50)": beyond that a clash is reported instead
_REGISTER_ATTEMPTS = 3  # a name taken between our look and the insert: try the next suffix
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@dataclasses.dataclass(frozen=True, slots=True)
class DiscoveryCandidate:
    """One service found. `registered_id` is set when it is in the registry (before or now);
    `newly_registered` is True only for the ones this call registered."""

    service: DiscoveredService
    registered_id: int | None = None
    newly_registered: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class DiscoveryError:
    """A candidate that could not be registered; `code` and `field` are the error's extensions."""

    base_url: str
    name: str | None
    code: str
    message: str
    field: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class DiscoveryReport:
    """`result` is the verdict on the starting URL itself; `candidates` is empty when no known
    protocol answered there, and `result.message` then says why."""

    url: str
    result: ProbeResult
    candidates: tuple[DiscoveryCandidate, ...]
    errors: tuple[DiscoveryError, ...] = ()


async def discover(
    deps: Deps, url: str, register: bool, actor: Actor, credential: str | None = None
) -> DiscoveryReport:
    """Find the services behind `url` (crawling registries) and, if asked, register the new ones.

    `credential` is used, and stored on registration, only for services on the starting URL's
    origin: a registry must not be able to send our token to hosts it lists. Raises
    BadUserInput (field `url` or `credential`) for input registration would refuse.
    """
    start = validation.clean_base_url(url, field="url")
    await check_target(start, deps.limits.address_policy, field="url")
    secret = validation.check_credential(credential) if credential else None
    result, found = await _find(deps, start, secret)
    known = await _registered_by_url()
    candidates: list[DiscoveryCandidate] = []
    errors: list[DiscoveryError] = []
    for service in found:
        registered_id = known.get(normalise(service.base_url))
        if registered_id is not None or not register:
            candidates.append(DiscoveryCandidate(service, registered_id))
            continue
        same_origin = origin(service.base_url) == origin(start)
        try:
            row = await _register(deps, service, secret if same_origin else None, actor)
        except VigilError as exc:
            errors.append(DiscoveryError(service.base_url, service.name, exc.code, exc.message, exc.field))
            candidates.append(DiscoveryCandidate(service))
            continue
        known[normalise(row.base_url)] = row.id
        candidates.append(DiscoveryCandidate(service, row.id, newly_registered=True))
    return DiscoveryReport(url=start, result=result, candidates=tuple(candidates), errors=tuple(errors))


def _timeout(deps: Deps) -> float:
    return deps.settings.default_timeout_seconds


async def _find(deps: Deps, start: str, secret: str | None) -> tuple[ProbeResult, list[DiscoveredService]]:
    """The verdict on `start` and the services found from it.

    `discover_services` hides why nothing answered, so detection runs here first; only a
    registry is then crawled (detecting it once more, which is cheap: it just answered).
    """
    detection = await detect(deps.http, start, deps.limits, secret, timeout_s=_timeout(deps))
    result = detection.discovery.result
    if detection.api_type is None:
        return result, []
    if detection.api_type in (ApiType.GA4GH_SERVICE_REGISTRY, ApiType.DNASTACK):
        found = await discover_services(deps.http, start, deps.limits, secret, timeout_s=_timeout(deps))
        return (found[0].result if found else result), found
    caps = detection.discovery.capabilities
    name = caps.name if caps is not None else None
    service_type = suggest_service_type(detection.api_type, name, detection.base_url)
    return result, [DiscoveredService(detection.base_url, detection.api_type, service_type, name, caps, result)]


async def _registered_by_url() -> dict[str, int]:
    rows = await Service.all().order_by("id").values_list("id", "base_url")
    by_url: dict[str, int] = {}
    for service_id, base_url in rows:
        by_url.setdefault(normalise(base_url), service_id)
    return by_url


def _base_name(service: DiscoveredService) -> str:
    """The service's own name made registrable: no control characters, at most 100 characters
    with room for a " (n)" suffix; its host when it has no usable name."""
    name = " ".join(_CONTROL.sub(" ", service.name or "").split())
    return (name or URL(service.base_url).host or "service")[: _MAX_NAME - 5].rstrip()


async def _free_name(base: str) -> str | None:
    for n in range(1, _MAX_SUFFIX + 1):
        name = base if n == 1 else f"{base} ({n})"
        if not await Service.filter(name=name).exists():
            return name
    return None


async def _register(deps: Deps, service: DiscoveredService, credential: str | None, actor: Actor) -> Service:
    """Register one candidate under the first free name; stores its capabilities when known."""
    base = _base_name(service)
    caps = service.capabilities
    description = (caps.description or "") if caps is not None else ""
    for _ in range(_REGISTER_ATTEMPTS):
        name = await _free_name(base)
        if name is None:
            raise Conflict(f"every name from '{base}' to '{base} ({_MAX_SUFFIX})' is taken", field="name")
        fields = ServiceFields(
            name=name,
            type=service.service_type,
            api_type=service.api_type,
            base_url=service.base_url,
            description=description[: validation.MAX_DESCRIPTION],
            credential=credential,
        )
        try:
            row = await register_service(deps, fields, actor)
        except Conflict as exc:
            if exc.field == "name":
                continue
            raise
        if caps is not None:
            await store_capabilities(row, caps, actor)
        return row
    raise Conflict(f"could not find a free name for '{base}' while others registered the same", field="name")
