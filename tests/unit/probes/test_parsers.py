"""Property tests: any JSON into any parser gives a value or `MalformedResponse`, nothing else."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from probes import cloudgene, dnastack, ga4gh_registry, ga4gh_service_info, ga4gh_wes
from probes.http import MalformedResponse, decode_json
from simulators.cloudgene import CloudgeneSimulator, PanelSpec

# Keys the parsers look for, so generated documents reach past the first type check.
KNOWN_KEYS = [
    "id", "name", "type", "version", "organization", "url", "group", "artifact", "maintenace",
    "maintenaceMessage", "loggedIn", "apps", "user", "username", "params", "values", "key", "value",
    "label", "queue", "size", "message", "workflow_type_versions", "workflow_engine_versions",
    "workflow_type_version", "workflow_engine_version", "system_state_counts", "supported_wes_versions",
    "supported_filesystem_protocols", "authentication", "refpanel", "population", "build", "phasing",
    "mode", "files",
]  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["refpanel", "population", "build", "phasing", "mode", "files", "wes", "local_folder"])
)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.sampled_from(KNOWN_KEYS) | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=40,
)

PARSERS: dict[str, Callable[[Any], object]] = {
    "cloudgene.parse_server_info": cloudgene.parse_server_info,
    "cloudgene.parse_app": cloudgene.parse_app,
    "cloudgene.parse_queue_size": cloudgene.parse_queue_size,
    "service_info.parse_service_info": ga4gh_service_info.parse_service_info,
    "wes.parse_wes_service_info": ga4gh_wes.parse_wes_service_info,
    "registry.parse_services": ga4gh_registry.parse_services,
    "dnastack.check_listing": dnastack.check_listing,
}


@pytest.mark.parametrize("name", list(PARSERS))
@settings(max_examples=200, deadline=None)
@given(doc=JSON)
@example(doc={"params": [{"id": "build", "values": [{"key": "HG38"}]}]})
@example(doc={"params": [{"id": "population", "values": [{"key": "k", "values": [{"key": 1}]}]}]})
@example(doc={"type": {"artifact": 3}, "workflow_engine_versions": [{"x": ["1"]}]})
@example(doc=[{"id": "x", "url": "https://a", "authentication": [{"type": None}, 7]}])
def test_parser_returns_a_value_or_raises_malformed_response(name: str, doc: Any) -> None:
    with contextlib.suppress(MalformedResponse):
        PARSERS[name](doc)


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=200) | JSON.map(lambda d: json.dumps(d).encode()))
def test_decode_json_returns_a_value_or_raises_malformed_response(body: bytes) -> None:
    with contextlib.suppress(MalformedResponse):
        decode_json(body)


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=200))
def test_maintenance_message_of_any_body_is_text_or_none(body: bytes) -> None:
    assert cloudgene.maintenance_message(body) is None or isinstance(cloudgene.maintenance_message(body), str)


PANEL_IDS = st.from_regex(r"[a-z0-9][a-z0-9.\-]{0,15}", fullmatch=True)
POPULATION = st.tuples(st.from_regex(r"[a-z]{1,5}", fullmatch=True), st.text(min_size=1, max_size=10))
POPULATIONS = st.lists(POPULATION, max_size=4, unique_by=lambda p: p[0])


@settings(max_examples=100, deadline=None)
@given(
    panels=st.lists(
        st.builds(PanelSpec, id=PANEL_IDS, version=st.sampled_from(["1.0.0", "2.0.0"]),
                  label=st.text(min_size=1, max_size=30), populations=POPULATIONS.map(tuple)),
        max_size=5,
        unique_by=lambda p: (p.id, p.version),
    )
)  # fmt: skip
def test_panels_served_by_the_simulator_parse_back_verbatim(panels: list[PanelSpec]) -> None:
    sim = CloudgeneSimulator(panels=tuple(panels))
    parsed = cloudgene.parse_app(json.loads(json.dumps(sim.app_json())))

    by_key = {p.key: p for p in parsed.panels}
    assert set(by_key) == {f"apps@{p.id}@{p.version}" for p in panels}
    for spec in panels:
        panel = by_key[f"apps@{spec.id}@{spec.version}"]
        assert panel.label == spec.label
        assert panel.build is cloudgene.build_from_label(spec.label)
        assert sorted((p.key, p.name) for p in panel.populations) == sorted(spec.populations)
