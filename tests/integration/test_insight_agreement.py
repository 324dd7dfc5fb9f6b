"""Issue 5's acceptance test: on a history made by driving fakes through an outage and a maintenance
period with the probe loop on, the insight queries tell one story, figure for figure.

Phase 1 runs Vigil with its probe loop and moves the fakes on healthChecked events. Phase 2 serves
the same database with probing off, so every query reads the same, settled history.
"""

from __future__ import annotations

import datetime as dt
import itertools
import pathlib
from collections import Counter
from collections.abc import Callable
from typing import Any

from models import Role
from simulators import Behaviour, CloudgeneSimulator
from tests.fakes import serving
from tests.integration.conftest import LiveVigil, make_settings, running
from tests.integration.test_live_status import HEALTH_CHECKED, next_event, register, subscription

PER_SERVICE = """
query($id: ID!) {
  trends(serviceId: $id, window: LAST_HOUR) {
    bucketSeconds
    buckets { start end checks failures unhealthy uptime }
    summary { checks failures uptime counts { healthy degraded unhealthy maintenance unknown } }
    sla { downtimeSeconds }
    incidents { id kind startedAt endedAt durationSeconds }
  }
  service(id: $id) { status hourly: uptime(window: LAST_HOUR) daily: uptime(window: LAST_24_HOURS) }
  healthHistory(serviceId: $id, first: 1000) {
    totalCount
    nodes { id checkedAt status failureKind }
  }
  incidents(serviceId: $id) {
    totalCount
    nodes { id kind isOpen startedAt endedAt durationSeconds startedByCheckId endedByCheckId endedByStatus }
  }
}"""
PLATFORM = """
{
  dashboard {
    platformUptime(window: LAST_24_HOURS)
    openIncidents
    recentStatusChanges { serviceId previousStatus status changedAt check { id } }
  }
  analytics(window: LAST_24_HOURS) {
    platform { checks failures uptime statusChanges incidents downtimeSeconds mttrSeconds }
    services {
      service { id }
      figures { checks failures uptime statusChanges incidents downtimeSeconds mttrSeconds }
    }
  }
}"""
STATUSES = ("HEALTHY", "DEGRADED", "UNHEALTHY", "MAINTENANCE", "UNKNOWN")
UP, COUNTED = ("HEALTHY", "DEGRADED"), ("HEALTHY", "DEGRADED", "UNHEALTHY")  # the default uptime policy


async def read_until(checks: Any, done: Callable[[dict[str, Any]], bool]) -> None:
    """Reads healthChecked events (each bounded by next_event's timeout) until `done` holds after one."""
    while True:
        if done((await next_event(checks))["healthChecked"]):
            return


def when(at: str) -> dt.datetime:
    return dt.datetime.fromisoformat(at)


def policy_uptime(statuses: Counter[str]) -> float | None:
    counted = sum(statuses[s] for s in COUNTED)
    return None if counted == 0 else sum(statuses[s] for s in UP) / counted


async def drive_history(live: LiveVigil) -> dict[str, str]:
    """Steady stays up; Flaky goes down (published UNHEALTHY) and recovers; Serviced goes into maintenance and back."""
    steady, flaky, serviced = CloudgeneSimulator(), CloudgeneSimulator(), CloudgeneSimulator()
    async with (
        serving(steady) as steady_url,
        serving(flaky) as flaky_url,
        serving(serviced) as serviced_url,
        subscription(live, HEALTH_CHECKED, {"ids": None}) as checks,
    ):
        ids = {
            "steady": await register(live, "Steady", steady_url),
            "flaky": await register(live, "Flaky", flaky_url),
            "serviced": await register(live, "Serviced", serviced_url),
        }
        names = {sid: name for name, sid in ids.items()}
        healthy: set[str] = set()

        def all_healthy(check: dict[str, Any]) -> bool:
            if check["status"] == "HEALTHY":
                healthy.add(check["serviceId"])
            return len(healthy) == len(ids)

        await read_until(checks, all_healthy)

        flaky.behaviour = Behaviour.HTTP_500
        serviced.maintenance = True
        seen: Counter[tuple[str, str]] = Counter()

        def published_twice(wanted: dict[str, str]) -> Callable[[dict[str, Any]], bool]:
            """Each named service has had two checks published with its wanted status (one more than it takes)."""

            def done(check: dict[str, Any]) -> bool:
                seen[(names[check["serviceId"]], check["status"])] += 1
                return all(seen[(name, status)] >= 2 for name, status in wanted.items())

            return done

        await read_until(checks, published_twice({"flaky": "UNHEALTHY", "serviced": "MAINTENANCE"}))
        flaky.behaviour = Behaviour.OK
        serviced.maintenance = False
        seen.clear()
        await read_until(checks, published_twice({"flaky": "HEALTHY", "serviced": "HEALTHY", "steady": "HEALTHY"}))
    return ids


