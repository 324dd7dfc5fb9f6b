"""Vigil's registry as a GA4GH Service Registry 1.0.0: the JSON documents, not the HTTP.

Every active service becomes an `ExternalService` (service-info 1.0.0 plus `url`), listed under
the id `vigil.service.<id>`: the database id, so a rename keeps the id. Inactive services are not
listed and not found. The `type` says which API a client will meet at `url`:

- WES nodes are `org.ga4gh:wes:<version>`, whatever group the node reports (sapporo says
  `sapporo-wes`): the version is the reported one when it is a GA4GH version number, else the
  first such number in `supported_wes_versions`, else what the node reported, else "unknown".
- Other GA4GH services keep the type their service-info reported; lacking one, the type of the
  protocol Vigil verified (`service-registry` 1.0.0, the only published version; `service-info`).
- Cloudgene servers have no official type (protocols.md §3), so Vigil names one: `CLOUDGENE_TYPE`,
  `io.cloudgene:cloudgene:2`. The version is the generation of the REST API Vigil speaks to them
  (`/api/v2/...`, served by Cloudgene 2 and 3 alike), not the imputation app's version: that one
  is the service's `version`, and often unknown without a token, which would split one API into
  many types.

The type the service reported itself, when it differs, and Vigil's own view (status, last
check, protocol, reference panels) travel in the `vigil` extension object (service-info allows
top-level extensions). Optional fields are left out rather than sent as null.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.metadata
import re
from collections.abc import Iterable, Mapping
from typing import Any

from yarl import URL

from models import ReferencePanel, Service
from probes.ga4gh_service_info import ServiceTypeRef, parse_type
from probes.result import ApiType, Capabilities
from resolvers.errors import NotFound
from resolvers.panels import capabilities_from_json

SERVICE_ID_PREFIX = "vigil.service."
REGISTRY_ID = "vigil.service-registry"

REGISTRY_TYPE = ServiceTypeRef("org.ga4gh", "service-registry", "1.0.0")
CLOUDGENE_TYPE = ServiceTypeRef("io.cloudgene", "cloudgene", "2")
"""Vigil's custom type for Cloudgene imputation servers; docs/ga4gh.md says why."""

_GA4GH_VERSION = re.compile(r"\d+(\.\d+){0,2}")
_UNKNOWN = "unknown"

DEFAULT_ORGANIZATION_NAME = "Vigil"
"""The organization named for Vigil itself, and for services that name none, until the
operator sets VIGIL_ORGANIZATION_NAME. Its URL defaults to the address Vigil is reached at."""


@dataclasses.dataclass(frozen=True, slots=True)
class Organization:
    name: str
    url: str

    def as_json(self) -> dict[str, str]:
        return {"name": self.name, "url": self.url}


def type_json(ref: ServiceTypeRef) -> dict[str, str]:
    return {"group": ref.group, "artifact": ref.artifact, "version": ref.version}


def external_id(service_id: int) -> str:
    return f"{SERVICE_ID_PREFIX}{service_id}"


def parse_external_id(value: str) -> int | None:
    """The database id in `vigil.service.<id>`; None for anything else (which is simply not found)."""
    number = value.removeprefix(SERVICE_ID_PREFIX)
    if number == value or not number.isascii() or not number.isdigit() or len(number) > 18:
        return None
    return int(number) if str(int(number)) == number and int(number) > 0 else None


def vigil_version() -> str:
    try:
        return importlib.metadata.version("vigil")
    except importlib.metadata.PackageNotFoundError:
        return _UNKNOWN


def _complete(ref: ServiceTypeRef | None) -> ServiceTypeRef | None:
    return ref if ref is not None and ref.group and ref.artifact and ref.version else None


def _wes_type(reported: ServiceTypeRef | None, caps: Capabilities | None) -> ServiceTypeRef:
    candidates = [reported.version] if reported is not None and reported.version else []
    candidates += list(caps.wes_versions) if caps is not None else []
    ga4gh = next((v for v in candidates if _GA4GH_VERSION.fullmatch(v)), None)
    return ServiceTypeRef("org.ga4gh", "wes", ga4gh or (candidates[0] if candidates else _UNKNOWN))


def service_type(api_type: ApiType, caps: Capabilities | None) -> ServiceTypeRef:
    """The GA4GH `type` of a registered service (see the module doc for the rules)."""
    reported = _complete(parse_type(caps.service_type)) if caps is not None and caps.service_type else None
    if api_type is ApiType.GA4GH_WES:
        return _wes_type(reported, caps)
    if api_type is ApiType.CLOUDGENE:
        return CLOUDGENE_TYPE
    if reported is not None:
        return reported
    if api_type in (ApiType.GA4GH_SERVICE_REGISTRY, ApiType.DNASTACK):
        return REGISTRY_TYPE
    return ServiceTypeRef("org.ga4gh", "service-info", "1.0.0")


