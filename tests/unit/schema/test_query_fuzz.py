"""Fuzzing the arguments of every query: pagination, filters, time windows, ids and search text.

Each generated call goes through the real schema as an ADMIN, its arguments sent either as
variables (any JSON type, so wrong types too) or written into the document as literals (bogus
enum names, numbers GraphQL cannot hold, escapes). Every answer keeps the error contract, and a
page that is answered holds at most `first` items, with an end cursor that reads the next page.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from models import HealthCheck, Incident, ReferencePanel
from probes.result import ApiType, GenomeBuild, HealthStatus, ServiceType
from resolvers.pagination import encode_cursor
from resolvers.registration import ServiceFields, register_service
from schema.types.enums import TrendWindow
from tests.fuzzing import fuzz_settings, verdict
from tests.fuzzing.harness import ADMIN, SchemaHarness
from tests.fuzzing.values import (
    PLAIN_TEXT,
    WRONG_TYPES,
    hostile_cursors,
    hostile_enum,
    hostile_ids,
    hostile_ints,
    hostile_text,
    hostile_times,
    mostly,
    optional,
)

SERVICES = 3
CHECKS = 12


@dataclasses.dataclass(frozen=True)
class Field:
    """A root query field: its arguments' GraphQL types, which of them are enums, what to select."""

    name: str
    arguments: dict[str, str]
    selection: str
    enums: frozenset[str] = frozenset()


@dataclasses.dataclass(frozen=True)
class Call:
    field: str
    arguments: dict[str, Any]  # only the arguments given
    inline: bool  # written into the document as literals, instead of sent as variables


CONNECTION = "totalCount pageInfo { hasNextPage endCursor } edges { cursor }"
FIELDS = {
    f.name: f
    for f in (
        Field("services", {"filter": "ServiceFilter", "first": "Int", "after": "String"}, CONNECTION),
        Field("service", {"id": "ID!"}, "id name"),
        Field(
            "healthHistory",
            {"serviceId": "ID!", "since": "DateTime", "until": "DateTime", "first": "Int", "after": "String"},
            CONNECTION,
        ),
        Field("incidents", {"serviceId": "ID", "openOnly": "Boolean", "first": "Int", "after": "String"}, CONNECTION),
        Field("alerts", {"serviceId": "ID", "firingOnly": "Boolean", "first": "Int", "after": "String"}, CONNECTION),
        Field("trends", {"serviceId": "ID!", "window": "TrendWindow"}, "window", frozenset({"window"})),
        Field("analytics", {"window": "TrendWindow"}, "window", frozenset({"window"})),
        Field("compareServices", {"ids": "[ID!]!"}, "services { id }"),
        Field(
            "recommendServices",
            {"panel": "String", "build": "GenomeBuild", "population": "String", "first": "Int"},
            "service { id }",
            frozenset({"build"}),
        ),
        Field("referencePanels", {"filter": "ReferencePanelFilter"}, "key"),
    )
}
WINDOWS = [w.value for w in TrendWindow]
BUILDS = [b.value for b in GenomeBuild]


def existing_ids() -> st.SearchStrategy[object]:
    return mostly(st.integers(1, SERVICES).map(str), hostile_ids())


def page_sizes() -> st.SearchStrategy[object]:
    return mostly(st.integers(0, 100), hostile_ints() | WRONG_TYPES)


def cursors(kind: str) -> st.SearchStrategy[object]:
    return mostly(st.integers(0, 40).map(lambda n: encode_cursor(kind, n)), hostile_cursors())


def times() -> st.SearchStrategy[object]:
    return hostile_times() | WRONG_TYPES


def enums(values: list[str]) -> st.SearchStrategy[object]:
    return mostly(st.sampled_from(values), hostile_enum(values))


def texts() -> st.SearchStrategy[object]:
    return mostly(PLAIN_TEXT, hostile_text() | WRONG_TYPES)


SERVICE_FILTERS = st.fixed_dictionaries(
    {},
    optional={
        "type": enums([t.value for t in ServiceType]),
        "apiType": enums([t.value for t in ApiType]),
        "status": enums([s.value for s in HealthStatus]),
        "search": texts(),
        "panel": texts(),
        "build": enums(BUILDS),
        "isActive": mostly(st.booleans(), WRONG_TYPES),
    },
)
PANEL_FILTERS = st.fixed_dictionaries(
    {},
    optional={
        "serviceId": existing_ids(),
        "build": enums(BUILDS),
        "search": texts(),
        "population": texts(),
        "includeInactive": mostly(st.booleans(), WRONG_TYPES),
    },
)
ARGUMENTS: dict[str, dict[str, st.SearchStrategy[object]]] = {
    "services": {"filter": optional(SERVICE_FILTERS | WRONG_TYPES), "first": page_sizes(), "after": cursors("service")},
    "service": {"id": existing_ids()},
    "healthHistory": {
        "serviceId": existing_ids(),
        "since": times(),
        "until": times(),
        "first": page_sizes(),
        "after": cursors("check"),
    },
    "incidents": {
        "serviceId": existing_ids(),
        "openOnly": st.booleans(),
        "first": page_sizes(),
        "after": cursors("incident"),
    },
    "alerts": {
        "serviceId": existing_ids(),
        "firingOnly": st.booleans(),
        "first": page_sizes(),
        "after": cursors("alert"),
    },
    "trends": {"serviceId": existing_ids(), "window": enums(WINDOWS)},
    "analytics": {"window": enums(WINDOWS)},
    "compareServices": {"ids": st.lists(existing_ids(), max_size=25) | WRONG_TYPES},
    "recommendServices": {"panel": texts(), "build": enums(BUILDS), "population": texts(), "first": page_sizes()},
    "referencePanels": {"filter": optional(PANEL_FILTERS | WRONG_TYPES)},
}
CALLS = st.one_of(
    st.builds(
        Call,
        st.just(name),
        st.fixed_dictionaries({}, optional=strategies),
        st.booleans(),
    )
    for name, strategies in ARGUMENTS.items()
)


