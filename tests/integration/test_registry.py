"""The registry API through HTTP against a live app, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
import pathlib

import pytest

from models import AuditEvent, ReferencePanel, Role, Service
from tests.integration.conftest import LiveVigil, make_settings, running

REGISTER = """
mutation($input: RegisterServiceInput!) {
  registerService(input: $input) { service { id name type apiType baseUrl status circuitState hasCredential } }
}"""
SEARCH = """
query($search: String) {
  services(filter: {search: $search}) { totalCount edges { cursor node { id name location } } }
}"""


def michigan(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "Michigan Imputation Server",
        "type": "MICHIGAN",
        "apiType": "CLOUDGENE",
        "baseUrl": "https://imputationserver.sph.umich.edu/",
        "location": "Ann Arbor, USA",
        "description": "MIS2",
    }
    data.update(overrides)
    return data


def codes(answer: dict) -> list[str]:
    return [error["extensions"]["code"] for error in answer.get("errors", [])]


async def test_registered_service_is_found_by_search(live: LiveVigil) -> None:
    answer = await live.gql(REGISTER, {"input": michigan()})
    service = answer["data"]["registerService"]["service"]
    assert service["baseUrl"] == "https://imputationserver.sph.umich.edu"
    assert service["status"] == "UNKNOWN" and service["circuitState"] == "CLOSED"
    found = await live.gql(SEARCH, {"search": "ann arbor"}, role=Role.VIEWER)
    assert found["data"]["services"]["totalCount"] == 1
    assert found["data"]["services"]["edges"][0]["node"]["name"] == "Michigan Imputation Server"


async def test_register_without_token_is_unauthenticated_and_stores_nothing(live: LiveVigil) -> None:
    answer = await live.gql(REGISTER, {"input": michigan()}, role=None)
    assert codes(answer) == ["UNAUTHENTICATED"]
    assert answer["data"] is None
    assert await Service.all().count() == 0


async def test_register_with_viewer_or_operator_token_is_forbidden(live: LiveVigil) -> None:
    for role in (Role.VIEWER, Role.OPERATOR):
        answer = await live.gql(REGISTER, {"input": michigan()}, role=role)
        assert codes(answer) == ["FORBIDDEN"]
    assert await Service.all().count() == 0


async def test_unknown_token_is_unauthenticated(live: LiveVigil) -> None:
    answer = await live.raw(SEARCH, token="vgl_not-a-real-token")
    assert codes(answer) == ["UNAUTHENTICATED"]


async def test_reading_needs_a_viewer_token_when_anonymous_read_is_off(live: LiveVigil) -> None:
    assert codes(await live.gql(SEARCH, role=None)) == ["UNAUTHENTICATED"]
    assert codes(await live.gql(SEARCH, role=Role.VIEWER)) == []


async def test_register_service_twice_returns_conflict(live: LiveVigil) -> None:
    await live.gql(REGISTER, {"input": michigan()})
    same_name = await live.gql(REGISTER, {"input": michigan(baseUrl="https://other.example")})
    assert codes(same_name) == ["CONFLICT"]
    assert same_name["errors"][0]["extensions"]["field"] == "name"
    same_url = await live.gql(REGISTER, {"input": michigan(name="Another name")})
    assert codes(same_url) == ["CONFLICT"]
    assert same_url["errors"][0]["extensions"]["field"] == "baseUrl"
    assert await Service.all().count() == 1


async def test_bad_input_is_refused_with_the_offending_field(live: LiveVigil) -> None:
    cases = [
        ({"baseUrl": "ftp://example.org"}, "baseUrl"),
        ({"baseUrl": "not a url"}, "baseUrl"),
        ({"baseUrl": "https://"}, "baseUrl"),
        ({"baseUrl": "https://user:pw@example.org"}, "baseUrl"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"checkIntervalSeconds": 1}, "checkIntervalSeconds"),
        ({"checkIntervalSeconds": 10**7}, "checkIntervalSeconds"),
        ({"timeoutSeconds": 0.0}, "timeoutSeconds"),
        ({"timeoutSeconds": 999.0}, "timeoutSeconds"),
        ({"checkIntervalSeconds": 10, "timeoutSeconds": 20.0}, "timeoutSeconds"),
        ({"description": "d" * 2001}, "description"),
    ]
    for overrides, field in cases:
        answer = await live.gql(REGISTER, {"input": michigan(**overrides)})
        assert codes(answer) == ["BAD_USER_INPUT"], overrides
        assert answer["errors"][0]["extensions"]["field"] == field, overrides
    assert await Service.all().count() == 0


async def test_unknown_enum_value_is_refused(live: LiveVigil) -> None:
    answer = await live.gql(REGISTER, {"input": michigan(type="MARS")})
    assert codes(answer) == ["BAD_USER_INPUT"]
    inline = (
        'mutation { registerService(input: {name: "x", type: MARS, baseUrl: "https://x.example"}) { service { id } } }'
    )
    assert codes(await live.gql(inline)) == ["GRAPHQL_VALIDATION_FAILED"]
    assert await Service.all().count() == 0


async def test_page_size_is_capped(live: LiveVigil) -> None:
    answer = await live.gql("{ services(first: 101) { totalCount } }")
    assert codes(answer) == ["BAD_USER_INPUT"]
    assert answer["errors"][0]["extensions"]["field"] == "first"


async def test_services_paginate_with_cursors(live: LiveVigil) -> None:
    for n in range(5):
        await live.gql(REGISTER, {"input": michigan(name=f"S{n}", baseUrl=f"https://s{n}.example")})
    query = """query($after: String) {
      services(first: 2, after: $after) { pageInfo { hasNextPage endCursor } nodes { name } }
    }"""
    names, after = [], None
    while True:
        page = (await live.gql(query, {"after": after}))["data"]["services"]
        names += [node["name"] for node in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert names == [f"S{n}" for n in range(5)]
    bad = await live.gql(query, {"after": "garbage"})
    assert codes(bad) == ["BAD_USER_INPUT"]


async def test_update_and_delete_are_audited(live: LiveVigil) -> None:
    sid = (await live.gql(REGISTER, {"input": michigan()}))["data"]["registerService"]["service"]["id"]
    update = 'mutation($id: ID!) { updateService(id: $id, input: {location: "Michigan"}) { service { location } } }'
    assert (await live.gql(update, {"id": sid}))["data"]["updateService"]["service"]["location"] == "Michigan"
    delete = "mutation($id: ID!) { deleteService(id: $id) { deleted name } }"
    assert (await live.gql(delete, {"id": sid}))["data"]["deleteService"]["deleted"] is True
    assert codes(await live.gql(delete, {"id": sid})) == ["NOT_FOUND"]
    actions = [event.action for event in await AuditEvent.all().order_by("id")]
    assert actions[-3:] == ["service.register", "service.update", "service.delete"]
    update_event = await AuditEvent.get(action="service.update")
    assert update_event.before["location"] == "Ann Arbor, USA" and update_event.after["location"] == "Michigan"
    assert update_event.actor.startswith("test-admin")


async def test_credentials_never_leave_in_clear(live: LiveVigil, caplog) -> None:
    secret = "super-secret-imputation-token-123"
    answer = await live.gql(REGISTER, {"input": michigan(credential=secret)})
    service = answer["data"]["registerService"]["service"]
    assert service["hasCredential"] is True
    everything = await live.gql(
        "{ services { nodes { id name baseUrl description location hasCredential } } exportServices }"
    )
    row = await Service.get(id=int(service["id"]))
    audit = [json.dumps([e.before, e.after]) for e in await AuditEvent.all()]
    haystacks = [json.dumps(answer), json.dumps(everything), row.credential_encrypted or "", caplog.text, *audit]
    assert all(secret not in text for text in haystacks)
    assert row.credential_encrypted is not None
    removed = await live.gql(
        'mutation($id: ID!) { updateService(id: $id, input: {credential: ""}) { service { hasCredential } } }',
        {"id": service["id"]},
    )
    assert removed["data"]["updateService"]["service"]["hasCredential"] is False


async def test_export_then_import_round_trips_and_import_is_idempotent(live: LiveVigil) -> None:
    await live.gql(REGISTER, {"input": michigan()})
    await live.gql(
        REGISTER, {"input": michigan(name="TOPMed", baseUrl="https://imputation.biodatacatalyst.nhlbi.nih.gov")}
    )
    document = (await live.gql("{ exportServices }"))["data"]["exportServices"]
    again = await live.gql(
        "mutation($d: String!) { importServices(document: $d) { created updated unchanged } }", {"d": document}
    )
    assert again["data"]["importServices"] == {
        "created": [],
        "updated": [],
        "unchanged": ["Michigan Imputation Server", "TOPMed"],
    }
    await Service.all().delete()
    restored = await live.gql("mutation($d: String!) { importServices(document: $d) { created } }", {"d": document})
    assert sorted(restored["data"]["importServices"]["created"]) == ["Michigan Imputation Server", "TOPMed"]
    assert (
        json.loads((await live.gql("{ exportServices }"))["data"]["exportServices"])["services"]
        == json.loads(document)["services"]
    )
    broken = await live.gql('mutation { importServices(document: "{not json") { created } }')
    assert codes(broken) == ["BAD_USER_INPUT"]


async def test_tokens_can_be_created_used_and_revoked(live: LiveVigil) -> None:
    made = await live.gql('mutation { createApiToken(name: "dash", role: VIEWER) { secret token { id role } } }')
    secret = made["data"]["createApiToken"]["secret"]
    assert codes(await live.raw(SEARCH, token=secret)) == []
    token_id = made["data"]["createApiToken"]["token"]["id"]
    revoked = await live.gql("mutation($id: ID!) { revokeApiToken(id: $id) }", {"id": token_id})
    assert revoked["data"]["revokeApiToken"] is True
    assert codes(await live.raw(SEARCH, token=secret)) == ["UNAUTHENTICATED"]


async def test_deep_and_alias_heavy_queries_are_refused_and_the_server_keeps_serving(live: LiveVigil) -> None:
    nested = "service { id }"
    for _ in range(10):
        nested = f"dependencies {{ {nested} }}"
        nested = f"service {{ {nested} }}"
    deep = "{ services { nodes { " + nested.removeprefix("service { ").removesuffix(" }") + " } } }"
    answer = await live.gql(deep)
    assert codes(answer) == ["GRAPHQL_VALIDATION_FAILED"]
    aliases = "{ " + " ".join(f"a{i}: services {{ totalCount }}" for i in range(1000)) + " }"
    answer = await live.gql(aliases)
    assert codes(answer) == ["GRAPHQL_PARSE_FAILED"]
    assert "tokens" in answer["errors"][0]["message"]
    some_aliases = "{ " + " ".join(f"a{i}: services {{ totalCount }}" for i in range(40)) + " }"
    answer = await live.gql(some_aliases)
    assert set(codes(answer)) == {"GRAPHQL_VALIDATION_FAILED"}
    assert "aliases" in answer["errors"][0]["message"]
    assert codes(await live.gql(SEARCH)) == []


async def test_syntax_errors_are_parse_failures(live: LiveVigil) -> None:
    assert codes(await live.gql("{ services {")) == ["GRAPHQL_PARSE_FAILED"]


async def test_oversized_request_body_is_refused(live: LiveVigil) -> None:
    big = "{ services { totalCount } }" + " " * (live.settings.max_request_bytes + 10)
    async with live.http.post(live.graphql_url, json={"query": big}) as response:
        assert response.status == 413
        assert (await response.json())["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_health_endpoints_answer(live: LiveVigil) -> None:
    async with live.http.get(f"{live.url}/healthz") as response:
        assert response.status == 200
    async with live.http.get(f"{live.url}/readyz") as response:
        assert response.status == 200
        assert (await response.json())["status"] == "ready"


async def test_unexpected_errors_are_masked_and_logged_with_the_request_id(
    live: LiveVigil, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from resolvers import services

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("internal detail: password=hunter2")

    monkeypatch.setattr(services, "list_services", broken)
    with caplog.at_level(logging.ERROR, logger="vigil.graphql"):
        answer = await live.gql(SEARCH, role=Role.VIEWER)
    error = answer["errors"][0]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert error["message"] == "Unexpected error."
    assert "hunter2" not in json.dumps(answer)
    request_id = error["extensions"]["requestId"]
    assert any(request_id in record.getMessage() and record.exc_info for record in caplog.records)
    monkeypatch.undo()
    assert codes(await live.gql(SEARCH, role=Role.VIEWER)) == []


async def test_too_many_mutations_are_rate_limited_with_a_retry_hint(database_url: str, tmp_path: pathlib.Path) -> None:
    settings = make_settings(database_url, tmp_path, mutation_rate_limit_per_minute=3)
    async with running(settings) as vigil:
        answers = [
            await vigil.gql(REGISTER, {"input": michigan(name=f"S{n}", baseUrl=f"https://s{n}.example")})
            for n in range(4)
        ]
        assert [codes(a) for a in answers[:3]] == [[], [], []]
        limited = answers[3]["errors"][0]["extensions"]
        assert limited["code"] == "RATE_LIMITED" and limited["retryAfterSeconds"] >= 1
        assert await Service.all().count() == 3
        assert codes(await vigil.gql(SEARCH, role=Role.VIEWER)) == [], "queries have their own budget"


async def test_services_are_filtered_by_an_active_panel_and_by_its_build(live: LiveVigil) -> None:
    ids = {}
    for name, url in (
        ("Michigan", "https://m.example"),
        ("TOPMed", "https://t.example"),
        ("Empty", "https://e.example"),
    ):
        answer = await live.gql(REGISTER, {"input": michigan(name=name, baseUrl=url)})
        ids[name] = int(answer["data"]["registerService"]["service"]["id"])
    await ReferencePanel.create(service_id=ids["Michigan"], key="apps@hrc-r1.1@2.0.0", label="HRC r1.1", build="HG19")
    await ReferencePanel.create(service_id=ids["TOPMed"], key="apps@topmed-r3@1.0.0", label="TOPMed r3", build="HG38")
    await ReferencePanel.create(
        service_id=ids["Empty"], key="apps@hrc-r1.1@1.0.0", label="HRC r1.1 (gone)", build="HG19", is_active=False
    )
    query = "query($f: ServiceFilter) { services(filter: $f) { nodes { name } } }"

    async def names(**filter_: object) -> list[str]:
        answer = await live.gql(query, {"f": filter_}, role=Role.VIEWER)
        assert "errors" not in answer, answer
        return [node["name"] for node in answer["data"]["services"]["nodes"]]

    assert await names(panel="hrc") == ["Michigan"]
    assert await names(build="HG38") == ["TOPMed"]
    assert await names(panel="r1.1", build="HG38") == []


async def test_alert_overrides_are_set_read_and_removed_through_the_api(live: LiveVigil) -> None:
    created = await live.gql(REGISTER, {"input": michigan()})
    sid = created["data"]["registerService"]["service"]["id"]
    set_override = """
    mutation($id: ID!, $threshold: Float, $enabled: Boolean!) {
      setAlertOverride(serviceId: $id, rule: SLOW_RESPONSE, threshold: $threshold, enabled: $enabled) {
        service { alertOverrides { rule threshold enabled } }
      }
    }"""
    answer = await live.gql(set_override, {"id": sid, "threshold": 800.0, "enabled": True})
    overrides = answer["data"]["setAlertOverride"]["service"]["alertOverrides"]
    assert overrides == [{"rule": "SLOW_RESPONSE", "threshold": 800.0, "enabled": True}]
    refused = await live.gql(set_override, {"id": sid, "threshold": -1.0, "enabled": True})
    assert codes(refused) == ["BAD_USER_INPUT"] and refused["errors"][0]["extensions"]["field"] == "threshold"
    viewer = await live.gql(set_override, {"id": sid, "threshold": 900.0, "enabled": True}, role=Role.VIEWER)
    assert codes(viewer) == ["FORBIDDEN"]
    removed = await live.gql(
        "mutation($id: ID!) { removeAlertOverride(serviceId: $id, rule: SLOW_RESPONSE)"
        " { service { alertOverrides { rule } } } }",
        {"id": sid},
    )
    assert removed["data"]["removeAlertOverride"]["service"]["alertOverrides"] == []