async def test_trends_uptime_dashboard_incidents_and_analytics_tell_one_story(
    database_url: str, tmp_path: pathlib.Path
) -> None:
    probing = make_settings(database_url, tmp_path, probes_enabled=True, min_check_interval_seconds=1)
    async with running(probing) as live:
        ids = await drive_history(live)

    async with running(make_settings(database_url, tmp_path, max_page_size=1000)) as live:
        answers = {}
        for name, sid in ids.items():
            answer = await live.gql(PER_SERVICE, {"id": sid}, role=Role.VIEWER)
            assert "errors" not in answer, answer
            answers[name] = answer["data"]
        platform = await live.gql(PLATFORM, role=Role.VIEWER)
        assert "errors" not in platform, platform
        platform = platform["data"]

    changes = platform["dashboard"]["recentStatusChanges"]
    assert len(changes) < 20, "all status changes fit in the dashboard's list"
    by_service = {row["service"]["id"]: row["figures"] for row in platform["analytics"]["services"]}
    totals: Counter[str] = Counter()
    for name, sid in ids.items():
        data = answers[name]
        history = data["healthHistory"]["nodes"]
        assert data["healthHistory"]["totalCount"] == len(history) > 0
        statuses = Counter(check["status"] for check in history)
        totals.update(statuses)
        failures = sum(1 for check in history if check["failureKind"] is not None)
        trends, summary = data["trends"], data["trends"]["summary"]

        # Checks: the buckets, the summary, analytics and the raw history count the same checks.
        assert sum(b["checks"] for b in trends["buckets"]) == summary["checks"] == len(history), name
        assert sum(b["failures"] for b in trends["buckets"]) == summary["failures"] == failures, name
        assert sum(b["unhealthy"] for b in trends["buckets"]) == summary["counts"]["unhealthy"], name
        assert summary["counts"] == {status.lower(): statuses[status] for status in STATUSES}, name
        assert by_service[sid]["checks"] == len(history) and by_service[sid]["failures"] == failures, name

        # Each bucket is exactly the history's checks that fall in it.
        for bucket in trends["buckets"]:
            inside = Counter(
                c["status"] for c in history if when(bucket["start"]) <= when(c["checkedAt"]) < when(bucket["end"])
            )
            assert bucket["checks"] == sum(inside.values()) and bucket["unhealthy"] == inside["UNHEALTHY"], bucket
            assert bucket["uptime"] == policy_uptime(inside), bucket

        # Uptime: the policy over the history == the summary == Service.uptime == analytics.
        uptime = policy_uptime(statuses)
        assert summary["uptime"] == data["service"]["hourly"] == data["service"]["daily"] == uptime, name
        assert by_service[sid]["uptime"] == uptime, name

        # Incidents follow the published status: one per move into UNHEALTHY or MAINTENANCE.
        mine = sorted((c for c in changes if c["serviceId"] == sid), key=lambda c: c["changedAt"])
        assert by_service[sid]["statusChanges"] == len(mine), name
        assert all(a["status"] == b["previousStatus"] for a, b in itertools.pairwise(mine)), name
        incidents = sorted(data["incidents"]["nodes"], key=lambda i: i["startedAt"])
        openings = [(i, c) for i, c in enumerate(mine) if c["status"] in ("UNHEALTHY", "MAINTENANCE")]
        assert [i["kind"] for i in incidents] == [c["status"] for _, c in openings], name
        for incident, (at, opened) in zip(incidents, openings, strict=True):
            closed = mine[at + 1]
            assert not incident["isOpen"] and incident["endedByStatus"] == closed["status"], name
            assert (incident["startedAt"], incident["startedByCheckId"]) == (opened["changedAt"], opened["check"]["id"])
            assert (incident["endedAt"], incident["endedByCheckId"]) == (closed["changedAt"], closed["check"]["id"])
            duration = (when(incident["endedAt"]) - when(incident["startedAt"])).total_seconds()
            assert incident["durationSeconds"] == duration > 0, name
            during = [c["status"] for c in history if opened["changedAt"] <= c["checkedAt"] < closed["changedAt"]]
            assert set(during) == {incident["kind"]}, f"{name}: checks published during the incident"
        assert sorted(trends["incidents"], key=lambda i: i["startedAt"]) == [
            {k: i[k] for k in ("id", "kind", "startedAt", "endedAt", "durationSeconds")} for i in incidents
        ], name
        down = [i for i in incidents if i["kind"] == "UNHEALTHY"]
        downtime = sum(i["durationSeconds"] for i in down)
        assert trends["sla"]["downtimeSeconds"] == downtime == by_service[sid]["downtimeSeconds"], name
        assert by_service[sid]["incidents"] == len(down), name
        assert by_service[sid]["mttrSeconds"] == (downtime / len(down) if down else None), name

    # The story itself: Flaky was down once, Serviced in maintenance once (excluded from uptime).
    flaky, serviced = answers["flaky"], answers["serviced"]
    assert [i["kind"] for i in flaky["incidents"]["nodes"]] == ["UNHEALTHY"]
    assert [i["kind"] for i in serviced["incidents"]["nodes"]] == ["MAINTENANCE"]
    assert answers["steady"]["incidents"]["totalCount"] == 0
    assert flaky["trends"]["summary"]["uptime"] < 1
    assert serviced["trends"]["summary"]["counts"]["maintenance"] >= 2
    assert serviced["trends"]["summary"]["uptime"] == 1.0 == answers["steady"]["trends"]["summary"]["uptime"]
    assert all(answers[n]["service"]["status"] == "HEALTHY" for n in ids)

    # The platform: the same policy over all the services' checks together.
    assert platform["dashboard"]["platformUptime"] == policy_uptime(totals)
    assert platform["analytics"]["platform"]["uptime"] == policy_uptime(totals)
    assert platform["analytics"]["platform"]["checks"] == sum(totals.values())
    assert platform["analytics"]["platform"]["statusChanges"] == len(changes)
    assert platform["analytics"]["platform"]["incidents"] == 1
    assert platform["analytics"]["platform"]["downtimeSeconds"] == by_service[ids["flaky"]]["downtimeSeconds"]
    assert platform["dashboard"]["openIncidents"] == 0
