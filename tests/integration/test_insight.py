"""Trends, incidents, dashboard, comparison, recommendations and analytics over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from events import open_broker
from models import ReferencePanel, Role
from probes.result import GenomeBuild, HealthStatus
from tests.integration.conftest import LiveVigil
from tests.unit.resolvers.timeline import Timeline

REGISTER = """
mutation($input: RegisterServiceInput!) {
  registerService(input: $input) { service { id slaTarget costPerJob } }
}"""
INSIGHT = """
query($id: ID!, $ids: [ID!]!) {
  trends(serviceId: $id, window: LAST_HOUR) {
    bucketSeconds buckets { start checks failures uptime latencyP50Ms latencyP95Ms }
    summary { checks uptime counts { healthy unhealthy } latency { p50Ms p95Ms } failureKinds { kind count } }
    sla { target achieved isMet downtimeSeconds errorBudgetRemaining }
    incidents { kind isOpen }
  }
  incidents(openOnly: true) { totalCount nodes { kind isOpen firstFailureKind durationSeconds service { name } } }
  dashboard {
    statusCounts { healthy degraded unhealthy }
    needsAttention { service { name } status reasons }
    recentStatusChanges { status service { name } }
    openIncidents
    platformUptime(window: LAST_24_HOURS)
  }
  compareServices(ids: $ids) {
    services { service { name } uptime24h latencyP50Ms openIncidents }
    panels { identity build offers { key } }
    features { feature values }
  }
  recommendServices(panel: "1000g-phase3-v5", build: HG19) { service { name } score reason panel { key } }
  analytics(window: LAST_24_HOURS) {
    platform { checks failures failureRate statusChanges incidents }
    slowestServices { service { name } latencyP95Ms }
    byType { type services }
    servicesWithCost { service { name } costPerJob costPerSuccessfulJob }
  }
  service(id: $id) {
    uptime(window: LAST_24_HOURS) sla(window: LAST_24_HOURS) { target } effectiveStatus openIncidents { kind }
  }
}"""


async def test_insight_queries_answer_over_http(live: LiveVigil) -> None:
    ids = []
    for name, url, cost in (("Michigan", "https://mis.example", 2.5), ("Mirror", "https://mirror.example", None)):
        answer = await live.gql(
            REGISTER,
            {
                "input": {
                    "name": name,
                    "type": "MICHIGAN",
                    "apiType": "CLOUDGENE",
                    "baseUrl": url,
                    "slaTarget": 0.99,
                    "costPerJob": cost,
                }
            },
        )
        assert "errors" not in answer, answer
        assert answer["data"]["registerService"]["service"]["slaTarget"] == 0.99
        ids.append(answer["data"]["registerService"]["service"]["id"])
    for sid, key in zip(ids, ("apps@1000g-phase-3-v5@2.0.0", "1000g-phase3-v5"), strict=True):
        await ReferencePanel.create(service_id=int(sid), key=key, label="1000G Phase 3 v5", build=GenomeBuild.HG19)
    now = dt.datetime.now(dt.UTC)
    async with open_broker(None) as broker:
        down = Timeline(broker, int(ids[0]))
        await down.every(now - dt.timedelta(minutes=20), 10, HealthStatus.HEALTHY, latency_ms=300.0)
        await down.every(now - dt.timedelta(minutes=5), 2, HealthStatus.UNHEALTHY, latency_ms=None, kind=None)
        await Timeline(broker, int(ids[1])).every(now - dt.timedelta(minutes=20), 10, HealthStatus.HEALTHY)

    answer = await live.gql(INSIGHT, {"id": ids[0], "ids": ids}, role=Role.VIEWER)
    assert "errors" not in answer, answer
    data = answer["data"]
    trends = data["trends"]
    assert trends["bucketSeconds"] == 60 and len(trends["buckets"]) == 60
    assert trends["summary"]["checks"] == 12 and trends["summary"]["counts"]["unhealthy"] == 2
    assert trends["sla"]["target"] == 0.99 and trends["sla"]["isMet"] is False
    assert trends["incidents"] == [{"kind": "UNHEALTHY", "isOpen": True}]
    assert data["incidents"]["totalCount"] == 1 and data["incidents"]["nodes"][0]["service"]["name"] == "Michigan"
    assert data["dashboard"]["statusCounts"] == {"healthy": 1, "degraded": 0, "unhealthy": 1}
    assert data["dashboard"]["needsAttention"][0]["service"]["name"] == "Michigan"
    assert data["dashboard"]["openIncidents"] == 1
    compared = data["compareServices"]
    assert compared["panels"][0]["identity"] == "1000g-phase3-v5"
    assert [o["key"] for o in compared["panels"][0]["offers"]] == ["apps@1000g-phase-3-v5@2.0.0", "1000g-phase3-v5"]
    assert [r["service"]["name"] for r in data["recommendServices"]] == ["Mirror"]
    assert data["analytics"]["platform"]["checks"] == 22
    assert data["analytics"]["servicesWithCost"][0]["costPerJob"] == 2.5
    assert data["service"]["effectiveStatus"] == "UNHEALTHY" and data["service"]["openIncidents"] == [
        {"kind": "UNHEALTHY"}
    ]
