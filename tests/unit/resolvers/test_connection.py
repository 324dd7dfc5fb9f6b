"""testConnection against live simulators: detection, health verdicts, and nothing stored."""

from __future__ import annotations

import pytest

from models import AuditEvent, HealthCheck, ReferencePanel, Service
from probes.result import ApiType, FailureKind, GenomeBuild, HealthStatus, ServiceType
from resolvers import connection
from resolvers.deps import Deps
from resolvers.errors import BadUserInput
from simulators import Behaviour, CloudgeneSimulator, RegistrySimulator, ServiceInfoSimulator, WesSimulator
from tests.fakes import free_port, serving
from tests.unit.resolvers.conftest import add_service

TOKEN = "jwt-for-alice"


async def test_a_michigan_server_is_detected_as_cloudgene_with_its_panels(deps: Deps) -> None:
    async with serving(CloudgeneSimulator.michigan({TOKEN: "alice"})) as url:
        report = await connection.test_connection(deps, url, credential=TOKEN)

    assert (report.api_type, report.suggested_type) == (ApiType.CLOUDGENE, ServiceType.MICHIGAN)
    assert report.result.status is HealthStatus.HEALTHY
    assert report.name == "Michigan Imputation Server 2"
    assert report.base_url == url
    assert report.capabilities is not None
    assert report.capabilities.app_version == "2.0.12"
    assert len(report.capabilities.panels) == 9
    assert set(report.capabilities.builds) == {GenomeBuild.HG19, GenomeBuild.HG38}
    assert report.already_registered_id is None


async def test_a_wes_host_is_found_under_its_default_path_and_the_url_is_adjusted(deps: Deps) -> None:
    async with serving(WesSimulator.elwazi()) as host:
        report = await connection.test_connection(deps, host + "/")

    assert report.base_url == host + "/ga4gh/wes/v1"
    assert (report.api_type, report.suggested_type) == (ApiType.GA4GH_WES, ServiceType.H3AFRICA)
    assert report.result.status is HealthStatus.HEALTHY
    assert report.capabilities is not None
    assert {e.name for e in report.capabilities.engines} == {"nextflow", "snakemake"}


@pytest.mark.parametrize(
    ("simulator", "path", "api_type", "suggested"),
    [
        (ServiceInfoSimulator, "", ApiType.GA4GH_SERVICE_INFO, ServiceType.GA4GH),
        (RegistrySimulator, "", ApiType.GA4GH_SERVICE_REGISTRY, ServiceType.GA4GH),
        (RegistrySimulator.dnastack, "/api/service-registry", ApiType.DNASTACK, ServiceType.DNASTACK),
    ],
)
async def test_ga4gh_services_and_registries_are_told_apart(
    deps: Deps, simulator: type, path: str, api_type: ApiType, suggested: ServiceType
) -> None:
    async with serving(simulator()) as host:
        report = await connection.test_connection(deps, host)

    assert (report.base_url, report.api_type, report.suggested_type) == (host + path, api_type, suggested)
    assert report.result.status is HealthStatus.HEALTHY


@pytest.mark.parametrize(
    "api_type",
    [
        ApiType.CLOUDGENE,
        None,
    ],
)
async def test_a_cloudgene_server_in_maintenance_reports_maintenance_with_its_message(
    deps: Deps, api_type: ApiType | None
) -> None:
    sim = CloudgeneSimulator.michigan({TOKEN: "alice"})
    sim.maintenance = True
    sim.maintenance_message = "<p>Back on Monday</p>"
    async with serving(sim) as url:
        report = await connection.test_connection(deps, url, api_type, credential=TOKEN)

    assert report.api_type is ApiType.CLOUDGENE
    assert report.result.status is HealthStatus.MAINTENANCE
    assert report.result.maintenance_message == "<p>Back on Monday</p>"
    assert report.capabilities is None


async def test_a_rejected_token_reports_degraded_with_an_auth_failure(deps: Deps) -> None:
    sim = CloudgeneSimulator.afrigen({TOKEN: "alice"})
    sim.behaviour = Behaviour.REJECT_TOKEN
    async with serving(sim) as url:
        report = await connection.test_connection(deps, url, credential=TOKEN)

    assert report.api_type is ApiType.CLOUDGENE
    assert (report.result.status, report.result.failure_kind) == (HealthStatus.DEGRADED, FailureKind.AUTH)
    assert report.capabilities is None


async def test_a_given_api_type_skips_detection(deps: Deps) -> None:
    sim = WesSimulator()
    async with serving(sim, "/ga4gh/wes/v1") as url:
        report = await connection.test_connection(deps, url, api_type=ApiType.GA4GH_WES)

    assert report.api_type is ApiType.GA4GH_WES
    assert report.result.status is HealthStatus.HEALTHY
    assert [r.path for r in sim.requests] == ["/ga4gh/wes/v1/service-info"]


async def test_an_unreachable_host_is_a_report_not_an_error(deps: Deps) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    report = await connection.test_connection(deps, url)

    assert (report.api_type, report.suggested_type, report.capabilities) == (None, None, None)
    assert report.result.failure_kind is FailureKind.CONNECT
    assert report.name == "127.0.0.1"


@pytest.mark.parametrize("url", ["ftp://example.org", "not a url", "https://user:pw@example.org", ""])
async def test_an_invalid_url_is_refused_with_the_base_url_field(deps: Deps, url: str) -> None:
    with pytest.raises(BadUserInput) as caught:
        await connection.test_connection(deps, url)

    assert caught.value.extensions == {"code": "BAD_USER_INPUT", "field": "baseUrl"}


async def test_a_connection_test_stores_nothing(deps: Deps) -> None:
    async with serving(CloudgeneSimulator.michigan({TOKEN: "alice"})) as url:
        await connection.test_connection(deps, url, credential=TOKEN)

    for model in (Service, HealthCheck, ReferencePanel, AuditEvent):
        assert await model.all().count() == 0


async def test_an_already_registered_url_is_recognised_however_it_is_spelled(deps: Deps) -> None:
    async with serving(CloudgeneSimulator.michigan()) as url:
        service_id = await add_service(deps, url)
        report = await connection.test_connection(deps, url.replace("http://", "HTTP://") + "/")

    assert report.already_registered_id == service_id
