"""Alerts end to end: a simulated outage seen by the live probe loop reaches a webhook once, and its end once."""

from __future__ import annotations

import pathlib

from simulators import Behaviour, CloudgeneSimulator
from tests.fakes import serving
from tests.fakes.webhook import receiving
from tests.integration.conftest import make_settings, running

REGISTER = """
mutation($url: String!) {
  registerService(input: {name: "Fake MIS", type: MICHIGAN, apiType: CLOUDGENE, baseUrl: $url,
                          checkIntervalSeconds: 1, timeoutSeconds: 1}) { service { id } }
}"""


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
