"""Fuzzing registerService, updateService, deleteService and importServices with hostile input.

Through the real schema as an ADMIN: every answer keeps the error contract (a documented code,
never INTERNAL_SERVER_ERROR, no traceback); a refused mutation leaves every table as it was; what
is accepted reads back as sent, and the registry round-trips through exportServices and
importServices unchanged. Each bug found is pinned with `@example`.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from models import ServiceDependency
from probes.result import ApiType, ServiceType
from tests.fuzzing import fuzz_settings, verdict
from tests.fuzzing.harness import SchemaHarness
from tests.fuzzing.values import (
    HOSTILE_JSON_SCALARS,
    PLAIN_TEXT,
    WRONG_TYPES,
    hostile_enum,
    hostile_floats,
    hostile_ids,
    hostile_ints,
    hostile_text,
    hostile_urls,
    json_values,
    mostly,
    optional,
    valid_urls,
    with_unknown_keys,
)

FIELDS = (
    "id name type apiType baseUrl description location isActive checkIntervalSeconds timeoutSeconds "
    "verifyTls hasCredential slaTarget costPerJob"
)
REGISTER = f"mutation($input: RegisterServiceInput!) {{ registerService(input: $input) {{ service {{ {FIELDS} }} }} }}"
UPDATE = f"mutation($id: ID!, $input: UpdateServiceInput!) {{ updateService(id: $id, input: $input) {{ service {{ {FIELDS} }} }} }}"  # noqa: E501
DELETE = "mutation($id: ID!) { deleteService(id: $id) { id name deleted } }"
READ = f"query($id: ID!) {{ service(id: $id) {{ {FIELDS} }} }}"
EXPORT = "query { exportServices }"
IMPORT = "mutation($document: String!) { importServices(document: $document) { created updated unchanged } }"
FORMAT = "vigil.services/v1"

SERVICE_TYPES = [t.value for t in ServiceType]
API_TYPES = [t.value for t in ApiType]
INPUT_KEYS = {
    "name", "type", "apiType", "baseUrl", "description", "location", "credential", "checkIntervalSeconds",
    "timeoutSeconds", "isActive", "verifyTls", "slaTarget", "costPerJob",
}  # fmt: skip


def settings_fields(null: bool) -> dict[str, st.SearchStrategy[object]]:
    """The optional fields of both service inputs; `null` allows null (update: "keep it")."""
    wrap = optional if null else (lambda s: s)
    return {
        "description": wrap(mostly(PLAIN_TEXT, hostile_text())),
        "location": wrap(mostly(PLAIN_TEXT, hostile_text())),
        "credential": wrap(mostly(PLAIN_TEXT | st.just(""), hostile_text())),
        "checkIntervalSeconds": wrap(mostly(st.integers(5, 86_400), hostile_ints() | WRONG_TYPES)),
        "timeoutSeconds": wrap(mostly(st.floats(0.5, 5.0), hostile_floats() | WRONG_TYPES)),
        "isActive": wrap(mostly(st.booleans(), WRONG_TYPES)),
        "verifyTls": wrap(mostly(st.booleans(), WRONG_TYPES)),
        "slaTarget": wrap(mostly(st.floats(0.5, 1.0), hostile_floats())),
        "costPerJob": wrap(mostly(st.floats(0, 1e6), hostile_floats())),
    }


REGISTER_INPUTS = with_unknown_keys(
    st.fixed_dictionaries(
        {
            "name": mostly(PLAIN_TEXT, hostile_text() | WRONG_TYPES),
            "type": mostly(st.sampled_from(SERVICE_TYPES), hostile_enum(SERVICE_TYPES)),
            # Never null: without apiType registration detects the protocol over the network.
            "apiType": mostly(st.sampled_from(API_TYPES), hostile_enum(API_TYPES, nullable=False)),
            "baseUrl": mostly(valid_urls(), hostile_urls() | WRONG_TYPES),
        },
        optional=settings_fields(null=False),
    )
)
UPDATE_INPUTS = with_unknown_keys(
    st.fixed_dictionaries(
        {},
        optional={
            "name": optional(mostly(PLAIN_TEXT, hostile_text())),
            "type": optional(mostly(st.sampled_from(SERVICE_TYPES), hostile_enum(SERVICE_TYPES))),
            "apiType": optional(mostly(st.sampled_from(API_TYPES), hostile_enum(API_TYPES))),
            "baseUrl": optional(mostly(valid_urls(), hostile_urls())),
            **settings_fields(null=True),
        },
    )
)


def assert_same_url(sent: str, stored: str) -> None:
    """The stored base URL is the one sent, in canonical form: scheme and host in lower case, no
    trailing slash, nothing but scheme, host, port and path."""
    s, t = urllib.parse.urlsplit(sent.strip()), urllib.parse.urlsplit(stored)
    assert (t.scheme, t.hostname, t.port) == (s.scheme.lower(), s.hostname, s.port), (sent, stored)
    assert t.path == s.path.rstrip("/") and not (t.query or t.fragment or t.username or t.password), (sent, stored)


def assert_stored(sent: dict[str, Any], service: dict[str, Any]) -> None:
    """Every field that was sent (and not null) reads back as the API documents it."""
    for key, value in sent.items():
        if value is None or key not in INPUT_KEYS:
            continue
        stored = service["hasCredential"] if key == "credential" else service[key]
        if key == "baseUrl":
            assert_same_url(value, stored)
        elif key in ("name", "description", "location"):
            assert stored == value.strip(), (key, value, stored)
        elif key == "credential":
            assert stored is (value != ""), (key, value, stored)
        else:
            assert stored == value, (key, value, stored)


def read(harness: SchemaHarness, service_id: str) -> dict[str, Any] | None:
    response, codes = harness.query(READ, {"id": service_id})
    assert not codes, response
    return response["data"]["service"]


def assert_registry_round_trips(harness: SchemaHarness) -> None:
    """Importing the exported registry changes nothing: every stored value passes validation
    again, in the form it was stored."""
    exported, codes = harness.query(EXPORT)
    assert not codes, exported
    response, codes = harness.mutate(IMPORT, {"document": exported["data"]["exportServices"]})
    assert not codes, response
    result = response["data"]["importServices"]
    assert (result["created"], result["updated"]) == ([], []), result


def without_audit(state: dict[str, object]) -> dict[str, object]:
    return {table: rows for table, rows in state.items() if table != "AuditEvent"}


@fuzz_settings(ci_examples=60)
@given(sent=REGISTER_INPUTS | WRONG_TYPES)
# Found: a lone surrogate (SQLite and PostgreSQL) or a NUL (PostgreSQL) reached the driver: INTERNAL_SERVER_ERROR.
@example(sent={"name": "a\ud800b", "type": "MICHIGAN", "apiType": "CLOUDGENE", "baseUrl": "http://s.example.org"})
@example(sent={"name": "ok", "type": "MICHIGAN", "apiType": "CLOUDGENE", "baseUrl": "http://s.example.org",
               "description": "a\x00b"})  # fmt: skip
# Edges kept as examples: an unclosed IPv6 bracket and a port out of range are urllib ValueErrors.
@example(sent={"name": "ok", "type": "MICHIGAN", "apiType": "CLOUDGENE", "baseUrl": "http://[::1"})
@example(sent={"name": "ok", "type": "MICHIGAN", "apiType": "CLOUDGENE", "baseUrl": "http://h:65536"})
def test_register_service_refuses_hostile_input_with_a_code_and_round_trips_what_it_accepts(
    harness: SchemaHarness, sent: object
) -> None:
    before = harness.state()
    response, codes = harness.mutate(REGISTER, {"input": sent})
    verdict(codes)
    if codes:
        fields = {e["extensions"].get("field") for e in response["errors"]} - {None}
        assert fields <= INPUT_KEYS, response
        return
    assert isinstance(sent, dict)
    service = response["data"]["registerService"]["service"]
    assert_stored(sent, service)
    assert read(harness, service["id"]) == service
    assert_registry_round_trips(harness)
    deleted, codes = harness.mutate(DELETE, {"id": service["id"]})
    assert not codes and deleted["data"]["deleteService"]["deleted"], deleted
    assert read(harness, service["id"]) is None
    assert without_audit(harness.state()) == without_audit(before), "deleting left rows behind"


@fuzz_settings(ci_examples=50)
@given(
    sent=UPDATE_INPUTS | WRONG_TYPES,
    target=mostly(st.none(), hostile_ids()),
    delete=st.booleans(),
)
def test_update_and_delete_refuse_hostile_input_with_a_code_and_store_what_they_accept(
    harness: SchemaHarness, sent: object, target: object, delete: bool
) -> None:
    service_id = harness.new_service(credential="secret")
    before = read(harness, str(service_id))
    assert before is not None
    chosen = str(service_id) if target is None else target
    if delete:
        response, codes = harness.mutate(DELETE, {"id": chosen})
        verdict(codes)
        if not codes and target is None:
            assert read(harness, str(service_id)) is None
    else:
        response, codes = harness.mutate(UPDATE, {"id": chosen, "input": sent})
        verdict(codes)
        if not codes and target is None:
            assert isinstance(sent, dict)
            after = read(harness, str(service_id))
            assert after == response["data"]["updateService"]["service"]
            assert_stored(sent, after)
            kept = set(before) - {k for k, v in sent.items() if v is not None} - {"credential", "hasCredential"}
            assert {k: after[k] for k in kept} == {k: before[k] for k in kept}
    if codes:
        fields = {e["extensions"].get("field") for e in response["errors"]} - {None}
        assert fields <= INPUT_KEYS | {"id"}, response
    if read(harness, str(service_id)) is not None:
        harness.mutate(DELETE, {"id": str(service_id)})


# --- importServices ------------------------------------------------------------------------------

POOL = ["Imported A", "Imported B", "Imported C"]
"""Names imported services take, so repeated imports update them instead of piling up rows."""

ENTRY_VALUES = HOSTILE_JSON_SCALARS | json_values(keys=["name", "required"], scalars=HOSTILE_JSON_SCALARS)
ENTRIES = st.fixed_dictionaries(
    {
        "name": mostly(st.sampled_from(POOL), ENTRY_VALUES | hostile_text()),
        "type": mostly(st.sampled_from(SERVICE_TYPES), ENTRY_VALUES),
        "apiType": mostly(st.sampled_from(API_TYPES), ENTRY_VALUES),
        "baseUrl": mostly(valid_urls(), hostile_urls() | ENTRY_VALUES),
    },
    optional={
        "description": mostly(PLAIN_TEXT, ENTRY_VALUES | hostile_text()),
        "location": mostly(PLAIN_TEXT, ENTRY_VALUES | hostile_text()),
        "checkIntervalSeconds": mostly(st.integers(5, 86_400), ENTRY_VALUES),
        "timeoutSeconds": mostly(st.floats(0.5, 5.0) | st.integers(1, 5), ENTRY_VALUES),
        "isActive": mostly(st.booleans(), ENTRY_VALUES),
        "verifyTls": mostly(st.booleans(), ENTRY_VALUES),
        "slaTarget": mostly(st.floats(0.5, 1.0), ENTRY_VALUES),
        "costPerJob": mostly(st.floats(0, 1e6), ENTRY_VALUES),
        "hasCredential": st.booleans(),
        "dependsOn": mostly(
            st.lists(
                st.fixed_dictionaries({"name": st.sampled_from(POOL)}, optional={"required": st.booleans()}), max_size=2
            ),
            ENTRY_VALUES,
        ),
    },
)
DOCUMENTS = st.fixed_dictionaries(
    {
        "format": mostly(st.just(FORMAT), ENTRY_VALUES),
        "services": mostly(st.lists(ENTRIES, max_size=3), ENTRY_VALUES),
    },
    optional={"exportedAt": ENTRY_VALUES, "note": ENTRY_VALUES},
)
# ensure_ascii=True writes a lone surrogate as a `\ud800` escape, False as the character itself;
# allow_nan writes NaN and Infinity, which Python's json module reads back.
TEXTS = st.builds(lambda doc, ascii_only: json.dumps(doc, ensure_ascii=ascii_only), DOCUMENTS, st.booleans())
IMPORT_TEXTS = mostly(
    TEXTS, TEXTS.flatmap(lambda text: st.integers(0, len(text)).map(lambda cut: text[:cut])) | hostile_text()
)
FIELD_PATH = r"document(\.services\[\d+\]\.(\w+|\*))?"


def assert_dependencies_acyclic(harness: SchemaHarness) -> None:
    """No service reaches itself through dependencies: setServiceDependency refuses a cycle, and
    an import must not be a way around it."""
    edges: dict[int, set[int]] = {}
    for source, target in harness.run(ServiceDependency.all().values_list("service_id", "depends_on_id")):
        edges.setdefault(source, set()).add(target)

    def reaches(start: int, goal: int, seen: set[int]) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in edges.get(start, ()))

    cyclic = [node for node in edges if reaches(node, node, {node})]
    assert not cyclic, f"dependency cycle through services {cyclic}"


@fuzz_settings(ci_examples=60)
@given(document=IMPORT_TEXTS)
# Found: a number past float's range was an OverflowError (INTERNAL_SERVER_ERROR).
@example(document=json.dumps({"format": FORMAT, "services": [
    {"name": "Imported A", "type": "MICHIGAN", "apiType": "CLOUDGENE", "baseUrl": "http://i.example.org",
     "timeoutSeconds": 10**400}]}))  # fmt: skip
@example(document=json.dumps({"format": FORMAT, "services": [
    {"name": "Imported A", "type": "MICHIGAN", "apiType": "CLOUDGENE", "baseUrl": "http://i.example.org",
     "slaTarget": 10**400}]}))  # fmt: skip
# Found: a `\ud800` escape inside the document reached the driver.
@example(document='{"format": "vigil.services/v1", "services": [{"name": "Imported \\ud800", "type": "MICHIGAN", '
         '"apiType": "CLOUDGENE", "baseUrl": "http://i.example.org"}]}')  # fmt: skip
# Found: an import could make a service depend on itself, or close a cycle, which setServiceDependency refuses.
@example(document=json.dumps({"format": FORMAT, "services": [
    {"name": "Imported A", "type": "MICHIGAN", "apiType": "CLOUDGENE", "baseUrl": "http://i.example.org",
     "dependsOn": [{"name": "Imported A"}]}]}))  # fmt: skip
@example(document=json.dumps({"format": FORMAT, "services": [
    {"name": "Imported A", "type": "MICHIGAN", "apiType": "CLOUDGENE", "baseUrl": "http://a.example.org",
     "dependsOn": [{"name": "Imported B"}]},
    {"name": "Imported B", "type": "MICHIGAN", "apiType": "CLOUDGENE", "baseUrl": "http://b.example.org",
     "dependsOn": [{"name": "Imported A", "required": False}]}]}))  # fmt: skip
# Found: the field was named twice, "document.services[0].document.services[0].apiType".
@example(document='{"format": "vigil.services/v1", "services": [{"name": "Imported A", "type": "MICHIGAN", '
         '"apiType": null, "baseUrl": null}]}')  # fmt: skip
def test_import_refuses_hostile_documents_whole_and_accepts_only_what_round_trips(
    harness: SchemaHarness, document: str
) -> None:
    response, codes = harness.mutate(IMPORT, {"document": document})
    verdict(codes)
    if codes:
        for error in response["errors"]:
            field = error["extensions"].get("field")
            assert field is None or re.fullmatch(FIELD_PATH, field), error
        return
    again, codes = harness.mutate(IMPORT, {"document": document})
    assert not codes, again
    assert (again["data"]["importServices"]["created"], again["data"]["importServices"]["updated"]) == ([], [])
    assert_dependencies_acyclic(harness)
    assert_registry_round_trips(harness)
