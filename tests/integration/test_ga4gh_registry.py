"""Vigil's registry as a GA4GH Service Registry 1.0.0, over HTTP, on SQLite and PostgreSQL.

The last tests point a real client at it: DNAstack's `dnastack-client-library` (the `ga4gh`
extra). Without that package they are skipped with the reason printed; with
VIGIL_TEST_REQUIRE_SERVICES=1 (CI) a missing package fails them instead.
"""

from __future__ import annotations

import asyncio
import importlib
import pathlib
from types import ModuleType
from typing import Any

import pytest

from config import Settings
from models import ReferencePanel, Role, Service
from probes.result import ApiType, Capabilities, Engine, GenomeBuild, HealthStatus, ServiceType, WorkflowType
from resolvers.panels import capabilities_to_json
from tests.conftest import _services_required
from tests.integration.conftest import LiveVigil, make_settings, running

REGISTRY = "/ga4gh/registry/v1"
ENDPOINTS = ("/services", "/services/types", "/service-info")
SERVICE_INFO_REQUIRED = ("id", "name", "type", "organization", "version")


async def get(live: LiveVigil, path: str, *, token: str | None = None) -> tuple[int, str, Any]:
    """Status, the exact Content-Type header and the JSON body of `GET {registry}{path}`."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with live.http.get(f"{live.url}{REGISTRY}{path}", headers=headers) as response:
        return response.status, response.headers.get("Content-Type", ""), await response.json(content_type=None)


async def viewer_get(live: LiveVigil, path: str) -> tuple[int, str, Any]:
    return await get(live, path, token=await live.token(Role.VIEWER))


async def add_services() -> dict[str, Service]:
    """A Cloudgene server with panels, a sapporo-like WES node, a registry and an inactive one."""
    michigan = await Service.create(
        name="Michigan Imputation Server",
        type=ServiceType.MICHIGAN,
        api_type=ApiType.CLOUDGENE,
        base_url="https://imputationserver.sph.umich.edu",
        description="MIS2",
        check_interval_seconds=60,
        timeout_seconds=10,
        status=HealthStatus.HEALTHY,
        capabilities=capabilities_to_json(
            Capabilities(name="Michigan Imputation Server 2", service_version="2.0.12", app_version="2.0.12")
        ),
        service_version="2.0.12",
    )
    await ReferencePanel.create(
        service=michigan, key="apps@hrc-r1.1@2.0.0", label="HRC r1.1 (GRCh37/hg19)", build=GenomeBuild.HG19
    )
    await ReferencePanel.create(service=michigan, key="apps@1000g-phase-3-v5@2.0.0", label="1000G Phase 3")
    await ReferencePanel.create(service=michigan, key="apps@gone@1.0.0", label="Gone", is_active=False)
    wes = await Service.create(
        name="Sapporo WES",
        type=ServiceType.GA4GH,
        api_type=ApiType.GA4GH_WES,
        base_url="https://wes.example.org/ga4gh/wes/v1",
        check_interval_seconds=60,
        timeout_seconds=10,
        capabilities=capabilities_to_json(
            Capabilities(
                name="sapporo-service",
                description="The instance of the Sapporo-WES.",
                service_version="2.4.0",
                service_type="sapporo-wes:wes:sapporo-wes-2.1.0",
                organization="Sapporo-WES Project Team",
                workflow_types=(WorkflowType("CWL", ("v1.2",)),),
                engines=(Engine("cwltool", ("3.1",)),),
                wes_versions=("sapporo-wes-2.1.0",),
            )
        ),
    )
    registry = await Service.create(
        name="Partner registry",
        type=ServiceType.GA4GH,
        api_type=ApiType.GA4GH_SERVICE_REGISTRY,
        base_url="https://registry.example.org",
        check_interval_seconds=60,
        timeout_seconds=10,
    )
    retired = await Service.create(
        name="Retired WES",
        type=ServiceType.GA4GH,
        api_type=ApiType.GA4GH_WES,
        base_url="https://old.example.org/ga4gh/wes/v1",
        check_interval_seconds=60,
        timeout_seconds=10,
        is_active=False,
    )
    return {"michigan": michigan, "wes": wes, "registry": registry, "retired": retired}


def assert_external_service(entry: dict[str, Any]) -> None:
    """The required fields of service-info 1.0.0 `Service` plus the registry's `url`."""
    for key in (*SERVICE_INFO_REQUIRED, "url"):
        assert isinstance(entry.get(key), str | dict), f"{key} missing in {entry}"
    assert set(entry["type"]) == {"group", "artifact", "version"}
    assert all(isinstance(value, str) and value for value in entry["type"].values())
    assert set(entry["organization"]) == {"name", "url"}
    assert entry["organization"]["url"].startswith(("http://", "https://"))
    assert None not in entry.values(), "optional fields are left out, not null"


