"""Two `vigil serve` processes on one PostgreSQL and one Redis behave as one service.

Each fake counts the health requests it gets. With one-second check intervals, one prober gives
about one request per second per service and two would give about two. Ownership is read from
each replica's `/readyz`, and the one that owns the watched service is then SIGKILLed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import pathlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from models.leases import slot_of
from simulators import Behaviour, CloudgeneSimulator
from tests.conftest import fresh_postgres_database
from tests.integration.conftest import LiveVigil
from tests.integration.replicas import ReplicaProcess, admin_token, ownership, replica, settled

INTERVAL_S = 1.0
SERVICES = 6
REGISTER = """
mutation($name: String!, $url: String!) {
  registerService(input: {name: $name, type: MICHIGAN, apiType: CLOUDGENE, baseUrl: $url, checkIntervalSeconds: 1,
                          timeoutSeconds: 1}) { service { id } }
}"""
STATUS_CHANGED = "subscription($ids: [ID!]) { statusChanged(serviceIds: $ids) { seq serviceId previousStatus status } }"
HEALTH_CHECKED = "subscription($ids: [ID!]) { healthChecked(serviceIds: $ids) { id serviceId status } }"


class CountedFake:
    """A Cloudgene simulator that notes when each health request arrives, whatever it answers."""

    def __init__(self) -> None:
        self.simulator = CloudgeneSimulator()
        self.hits: list[float] = []
        self.simulator.app.middlewares.insert(0, self._count)  # outermost: sees the failures too

    @web.middleware
    async def _count(self, request: web.Request, handler: Callable[..., Awaitable[web.StreamResponse]]) -> Any:
        if request.path == "/api/v2/server":
            self.hits.append(time.monotonic())
        return await handler(request)

    def hits_between(self, start: float, end: float) -> int:
        return sum(1 for hit in self.hits if start <= hit < end)


@dataclasses.dataclass
class Feed:
    """The `next` payloads of the subscriptions on one socket, by operation id."""

    events: dict[str, list[dict[str, Any]]] = dataclasses.field(default_factory=lambda: {"1": [], "2": []})
    arrived: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    def changes(self) -> list[dict[str, Any]]:
        return [event["statusChanged"] for event in self.events["1"]]

    def checks(self) -> list[dict[str, Any]]:
        return [event["healthChecked"] for event in self.events["2"]]

    async def wait(self, condition: Callable[[], bool], timeout_s: float) -> None:
        async with asyncio.timeout(timeout_s):
            while not condition():
                self.arrived.clear()
                await self.arrived.wait()


@contextlib.asynccontextmanager
async def feed(vigil: LiveVigil, service_id: str) -> AsyncIterator[Feed]:
    """statusChanged (id 1) and healthChecked (id 2) of one service over graphql-transport-ws,
    live once the first check has arrived."""
    collected = Feed()
    async with vigil.http.ws_connect(vigil.ws_url, protocols=["graphql-transport-ws"]) as ws:
        init = {"Authorization": f"Bearer {vigil.tokens['ADMIN']}"}
        await ws.send_json({"type": "connection_init", "payload": init})
        async with asyncio.timeout(10):
            assert (await ws.receive_json())["type"] == "connection_ack"
        for key, query in (("1", STATUS_CHANGED), ("2", HEALTH_CHECKED)):
            payload = {"query": query, "variables": {"ids": [service_id]}}
            await ws.send_json({"id": key, "type": "subscribe", "payload": payload})

        async def pump() -> None:
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    return
                data = message.json()
                assert data["type"] == "next", data
                collected.events[data["id"]].append(data["payload"]["data"])
                collected.arrived.set()

        task = asyncio.create_task(pump())
        try:
            await collected.wait(lambda: len(collected.checks()) >= 2, timeout_s=10)
            yield collected
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def wait_for_hits(fakes: list[CountedFake], after: float, timeout_s: float) -> list[float]:
    """The first health request each fake gets after `after`."""
    async with asyncio.timeout(timeout_s):
        while True:
            firsts = [next((hit for hit in fake.hits if hit > after), None) for fake in fakes]
            if all(first is not None for first in firsts):
                return [first for first in firsts if first is not None]
            await asyncio.sleep(0.02)


async def assert_probed_once_per_interval(fakes: list[CountedFake], window_s: float) -> None:
    start = time.monotonic()
    await asyncio.sleep(window_s)  # the measurement itself: requests counted over a fixed window
    counts = [fake.hits_between(start, start + window_s) for fake in fakes]
    expected = window_s / INTERVAL_S
    # One prober: about `expected` per fake. Two probers would give about twice that.
    assert all(expected - 1.5 <= count <= expected + 1 for count in counts), counts


async def test_two_replicas_probe_each_service_once_share_events_and_take_over_a_killed_one(
    pg_url: str, redis_url: str, tmp_path: pathlib.Path
) -> None:
    fakes = [CountedFake() for _ in range(SERVICES)]
    async with contextlib.AsyncExitStack() as stack:
        urls = [
            str((await stack.enter_async_context(TestServer(fake.simulator.app))).make_url("")).rstrip("/")
            for fake in fakes
        ]
        database_url = await stack.enter_async_context(fresh_postgres_database(pg_url))
        env = {
            "VIGIL_DATABASE_URL": database_url,
            "VIGIL_REDIS_URL": redis_url,
            "VIGIL_REDIS_PREFIX": f"test-{uuid.uuid4().hex}:",
            "VIGIL_SECRET_KEY": "one key for both replicas",
            "VIGIL_ALLOW_PRIVATE_TARGETS": "true",
            "VIGIL_MIN_CHECK_INTERVAL_SECONDS": "1",
            "VIGIL_LEASE_INTERVAL_SECONDS": "0.5",
            "VIGIL_LOG_LEVEL": "INFO",
        }
        token = await asyncio.to_thread(admin_token, env)
        log = str(tmp_path / "replicas.log")
        first: ReplicaProcess = await stack.enter_async_context(replica(env, log, token))
        second: ReplicaProcess = await stack.enter_async_context(replica(env, log, token))
        a, b = first.vigil, second.vigil

        service_ids = []
        for index, url in enumerate(urls):
            on = (a, b)[index % 2]  # registrations land on both replicas, whoever owns the service
            answer = await on.gql(REGISTER, {"name": f"MIS {index}", "url": url})
            assert "errors" not in answer, answer
            service_ids.append(int(answer["data"]["registerService"]["service"]["id"]))
        owned = await settled([a, b], SERVICES)
        assert set(owned[0]["slots"]).isdisjoint(owned[1]["slots"])
        await wait_for_hits(fakes, after=time.monotonic(), timeout_s=10)
        await assert_probed_once_per_interval(fakes, window_s=4.0)

        # The watched service belongs to `owner`; the subscriber listens on the other replica.
        watched = 0
        owner_index = 0 if slot_of(service_ids[watched]) in owned[0]["slots"] else 1
        owner, other = (first, second) if owner_index == 0 else (second, first)
        owner_slots = set(owned[owner_index]["slots"])
        orphans = [fake for fake, sid in zip(fakes, service_ids, strict=True) if slot_of(sid) in owner_slots]
        sid = str(service_ids[watched])
        async with feed(other.vigil, sid) as remote, feed(owner.vigil, sid) as local:
            fakes[watched].simulator.behaviour = Behaviour.HTTP_500
            await remote.wait(lambda: len(remote.changes()) >= 1, timeout_s=10)
            await local.wait(lambda: len(local.changes()) >= 1, timeout_s=5)
            checked = len(remote.checks())
            # One more failure, not more: five in a row would open the circuit for 30 s.
            await remote.wait(lambda: len(remote.checks()) >= checked + 1, timeout_s=10)
            assert [(c["previousStatus"], c["status"]) for c in remote.changes()] == [("HEALTHY", "UNHEALTHY")]
            assert local.changes() == remote.changes(), "every replica's subscribers get it, once"

            killed_at = time.monotonic()
            await owner.kill()
            fakes[watched].simulator.behaviour = Behaviour.OK
            took = [hit - killed_at for hit in await wait_for_hits(orphans, after=killed_at, timeout_s=10)]
            assert max(took) <= 2 * INTERVAL_S, f"taken over after {took} s"
            survivor = await ownership(other.vigil)
            assert (survivor["members"], len(survivor["slots"])) == (1, 64)
            await assert_probed_once_per_interval(fakes, window_s=3.0)

            await remote.wait(lambda: len(remote.changes()) >= 2, timeout_s=10)
            checked = len(remote.checks())
            await remote.wait(lambda: len(remote.checks()) >= checked + 2, timeout_s=10)

        changes = remote.changes()
        assert [(c["previousStatus"], c["status"]) for c in changes] == [
            ("HEALTHY", "UNHEALTHY"),
            ("UNHEALTHY", "HEALTHY"),
        ], "the takeover must neither repeat nor lose a status change"
        assert changes[0]["seq"] < changes[1]["seq"]
        print(f"\ntakeover after SIGKILL: first probe of each orphaned service after {sorted(took)} s")
