"""Fuzzing the per-service settings and the token mutations with hostile input.

setAlertOverride, removeAlertOverride, scheduleMaintenance, setServiceDependency,
removeServiceDependency, createApiToken and revokeApiToken, through the real schema as an ADMIN:
every answer keeps the error contract, a refused mutation changes no row, and what is accepted
reads back through the API (a token authenticates with the role it was given, and not once
revoked).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from tortoise.expressions import Q

from models import Role, ServiceDependency
from probes.result import ApiType, ServiceType
from resolvers import alert_rules
from resolvers.errors import Unauthenticated
from resolvers.registration import delete_service
from resolvers.tokens import authenticate
from tests.fuzzing import fuzz_settings, verdict
from tests.fuzzing.harness import ADMIN, SchemaHarness
from tests.fuzzing.values import (
    PLAIN_TEXT,
    WRONG_TYPES,
    hostile_enum,
    hostile_floats,
    hostile_ids,
    hostile_text,
    hostile_times,
    mostly,
    optional,
)

RULES = [rule.upper() for rule in alert_rules.SERVICE_RULES]
SERVICE = "id alertOverrides { rule threshold enabled } dependencies { dependsOn { id } required }"


@dataclasses.dataclass(frozen=True)
class Call:
    """One mutation; the ids "<A>" and "<B>" stand for two services made for the example."""

    field: str
    document: str
    variables: dict[str, Any]


def calls(field: str, document: str, **arguments: st.SearchStrategy[object]) -> st.SearchStrategy[Call]:
    return st.builds(Call, st.just(field), st.just(document), st.fixed_dictionaries(arguments))


SERVICE_IDS = mostly(st.sampled_from(["<A>", "<B>"]), hostile_ids())
THRESHOLDS = optional(mostly(st.floats(0.01, 0.99) | st.integers(1, 3600), hostile_floats() | WRONG_TYPES))
TIMES = mostly(
    st.timedeltas(min_value=dt.timedelta(hours=-2), max_value=dt.timedelta(days=31)), hostile_times() | WRONG_TYPES
)
MAINTENANCE = (
    "mutation($s: ID!, $from: DateTime!, $to: DateTime!, $why: String) "
    "{ scheduleMaintenance(serviceId: $s, startsAt: $from, endsAt: $to, reason: $why) "
    "{ serviceId startsAt endsAt reason } }"
)
SETTINGS_CALLS = st.one_of(
    calls(
        "setAlertOverride",
        "mutation($s: ID!, $r: ServiceAlertRule!, $t: Float, $e: Boolean!) "
        f"{{ setAlertOverride(serviceId: $s, rule: $r, threshold: $t, enabled: $e) {{ service {{ {SERVICE} }} }} }}",
        s=SERVICE_IDS,
        r=mostly(st.sampled_from(RULES), hostile_enum(RULES)),
        t=THRESHOLDS,
        e=mostly(st.booleans(), WRONG_TYPES),
    ),
    calls(
        "removeAlertOverride",
        "mutation($s: ID!, $r: ServiceAlertRule!) "
        f"{{ removeAlertOverride(serviceId: $s, rule: $r) {{ service {{ {SERVICE} }} }} }}",
        s=SERVICE_IDS,
        r=mostly(st.sampled_from(RULES), hostile_enum(RULES)),
    ),
    calls(
        "scheduleMaintenance",
        MAINTENANCE,
        s=SERVICE_IDS,
        **{"from": TIMES, "to": TIMES},
        why=optional(mostly(PLAIN_TEXT, hostile_text())),
    ),
    calls(
        "setServiceDependency",
        "mutation($s: ID!, $d: ID!, $required: Boolean!) { setServiceDependency(serviceId: $s, dependsOnId: $d, "
        f"required: $required) {{ service {{ {SERVICE} }} }} }}",
        s=SERVICE_IDS,
        d=SERVICE_IDS,
        required=mostly(st.booleans(), WRONG_TYPES),
    ),
    calls(
        "removeServiceDependency",
        "mutation($s: ID!, $d: ID!) "
        f"{{ removeServiceDependency(serviceId: $s, dependsOnId: $d) {{ service {{ {SERVICE} }} }} }}",
        s=SERVICE_IDS,
        d=SERVICE_IDS,
    ),
)


OVERRIDE = (
    "mutation($s: ID!) { setAlertOverride(serviceId: $s, rule: FAILURE_RATE, threshold: 0.5) { service { id } } }"
)


def as_sent(value: object, now: dt.datetime) -> object:
    """A `timedelta` drawn for a DateTime becomes that far from now, in ISO form."""
    return (now + value).isoformat() if isinstance(value, dt.timedelta) else value


def assert_applied(harness: SchemaHarness, call: Call, data: dict[str, Any], a: str, b: str) -> None:
    """What an accepted call on service A reads back as, through the API."""
    sent = call.variables
    if call.field == "scheduleMaintenance":
        window = data["scheduleMaintenance"]
        for key, name in (("startsAt", "from"), ("endsAt", "to")):
            assert dt.datetime.fromisoformat(window[key]) == dt.datetime.fromisoformat(sent[name]), (window, sent)
        assert window["reason"] == (sent["why"] or "").strip()
        return
    service = data[call.field]["service"]
    overrides = {o["rule"]: o for o in service["alertOverrides"]}
    needs = {d["dependsOn"]["id"]: d["required"] for d in service["dependencies"]}
    if call.field == "setAlertOverride":
        assert overrides[sent["r"]] == {"rule": sent["r"], "threshold": sent["t"], "enabled": sent["e"]}
    elif call.field == "removeAlertOverride":
        assert sent["r"] not in overrides
    elif call.field == "setServiceDependency":
        assert needs.get(sent["d"]) is sent["required"], (service, sent)
    elif call.field == "removeServiceDependency":
        assert sent["d"] not in needs


@fuzz_settings(ci_examples=60)
@given(call=SETTINGS_CALLS, with_history=st.booleans())
# Found: a time at an end of the calendar overflowed when converted to UTC (OverflowError).
@example(
    call=Call("scheduleMaintenance", MAINTENANCE, {"s": "<A>", "from": "0001-01-01T00:00:00+01:00",
                                                   "to": "2026-01-01T00:00:00Z", "why": None}),
    with_history=False,
)  # fmt: skip
@example(
    call=Call("scheduleMaintenance", MAINTENANCE, {"s": "<A>", "from": "2026-01-01T00:00:00Z",
                                                   "to": "9999-12-31T23:59:59-01:00", "why": None}),
    with_history=False,
)  # fmt: skip
def test_service_settings_refuse_hostile_input_with_a_code_and_read_back_what_they_accept(
    harness: SchemaHarness, call: Call, with_history: bool
) -> None:
    a, b = (str(harness.new_service(ApiType.GA4GH_WES, ServiceType.GA4GH)) for _ in range(2))
    if with_history:  # B already needs A, and A has an override: conflicts and updates become possible
        harness.run(ServiceDependency.create(service_id=int(b), depends_on_id=int(a), required=True))
        harness.mutate(OVERRIDE, {"s": a})
    now = dt.datetime.now(dt.UTC)
    ids = {"<A>": a, "<B>": b}
    variables = {
        name: ids.get(value, value) if isinstance(value, str) else as_sent(value, now)
        for name, value in call.variables.items()
    }
    sent = dataclasses.replace(call, variables=variables)
    response, codes = harness.mutate(sent.document, sent.variables)
    verdict(codes)
    if not codes and variables.get("s") == a and variables.get("d") in (None, a, b):
        assert_applied(harness, sent, response["data"], a, b)
    pair = [int(a), int(b)]
    harness.run(ServiceDependency.filter(Q(service_id__in=pair) | Q(depends_on_id__in=pair)).delete())
    for service_id in pair:
        harness.run(delete_service(harness.deps, service_id, ADMIN.actor()))


CREATE = "mutation($name: String!, $role: Role!) { createApiToken(name: $name, role: $role) { token { id name role } secret } }"  # noqa: E501
REVOKE = "mutation($id: ID!) { revokeApiToken(id: $id) }"
ROLES = [role.value for role in Role]


@fuzz_settings(ci_examples=40)
@given(
    name=mostly(PLAIN_TEXT, hostile_text() | WRONG_TYPES),
    role=mostly(st.sampled_from(ROLES), hostile_enum(ROLES)),
    revoke=optional(hostile_ids()),
)
def test_tokens_refuse_hostile_input_with_a_code_and_authenticate_as_created_until_revoked(
    harness: SchemaHarness, name: object, role: object, revoke: object
) -> None:
    if revoke is not None:
        harness.mutate(REVOKE, {"id": revoke})
    response, codes = harness.mutate(CREATE, {"name": name, "role": role})
    verdict(codes)
    if codes:
        return
    assert isinstance(name, str)
    created = response["data"]["createApiToken"]
    assert created["token"]["name"] == name.strip() and created["token"]["role"] == role
    principal = harness.run(authenticate(f"Bearer {created['secret']}"))
    assert principal.role is Role(role) and principal.name == name.strip()
    revoked, codes = harness.mutate(REVOKE, {"id": created["token"]["id"]})
    assert not codes and revoked["data"]["revokeApiToken"] is True, revoked
    with pytest.raises(Unauthenticated):
        harness.run(authenticate(f"Bearer {created['secret']}"))