async def test_services_lists_active_services_as_external_services(live: LiveVigil) -> None:
    added = await add_services()
    status, content_type, body = await viewer_get(live, "/services")
    assert (status, content_type) == (200, "application/json")
    assert [entry["id"] for entry in body] == [
        f"vigil.service.{added[key].id}" for key in ("michigan", "wes", "registry")
    ]
    for entry in body:
        assert_external_service(entry)
    michigan, wes, registry = body
    assert michigan["name"] == "Michigan Imputation Server"
    assert michigan["type"] == {"group": "io.cloudgene", "artifact": "cloudgene", "version": "2"}
    assert michigan["organization"] == {"name": "Vigil", "url": f"{live.url}/"}
    assert michigan["version"] == "2.0.12"
    assert michigan["url"] == "https://imputationserver.sph.umich.edu"
    assert michigan["description"] == "MIS2"
    assert michigan["vigil"]["status"] == "HEALTHY"
    assert michigan["vigil"]["apiType"] == "CLOUDGENE"
    assert michigan["vigil"]["lastCheckedAt"] is None
    assert michigan["vigil"]["referencePanels"] == [
        {"key": "apps@1000g-phase-3-v5@2.0.0", "label": "1000G Phase 3", "build": None},
        {"key": "apps@hrc-r1.1@2.0.0", "label": "HRC r1.1 (GRCh37/hg19)", "build": "HG19"},
    ]
    assert wes["type"] == {"group": "org.ga4gh", "artifact": "wes", "version": "sapporo-wes-2.1.0"}
    assert wes["vigil"]["reportedType"] == "sapporo-wes:wes:sapporo-wes-2.1.0"
    assert wes["organization"] == {"name": "Sapporo-WES Project Team", "url": "https://wes.example.org"}
    assert wes["version"] == "2.4.0"
    assert wes["description"] == "The instance of the Sapporo-WES."
    assert wes["url"] == "https://wes.example.org/ga4gh/wes/v1"
    assert registry["type"] == {"group": "org.ga4gh", "artifact": "service-registry", "version": "1.0.0"}
    assert registry["version"] == "unknown"


async def test_service_by_id_is_the_listed_entry(live: LiveVigil) -> None:
    added = await add_services()
    _, _, listed = await viewer_get(live, "/services")
    status, content_type, body = await viewer_get(live, f"/services/vigil.service.{added['wes'].id}")
    assert (status, content_type) == (200, "application/json")
    assert body == listed[1]


async def test_unknown_malformed_or_inactive_service_id_is_a_404_error(live: LiveVigil) -> None:
    added = await add_services()
    for service_id in (
        "vigil.service.999",
        "vigil.service.x",
        "vigil.service.01",
        "42",
        f"vigil.service.{added['retired'].id}",
    ):
        status, content_type, body = await viewer_get(live, f"/services/{service_id}")
        assert (status, content_type) == (404, "application/json")
        assert body == {"status": 404, "title": "Not Found", "detail": f"no service with id '{service_id}'"}


