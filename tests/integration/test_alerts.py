"""`alerts` over HTTP: filters, paging and each alert's delivery attempts."""

from __future__ import annotations

import datetime as dt

from models import Alert, AlertDelivery, AlertState, DeliveryKind, DeliveryStatus, Role, Service
from probes.result import ApiType, HealthStatus, ServiceType
from tests.integration.conftest import LiveVigil

FIRED_AT = dt.datetime(2026, 11, 29, 9, 0, tzinfo=dt.UTC)

QUERY = """
query ($serviceId: ID, $firingOnly: Boolean!, $first: Int) {
  alerts(serviceId: $serviceId, firingOnly: $firingOnly, first: $first) {
    totalCount
    pageInfo { hasNextPage }
    nodes {
      rule state summary details firedAt resolvedAt
      service { name }
      deliveries { channel kind attempt status httpStatus error }
    }
  }
}
"""


async def test_alerts_list_newest_first_with_their_deliveries(live: LiveVigil) -> None:
    service = await Service.create(
        name="TOPMed",
        type=ServiceType.MICHIGAN,
        api_type=ApiType.CLOUDGENE,
        base_url="https://imputation.biodatacatalyst.nhlbi.nih.gov",
        check_interval_seconds=30,
        timeout_seconds=10.0,
        status=HealthStatus.UNHEALTHY,
    )
    old = await Alert.create(
        rule="slow_response",
        service_id=service.id,
        state=AlertState.RESOLVED,
        fired_at=FIRED_AT,
        resolved_at=FIRED_AT + dt.timedelta(minutes=5),
        summary="slow",
    )
    firing = await Alert.create(
        rule="service_unhealthy",
        service_id=service.id,
        dedup_key=f"service_unhealthy:{service.id}",
        fired_at=FIRED_AT + dt.timedelta(hours=1),
        summary="TOPMed has been UNHEALTHY for 301 s",
        details={"thresholdSeconds": 300},
    )
    for attempt, status, code in ((1, DeliveryStatus.FAILED, 500), (2, DeliveryStatus.SENT, 200)):
        await AlertDelivery.create(
            alert_id=firing.id,
            channel="hooks.example.org",
            kind=DeliveryKind.FIRING,
            attempt=attempt,
            status=status,
            http_status=code,
            error="HTTP 500" if code == 500 else "",
            at=FIRED_AT,
        )

    everything = await live.gql(QUERY, {"firingOnly": False, "first": 1}, role=Role.VIEWER)
    assert "errors" not in everything, everything
    page = everything["data"]["alerts"]
    assert (page["totalCount"], page["pageInfo"]["hasNextPage"]) == (2, True)
    (node,) = page["nodes"]
    assert (node["rule"], node["state"], node["service"]["name"]) == ("service_unhealthy", "FIRING", "TOPMed")
    assert node["details"] == {"thresholdSeconds": 300}
    assert [(d["attempt"], d["status"], d["httpStatus"]) for d in node["deliveries"]] == [
        (1, "FAILED", 500),
        (2, "SENT", 200),
    ]

    firing_only = await live.gql(QUERY, {"serviceId": str(service.id), "firingOnly": True}, role=Role.VIEWER)
    assert [n["rule"] for n in firing_only["data"]["alerts"]["nodes"]] == ["service_unhealthy"]
    assert old.id != firing.id

    anonymous = await live.gql(QUERY, {"firingOnly": False}, role=None)
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
