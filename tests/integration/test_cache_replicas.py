"""Two live replicas on one PostgreSQL and one Redis: what one changes, the other shows on its next read.

TTLs are set to ten minutes here, so a fresh answer can only come from event-driven invalidation.
"""

from __future__ import annotations

import asyncio
import pathlib
import uuid
from typing import Any

from tests.conftest import fresh_postgres_database
from tests.integration.conftest import LiveVigil, make_settings, running
from tests.integration.replicas import admin_token, replica

LIST = "query { services(first: 10) { totalCount nodes { id name status } } }"
DASHBOARD = "query { dashboard { totalServices } }"
STATS = "query { cacheStats { sharedEnabled sharedHealthy regions { name l1Hits l2Hits misses invalidations } } }"
REGISTER = """
mutation($name: String!, $url: String!) {
  registerService(input: {name: $name, type: GA4GH, apiType: GA4GH_SERVICE_INFO, baseUrl: $url}) { service { id } }
}
"""
RENAME = "mutation($id: ID!, $name: String!) { updateService(id: $id, input: {name: $name}) { service { name } } }"


def region(stats: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in stats["data"]["cacheStats"]["regions"] if r["name"] == name)


async def names_on(vigil: LiveVigil) -> list[str]:
    body = await vigil.gql(LIST)
    assert "errors" not in body, body
    return [node["name"] for node in body["data"]["services"]["nodes"]]


async def test_a_mutation_on_one_replica_is_visible_on_the_other_at_its_next_read(
    pg_url: str, redis_url: str, tmp_path: pathlib.Path
) -> None:
    async with fresh_postgres_database(pg_url) as database_url:
        env = {
            "VIGIL_DATABASE_URL": database_url,
            "VIGIL_REDIS_URL": redis_url,
            "VIGIL_REDIS_PREFIX": f"test-{uuid.uuid4().hex}:",
            "VIGIL_CACHE_L1_TTL_SECONDS": "600",
            "VIGIL_CACHE_L2_TTL_SECONDS": "600",
            "VIGIL_SECRET_KEY": "one key for both replicas",
            "VIGIL_PROBES_ENABLED": "false",
            "VIGIL_ALLOW_PRIVATE_TARGETS": "true",
            "VIGIL_LOG_LEVEL": "WARNING",
        }
        token = admin_token(env)
        log = str(tmp_path / "replicas.log")
        async with replica(env, log, token) as first, replica(env, log, token) as second:
            a, b = first.vigil, second.vigil
            created = await a.gql(REGISTER, {"name": "michigan", "url": "http://127.0.0.1:9/michigan"})
            assert "errors" not in created, created
            service_id = created["data"]["registerService"]["service"]["id"]

            # B's first read may race A's announcement of its own registration; then it is cached.
            for _ in range(50):
                assert await names_on(b) == ["michigan"]
                if region(await b.gql(STATS), "responses")["l1Hits"] >= 1:
                    break
            assert (await b.gql(DASHBOARD))["data"]["dashboard"]["totalServices"] == 1
            before = region(await b.gql(STATS), "responses")
            assert before["l1Hits"] >= 1, before

            renamed = await a.gql(RENAME, {"id": service_id, "name": "michigan-imputation"})
            assert "errors" not in renamed, renamed
            second_one = await a.gql(REGISTER, {"name": "topmed", "url": "http://127.0.0.1:9/topmed"})
            assert "errors" not in second_one, second_one

            # The announcement travels over Redis pub/sub: allow its latency, far below the TTL.
            seen: list[list[str]] = []
            for _ in range(100):
                seen.append(await names_on(b))
                if seen[-1] == ["michigan-imputation", "topmed"]:
                    break
                await asyncio.sleep(0.02)
            assert seen[-1] == ["michigan-imputation", "topmed"], seen[-3:]
            assert len(seen) < 50, f"visible on B only after {len(seen)} reads"
            assert (await b.gql(DASHBOARD))["data"]["dashboard"]["totalServices"] == 2
            after = region(await b.gql(STATS), "responses")
            assert after["invalidations"] > before["invalidations"]

            # A's own read of the same list is the answer B computed and put in Redis.
            stats_a = (await a.gql(STATS))["data"]["cacheStats"]
            assert stats_a["sharedEnabled"] is True and stats_a["sharedHealthy"] is True
            assert await names_on(a) == ["michigan-imputation", "topmed"]
            assert region(await a.gql(STATS), "responses")["l2Hits"] >= 1


async def test_without_redis_the_cache_lives_in_memory_and_a_mutation_still_invalidates_it(
    pg_url: str, tmp_path: pathlib.Path
) -> None:
    async with fresh_postgres_database(pg_url) as database_url:
        settings = make_settings(database_url, tmp_path, cache_l1_ttl_seconds=600)
        async with running(settings) as vigil:
            await vigil.gql(REGISTER, {"name": "afrigen", "url": "http://127.0.0.1:9/afrigen"})
            assert await names_on(vigil) == ["afrigen"]
            assert await names_on(vigil) == ["afrigen"]
            await vigil.gql(REGISTER, {"name": "elwazi", "url": "http://127.0.0.1:9/elwazi"})
            assert await names_on(vigil) == ["afrigen", "elwazi"]
            stats = (await vigil.gql(STATS))["data"]["cacheStats"]
            assert stats["sharedEnabled"] is False
            lists = region({"data": {"cacheStats": stats}}, "responses")
            assert lists["l1Hits"] >= 1 and lists["l2Hits"] == 0