async def test_service_types_are_the_distinct_types_of_listed_services(live: LiveVigil) -> None:
    await add_services()
    await Service.create(
        name="Second Cloudgene",
        type=ServiceType.H3AFRICA,
        api_type=ApiType.CLOUDGENE,
        base_url="https://impute.afrigen-d.org",
        check_interval_seconds=60,
        timeout_seconds=10,
    )
    status, content_type, body = await viewer_get(live, "/services/types")
    assert (status, content_type) == (200, "application/json")
    assert body == [
        {"group": "io.cloudgene", "artifact": "cloudgene", "version": "2"},
        {"group": "org.ga4gh", "artifact": "service-registry", "version": "1.0.0"},
        {"group": "org.ga4gh", "artifact": "wes", "version": "sapporo-wes-2.1.0"},
    ]


async def test_an_empty_registry_lists_nothing(live: LiveVigil) -> None:
    assert await viewer_get(live, "/services") == (200, "application/json", [])
    assert await viewer_get(live, "/services/types") == (200, "application/json", [])


async def test_service_info_names_the_service_registry_type(live: LiveVigil) -> None:
    status, content_type, body = await viewer_get(live, "/service-info")
    assert (status, content_type) == (200, "application/json")
    for key in SERVICE_INFO_REQUIRED:
        assert body[key]
    assert body["id"] == "vigil.service-registry"
    assert body["type"] == {"group": "org.ga4gh", "artifact": "service-registry", "version": "1.0.0"}
    assert body["organization"] == {"name": "Vigil", "url": f"{live.url}/"}


@pytest.mark.skipif(
    "organization_name" not in Settings.model_fields, reason="config.py has no VIGIL_ORGANIZATION_NAME/_URL yet"
)
async def test_configured_organization_names_vigil_and_services_that_report_none(
    database_url: str, tmp_path: pathlib.Path
) -> None:
    org = {"name": "H3Africa Consortium", "url": "https://h3africa.org"}
    settings = make_settings(
        database_url, tmp_path, organization_name=org["name"], organization_url=org["url"], anonymous_read=True
    )
    async with running(settings) as vigil:
        await add_services()
        _, _, info = await get(vigil, "/service-info")
        _, _, services = await get(vigil, "/services")
    assert info["organization"] == org
    assert info["name"] == "H3Africa Consortium service registry"
    michigan, wes, _ = services
    assert michigan["organization"] == org
    assert wes["organization"]["name"] == "Sapporo-WES Project Team", "a service's own organization wins"


async def test_reading_needs_a_token_when_anonymous_read_is_off(live: LiveVigil) -> None:
    services = await add_services()
    first = min(row.id for row in services.values() if row.is_active)
    for path in (*ENDPOINTS, f"/services/vigil.service.{first}"):
        status, content_type, body = await get(live, path)
        assert (status, content_type) == (401, "application/json"), path
        assert body["status"] == 401 and body["title"] == "Unauthorized" and "VIEWER" in body["detail"]
        status, _, body = await get(live, path, token="vgl_not-a-real-token")
        assert status == 401 and body == {
            "status": 401,
            "title": "Unauthorized",
            "detail": "unknown or revoked API token",
        }
        for role in Role:
            status, _, _ = await get(live, path, token=await live.token(role))
            assert status == 200, (path, role)


async def test_a_refusal_names_the_bearer_scheme(live: LiveVigil) -> None:
    async with live.http.get(f"{live.url}{REGISTRY}/services") as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_anonymous_read_serves_every_endpoint_without_a_token(anonymous_live: LiveVigil) -> None:
    added = await add_services()
    for path in ("/services", "/services/types", "/service-info", f"/services/vigil.service.{added['michigan'].id}"):
        status, content_type, _ = await get(anonymous_live, path)
        assert (status, content_type) == (200, "application/json"), path
    status, _, _ = await get(anonymous_live, "/services", token="vgl_not-a-real-token")
    assert status == 401, "a wrong token is refused even when anonymous reading is allowed"