def literal(value: object, *, enum: bool = False) -> str:
    """`value` written as a GraphQL literal; a string for an enum argument is written as a name
    when it could be one (so bogus names reach enum coercion, not the lexer)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return value if enum and value.isidentifier() and value.isascii() else json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(literal(v, enum=enum) for v in value) + "]"
    if isinstance(value, dict):  # a key that is not a GraphQL name is written quoted: a syntax error
        return "{" + ", ".join(f"{k if k.isidentifier() and k.isascii() else json.dumps(k)}: "
                               f"{literal(v, enum=k in ('type', 'apiType', 'status', 'build'))}"
                               for k, v in value.items()) + "}"  # fmt: skip
    raise TypeError(value)


def render(call: Call, now: dt.datetime) -> tuple[str, dict[str, Any]]:
    """The document and variables for `call`; a `timedelta` drawn for a DateTime is that far from now."""
    field = FIELDS[call.field]
    given = {k: (now + v).isoformat() if isinstance(v, dt.timedelta) else v for k, v in call.arguments.items()}
    if call.inline:
        arguments = ", ".join(f"{k}: {literal(v, enum=k in field.enums)}" for k, v in given.items())
        return f"query {{ {field.name}{f'({arguments})' if arguments else ''} {{ {field.selection} }} }}", {}
    declared = ", ".join(f"${k}: {field.arguments[k]}" for k in given)
    passed = ", ".join(f"{k}: ${k}" for k in given)
    head = f"query({declared}) " if given else "query "
    return f"{head}{{ {field.name}{f'({passed})' if passed else ''} {{ {field.selection} }} }}", given


@pytest.fixture(scope="module")
def seeded(harness: SchemaHarness) -> Iterator[SchemaHarness]:
    """A few services, checks, incidents and panels, so pages, cursors and filters have rows."""

    async def seed() -> None:
        now = dt.datetime.now(dt.UTC)
        for n in range(1, SERVICES + 1):
            fields = ServiceFields(
                name=f"Query {n}", type=ServiceType.MICHIGAN, api_type=ApiType.CLOUDGENE, base_url=f"https://q{n}.org"
            )
            row = await register_service(harness.deps, fields, ADMIN.actor())
            populations = [{"key": "eur", "name": "EUR"}]
            await ReferencePanel.create(
                service=row, key=f"apps@panel-{n}@1.0", label=f"Panel {n} (hg38)", build=GenomeBuild.HG38,
                populations=populations,
            )  # fmt: skip
            for minutes in range(CHECKS):
                status = HealthStatus.HEALTHY if minutes % 4 else HealthStatus.UNHEALTHY
                checked_at = now - dt.timedelta(minutes=minutes)
                await HealthCheck.create(service=row, checked_at=checked_at, status=status, raw_status=status)
            await Incident.create(service=row, kind=HealthStatus.UNHEALTHY, started_at=now - dt.timedelta(hours=n))

    harness.run(seed())
    yield harness


@fuzz_settings(ci_examples=120)
@given(call=CALLS)
# Found, each INTERNAL_SERVER_ERROR before its fix: a naive `since` with an aware `until` (TypeError); a `since`
# before year 1 once in UTC (PostgreSQL, found by the bench); cursors past the key column (SQLite OverflowError,
# PostgreSQL DataError); NUL or lone surrogates in search text; an id past 32 bits (PostgreSQL).
@example(call=Call("healthHistory", {"serviceId": "1", "since": "2026-01-01T00:00:00", "until": "2026-01-02T00:00:00Z"},
                   inline=False))  # fmt: skip
@example(call=Call("healthHistory", {"serviceId": "1", "since": "0001-01-01T00:00:00+01:00"}, inline=False))
@example(call=Call("services", {"after": encode_cursor("service", 10**30)}, inline=False))
@example(call=Call("healthHistory", {"serviceId": "1", "after": encode_cursor("check", 2**63)}, inline=False))
@example(call=Call("services", {"filter": {"search": "\ud800"}}, inline=False))
@example(call=Call("services", {"filter": {"search": "a\x00b"}}, inline=True))
@example(call=Call("service", {"id": str(2**31)}, inline=False))
def test_every_query_answers_hostile_arguments_with_a_documented_code_or_a_bounded_page(
    seeded: SchemaHarness, call: Call
) -> None:
    document, variables = render(call, dt.datetime.now(dt.UTC))
    response, codes = seeded.query(document, variables)
    verdict(codes)
    if codes or "edges" not in FIELDS[call.field].selection:
        return
    page = response["data"][call.field]
    first = call.arguments.get("first")
    assert len(page["edges"]) <= (first if isinstance(first, int) else 100) and len(page["edges"]) <= page["totalCount"]
    end = page["pageInfo"]["endCursor"]
    if end is not None:
        following = dataclasses.replace(call, arguments={**call.arguments, "after": end})
        document, variables = render(following, dt.datetime.now(dt.UTC))
        response, codes = seeded.query(document, variables)
        assert not codes, response
