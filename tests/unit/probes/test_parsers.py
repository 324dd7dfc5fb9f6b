"""Property tests: any JSON into any parser gives a value or `MalformedResponse`, nothing else.

They are fuzz targets too (`python -m bench.fuzz --target probes`): the strategies live in
tests/fuzzing/values.py, and each example reports what it ended as.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from probes import cloudgene, dnastack, ga4gh_registry, ga4gh_service_info, ga4gh_wes
from probes.http import MalformedResponse, decode_json
from simulators.cloudgene import CloudgeneSimulator, PanelSpec
from tests.fuzzing import fuzz_settings, outcome
from tests.fuzzing.values import (
    HOSTILE_JSON_SCALARS,
    NASTY_TEXT,
    hostile_text,
    hostile_urls,
    json_values,
    mostly,
)

JSON = json_values()

PARSERS: dict[str, Callable[[Any], object]] = {
    "cloudgene.parse_server_info": cloudgene.parse_server_info,
    "cloudgene.parse_app": cloudgene.parse_app,
    "cloudgene.parse_queue_size": cloudgene.parse_queue_size,
    "service_info.parse_service_info": ga4gh_service_info.parse_service_info,
    "wes.parse_wes_service_info": ga4gh_wes.parse_wes_service_info,
    "registry.parse_services": ga4gh_registry.parse_services,
    "dnastack.check_listing": dnastack.check_listing,
}

INT32_MAX = 2**31 - 1
"""The largest queue size the store (an integer column) and GraphQL's Int can hold."""


def parsed(name: str, doc: Any) -> object | None:
    """What parser `name` makes of `doc`, None when it refuses it; any other exception escapes."""
    try:
        value = PARSERS[name](doc)
    except MalformedResponse:
        outcome("MalformedResponse")
        return None
    outcome("value")
    if name == "cloudgene.parse_queue_size":
        assert value is None or 0 <= value <= INT32_MAX, value  # type: ignore[operator]
    return value


@pytest.mark.parametrize("name", list(PARSERS))
@fuzz_settings(ci_examples=200)
@given(doc=JSON)
@example(doc={"params": [{"id": "build", "values": [{"key": "HG38"}]}]})
@example(doc={"params": [{"id": "population", "values": [{"key": "k", "values": [{"key": 1}]}]}]})
@example(doc={"type": {"artifact": 3}, "workflow_engine_versions": [{"x": ["1"]}]})
@example(doc=[{"id": "x", "url": "https://a", "authentication": [{"type": None}, 7]}])
@example(doc={"queue": {"size": 2**31}})
def test_parser_returns_a_value_or_raises_malformed_response(name: str, doc: Any) -> None:
    parsed(name, doc)


HOSTILE_JSON = json_values(scalars=HOSTILE_JSON_SCALARS)
"""What Python's json module can read from a hostile body: NaN, Infinity, 400-digit integers, lone surrogates."""


def body_of(doc: object, ascii_only: bool, bom: bool) -> bytes:
    text = json.dumps(doc, ensure_ascii=ascii_only)
    return (codecs.BOM_UTF8 if bom else b"") + text.encode("utf-8", "surrogatepass")


BODIES = (
    st.builds(body_of, HOSTILE_JSON, st.booleans(), st.booleans())
    | st.binary(max_size=200)
    | st.integers(1, 5000).map(lambda depth: b"[" * depth + b"]" * depth)
)


@fuzz_settings(ci_examples=200)
@given(name=st.sampled_from(list(PARSERS)), body=BODIES)
@example(name="cloudgene.parse_queue_size", body=b'{"queue": {"size": 1e400}}')
@example(name="cloudgene.parse_queue_size", body=b'{"queue": {"size": 3000000000}}')
@example(name="cloudgene.parse_server_info", body=b'{"maintenace": NaN, "apps": []}')
def test_any_body_decoded_and_parsed_gives_a_value_or_malformed_response(name: str, body: bytes) -> None:
    """The whole path a probe takes: raw bytes, `decode_json`, then the protocol's parser."""
    try:
        doc = decode_json(body)
    except MalformedResponse:
        outcome("MalformedResponse (decode)")
        return
    parsed(name, doc)


@fuzz_settings(ci_examples=200)
@given(body=st.binary(max_size=200) | JSON.map(lambda d: json.dumps(d).encode()))
def test_decode_json_returns_a_value_or_raises_malformed_response(body: bytes) -> None:
    try:
        decode_json(body)
    except MalformedResponse:
        outcome("MalformedResponse")
        return
    outcome("value")


