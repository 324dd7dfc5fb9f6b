"""Detection and registry crawling against live simulators."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aiohttp
import pytest

from probes.discovery import detect, discover_services, normalise, suggest_service_type
from probes.http import HttpLimits
from probes.result import ApiType, FailureKind, GenomeBuild, HealthStatus, ServiceType
from simulators import (
    CloudgeneSimulator,
    RegistrySimulator,
    ServiceInfoSimulator,
    WesSimulator,
    external_service,
)
from simulators.demo import DEMO_TOKEN, serve_demo
from simulators.registry import CLOUDGENE_TYPE
from tests.fakes import free_port, serving

WES_TYPE = ("org.ga4gh", "wes", "1.1.0")
REGISTRY_TYPE = ("org.ga4gh", "service-registry", "1.0.0")


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_detect_recognises_cloudgene_with_its_panels(http: aiohttp.ClientSession) -> None:
    async with serving(CloudgeneSimulator.afrigen({"t": "alice"})) as url:
        found = await detect(http, url, HttpLimits(), credential="t")

    assert found.api_type is ApiType.CLOUDGENE
    assert found.discovery.panels is not None
    assert {p.build for p in found.discovery.panels} == {GenomeBuild.HG38}


async def test_detect_finds_wes_under_the_default_base_path(http: aiohttp.ClientSession) -> None:
    async with serving(WesSimulator.elwazi()) as host:
        found = await detect(http, host, HttpLimits())

    assert (found.api_type, found.base_url) == (ApiType.GA4GH_WES, host + "/ga4gh/wes/v1")
    caps = found.discovery.capabilities
    assert caps is not None
    assert {t.name: t.versions for t in caps.workflow_types} == {"NFL": ("DSL2",), "SMK": ("7",)}
    assert {e.name: e.versions for e in caps.engines} == {"nextflow": ("23.04.1",), "snakemake": ("7.32.4",)}


async def test_detect_recognises_plain_service_info_and_a_registry(http: aiohttp.ClientSession) -> None:
    async with serving(ServiceInfoSimulator()) as plain, serving(RegistrySimulator()) as registry:
        plain_found = await detect(http, plain, HttpLimits())
        registry_found = await detect(http, registry, HttpLimits())

    assert plain_found.api_type is ApiType.GA4GH_SERVICE_INFO
    assert registry_found.api_type is ApiType.GA4GH_SERVICE_REGISTRY


async def test_detect_finds_a_dnastack_registry_by_scanning_its_paths(http: aiohttp.ClientSession) -> None:
    async with serving(RegistrySimulator.dnastack()) as host:
        found = await detect(http, host, HttpLimits())

    assert (found.api_type, found.base_url) == (ApiType.DNASTACK, host + "/api/service-registry")


async def test_detect_reports_an_unreachable_host_without_trying_every_path(
    http: aiohttp.ClientSession,
) -> None:
    found = await detect(http, f"http://127.0.0.1:{free_port()}", HttpLimits())

    assert found.api_type is None
    assert found.discovery.result.failure_kind is FailureKind.CONNECT


async def test_registry_listing_a_wes_node_and_a_cloudgene_server_returns_both(
    http: aiohttp.ClientSession,
) -> None:
    registry = RegistrySimulator()
    async with (
        serving(registry) as registry_url,
        serving(WesSimulator(), "/ga4gh/wes/v1") as wes_url,
        serving(CloudgeneSimulator.afrigen()) as cloudgene_url,
    ):
        registry.entries += [
            external_service(id="wes", name="Example WES", url=wes_url, type=WES_TYPE),
            external_service(id="cg", name="AfriGen-D", url=cloudgene_url, type=CLOUDGENE_TYPE),
        ]
        found = await discover_services(http, registry_url, HttpLimits())

    by_url = {s.base_url: s for s in found}
    assert set(by_url) == {registry_url, wes_url, cloudgene_url}
    assert by_url[registry_url].api_type is ApiType.GA4GH_SERVICE_REGISTRY
    assert (by_url[wes_url].api_type, by_url[wes_url].service_type) == (ApiType.GA4GH_WES, ServiceType.GA4GH)
    assert by_url[cloudgene_url].api_type is ApiType.CLOUDGENE
    assert by_url[cloudgene_url].service_type is ServiceType.H3AFRICA
    assert by_url[wes_url].result.status is HealthStatus.HEALTHY
    assert by_url[wes_url].listed_by == registry_url


async def test_registry_cycles_terminate_and_list_each_service_once(http: aiohttp.ClientSession) -> None:
    first, second = RegistrySimulator(name="First"), RegistrySimulator(name="Second")
    async with (
        serving(first) as first_url,
        serving(second) as second_url,
        serving(WesSimulator(), "/ga4gh/wes/v1") as wes,
    ):
        first.entries += [external_service(id="b", name="Second", url=second_url + "/", type=REGISTRY_TYPE)]
        second.entries += [
            external_service(
                id="a", name="First", url=first_url.upper().replace("HTTP://", "http://"), type=REGISTRY_TYPE
            ),
            external_service(id="self", name="Second", url=second_url, type=REGISTRY_TYPE),
            external_service(id="w", name="WES", url=wes, type=WES_TYPE),
        ]
        found = await discover_services(http, first_url, HttpLimits())

    assert sorted(normalise(s.base_url) for s in found) == sorted(normalise(u) for u in (first_url, second_url, wes))


async def test_crawl_stops_at_the_depth_and_size_bounds(http: aiohttp.ClientSession) -> None:
    registries = [RegistrySimulator(name=f"R{i}") for i in range(4)]
    async with contextlib.AsyncExitStack() as stack:
        urls = [await stack.enter_async_context(serving(r)) for r in registries]
        for parent, child_url in zip(registries, urls[1:], strict=False):
            parent.entries.append(external_service(id="child", name="child", url=child_url, type=REGISTRY_TYPE))
        shallow = await discover_services(http, urls[0], HttpLimits(), max_depth=1)
        capped = await discover_services(http, urls[0], HttpLimits(), max_services=2)

    assert [s.base_url for s in shallow] == urls[:2]  # the child is probed, not crawled
    assert len(capped) == 2


async def test_credential_is_not_sent_to_services_on_other_origins(http: aiohttp.ClientSession) -> None:
    registry, wes = RegistrySimulator(tokens=frozenset({"t"})), WesSimulator(tokens=frozenset({"t"}))
    async with serving(registry) as registry_url, serving(wes, "/ga4gh/wes/v1") as wes_url:
        registry.entries.append(external_service(id="w", name="WES", url=wes_url, type=WES_TYPE))
        await discover_services(http, registry_url, HttpLimits(), credential="t")

    assert any("Authorization" in r.headers for r in registry.requests)
    assert wes.requests and all("Authorization" not in r.headers for r in wes.requests)


async def test_the_demo_fleet_is_discoverable_from_its_dnastack_registry(http: aiohttp.ClientSession) -> None:
    async with serve_demo() as fleet:
        found = await discover_services(http, fleet["dnastack"].base_url, HttpLimits())
        michigan = await detect(http, fleet["michigan"].base_url, HttpLimits(), credential=DEMO_TOKEN)

    types = {s.base_url: (s.api_type, s.service_type) for s in found}
    assert types[fleet["dnastack"].base_url] == (ApiType.DNASTACK, ServiceType.DNASTACK)
    assert types[fleet["michigan"].base_url] == (ApiType.CLOUDGENE, ServiceType.MICHIGAN)
    assert types[fleet["topmed"].base_url] == (ApiType.CLOUDGENE, ServiceType.MICHIGAN)
    assert types[fleet["afrigen"].base_url] == (ApiType.CLOUDGENE, ServiceType.H3AFRICA)
    assert types[fleet["elwazi"].base_url] == (ApiType.GA4GH_WES, ServiceType.H3AFRICA)
    assert michigan.discovery.panels is not None and len(michigan.discovery.panels) == 9


@pytest.mark.parametrize(
    ("api_type", "name", "url", "expected"),
    [
        (
            ApiType.CLOUDGENE,
            "Michigan Imputation Server 2",
            "https://imputationserver.sph.umich.edu",
            ServiceType.MICHIGAN,
        ),
        (ApiType.CLOUDGENE, None, "https://impute.afrigen-d.org", ServiceType.H3AFRICA),
        (ApiType.GA4GH_WES, "Example WES", "https://wes.example.org", ServiceType.GA4GH),
        (ApiType.GA4GH_SERVICE_REGISTRY, None, "https://registry.example.org", ServiceType.GA4GH),
        (ApiType.DNASTACK, None, "https://viral.ai/api/service-registry", ServiceType.DNASTACK),
    ],
)
def test_service_type_suggestion_follows_protocol_and_name(
    api_type: ApiType, name: str | None, url: str, expected: ServiceType
) -> None:
    assert suggest_service_type(api_type, name, url) is expected
