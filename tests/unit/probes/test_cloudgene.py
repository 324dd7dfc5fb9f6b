"""Cloudgene specifics: maintenance, tokens, panels and their builds, CG2 and anonymous servers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from probes.cloudgene import AppRef, CloudgeneAdapter, build_from_label, choose_app, parse_app
from probes.http import HttpLimits, MalformedResponse
from probes.result import ApiType, Engine, FailureKind, GenomeBuild, HealthStatus, Population, ProbeTarget
from simulators import Behaviour, CloudgeneSimulator
from tests.fakes import serving

TOKEN = "jwt-for-alice"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def target(base_url: str, credential: str | None = TOKEN) -> ProbeTarget:
    return ProbeTarget(base_url=base_url, api_type=ApiType.CLOUDGENE, credential=credential, timeout_seconds=5)


async def test_maintenance_flag_reports_maintenance_with_the_servers_message(
    http: aiohttp.ClientSession,
) -> None:
    sim = CloudgeneSimulator.michigan({TOKEN: "alice"})
    sim.maintenance = True
    sim.maintenance_message = "<p>Back on Monday</p>"
    async with serving(sim) as url:
        result = await CloudgeneAdapter().check(http, target(url), HttpLimits())
        found = await CloudgeneAdapter().discover(http, target(url), HttpLimits())

    assert result.status is HealthStatus.MAINTENANCE
    assert result.maintenance_message == "<p>Back on Monday</p>"
    assert result.is_success
    assert found.result.status is HealthStatus.MAINTENANCE
    assert found.capabilities is None  # keep stored panels: nothing was learned


async def test_maintenance_503_json_reports_maintenance_with_its_message(http: aiohttp.ClientSession) -> None:
    sim = CloudgeneSimulator.michigan()
    sim.behaviour = Behaviour.MAINTENANCE_503
    async with serving(sim) as url:
        result = await CloudgeneAdapter().check(http, target(url, None), HttpLimits())

    assert (result.status, result.http_status) == (HealthStatus.MAINTENANCE, 503)
    assert result.maintenance_message == "This functionality is currently under maintenance."


async def test_token_is_sent_raw_in_x_auth_token_without_bearer(http: aiohttp.ClientSession) -> None:
    sim = CloudgeneSimulator.michigan({TOKEN: "alice"})
    async with serving(sim) as url:
        result = await CloudgeneAdapter().check(http, target(url), HttpLimits())

    assert result.status is HealthStatus.HEALTHY
    assert sim.requests[0].headers["X-Auth-Token"] == TOKEN
    assert "Authorization" not in sim.requests[0].headers


async def test_unknown_token_degrades_with_auth_failure(http: aiohttp.ClientSession) -> None:
    sim = CloudgeneSimulator.michigan({"another": "bob"})
    async with serving(sim) as url:
        result = await CloudgeneAdapter().check(http, target(url), HttpLimits())

    assert (result.status, result.failure_kind) == (HealthStatus.DEGRADED, FailureKind.AUTH)
    assert "loggedIn" in result.message


async def test_check_reads_queue_size_from_the_public_counters(http: aiohttp.ClientSession) -> None:
    sim = CloudgeneSimulator.topmed()
    sim.queue_size = 17
    async with serving(sim) as url:
        result = await CloudgeneAdapter().check(http, target(url, None), HttpLimits())

    assert (result.status, result.queue_size) == (HealthStatus.HEALTHY, 17)


async def test_discovery_keeps_panel_keys_verbatim_with_populations_and_label_builds(
    http: aiohttp.ClientSession,
) -> None:
    async with serving(CloudgeneSimulator.michigan({TOKEN: "alice"})) as url:
        found = await CloudgeneAdapter().discover(http, target(url), HttpLimits())

    caps = found.capabilities
    assert caps is not None and found.result.status is HealthStatus.HEALTHY
    panels = {p.key: p for p in caps.panels}
    assert len(panels) == 9
    hapmap = panels["apps@hapmap-2@2.0.0"]
    assert (hapmap.label, hapmap.build) == ("HapMap 2 (GRCh37/hg19)", GenomeBuild.HG19)
    assert hapmap.populations == (Population("eur", "EUR"), Population("off", "Off"))
    assert panels["apps@1000g-phase3-deep@1.0.0"].build is GenomeBuild.HG38  # "(GRCh38/hg38) [BETA]"
    assert panels["apps@1000g-phase-1@2.0.0"].build is GenomeBuild.HG19  # a second "(...)" in the label
    assert caps.builds == (GenomeBuild.HG19, GenomeBuild.HG38)
    assert caps.engines == (Engine("beagle", ("5.4",)), Engine("eagle", ("2.4",)))
    assert caps.modes == ("imputation", "qc_only")
    assert caps.input_formats == ("vcf.gz",)
    assert (caps.app_id, caps.app_version, caps.name) == (
        "imputationserver2",
        "2.0.12",
        "Michigan Imputation Server 2",
    )
    assert found.result.service_version == "2.0.12"


async def test_panels_without_a_build_suffix_have_an_unknown_build(http: aiohttp.ClientSession) -> None:
    async with serving(CloudgeneSimulator.topmed({TOKEN: "alice"})) as url:
        found = await CloudgeneAdapter().discover(http, target(url), HttpLimits())

    assert found.panels is not None
    assert {p.key: p.build for p in found.panels} == {
        "apps@topmed-r3@1.0.0": None,
        "apps@topmed-r2@1.0.0": None,
    }


async def test_anonymous_discovery_on_cloudgene_3_reports_capabilities_unknown(
    http: aiohttp.ClientSession,
) -> None:
    sim = CloudgeneSimulator.michigan()
    async with serving(sim) as url:
        found = await CloudgeneAdapter().discover(http, target(url, None), HttpLimits())

    assert found.result.status is HealthStatus.HEALTHY
    assert found.capabilities is None
    assert "need a token" in found.result.message
    assert sim.requests[-1].path == "/api/v2/server/apps/imputationserver2"


async def test_refused_token_on_app_details_degrades_discovery(http: aiohttp.ClientSession) -> None:
    sim = CloudgeneSimulator.afrigen({TOKEN: "alice"})
    async with serving(sim) as url:
        sim.behaviour = Behaviour.FORBIDDEN
        found = await CloudgeneAdapter().discover(http, target(url), HttpLimits())

    assert (found.result.status, found.result.failure_kind) == (HealthStatus.DEGRADED, FailureKind.AUTH)
    assert found.capabilities is None


async def test_cloudgene_2_text_plain_json_and_minimac4_app_are_understood(
    http: aiohttp.ClientSession,
) -> None:
    sim = CloudgeneSimulator.legacy_michigan()
    async with serving(sim) as url:
        found = await CloudgeneAdapter().discover(http, target(url, None), HttpLimits())

    assert found.capabilities is not None, found.result.message
    assert found.capabilities.app_id == "minimac4"
    assert [p.key for p in found.capabilities.panels] == [
        "apps@1000g-phase-3-v5",
        "apps@hrc-r1.1",
    ]  # sorted by key
    assert sim.requests[-1].path == "/api/v2/server/apps/minimac4"


async def test_base_url_with_a_context_path_is_respected(http: aiohttp.ClientSession) -> None:
    sim = CloudgeneSimulator(name="Behind a prefix", context_path="/imputation")
    async with serving(sim, "/imputation") as url:
        result = await CloudgeneAdapter().check(http, target(url, None), HttpLimits())

    assert result.status is HealthStatus.HEALTHY
    assert sim.requests[0].path == "/imputation/api/v2/server"


async def test_json_that_is_not_cloudgene_is_a_protocol_mismatch(http: aiohttp.ClientSession) -> None:
    from simulators import ServiceInfoSimulator

    sim = ServiceInfoSimulator()
    sim.app.router.add_get("/api/v2/server", sim.service_info)
    async with serving(sim) as url:
        result = await CloudgeneAdapter().check(http, target(url, None), HttpLimits())

    assert (result.status, result.failure_kind) == (HealthStatus.UNHEALTHY, FailureKind.PROTOCOL_MISMATCH)


@pytest.mark.parametrize(
    ("label", "build"),
    [
        ("HRC r1.1 2016 (GRCh37/hg19)", GenomeBuild.HG19),
        ("1000G Phase 3 30x (GRCh38/hg38) [BETA]", GenomeBuild.HG38),
        ("TOPMed (Version R3 on GRC38)", None),
        ("hg38 panel", None),
        ("Mixed (GRCh37/hg19) (GRCh38/hg38)", None),
    ],
)
def test_build_is_read_only_from_a_label_suffix(label: str, build: GenomeBuild | None) -> None:
    assert build_from_label(label) is build


def test_app_choice_prefers_imputationserver2_then_legacy_ids() -> None:
    apps = (AppRef("imputationserver2-hla@2.0.12"), AppRef("minimac4"), AppRef("imputationserver2@2.0.12"))
    assert choose_app(apps) == "imputationserver2@2.0.12"
    assert choose_app(apps[:2]) == "minimac4"
    assert choose_app(apps[:1]) is None


def test_app_without_params_is_malformed() -> None:
    with pytest.raises(MalformedResponse):
        parse_app({"id": "imputationserver2", "params": None})
