"""Real `vigil serve` replicas for a benchmark: one fresh PostgreSQL database, one Redis prefix.

The processes are started by `tests/integration/replicas.py`, as the replica tests start them.
This module adds what a benchmark needs around them: the settings every replica shares
(docs/deployment.md §1), each replica's pid for CPU figures, its `/metrics`, the ERROR records of
its log, and the removal of the Redis keys the cluster leaves behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import pathlib
import urllib.request
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from bench.fanout import HTTP_TIMEOUT_S

DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
UVICORN_LEVELS = ("CRITICAL:", "ERROR:", "WARNING:", "INFO:")  # uvicorn's own records carry no asctime


@dataclasses.dataclass(frozen=True)
class Member:
    """One running replica."""

    url: str
    pid: int
    vigil: Any  # tests.integration.conftest.LiveVigil, with an ADMIN token

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/graphql"

    @property
    def token(self) -> str:
        token: str = self.vigil.tokens["ADMIN"]
        return token

    async def gql(self, document: str, variables: dict[str, Any]) -> dict[str, Any]:
        """The answer's `data`; RuntimeError when it has errors."""
        answer: dict[str, Any] = await self.vigil.gql(document, variables)
        if answer.get("errors"):
            raise RuntimeError(f"GraphQL errors: {answer['errors']}")
        return answer["data"]

    def scrape(self) -> dict[str, float]:
        """The unlabelled samples of the replica's `/metrics` (blocking)."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=HTTP_TIMEOUT_S) as response:
            lines = response.read().decode().splitlines()
        samples = (line.split() for line in lines if line and not line.startswith("#") and "{" not in line)
        return {name: float(value) for name, value in samples}


@contextlib.asynccontextmanager
async def cluster(
    count: int, probe_concurrency: int, pg_url: str, redis_url: str, logs: pathlib.Path
) -> AsyncIterator[tuple[list[Member], str]]:
    """`count` replicas, started one after the other; yields them and their database URL.

    On exit the replicas stop (SIGTERM), the database is dropped and the prefix's keys deleted.
    Each replica logs to `logs/{count}-{index}.log`.
    """
    from tests.conftest import fresh_postgres_database  # imported here: client processes import this module
    from tests.integration.replicas import admin_token, replica

    prefix = f"bench-replicas-{uuid.uuid4().hex[:8]}:"
    async with fresh_postgres_database(pg_url) as database_url, contextlib.AsyncExitStack() as stack:
        env = {
            "VIGIL_DATABASE_URL": database_url,
            "VIGIL_REDIS_URL": redis_url,
            "VIGIL_REDIS_PREFIX": prefix,
            "VIGIL_SECRET_KEY": "one bench key for every replica",
            "VIGIL_ALLOW_PRIVATE_TARGETS": "true",  # the fakes listen on 127.0.0.1
            "VIGIL_ANONYMOUS_READ": "true",
            "VIGIL_RATE_LIMIT_PER_MINUTE": "0",  # every subscriber connects from 127.0.0.1
            "VIGIL_MIN_CHECK_INTERVAL_SECONDS": "1",
            "VIGIL_PROBE_CONCURRENCY": str(probe_concurrency),
            "VIGIL_MAX_REQUEST_BYTES": str(64 * 1024 * 1024),  # one importServices of every service
            "VIGIL_GRAPHIQL": "false",
            "VIGIL_LOG_LEVEL": "WARNING",
        }
        stack.push_async_callback(forget_keys, redis_url, prefix)
        token = await asyncio.to_thread(admin_token, env)
        members = []
        for index in range(count):
            started = await stack.enter_async_context(replica(env, str(logs / f"{count}-{index}.log"), token))
            members.append(Member(started.vigil.url, started.process.pid, started.vigil))
        yield members, database_url


async def forget_keys(redis_url: str, prefix: str) -> None:
    """Deletes what the replicas' cache and usage counters left in Redis under `prefix`."""
    import redis.asyncio

    async with redis.asyncio.Redis.from_url(redis_url) as client, asyncio.timeout(30):
        if stale := [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]:
            await client.delete(*stale)


def subscribers(members: Sequence[Member]) -> int:
    """Broker subscriptions open on the replicas (blocking)."""
    return sum(int(member.scrape()["vigil_event_subscribers"]) for member in members)


def machine_cpu_s() -> float:
    """Busy CPU seconds of every core since boot: /proc/stat less idle and iowait."""
    ticks = [int(field) for field in pathlib.Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def errors_in(logs: pathlib.Path) -> tuple[str, ...]:
    """The ERROR records of the replicas' logs, each with the lines that follow it up to the next
    record (Vigil's records start with their asctime)."""
    found: list[str] = []
    for path in sorted(logs.iterdir()):
        is_error = False
        for line in path.read_text(errors="replace").splitlines():
            if line[:4].isdigit() or line.startswith(UVICORN_LEVELS):
                is_error = " ERROR " in line or line.startswith("ERROR:")
            if is_error:
                found.append(f"{path.stem}: {line}")
    return tuple(found)
