"""Reference-panel sync: verbatim keys, parsed builds, deactivation instead of deletion, drift audits."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from models import AuditEvent, ReferencePanel, Service
from probes.result import (
    ApiType,
    Capabilities,
    Engine,
    GenomeBuild,
    HealthStatus,
    PanelInfo,
    Population,
    ServiceType,
    WorkflowType,
)
from resolvers.deps import Deps
from resolvers.errors import NotFound
from resolvers.panels import capabilities_from_json, capabilities_to_json, sync_reference_panels
from simulators import CloudgeneSimulator, PanelSpec, WesSimulator
from simulators.cloudgene import MICHIGAN_PANELS
from tests.fakes import serving
from tests.unit.resolvers.conftest import ADMIN, add_service

TOKEN = "jwt-for-alice"


async def panels_by_key(service_id: int) -> dict[str, ReferencePanel]:
    return {p.key: p for p in await ReferencePanel.filter(service_id=service_id)}


async def test_a_first_sync_stores_verbatim_keys_populations_and_builds_from_labels(deps: Deps) -> None:
    async with serving(CloudgeneSimulator.michigan({TOKEN: "alice"})) as url:
        service_id = await add_service(deps, url, credential=TOKEN)
        synced = await sync_reference_panels(deps, service_id, ADMIN)

    assert synced.is_synced
    assert (synced.changes.added, synced.changes.unchanged) == (9, 0)
    stored = await panels_by_key(service_id)
    assert len(stored) == 9 and len(synced.panels) == 9
    hrc = stored["apps@hrc-r1.1@2.0.0"]
    assert (hrc.label, hrc.build, hrc.is_active) == ("HRC r1.1 2016 (GRCh37/hg19)", GenomeBuild.HG19, True)
    assert hrc.populations == [{"key": "eur", "name": "EUR"}, {"key": "off", "name": "Off"}]
    assert stored["apps@1000g-phase3-deep@1.0.0"].build is GenomeBuild.HG38
    assert hrc.last_seen_at is not None


async def test_a_panel_without_a_build_suffix_keeps_an_unknown_build(deps: Deps) -> None:
    async with serving(CloudgeneSimulator.topmed({TOKEN: "alice"})) as url:
        service_id = await add_service(deps, url, credential=TOKEN)
        await sync_reference_panels(deps, service_id, ADMIN)

    stored = await panels_by_key(service_id)
    assert set(stored) == {"apps@topmed-r3@1.0.0", "apps@topmed-r2@1.0.0"}
    assert {p.build for p in stored.values()} == {None}


async def test_the_service_keeps_its_capabilities_as_json_that_round_trips(deps: Deps) -> None:
    async with serving(CloudgeneSimulator.michigan({TOKEN: "alice"})) as url:
        service_id = await add_service(deps, url, credential=TOKEN)
        await sync_reference_panels(deps, service_id, ADMIN)

    row = await Service.get(id=service_id)
    assert row.capabilities_synced_at is not None
    assert row.service_version == "2.0.12"
    caps = capabilities_from_json(row.capabilities)
    assert caps is not None
    assert (caps.app_id, caps.app_version, caps.input_formats) == ("imputationserver2", "2.0.12", ("vcf.gz",))
    assert caps.builds == (GenomeBuild.HG19, GenomeBuild.HG38)
    assert [e.name for e in caps.engines] == ["beagle", "eagle"]
    assert row.capabilities["builds"] == ["HG19", "HG38"]


async def test_a_vanished_panel_is_deactivated_and_comes_back_when_listed_again(deps: Deps) -> None:
    sim = CloudgeneSimulator.michigan({TOKEN: "alice"})
    gone = "apps@samoan@2.0.0"
    async with serving(sim) as url:
        service_id = await add_service(deps, url, credential=TOKEN)
        await sync_reference_panels(deps, service_id, ADMIN)
        sim.panels = tuple(p for p in MICHIGAN_PANELS if p.id != "samoan")
        second = await sync_reference_panels(deps, service_id, ADMIN)
        after_second = await panels_by_key(service_id)
        sim.panels = MICHIGAN_PANELS
        third = await sync_reference_panels(deps, service_id, ADMIN)

    assert (second.changes.deactivated, second.changes.unchanged, second.changes.added) == (1, 8, 0)
    assert after_second[gone].is_active is False
    assert [p.key for p in second.panels if not p.is_active] == [gone]
    assert (third.changes.reactivated, third.changes.unchanged) == (1, 8)
    assert (await panels_by_key(service_id))[gone].is_active is True
    actions = await AuditEvent.filter(action="service.panels_changed").order_by("id")
    assert len(actions) == 3  # added all, deactivated one, reactivated it; never on no change


async def test_a_changed_label_updates_the_panel_its_build_and_the_audit_trail(deps: Deps) -> None:
    sim = CloudgeneSimulator(name="Lab", panels=(PanelSpec("lab", "1.0.0", "Lab panel", (("afr", "AFR"),)),))
    sim.tokens = {TOKEN: "alice"}
    async with serving(sim) as url:
        service_id = await add_service(deps, url, credential=TOKEN)
        await sync_reference_panels(deps, service_id, ADMIN)
        sim.panels = (PanelSpec("lab", "1.0.0", "Lab panel (GRCh38/hg38)", (("afr", "AFR"), ("eur", "EUR"))),)
        synced = await sync_reference_panels(deps, service_id, ADMIN)
        unchanged = await sync_reference_panels(deps, service_id, ADMIN)

    assert (synced.changes.updated, unchanged.changes.unchanged) == (1, 1)
    panel = (await panels_by_key(service_id))["apps@lab@1.0.0"]
    assert (panel.label, panel.build) == ("Lab panel (GRCh38/hg38)", GenomeBuild.HG38)
    assert [p["key"] for p in panel.populations] == ["afr", "eur"]
    event = await AuditEvent.filter(action="service.panels_changed").order_by("-id").first()
    assert event is not None and event.actor == str(ADMIN)
    assert event.before == {
        "apps@lab@1.0.0": {
            "label": "Lab panel",
            "build": None,
            "isActive": True,
            "populations": [{"key": "afr", "name": "AFR"}],
        }
    }
    assert event.after is not None and event.after["apps@lab@1.0.0"]["build"] == "HG38"


@pytest.mark.parametrize("credential", [TOKEN, None])
async def test_a_sync_that_learns_nothing_keeps_the_stored_panels_and_says_why(
    deps: Deps, credential: str | None
) -> None:
    sim = CloudgeneSimulator.michigan({TOKEN: "alice"})
    async with serving(sim) as url:
        service_id = await add_service(deps, url, credential=TOKEN)
        await sync_reference_panels(deps, service_id, ADMIN)
        if credential is None:  # CG3 shows app details to logged-in users only
            await Service.filter(id=service_id).update(credential_encrypted=None)
        else:
            sim.maintenance = True
        synced = await sync_reference_panels(deps, service_id, ADMIN)

    assert not synced.is_synced
    assert "kept" in synced.message
    assert synced.result.status in (HealthStatus.MAINTENANCE, HealthStatus.HEALTHY)
    assert len(synced.panels) == 9 and all(p.is_active for p in synced.panels)
    assert capabilities_from_json((await Service.get(id=service_id)).capabilities) is not None


async def test_an_app_version_change_is_audited_as_drift(deps: Deps) -> None:
    sim = CloudgeneSimulator.topmed({TOKEN: "alice"})
    async with serving(sim) as url:
        service_id = await add_service(deps, url, credential=TOKEN)
        await sync_reference_panels(deps, service_id, ADMIN)
        first_drift = await AuditEvent.filter(action="service.version_changed").count()
        sim.app_version = "2.0.11-statgen.1"
        await sync_reference_panels(deps, service_id, ADMIN)

    assert first_drift == 0  # learning the first version is not drift
    event = await AuditEvent.get(action="service.version_changed")
    assert event.target_id == str(service_id)
    assert event.before == {"serviceVersion": "2.0.10-statgen.2", "appVersion": "2.0.10-statgen.2"}
    assert event.after == {"serviceVersion": "2.0.11-statgen.1", "appVersion": "2.0.11-statgen.1"}
    assert (await Service.get(id=service_id)).service_version == "2.0.11-statgen.1"


async def test_a_wes_node_syncs_its_capabilities_without_panels(deps: Deps) -> None:
    async with serving(WesSimulator(), "/ga4gh/wes/v1") as url:
        service_id = await add_service(deps, url, api_type=ApiType.GA4GH_WES, service_type=ServiceType.GA4GH)
        synced = await sync_reference_panels(deps, service_id, ADMIN)

    assert synced.is_synced and synced.panels == ()
    caps = capabilities_from_json((await Service.get(id=service_id)).capabilities)
    assert caps is not None and {t.name for t in caps.workflow_types} == {"NFL", "CWL"}
    assert dict(caps.system_state_counts)["COMPLETE"] == 41


async def test_syncing_an_unknown_service_is_not_found_on_the_service_id(deps: Deps) -> None:
    with pytest.raises(NotFound) as caught:
        await sync_reference_panels(deps, 404, ADMIN)

    assert caught.value.extensions == {"code": "NOT_FOUND", "field": "serviceId"}


# capabilities_from_json needs no database: it reads whatever a column holds ------------------

names = st.text(max_size=8)
versions = st.tuples() | st.tuples(names) | st.tuples(names, names)
capabilities = st.builds(
    Capabilities,
    name=st.none() | names,
    service_version=st.none() | names,
    app_version=st.none() | names,
    builds=st.lists(st.sampled_from(GenomeBuild), max_size=2).map(tuple),
    input_formats=st.lists(names, max_size=2).map(tuple),
    engines=st.lists(st.builds(Engine, name=names, versions=versions), max_size=2).map(tuple),
    workflow_types=st.lists(st.builds(WorkflowType, name=names, versions=versions), max_size=2).map(tuple),
    system_state_counts=st.lists(st.tuples(names, st.integers()), max_size=2).map(tuple),
    panels=st.lists(
        st.builds(
            PanelInfo,
            key=names,
            label=names,
            build=st.none() | st.sampled_from(GenomeBuild),
            populations=st.lists(st.builds(Population, key=names, name=names), max_size=2).map(tuple),
        ),
        max_size=3,
    ).map(tuple),
)


@given(capabilities)
@example(Capabilities(panels=(PanelInfo(key="k", label="", populations=(Population("p", ""),)),)))
def test_capabilities_survive_a_trip_through_a_json_column(caps: Capabilities) -> None:
    stored = json.loads(json.dumps(capabilities_to_json(caps)))

    assert capabilities_from_json(stored) == caps


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


@given(st.dictionaries(st.sampled_from([f.name for f in dataclasses.fields(Capabilities)]), json_values))
def test_any_stored_json_reads_as_capabilities_or_nothing(data: dict[str, object]) -> None:
    assert isinstance(capabilities_from_json(data), Capabilities)


def test_nothing_stored_reads_as_no_capabilities() -> None:
    assert capabilities_from_json(None) is None
    assert capabilities_from_json(["not", "an", "object"]) is None
