"""Alerts end to end: a simulated outage seen by the live probe loop reaches a webhook once, and its end once;
so does a burst of GraphQL server errors (a platform alert)."""

from __future__ import annotations

import pathlib

import pytest

from models import Role
from simulators import Behaviour, CloudgeneSimulator
from tests.fakes import serving
from tests.fakes.webhook import receiving
from tests.integration.conftest import make_settings, running

REGISTER = """
mutation($url: String!) {
  registerService(input: {name: "Fake MIS", type: MICHIGAN, apiType: CLOUDGENE, baseUrl: $url,
                          checkIntervalSeconds: 1, timeoutSeconds: 1}) { service { id } }
}"""
LIST = "query AlertTestList { services { totalCount } }"


async def test_an_outage_seen_by_the_probe_loop_fires_one_webhook_and_resolves_with_one(
    tmp_path: pathlib.Path,
) -> None:
    # SQLite only: the evaluator's database behaviour runs on both backends in tests/unit/resolvers/test_alerts.py.
    simulator = CloudgeneSimulator()
    simulator.behaviour = Behaviour.HTTP_500
    async with receiving() as (receiver, webhook), serving(simulator) as target:
        settings = make_settings(
            f"sqlite://{tmp_path / 'vigil.db'}",
            tmp_path,
            probes_enabled=True,
            min_check_interval_seconds=1,
            alert_unhealthy_seconds=1.0,
            alert_evaluation_interval_seconds=3600,  # only StatusChanged can make it fire in time
            alert_min_checks=100_000,  # the rate rules stay quiet: this test is about service_unhealthy
            alert_webhooks=[webhook],
        )
        async with running(settings) as live:
            answer = await live.gql(REGISTER, {"url": target})
            service_id = answer["data"]["registerService"]["service"]["id"]
            fired = await receiver.next(seconds=15)
            assert (fired["kind"], fired["alert"]["rule"]) == ("FIRING", "service_unhealthy")
            assert fired["alert"]["serviceId"] == service_id
            simulator.behaviour = Behaviour.OK
            resolved = await receiver.next(seconds=15)
            assert (resolved["kind"], resolved["alert"]["id"]) == ("RESOLVED", fired["alert"]["id"])
            listed = await live.gql("{ alerts { nodes { state deliveries { kind status } } } }")
    assert receiver.kinds() == ["FIRING", "RESOLVED"]
    (alert,) = listed["data"]["alerts"]["nodes"]
    assert alert["state"] == "RESOLVED"
    # The RESOLVED attempt is stored once the receiver's answer is back, which may be after this query.
    assert alert["deliveries"][0] == {"kind": "FIRING", "status": "SENT"}


async def test_server_errors_in_graphql_fire_one_platform_alert_and_successes_resolve_it(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from resolvers import services

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the database fell over")

    async with receiving() as (receiver, webhook):
        settings = make_settings(
            f"sqlite://{tmp_path / 'vigil.db'}",
            tmp_path,
            probes_enabled=True,  # the evaluator runs in a probing process
            alert_evaluation_interval_seconds=0.1,
            alert_graphql_error_rate=0.5,
            alert_min_graphql_operations=10,
            alert_cache_miss_rate=0,  # off: this test is about graphql_error_rate
            alert_webhooks=[webhook],
        )
        async with running(settings) as live:
            monkeypatch.setattr(services, "list_services", broken)
            for _ in range(10):
                answer = await live.gql(LIST, role=Role.VIEWER)
                assert answer["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
            fired = await receiver.next(seconds=15)
            assert (fired["kind"], fired["alert"]["rule"], fired["alert"]["serviceId"]) == (
                "FIRING",
                "graphql_error_rate",
                None,
            )
            monkeypatch.undo()
            for _ in range(15):  # client mistakes count as operations, not as failures
                answer = await live.gql(LIST, role=None)
                assert answer["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
            resolved = await receiver.next(seconds=15)
            assert (resolved["kind"], resolved["alert"]["id"]) == ("RESOLVED", fired["alert"]["id"])
            listed = await live.gql("{ alerts { nodes { rule state service { name } deliveries { kind } } } }")
    assert receiver.kinds() == ["FIRING", "RESOLVED"]
    (alert,) = listed["data"]["alerts"]["nodes"]
    assert (alert["rule"], alert["state"], alert["service"]) == ("graphql_error_rate", "RESOLVED", None)
    assert alert["deliveries"][0]["kind"] == "FIRING"