def _text(data: object, key: str) -> str | None:
    value = data.get(key) if isinstance(data, Mapping) else None
    return value if isinstance(value, str) and value.strip() else None


def _organization(row: Service, caps: Capabilities | None, vigil_org: Organization) -> Organization:
    """The service's own organization when it reported one, else Vigil's.

    Capabilities keep only the organization's name; its URL is read from the stored JSON when a
    later release keeps it (`organization_url`), else the service's origin stands in for it.
    """
    if caps is None or not caps.organization:
        return vigil_org
    url = _text(row.capabilities, "organization_url") or str(URL(row.base_url).origin())
    return Organization(name=caps.organization, url=url)


def _timestamp(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _panel_json(row: ReferencePanel) -> dict[str, Any]:
    return {"key": row.key, "label": row.label, "build": None if row.build is None else str(row.build)}


def external_service(row: Service, panels: Iterable[ReferencePanel], vigil_org: Organization) -> dict[str, Any]:
    """One registered service as a GA4GH `ExternalService` with the `vigil` extension."""
    caps = capabilities_from_json(row.capabilities)
    api_type = ApiType(row.api_type)
    ga4gh_type = service_type(api_type, caps)
    doc: dict[str, Any] = {
        "id": external_id(row.id),
        "name": row.name,
        "type": type_json(ga4gh_type),
        "organization": _organization(row, caps, vigil_org).as_json(),
        "version": (caps.service_version if caps is not None else None) or row.service_version or _UNKNOWN,
        "url": row.base_url,
    }
    description = row.description.strip() or (caps.description if caps is not None else None)
    if description:
        doc["description"] = description
    if environment := _text(row.capabilities, "environment"):
        doc["environment"] = environment
    reported = caps.service_type if caps is not None else None
    doc["vigil"] = {
        "status": str(row.status),
        "lastCheckedAt": _timestamp(row.last_checked_at),
        "apiType": api_type.value,
        "serviceType": str(row.type),
        "reportedType": reported if reported and reported != str(ga4gh_type) else None,
        "appVersion": caps.app_version if caps is not None else None,
        "referencePanels": [_panel_json(panel) for panel in panels],
    }
    return doc


async def _active_panels(service_ids: list[int]) -> dict[int, list[ReferencePanel]]:
    by_service: dict[int, list[ReferencePanel]] = {service_id: [] for service_id in service_ids}
    if service_ids:
        rows = await ReferencePanel.filter(service_id__in=service_ids, is_active=True).order_by("service_id", "key")
        for panel in rows:
            by_service[panel.service_id].append(panel)  # type: ignore[attr-defined]
    return by_service


async def list_external_services(vigil_org: Organization) -> list[dict[str, Any]]:
    """`GET /services`: every active service, by id."""
    rows = await Service.filter(is_active=True).order_by("id")
    panels = await _active_panels([row.id for row in rows])
    return [external_service(row, panels[row.id], vigil_org) for row in rows]


async def get_external_service(external: str, vigil_org: Organization) -> dict[str, Any]:
    """`GET /services/{serviceId}`; NotFound for an unknown, malformed or inactive id."""
    service_id = parse_external_id(external)
    row = None if service_id is None else await Service.get_or_none(id=service_id, is_active=True)
    if row is None:
        raise NotFound(f"no service with id '{external}'", field="serviceId")
    panels = await _active_panels([row.id])
    return external_service(row, panels[row.id], vigil_org)


async def list_service_types() -> list[dict[str, str]]:
    """`GET /services/types`: the distinct types of the listed services, sorted."""
    rows = await Service.filter(is_active=True).values_list("api_type", "capabilities")
    types = {service_type(ApiType(api_type), capabilities_from_json(raw)) for api_type, raw in rows}
    ordered = sorted(types, key=lambda ref: (ref.group, ref.artifact, ref.version))
    return [type_json(ref) for ref in ordered]


def registry_service_info(vigil_org: Organization) -> dict[str, Any]:
    """`GET /service-info` of the registry itself."""
    return {
        "id": REGISTRY_ID,
        "name": f"{vigil_org.name} service registry",
        "type": type_json(REGISTRY_TYPE),
        "description": "The imputation and GA4GH services Vigil monitors, with their live status.",
        "organization": vigil_org.as_json(),
        "version": vigil_version(),
    }
