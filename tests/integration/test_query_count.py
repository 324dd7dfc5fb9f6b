"""Lists cost a fixed number of SQL queries: every relation a row asks for is loaded in batches.

A page of 100 services, each with panels, dependencies, incidents, maintenance windows, uptime,
SLA and effective status, must send exactly the queries a page of 10 does, on SQLite and on
PostgreSQL. The answers are checked against what was seeded, so a loader that saved queries by
answering wrongly (another service's panels, inactive ones, the wrong window) fails too.

Queries are counted from Tortoise's `tortoise.db_client` debug records: each `execute_*` method
of every client (pool connections and transactions alike) logs its statement before sending it.
Each count comes from a freshly started Vigil, so no cache of a previous request can answer.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import pathlib
from collections.abc import Iterator
from typing import Any

from tortoise.transactions import in_transaction

from models import (
    Alert,
    AlertDelivery,
    DeliveryKind,
    DeliveryStatus,
    MaintenanceWindow,
    ReferencePanel,
    Role,
    Service,
    ServiceDependency,
)
from models.db import open_database, tortoise_config
from probes.result import ApiType, GenomeBuild, HealthStatus, ServiceType
from resolvers.recording import _store_all
from tests.integration.conftest import make_settings, running
from tests.unit.resolvers.timeline import observation

H, D, U = HealthStatus.HEALTHY, HealthStatus.DEGRADED, HealthStatus.UNHEALTHY
GROUP = 5  # services come in groups: a head, and members that depend on it

SERVICES = """
query($first: Int!) {
  services(first: $first) {
    totalCount
    edges { node {
      id name status
      referencePanels { key build }
      everyPanel: referencePanels(includeInactive: true) { key isActive }
      dependencies { required service { name } dependsOn { name } }
      dependents { service { name } }
      uptime(window: LAST_24_HOURS)
      hourUptime: uptime(window: LAST_HOUR)
      effectiveStatus statusReason
      openIncidents { kind service { name } }
      maintenanceWindows { reason }
      capabilities { name builds }
      sla(window: LAST_24_HOURS) { target achieved downtimeSeconds }
    } }
  }
}"""
# One root field a request: sibling root fields resolve concurrently, so whether their loads
# share a batch would depend on timing, and the counts with it.
OTHER_LISTS = {
    "incidents": "{ incidents(first: 100) { nodes { kind service { name effectiveStatus } } } }",
    "alerts": "{ alerts(first: 100) { nodes { service { name } deliveries { attempt status } } } }",
    "referencePanels": "{ referencePanels { key service { name } } }",
}


def name(i: int) -> str:
    return f"svc-{i:03d}"


@dataclasses.dataclass(frozen=True)
class Seeded:
    """Service number `i` as seeded: what every field of it must answer."""

    i: int

    @property
    def head(self) -> int:
        return self.i - self.i % GROUP

    @property
    def status(self) -> HealthStatus:
        if self.i % (2 * GROUP) == 0:
            return U
        return D if self.i % GROUP == 3 else H

    @property
    def dependencies(self) -> list[tuple[int, bool]]:
        """(service depended on, required), in the order they were declared."""
        if self.i == self.head:
            return []
        optional = [(self.i - 1, False)] if self.i % GROUP >= 2 else []
        return [(self.head, True), *optional]

    def node(self, default_sla: float) -> dict[str, Any]:
        down_head = self.i != self.head and Seeded(self.head).status is U and self.status in (H, D)
        uptime_24h = 5 / 7 if self.status is U else 1.0
        group = range(self.head, self.head + GROUP)
        return {
            "name": name(self.i),
            "status": self.status.value,
            "referencePanels": [{"key": f"p{self.i}-a", "build": "HG19"}, {"key": f"p{self.i}-b", "build": "HG38"}],
            "everyPanel": [
                {"key": f"p{self.i}-a", "isActive": True},
                {"key": f"p{self.i}-b", "isActive": True},
                {"key": f"p{self.i}-z", "isActive": False},
            ],
            "dependencies": [
                {"required": required, "service": {"name": name(self.i)}, "dependsOn": {"name": name(other)}}
                for other, required in self.dependencies
            ],
            "dependents": [
                {"service": {"name": name(j)}} for j in group if any(o == self.i for o, _ in Seeded(j).dependencies)
            ],
            "uptime": uptime_24h,
            "hourUptime": uptime_24h,
            "effectiveStatus": "DEGRADED" if down_head else self.status.value,
            "statusReason": f"dependency {name(self.head)} is down" if down_head else None,
            "openIncidents": [{"kind": "UNHEALTHY", "service": {"name": name(self.i)}}] if self.status is U else [],
            "maintenanceWindows": [{"reason": f"upgrade {self.i}"}] if self.i % 4 == 0 else [],
            "capabilities": {"name": f"Service {self.i}", "builds": ["HG19"]} if self.i % 2 == 0 else None,
            "sla": {"target": 0.95 if self.i % 3 == 0 else default_sla, "achieved": uptime_24h},
        }


async def seed(database_url: str, first: int, count: int, now: dt.datetime) -> None:
    """Services `first` to `first + count - 1` (whole groups), with everything a list may ask of them."""
    async with open_database(tortoise_config(database_url), apply_migrations=False):
        await _seed(first, count, now)


async def _seed(first: int, count: int, now: dt.datetime) -> None:
    ids: dict[int, int] = {}
    for i in range(first, first + count):
        row = await Service.create(
            name=name(i),
            type=ServiceType.MICHIGAN,
            api_type=ApiType.CLOUDGENE,
            base_url=f"https://{name(i)}.example",
            check_interval_seconds=60,
            timeout_seconds=5.0,
            sla_target=0.95 if i % 3 == 0 else None,
            capabilities={"name": f"Service {i}", "builds": ["HG19"]} if i % 2 == 0 else None,
        )
        ids[i] = row.id
    panels = []
    for i, sid in ids.items():
        panels += [
            ReferencePanel(service_id=sid, key=f"p{i}-z", label="gone", build=GenomeBuild.HG19, is_active=False),
            ReferencePanel(service_id=sid, key=f"p{i}-b", label="38", build=GenomeBuild.HG38),
            ReferencePanel(service_id=sid, key=f"p{i}-a", label="19", build=GenomeBuild.HG19),
        ]
    await ReferencePanel.bulk_create(panels)
    for i, sid in ids.items():
        for other, required in Seeded(i).dependencies:
            await ServiceDependency.create(service_id=sid, depends_on_id=ids[other], required=required)
        if i % 4 == 0:
            hour = dt.timedelta(hours=1)
            await MaintenanceWindow.create(
                service_id=sid, starts_at=now + hour, ends_at=now + 2 * hour, reason=f"upgrade {i}"
            )
            await MaintenanceWindow.create(
                service_id=sid, starts_at=now - 3 * hour, ends_at=now - 2 * hour, reason="over"
            )
        alert = await Alert.create(rule="failure_rate", service_id=sid, fired_at=now, summary=f"alert {i}")
        for attempt, status in ((1, DeliveryStatus.FAILED), (2, DeliveryStatus.SENT)):
            await AlertDelivery.create(
                alert_id=alert.id,
                channel="hooks.example",
                kind=DeliveryKind.FIRING,
                attempt=attempt,
                status=status,
                at=now,
            )
    observations = []
    for i, sid in ids.items():
        status, previous = Seeded(i).status, HealthStatus.UNKNOWN
        timeline = [(now - dt.timedelta(minutes=50 - m), H) for m in range(5)]
        if status is not H:
            timeline += [(now - dt.timedelta(minutes=20 - m), status) for m in range(2)]
        for at, published in timeline:
            observations.append(observation(sid, at, published, previous))
            previous = published
    async with in_transaction():  # checks, status events, incidents and rollups, as the recorder writes them
        await _store_all(observations)


class _Statements(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.sql: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.funcName.startswith("execute_"):
            self.sql.append(record.getMessage())


@contextlib.contextmanager
def statements() -> Iterator[list[str]]:
    """Every SQL statement Tortoise sends while the block runs, in order."""
    logger = logging.getLogger("tortoise.db_client")
    handler, level, propagate = _Statements(), logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False  # a hundred services' SQL is no use in a failure report
    try:
        yield handler.sql
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


async def counted(
    database_url: str, tmp_path: pathlib.Path, queries: dict[str, str], variables: dict[str, Any]
) -> dict[str, tuple[list[str], dict[str, Any]]]:
    """For each query, in turn, the statements its request sends to a freshly started Vigil, and its answer."""
    found = {}
    async with running(make_settings(database_url, tmp_path)) as vigil:
        token = await vigil.token(Role.VIEWER)
        for label, query in queries.items():
            with statements() as sql:
                answer = await vigil.raw(query, variables, token=token)
            assert "errors" not in answer, answer
            found[label] = (sql, answer["data"])
    return found


def check_services(data: dict[str, Any], count: int, default_sla: float) -> None:
    nodes = [edge["node"] for edge in data["services"]["edges"]]
    assert data["services"]["totalCount"] == count
    assert [node["name"] for node in nodes] == [name(i) for i in range(count)]
    for i, node in enumerate(nodes):
        sla = node["sla"]
        assert (sla["downtimeSeconds"] > 0) == (Seeded(i).status is U), node
        del sla["downtimeSeconds"], node["id"]
        assert node == Seeded(i).node(default_sla), name(i)


def check_other_lists(found: dict[str, tuple[list[str], dict[str, Any]]], count: int) -> None:
    down = [i for i in range(count) if Seeded(i).status is U]
    incidents = found["incidents"][1]["incidents"]["nodes"]
    assert [node["service"]["name"] for node in incidents] == [name(i) for i in reversed(down)]  # newest first
    assert {(node["kind"], node["service"]["effectiveStatus"]) for node in incidents} == {("UNHEALTHY", "UNHEALTHY")}
    alerts = found["alerts"][1]["alerts"]["nodes"]
    assert [node["service"]["name"] for node in alerts] == [name(i) for i in reversed(range(count))]
    assert all(
        node["deliveries"] == [{"attempt": 1, "status": "FAILED"}, {"attempt": 2, "status": "SENT"}] for node in alerts
    )
    panels = [(panel["key"], panel["service"]["name"]) for panel in found["referencePanels"][1]["referencePanels"]]
    assert panels == [(f"p{i}-{k}", name(i)) for i in range(count) for k in "ab"]


async def test_a_page_of_100_services_sends_the_queries_a_page_of_10_does(
    database_url: str, tmp_path: pathlib.Path
) -> None:
    now = dt.datetime.now(dt.UTC)
    default_sla = make_settings(database_url, tmp_path).sla_target
    await seed(database_url, 0, 10, now)
    ((few, data),) = (await counted(database_url, tmp_path, {"services": SERVICES}, {"first": 100})).values()
    check_services(data, 10, default_sla)
    await seed(database_url, 10, 90, now)
    ((many, data),) = (await counted(database_url, tmp_path, {"services": SERVICES}, {"first": 100})).values()
    check_services(data, 100, default_sla)
    print(f"\n{database_url.split(':')[0]}: services(first: 100) sent {len(few)} queries for 10, {len(many)} for 100")
    assert len(few) == len(many), "\n".join(["10:", *few, "100:", *many])


async def test_incidents_alerts_and_panels_load_their_services_in_batches(
    database_url: str, tmp_path: pathlib.Path
) -> None:
    now = dt.datetime.now(dt.UTC)
    await seed(database_url, 0, 10, now)
    few = await counted(database_url, tmp_path, OTHER_LISTS, {})
    check_other_lists(few, 10)
    await seed(database_url, 10, 90, now)
    many = await counted(database_url, tmp_path, OTHER_LISTS, {})
    check_other_lists(many, 100)
    for label in OTHER_LISTS:
        (sql_10, _), (sql_100, _) = few[label], many[label]
        print(f"\n{database_url.split(':')[0]}: {label} sent {len(sql_10)} queries for 10, {len(sql_100)} for 100")
        assert len(sql_10) == len(sql_100), "\n".join([label, "10:", *sql_10, "100:", *sql_100])
