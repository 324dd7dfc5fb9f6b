"""discoverServices over live registries: what is found, what is registered, and what is not."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from models import AuditEvent, ReferencePanel, Service
from probes.result import ApiType, FailureKind, ServiceType
from resolvers.deps import Deps
from resolvers.discovery import discover
from resolvers.errors import BadUserInput
from simulators import CloudgeneSimulator, RegistrySimulator, WesSimulator, external_service
from simulators.registry import CLOUDGENE_TYPE
from tests.fakes import free_port, serving
from tests.unit.resolvers.conftest import ADMIN, add_service

WES_TYPE = ("org.ga4gh", "wes", "1.1.0")
TOKEN = "registry-token"


@pytest.fixture
async def fleet() -> AsyncIterator[tuple[RegistrySimulator, str, str, str]]:
    """A registry listing a WES node and an AfriGen-D Cloudgene server, each on its own port."""
    registry = RegistrySimulator(tokens=frozenset({TOKEN}))
    async with (
        serving(registry) as registry_url,
        serving(WesSimulator(), "/ga4gh/wes/v1") as wes_url,
        serving(CloudgeneSimulator.afrigen()) as cloudgene_url,
    ):
        registry.entries += [
            external_service(id="wes", name="Example WES", url=wes_url, type=WES_TYPE),
            external_service(id="cg", name="AfriGen-D", url=cloudgene_url, type=CLOUDGENE_TYPE),
        ]
        yield registry, registry_url, wes_url, cloudgene_url


async def test_a_registry_listing_a_wes_node_and_a_cloudgene_server_returns_both(
    deps: Deps, fleet: tuple[RegistrySimulator, str, str, str]
) -> None:
    _, registry_url, wes_url, cloudgene_url = fleet
    report = await discover(deps, registry_url, False, ADMIN)

    found = {c.service.base_url: c for c in report.candidates}
    assert set(found) == {registry_url, wes_url, cloudgene_url}
    assert found[wes_url].service.api_type is ApiType.GA4GH_WES
    assert found[cloudgene_url].service.api_type is ApiType.CLOUDGENE
    assert found[cloudgene_url].service.service_type is ServiceType.H3AFRICA
    assert all(c.registered_id is None and not c.newly_registered for c in report.candidates)
    assert report.errors == ()
    assert await Service.all().count() == 0


async def test_registering_twice_registers_each_service_once(
    deps: Deps, fleet: tuple[RegistrySimulator, str, str, str]
) -> None:
    _, registry_url, *_ = fleet
    first = await discover(deps, registry_url, True, ADMIN)
    second = await discover(deps, registry_url + "/", True, ADMIN)

    assert [c.newly_registered for c in first.candidates] == [True, True, True]
    assert [c.newly_registered for c in second.candidates] == [False, False, False]
    ids = {c.service.base_url: c.registered_id for c in first.candidates}
    assert {c.service.base_url: c.registered_id for c in second.candidates} == ids
    assert await Service.all().count() == 3
    assert await AuditEvent.filter(action="service.register").count() == 3
    rows = {row.base_url: row for row in await Service.all()}
    assert {row.api_type for row in rows.values()} == {
        ApiType.GA4GH_SERVICE_REGISTRY,
        ApiType.GA4GH_WES,
        ApiType.CLOUDGENE,
    }


async def test_a_name_clash_registers_the_newcomer_under_a_numbered_name(
    deps: Deps, fleet: tuple[RegistrySimulator, str, str, str]
) -> None:
    _, registry_url, wes_url, _ = fleet
    async with serving(WesSimulator(), "/ga4gh/wes/v1") as other_wes:
        await add_service(deps, other_wes, name="Example WES", api_type=ApiType.GA4GH_WES)
        report = await discover(deps, registry_url, True, ADMIN)

    assert report.errors == ()
    assert (await Service.get(base_url=wes_url)).name == "Example WES (2)"


async def test_a_candidate_that_cannot_be_registered_is_reported_and_the_others_go_on(
    deps: Deps, fleet: tuple[RegistrySimulator, str, str, str]
) -> None:
    registry, registry_url, wes_url, cloudgene_url = fleet
    registry.entries.append(external_service(id="odd", name="Odd", url=wes_url + "?tenant=1", type=WES_TYPE))
    report = await discover(deps, registry_url, True, ADMIN)

    assert [(e.base_url, e.code, e.field) for e in report.errors] == [
        (wes_url + "?tenant=1", "BAD_USER_INPUT", "baseUrl")
    ]
    registered = {c.service.base_url for c in report.candidates if c.newly_registered}
    assert registered == {registry_url, wes_url, cloudgene_url}


async def test_a_credential_is_stored_only_for_services_on_the_starting_origin(
    deps: Deps, fleet: tuple[RegistrySimulator, str, str, str]
) -> None:
    _, registry_url, wes_url, _ = fleet
    await discover(deps, registry_url, True, ADMIN, credential=TOKEN)

    assert (await Service.get(base_url=registry_url)).credential_encrypted is not None
    assert (await Service.get(base_url=wes_url)).credential_encrypted is None


async def test_a_discovered_cloudgene_server_is_registered_with_its_panels(deps: Deps) -> None:
    async with serving(CloudgeneSimulator.afrigen({"jwt": "alice"})) as url:
        report = await discover(deps, url, True, ADMIN, credential="jwt")

    [candidate] = report.candidates
    assert candidate.newly_registered and candidate.registered_id is not None
    row = await Service.get(id=candidate.registered_id)
    assert (row.name, row.type, row.api_type) == (
        "AfriGen-D Imputation Service",
        ServiceType.H3AFRICA,
        ApiType.CLOUDGENE,
    )
    assert await ReferencePanel.filter(service_id=row.id, is_active=True).count() == 4
    assert row.capabilities_synced_at is not None


async def test_nothing_answering_is_a_report_with_the_reason(deps: Deps) -> None:
    report = await discover(deps, f"http://127.0.0.1:{free_port()}", True, ADMIN)

    assert report.candidates == ()
    assert report.result.failure_kind is FailureKind.CONNECT


async def test_an_invalid_url_is_refused_on_the_url_field(deps: Deps) -> None:
    with pytest.raises(BadUserInput) as caught:
        await discover(deps, "registry.example.org", False, ADMIN)

    assert caught.value.extensions == {"code": "BAD_USER_INPUT", "field": "url"}
