"""compareServices lines panels up across servers; recommendServices ranks and skips what is down."""

from __future__ import annotations

import datetime as dt

import pytest

from models import ReferencePanel, Service
from probes.result import GenomeBuild, HealthStatus
from resolvers.compare import compare, panel_identity
from resolvers.dependencies import set_dependency
from resolvers.deps import Deps
from resolvers.errors import BadUserInput, NotFound
from resolvers.recommend import recommend
from tests.unit.resolvers.conftest import ADMIN, add_service
from tests.unit.resolvers.timeline import Timeline

H, U = HealthStatus.HEALTHY, HealthStatus.UNHEALTHY
HG19, HG38 = GenomeBuild.HG19, GenomeBuild.HG38


def pops(*keys: str) -> list[dict[str, str]]:
    return [{"key": k, "name": k.upper()} for k in keys]


async def michigan_and_topmed(deps: Deps) -> tuple[int, int]:
    """A Cloudgene 3 Michigan (versioned keys) and a Cloudgene 2 TOPMed-like server (bare keys)."""
    mis = await add_service(deps, "https://mis.example", name="Michigan")
    top = await add_service(deps, "https://topmed.example", name="TOPMed")
    await Service.filter(id=mis).update(
        location="Ann Arbor",
        capabilities={"app_version": "2.0.12", "input_formats": ["vcf.gz"], "builds": ["HG19", "HG38"]},
        service_version="3.0.0",
    )
    await Service.filter(id=top).update(capabilities={"app_version": "2.0.10-statgen.2", "input_formats": ["vcf.gz"]})
    for key, label, build, populations in [
        ("apps@hrc-r1.1@2.0.0", "HRC r1.1 2016 (GRCh37/hg19)", HG19, pops("eur", "off")),
        ("apps@1000g-phase-3-v5@2.0.0", "1000G Phase 3 v5 (GRCh37/hg19)", HG19, pops("afr", "eur", "off")),
    ]:
        await ReferencePanel.create(service_id=mis, key=key, label=label, build=build, populations=populations)
    for key, label, build, populations in [
        ("apps@topmed-r3", "TOPMed (Version R3 on GRC38)", HG38, pops("all")),
        ("apps@1000g-phase3-v5", "1000G Phase 3 v5", HG19, pops("afr", "off")),
    ]:
        await ReferencePanel.create(service_id=top, key=key, label=label, build=build, populations=populations)
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    await Timeline(deps.broker, mis).every(now - dt.timedelta(minutes=30), 10, H, latency_ms=200.0, queue_size=4)
    await Timeline(deps.broker, top).every(now - dt.timedelta(minutes=30), 10, H, latency_ms=800.0, queue_size=40)
    return mis, top


def test_panel_identity_drops_cloudgene_prefix_and_version_and_unifies_spellings() -> None:
    assert panel_identity("apps@1000g-phase-3-v5@2.0.0") == "1000g-phase3-v5"
    assert panel_identity("1000g-phase3-v5") == "1000g-phase3-v5"
    assert panel_identity("apps@hrc-r1.1") == panel_identity("apps@HRC-r1.1@1.0.0") == "hrc-r1.1"
    assert panel_identity("1kg_phase3_v5") == "1000g-phase3-v5"


async def test_compare_services_lines_up_the_same_panel_on_michigan_and_topmed(deps: Deps) -> None:
    mis, top = await michigan_and_topmed(deps)
    result = await compare([mis, top], deps.settings)
    assert [c.service.name for c in result.services] == ["Michigan", "TOPMed"]
    shared = result.panels[0]
    assert (shared.identity, shared.build) == ("1000g-phase3-v5", HG19)
    assert [p.key if p else None for p in shared.offers] == ["apps@1000g-phase-3-v5@2.0.0", "apps@1000g-phase3-v5"]
    only = {line.identity: [p is not None for p in line.offers] for line in result.panels[1:]}
    assert only == {"hrc-r1.1": [True, False], "topmed-r3": [False, True]}
    features = dict(result.features)
    assert features["Location"] == ["Ann Arbor", None]
    assert features["Builds"] == ["HG19, HG38", "HG19, HG38"]
    assert features["Populations"] == ["afr, eur", "afr, all"]
    assert features["Uptime 24 h"] == ["100.000%", "100.000%"]
    assert features["Queue size"] == ["4", "40"]
    assert result.services[0].latency.percentile_ms(0.5) == pytest.approx(200.0, rel=0.05)


async def test_compare_services_refuses_unknown_and_too_many_ids(deps: Deps) -> None:
    mis, _ = await michigan_and_topmed(deps)
    with pytest.raises(NotFound):
        await compare([mis, 999_999], deps.settings)
    with pytest.raises(BadUserInput):
        await compare([], deps.settings)


async def test_recommend_services_skips_a_down_server_and_returns_the_fallback(deps: Deps) -> None:
    mis, top = await michigan_and_topmed(deps)
    found = await recommend(deps.settings, "1000G Phase 3 v5", HG19, "afr", 5)
    assert [r.service.id for r in found] == [mis, top]  # Michigan: faster, shorter queue
    best = found[0]
    assert best.score == pytest.approx(
        0.6 * best.uptime_score + 0.25 * best.latency_score + 0.15 * best.queue_score - best.penalty
    )
    assert best.uptime_score == 1.0 and best.queue_size == 4 and "apps@1000g-phase-3-v5@2.0.0" in best.reason
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    await Timeline(deps.broker, mis, H).every(now - dt.timedelta(seconds=30), 2, U, step=dt.timedelta(seconds=5))
    fallback = await recommend(deps.settings, "apps@1000g-phase3-v5", HG19, None, 5)
    assert [r.service.id for r in fallback] == [top]
    assert fallback[0].panel.key == "apps@1000g-phase3-v5"
    assert await recommend(deps.settings, "hrc-r1.1", None, None, 5) == []  # only Michigan offers it


async def test_recommend_services_skips_a_server_whose_required_dependency_is_down(deps: Deps) -> None:
    mis, top = await michigan_and_topmed(deps)
    storage = await add_service(deps, "https://storage.example", name="Storage")
    await set_dependency(deps, mis, storage, True, ADMIN)
    await Timeline(deps.broker, storage).every(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5), 2, U)
    found = await recommend(deps.settings, "1000g-phase3-v5", None, None, 5)
    assert [r.service.id for r in found] == [top]
