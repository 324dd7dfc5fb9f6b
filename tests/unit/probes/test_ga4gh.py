"""WES shapes, service-info conformance, registry entries and DNAstack's registry scan."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from probes.dnastack import DnastackAdapter, find_registry
from probes.ga4gh_registry import RegistryAdapter, api_type_for, parse_services
from probes.ga4gh_service_info import ServiceInfoAdapter, ServiceTypeRef, parse_service_info
from probes.ga4gh_wes import WesAdapter, parse_wes_service_info
from probes.http import HttpLimits, MalformedResponse
from probes.result import ApiType, Engine, FailureKind, HealthStatus, ProbeTarget, WorkflowType
from simulators import RegistrySimulator, ServiceInfoSimulator, WesSimulator, external_service
from simulators.service_info import service_info
from tests.fakes import serving


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def target(url: str, api_type: ApiType, credential: str | None = None) -> ProbeTarget:
    return ProbeTarget(base_url=url, api_type=api_type, credential=credential, timeout_seconds=5)


@pytest.mark.parametrize(
    ("simulator", "engines", "types"),
    [
        (WesSimulator(spec_version="1.1.0"), (Engine("nextflow", ("24.10.0",)),), ("CWL", "NFL")),
        (WesSimulator(spec_version="1.0.1"), (Engine("nextflow", ("24.10.0",)),), ("CWL", "NFL")),
        (WesSimulator(spec_version="1.0.0"), (Engine("nextflow", ("24.10.0",)),), ("CWL", "NFL")),
        (
            WesSimulator.elwazi(),
            (Engine("nextflow", ("23.04.1",)), Engine("snakemake", ("7.32.4",))),
            ("NFL", "SMK"),
        ),
    ],
    ids=["1.1.0", "1.0.1", "1.0.0-without-type", "starter-kit"],
)
async def test_wes_capabilities_are_read_from_every_service_info_shape(
    http: aiohttp.ClientSession, simulator: WesSimulator, engines: tuple[Engine, ...], types: tuple[str, ...]
) -> None:
    async with serving(simulator, "/ga4gh/wes/v1") as url:
        found = await WesAdapter().discover(http, target(url, ApiType.GA4GH_WES), HttpLimits())

    caps = found.capabilities
    assert caps is not None and found.result.status is HealthStatus.HEALTHY
    assert caps.engines == engines
    assert tuple(sorted(t.name for t in caps.workflow_types)) == types
    assert dict(caps.system_state_counts)["RUNNING"] == 2
    assert found.result.queue_size == 0


def test_wes_engines_as_a_list_and_types_as_plain_arrays_are_accepted() -> None:
    wes = parse_wes_service_info(
        {
            "workflow_type_versions": {"CWL": ["v1.0", "v1.2"]},
            "workflow_engine_versions": ["toil", {"cwltool": "3.1"}],
        }
    )
    assert wes.engines == (Engine("toil"), Engine("cwltool", ("3.1",)))
    assert wes.workflow_types == (WorkflowType("CWL", ("v1.0", "v1.2")),)


def test_a_service_info_that_is_not_wes_is_a_protocol_mismatch() -> None:
    with pytest.raises(MalformedResponse) as caught:
        parse_wes_service_info(service_info(artifact="beacon"))
    assert caught.value.kind is FailureKind.PROTOCOL_MISMATCH


async def test_wes_credential_travels_as_a_bearer_token(http: aiohttp.ClientSession) -> None:
    sim = WesSimulator(tokens=frozenset({"tok"}), require_auth=True)
    async with serving(sim, "/ga4gh/wes/v1") as url:
        result = await WesAdapter().check(http, target(url, ApiType.GA4GH_WES, "tok"), HttpLimits())

    assert result.status is HealthStatus.HEALTHY
    assert sim.requests[0].headers["Authorization"] == "Bearer tok"


async def test_legacy_draft_service_info_is_parsed_as_conformant(http: aiohttp.ClientSession) -> None:
    async with serving(ServiceInfoSimulator.legacy_draft()) as url:
        found = await ServiceInfoAdapter().discover(http, target(url, ApiType.GA4GH_SERVICE_INFO), HttpLimits())

    assert (found.result.status, found.result.message) == (HealthStatus.HEALTHY, "")
    assert found.capabilities is not None
    assert (found.capabilities.service_type, found.capabilities.organization) == (
        "org.ga4gh:beacon:1.0.1",
        "Example Org",
    )


async def test_non_conformant_service_info_is_up_with_a_message(http: aiohttp.ClientSession) -> None:
    async with serving(ServiceInfoSimulator.non_conformant()) as url:
        result = await ServiceInfoAdapter().check(http, target(url, ApiType.GA4GH_SERVICE_INFO), HttpLimits())

    assert (result.status, result.failure_kind) == (HealthStatus.HEALTHY, None)
    assert result.message == "UP (non-conformant): missing id, type, organization"


def test_service_info_parsing_flags_partial_type_and_organization() -> None:
    info = parse_service_info({"id": "x", "name": "n", "version": "1", "type": {"artifact": "wes"}, "organization": {}})
    assert info.type == ServiceTypeRef("", "wes", "")
    assert not info.is_conformant


@pytest.mark.parametrize(
    ("type_ref", "api_type"),
    [
        (ServiceTypeRef("org.ga4gh", "wes", "1.1.0"), ApiType.GA4GH_WES),
        (ServiceTypeRef("sapporo-wes", "wes", "sapporo-wes-2.1.0"), ApiType.GA4GH_WES),
        (ServiceTypeRef("org.ga4gh", "service-registry", "1.0.0"), ApiType.GA4GH_SERVICE_REGISTRY),
        (ServiceTypeRef("org.vigil", "cloudgene", "3.1.3"), ApiType.CLOUDGENE),
        (ServiceTypeRef("org.ga4gh", "drs", "1.1.0"), ApiType.GA4GH_SERVICE_INFO),
        (None, ApiType.GA4GH_SERVICE_INFO),
    ],
)
def test_registry_entry_types_map_to_api_types(type_ref: ServiceTypeRef | None, api_type: ApiType) -> None:
    assert api_type_for(type_ref) is api_type


def test_registry_entries_without_an_http_url_are_skipped() -> None:
    entries, skipped = parse_services(
        [{"id": "a", "url": "https://a.example"}, {"id": "b", "url": "ftp://b"}, {"id": "c"}, "junk"]
    )
    assert [e.url for e in entries] == ["https://a.example"]
    assert skipped == 3


async def test_registry_whose_service_info_names_another_artifact_is_a_mismatch(
    http: aiohttp.ClientSession,
) -> None:
    async with serving(ServiceInfoSimulator()) as url:
        result = await RegistryAdapter().check(http, target(url, ApiType.GA4GH_SERVICE_REGISTRY), HttpLimits())

    assert (result.status, result.failure_kind) == (HealthStatus.UNHEALTHY, FailureKind.PROTOCOL_MISMATCH)


async def test_registry_without_service_info_is_judged_by_its_listing(http: aiohttp.ClientSession) -> None:
    async with serving(RegistrySimulator(serve_service_info=False)) as url:
        found = await RegistryAdapter().discover(http, target(url, ApiType.GA4GH_SERVICE_REGISTRY), HttpLimits())

    assert found.result.status is HealthStatus.HEALTHY
    assert found.capabilities is not None


async def test_dnastack_registry_keeps_the_authentication_of_each_entry(http: aiohttp.ClientSession) -> None:
    sim = RegistrySimulator.dnastack(tokens=frozenset({"tok"}))
    async with serving(sim) as host:
        found = await find_registry(http, target(host, ApiType.DNASTACK, "tok"), HttpLimits())

    assert found.root_url == host + "/api/service-registry"
    assert found.entries is not None and len(found.entries) == 1
    (method,) = found.entries[0].authentication
    assert method.grant_type == "urn:ietf:params:oauth:grant-type:device_code"
    assert method.access_token_url == "https://auth.example/oauth/token"
    assert "not-a-secret" not in repr(method)
    assert [r.path for r in sim.requests] == [
        "/services",
        "/service-registry/services",
        "/api/service-registry/services",
    ]
    assert sim.requests[-1].headers["Authorization"] == "Bearer tok"


async def test_dnastack_listing_with_entries_lacking_an_id_is_not_a_registry(
    http: aiohttp.ClientSession,
) -> None:
    entry = external_service(id="x", name="x", url="https://x.example", type=("org.ga4gh", "drs", "1.1.0"))
    del entry["id"]
    async with serving(RegistrySimulator([entry])) as host:
        result = await DnastackAdapter().check(http, target(host, ApiType.DNASTACK), HttpLimits())

    assert (result.status, result.failure_kind) == (HealthStatus.UNHEALTHY, FailureKind.PROTOCOL_MISMATCH)
