"""Whole responses of repeated read-only queries come from the cache, with the same rules as executing them."""

from __future__ import annotations

import pathlib
from typing import Any

from models import Role
from tests.integration.conftest import LiveVigil, make_settings, running

LIST = "query Fleet { services(first: 10) { totalCount nodes { name referencePanels { key } } } }"
STATS = "query { cacheStats { regions { name l1Hits misses entries } } }"
REGISTER = """
mutation($name: String!, $url: String!) {
  registerService(input: {name: $name, type: GA4GH, apiType: GA4GH_SERVICE_INFO,
                           baseUrl: $url, isActive: false}) { service { id } }
}
"""


async def responses(vigil: LiveVigil) -> dict[str, Any]:
    stats = await vigil.gql(STATS)
    return next(r for r in stats["data"]["cacheStats"]["regions"] if r["name"] == "responses")


def codes(answer: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in answer.get("errors", [])]


async def test_a_repeated_query_is_answered_from_the_cache_until_a_mutation_changes_the_data(
    database_url: str, tmp_path: pathlib.Path
) -> None:
    async with running(make_settings(database_url, tmp_path)) as vigil:
        await vigil.gql(REGISTER, {"name": "michigan", "url": "http://127.0.0.1:9/m"})
        first = await vigil.gql(LIST, role=Role.VIEWER)
        assert first["data"]["services"]["totalCount"] == 1
        assert await vigil.gql(LIST, role=Role.VIEWER) == first
        counted = await responses(vigil)
        assert (counted["misses"], counted["l1Hits"], counted["entries"]) == (1, 1, 1)

        # An ADMIN mutation drops every cached response.
        await vigil.gql(REGISTER, {"name": "topmed", "url": "http://127.0.0.1:9/t"})
        after = await vigil.gql(LIST, role=Role.VIEWER)
        assert [n["name"] for n in after["data"]["services"]["nodes"]] == ["michigan", "topmed"]


async def test_each_role_has_its_own_entries_and_no_token_is_refused_as_before(
    database_url: str, tmp_path: pathlib.Path
) -> None:
    async with running(make_settings(database_url, tmp_path)) as vigil:
        await vigil.gql(LIST, role=Role.VIEWER)
        await vigil.gql(LIST, role=Role.ADMIN)
        assert (await responses(vigil))["entries"] == 2
        for _ in range(2):
            assert codes(await vigil.gql(LIST, role=None)) == ["UNAUTHENTICATED"]
        assert codes(await vigil.raw(LIST, token="not-a-token")) == ["UNAUTHENTICATED"]
        assert (await responses(vigil))["entries"] == 2


async def test_answers_from_the_cache_still_spend_the_rate_limit(database_url: str, tmp_path: pathlib.Path) -> None:
    async with running(make_settings(database_url, tmp_path, rate_limit_per_minute=3)) as vigil:
        answers = [await vigil.gql(LIST, role=Role.VIEWER) for _ in range(4)]
        assert [codes(a) for a in answers] == [[], [], [], ["RATE_LIMITED"]]


async def test_answers_with_errors_and_other_reads_are_never_stored(database_url: str, tmp_path: pathlib.Path) -> None:
    async with running(make_settings(database_url, tmp_path)) as vigil:
        missing = 'query { trends(serviceId: "999") { window } }'
        for _ in range(2):
            assert codes(await vigil.gql(missing, role=Role.VIEWER)) == ["NOT_FOUND"]
        await vigil.gql("query { incidents { totalCount } }", role=Role.VIEWER)
        await vigil.gql("query { services { totalCount } ... on Query { dashboard { totalServices } } }")
        assert (await responses(vigil))["entries"] == 0
