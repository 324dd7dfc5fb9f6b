"""DataLoaders never answer from before a change: not in a mutation's later root fields, nor in a later event.

A query over HTTP may reuse what it loaded (nothing it does changes the data); a mutation and a
WebSocket may not. These tests fail if a loader's answer outlives the root field or the event
it was loaded for.
"""

from __future__ import annotations

from typing import Any

from models import Role
from simulators import CloudgeneSimulator
from tests.fakes import serving
from tests.integration.conftest import LiveVigil
from tests.integration.test_live_status import next_event, subscription

TWO_EDGES = """
mutation($service: ID!, $first: ID!, $second: ID!) {
  one: setServiceDependency(serviceId: $service, dependsOnId: $first) {
    service { dependencies { dependsOn { name } } }
  }
  two: setServiceDependency(serviceId: $service, dependsOnId: $second, required: false) {
    service { dependencies { dependsOn { name } } }
  }
}"""
REGISTER = """
mutation($name: String!, $url: String!) {
  registerService(input: {name: $name, type: MICHIGAN, apiType: CLOUDGENE, baseUrl: $url}) { service { id } }
}"""
CHECK = "mutation($id: ID!) { checkServiceHealth(serviceId: $id) { id } }"
CHECKED = "subscription($ids: [ID!]) { healthChecked(serviceIds: $ids) { id checkedAt service { lastCheckedAt } } }"


async def register(live: LiveVigil, name: str, url: str) -> str:
    answer = await live.gql(REGISTER, {"name": name, "url": url})
    assert "errors" not in answer, answer
    return str(answer["data"]["registerService"]["service"]["id"])


def dependency_names(payload: dict[str, Any]) -> list[str]:
    return [edge["dependsOn"]["name"] for edge in payload["service"]["dependencies"]]


async def test_a_later_root_field_of_a_mutation_sees_what_an_earlier_one_changed(live: LiveVigil) -> None:
    ids = [await register(live, name, f"https://{name.lower()}.example") for name in ("App", "Db", "Cache")]
    answer = await live.gql(TWO_EDGES, {"service": ids[0], "first": ids[1], "second": ids[2]})
    assert "errors" not in answer, answer
    assert dependency_names(answer["data"]["one"]) == ["Db"]
    assert dependency_names(answer["data"]["two"]) == ["Db", "Cache"]


async def test_each_subscription_event_reads_its_service_as_it_is_then(live: LiveVigil) -> None:
    async with serving(CloudgeneSimulator()) as url:
        sid = await register(live, "Fake MIS", url)
        async with subscription(live, CHECKED, {"ids": [sid]}) as checks:
            # The subscription is live once an event comes: checks made before it are not sent.
            for _ in range(20):
                assert "errors" not in await live.gql(CHECK, {"id": sid}, role=Role.OPERATOR)
                try:
                    first = await next_event(checks, seconds=1)
                    break
                except TimeoutError:
                    continue
            else:
                raise AssertionError("no healthChecked event arrived")
            assert "errors" not in await live.gql(CHECK, {"id": sid}, role=Role.OPERATOR)
            second = await next_event(checks)
    seen = [event["healthChecked"] for event in (first, second)]
    assert seen[0]["id"] != seen[1]["id"]
    assert [event["service"]["lastCheckedAt"] for event in seen] == [event["checkedAt"] for event in seen]