async def test_deactivating_a_service_hides_it(live: LiveVigil) -> None:
    added = await add_services()
    await Service.filter(id=added["wes"].id).update(is_active=False)
    _, _, body = await viewer_get(live, "/services")
    assert [entry["name"] for entry in body] == ["Michigan Imputation Server", "Partner registry"]
    _, _, types = await viewer_get(live, "/services/types")
    assert {t["artifact"] for t in types} == {"cloudgene", "service-registry"}


# A real GA4GH client: dnastack-client-library ---------------------------------------------------


def optional_module(name: str) -> ModuleType:
    """Import `name` from an optional extra, or skip with the reason printed (fail under
    VIGIL_TEST_REQUIRE_SERVICES, as tests/conftest.py does for unreachable services)."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        message = f"{name} not importable ({exc}); install the extra: pip install -e '.[test,ga4gh]'"
        if _services_required():
            pytest.fail(f"{message}; VIGIL_TEST_REQUIRE_SERVICES is set, so this is a failure")
        print(f"\nSKIP: {message}")
        pytest.skip(message)


@pytest.fixture
def dnastack() -> ModuleType:
    """Ask for it before `anonymous_live`, so a missing package skips before Vigil starts."""
    return optional_module("dnastack")


def dnastack_list_services(registry_url: str) -> list[Any]:
    from dnastack.client.models import ServiceEndpoint
    from dnastack.client.service_registry.client import STANDARD_SERVICE_REGISTRY_TYPE_V1_0, ServiceRegistry

    endpoint = ServiceEndpoint(id="vigil", url=registry_url, type=STANDARD_SERVICE_REGISTRY_TYPE_V1_0)
    client = ServiceRegistry.make(endpoint)
    try:
        return list(client.list_services())
    finally:
        client.close()


def dnastack_use(registry_url: str) -> list[Any]:
    """The client's auto-discovery: it imports a registry only if `/services` says exactly
    `Content-Type: application/json`, then turns each listed service into an endpoint."""
    from dnastack.context.helper import use

    return list(use(registry_url, no_auth=True).all())


async def test_dnastack_client_lists_vigil_services(dnastack: ModuleType, anonymous_live: LiveVigil) -> None:
    added = await add_services()
    registry_url = f"{anonymous_live.url}{REGISTRY}/"
    async with asyncio.timeout(30):  # the client is synchronous: keep it off the event loop uvicorn runs on
        services = await asyncio.to_thread(dnastack_list_services, registry_url)
    by_id = {service.id: service for service in services}
    assert set(by_id) == {f"vigil.service.{added[key].id}" for key in ("michigan", "wes", "registry")}
    wes = by_id[f"vigil.service.{added['wes'].id}"]
    assert (wes.type.group, wes.type.artifact) == ("org.ga4gh", "wes")
    assert wes.url == "https://wes.example.org/ga4gh/wes/v1"
    assert wes.organization.name == "Sapporo-WES Project Team"
    michigan = by_id[f"vigil.service.{added['michigan'].id}"]
    assert (michigan.type.group, michigan.type.artifact, michigan.version) == ("io.cloudgene", "cloudgene", "2.0.12")


async def test_dnastack_auto_discovery_accepts_vigil_as_a_registry(
    dnastack: ModuleType, anonymous_live: LiveVigil
) -> None:
    added = await add_services()
    registry_url = f"{anonymous_live.url}{REGISTRY}/"
    async with asyncio.timeout(30):
        endpoints = await asyncio.to_thread(dnastack_use, registry_url)
    urls = {endpoint.url for endpoint in endpoints}
    assert {added[key].base_url for key in ("michigan", "wes", "registry")} <= urls
    registries = [e for e in endpoints if e.type is not None and e.type.artifact == "service-registry"]
    assert any(e.url.rstrip("/") == registry_url.rstrip("/") for e in registries)