LISTED = st.fixed_dictionaries(
    {"url": mostly(st.sampled_from(["https://wes.example.org", "http://r.example.org/ga4gh"]), hostile_urls())},
    optional={key: HOSTILE_JSON for key in ("id", "name", "type", "version", "organization", "authentication")},
)
LISTINGS = st.lists(mostly(LISTED, HOSTILE_JSON), max_size=6)


@fuzz_settings(ci_examples=100)
@given(listing=LISTINGS)
@example(listing=[{"url": "HTTPS://x.example.org"}, {"url": "ftp://x"}, {"url": 7}])
def test_a_registry_listing_keeps_exactly_the_entries_with_an_http_url_verbatim(listing: list[Any]) -> None:
    """Each item with an http(s) `url` becomes an entry with that URL as listed (crawling and
    registration decide about the rest); every other item is counted as skipped, none is lost."""
    entries, skipped = ga4gh_registry.parse_services(listing)
    probeable = [
        item["url"]
        for item in listing
        if isinstance(item, dict) and isinstance(item.get("url"), str)
        and item["url"].lower().startswith(("http://", "https://"))
    ]  # fmt: skip
    assert [e.url for e in entries] == probeable and skipped == len(listing) - len(probeable)
    outcome(f"{'some' if entries else 'no'} entries, {'some' if skipped else 'none'} skipped")


MAINTENANCE_BODIES = st.fixed_dictionaries(
    {"message": mostly(st.sampled_from(["Down for maintenance", "MAINTENANCE until 5pm", "oops"]), HOSTILE_JSON)},
    optional={"success": HOSTILE_JSON, "maintenace": HOSTILE_JSON},
)


@fuzz_settings(ci_examples=200)
@given(
    doc=MAINTENANCE_BODIES | HOSTILE_JSON,
    prefix=st.sampled_from(NASTY_TEXT) | hostile_text(),
    ascii_only=st.booleans(),
)
@example(doc={"message": "Maintenance"}, prefix="\ud800", ascii_only=False)
@example(doc={"message": "Down for maintenance"}, prefix="\ud800\udc00", ascii_only=True)  # one character in JSON
def test_a_maintenance_message_is_the_bodys_own_text_about_maintenance_or_none(
    doc: object, prefix: str, ascii_only: bool
) -> None:
    """What a Cloudgene 503 says about maintenance is shown as sent, and only that: a body that
    is not JSON, or whose message is not a string about maintenance, shows nothing."""
    if isinstance(doc, dict) and isinstance(doc.get("message"), str):
        doc = {**doc, "message": prefix + doc["message"]}
    body = json.dumps(doc, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    message = cloudgene.maintenance_message(body)
    outcome("message" if message is not None else "none")
    if message is not None:  # the text as JSON reads it: the escapes of a surrogate pair are one character
        sent = json.loads(json.dumps(doc))
        assert isinstance(sent, dict) and message == sent["message"] and "maintenance" in message.lower()


@fuzz_settings(ci_examples=200)
@given(body=st.binary(max_size=200))
def test_maintenance_message_of_any_body_is_text_or_none(body: bytes) -> None:
    message = cloudgene.maintenance_message(body)
    outcome("message" if message is not None else "none")
    assert message is None or isinstance(message, str)


PANEL_IDS = st.from_regex(r"[a-z0-9][a-z0-9.\-]{0,15}", fullmatch=True)
POPULATION = st.tuples(st.from_regex(r"[a-z]{1,5}", fullmatch=True), st.text(min_size=1, max_size=10))
POPULATIONS = st.lists(POPULATION, max_size=4, unique_by=lambda p: p[0])


@fuzz_settings(ci_examples=100)
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
    parsed_app = cloudgene.parse_app(json.loads(json.dumps(sim.app_json())))
    outcome("panels" if panels else "no panels")

    by_key = {p.key: p for p in parsed_app.panels}
    assert set(by_key) == {f"apps@{p.id}@{p.version}" for p in panels}
    for spec in panels:
        panel = by_key[f"apps@{spec.id}@{spec.version}"]
        assert panel.label == spec.label
        assert panel.build is cloudgene.build_from_label(spec.label)
        assert sorted((p.key, p.name) for p in panel.populations) == sorted(spec.populations)
