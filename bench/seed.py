"""A realistic fleet history on PostgreSQL, written by SQL on the server so that millions of rows take seconds.

What `seed` writes for `Scale(services, days, raw_days, interval_s)`:

- services of every type and protocol (Cloudgene ones report a queue and offer 4 to 10 panels),
  5% inactive, a few DEGRADED or UNKNOWN, and some dependencies between them;
- raw checks every `interval_s` for each service over the last `raw_days`, plus one hour older
  than that (what an hourly retention pass finds); time-ordered, services interleaved, as the
  recorder writes them; 0.5% observed failures;
- rollups: per minute over the minute retention (48 h) plus one stale hour, per hour and per day
  over `days`, drawn from pools of synthetic rollups (`bench.insight`), time-ordered;
- incidents (one service in ten flaps about daily, the others about twice a month), each opened
  and closed by a status event that points at a real check (checks older than the raw window
  are kept rows, as retention keeps the checks that status events cite), the alerts they fired
  with two deliveries each, maintenance windows and audit events.

Everything is derived from a fixed seed and from `now`, so two runs build the same data.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import random
from typing import Any

import asyncpg

from bench.insight import _db_values, _tally
from resolvers.rollups import DAY, HOUR, MINUTE, ROW_FIELDS, bucket_start

POOL_SIZE = 1000
PANELS = (
    ("1000g-phase3-v5", "1000 Genomes Phase 3 (Version 5)"),
    ("1000g-phase1-v3", "1000 Genomes Phase 1 (Version 3)"),
    ("hapmap-2", "HapMap 2"),
    ("hrc-r1.1", "HRC r1.1 2016"),
    ("topmed-r2", "TOPMed r2"),
    ("topmed-r3", "TOPMed r3"),
    ("h3africa-v6", "H3Africa Reference Panel (v6)"),
    ("gasp-v2", "GenomeAsia Pilot (GAsP)"),
    ("caapa", "CAAPA African American Panel"),
    ("hla-four-digit", "Four-digit Multi-ethnic HLA v1"),
    ("apoe", "APOE"),
    ("genome-asia-v1", "Genome Asia v1"),
)
PLACES = (
    "Ann Arbor, US",
    "Cape Town, ZA",
    "Nairobi, KE",
    "Toronto, CA",
    "Hinxton, GB",
    "Singapore, SG",
    "Berlin, DE",
    "Tokyo, JP",
)
# (type, api_type, share): mostly Michigan and H3Africa Cloudgene servers, as in a real fleet.
KINDS = (
    ("MICHIGAN", "CLOUDGENE", 0.40),
    ("H3AFRICA", "CLOUDGENE", 0.15),
    ("GA4GH", "GA4GH_WES", 0.20),
    ("GA4GH", "GA4GH_SERVICE_INFO", 0.10),
    ("GA4GH", "GA4GH_SERVICE_REGISTRY", 0.05),
    ("DNASTACK", "DNASTACK", 0.10),
)


@dataclasses.dataclass(frozen=True, slots=True)
class Scale:
    services: int = 1000
    days: int = 30
    raw_days: float = 7
    interval_s: int = 60
    minute_hours: float = 48


@dataclasses.dataclass(frozen=True, slots=True)
class Seeded:
    """What was written, and handles the queries need (ids of services with the most history)."""

    counts: dict[str, int]
    service_ids: list[int]
    flappy_ids: list[int]
    quiet_id: int
    unchecked_id: int  # registered a moment ago: no check, no rollup yet
    now: dt.datetime


@dataclasses.dataclass(slots=True)
class _Service:
    id: int
    rank: int
    type: str
    api_type: str
    phase_s: float


async def seed(connection: asyncpg.Connection, scale: Scale, now: dt.datetime) -> Seeded:
    rng = random.Random(42)
    counts: dict[str, int] = {}
    services = await _services(connection, scale, rng, now)
    counts["service"] = len(services)
    counts["reference_panel"] = await _panels(connection, services, rng, now)
    counts["service_dependency"] = await _dependencies(connection, services, rng, now)
    incidents = _incidents(services, scale, rng, now)
    grid = _Grid(
        start=now - dt.timedelta(days=scale.raw_days, hours=1),
        steps=math.floor((scale.raw_days * 86400 + 3600) / scale.interval_s),
        interval_s=scale.interval_s,
        services=len(services),
        first_id=0,
    )
    kept = await _kept_checks(connection, incidents, grid)
    grid = dataclasses.replace(grid, first_id=kept + 1)
    counts["health_check"] = kept + await _raw_checks(connection, services, grid)
    events, alerts, deliveries = await _events(connection, incidents, grid, now)
    counts["status_event"], counts["incident"] = events, len(incidents)
    counts["alert"], counts["alert_delivery"] = alerts, deliveries
    counts["check_rollup"] = await _rollups(connection, scale, rng, now, len(services))
    counts["maintenance_window"] = await _maintenance(connection, services, rng, now)
    counts["audit_event"] = await _audit(connection, services, scale, rng, now)
    for table in ("service", "health_check", "status_event", "incident", "alert", "alert_delivery", "audit_event"):
        await connection.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
        )
    await connection.execute("VACUUM ANALYZE")
    flappy = [s.id for s in services if s.rank % 10 == 0 and s.api_type == "CLOUDGENE"]
    quiet = next(s.id for s in services if s.api_type == "GA4GH_WES" and s.rank % 10 != 0)
    return Seeded(counts, [s.id for s in services], flappy, quiet, await _unchecked(connection, now), now)


async def _unchecked(connection: asyncpg.Connection, now: dt.datetime) -> int:
    return int(
        await connection.fetchval(
            """
            INSERT INTO service (name, type, api_type, base_url, description, location, is_active,
                check_interval_seconds, timeout_seconds, verify_tls, status, circuit_state, consecutive_failures,
                last_message, created_at, updated_at)
            VALUES ('Registered just now', 'GA4GH', 'GA4GH_WES', 'https://new.example.org/', '', '', true, 60, 10,
                true, 'UNKNOWN', 'CLOSED', 0, '', $1, $1)
            RETURNING id
            """,
            now,
        )
    )


async def _services(
    connection: asyncpg.Connection, scale: Scale, rng: random.Random, now: dt.datetime
) -> list[_Service]:
    kinds = [(t, a) for t, a, share in KINDS for _ in range(round(share * 100))]
    rows = []
    for rank in range(scale.services):
        service_type, api_type = kinds[rank * 37 % len(kinds)]
        place = PLACES[rank % len(PLACES)]
        status = "HEALTHY"
        if rank % 50 == 7:
            status = "DEGRADED"
        elif rank % 97 == 3:
            status = "UNKNOWN"
        rows.append(
            (
                rank + 1,
                f"{service_type.title()} {api_type.lower().replace('_', ' ')} {rank + 1}",
                service_type,
                api_type,
                f"https://svc{rank + 1}.example.org/",
                f"{service_type.title()} service {rank + 1} run in {place.split(',')[0]} for imputation jobs",
                place,
                rank % 20 != 19,
                60,
                10.0,
                True,
                status,
                "CLOSED" if rank % 40 != 11 else "OPEN",
                0,
                now,
                now + dt.timedelta(seconds=scale.interval_s),
                now - dt.timedelta(days=rng.uniform(0, scale.days)),
                rng.lognormvariate(math.log(300), 0.4),
                "",
                now - dt.timedelta(days=scale.days + 10),
                now,
            )
        )
    await connection.copy_records_to_table(
        "service",
        records=rows,
        columns=[
            "id",
            "name",
            "type",
            "api_type",
            "base_url",
            "description",
            "location",
            "is_active",
            "check_interval_seconds",
            "timeout_seconds",
            "verify_tls",
            "status",
            "circuit_state",
            "consecutive_failures",
            "last_checked_at",
            "next_check_at",
            "status_changed_at",
            "response_time_ms",
            "last_message",
            "created_at",
            "updated_at",
        ],
    )
    spread = scale.interval_s / max(1, scale.services)
    return [_Service(row[0], row[0] - 1, row[2], row[3], (row[0] - 1) * spread) for row in rows]


async def _panels(
    connection: asyncpg.Connection, services: list[_Service], rng: random.Random, now: dt.datetime
) -> int:
    populations = json.dumps([{"key": "afr", "label": "African"}, {"key": "eur", "label": "European"}])
    rows = []
    for service in services:
        if service.api_type != "CLOUDGENE":
            continue
        for key, label in rng.sample(PANELS, rng.randint(4, 10)):
            build = "HG38" if "topmed" in key or rng.random() < 0.3 else "HG19"
            rows.append((service.id, key, label, build, populations, rng.random() > 0.05, now, now, now))
    columns = [
        "service_id",
        "key",
        "label",
        "build",
        "populations",
        "is_active",
        "first_seen_at",
        "last_seen_at",
        "updated_at",
    ]
    await connection.copy_records_to_table("reference_panel", records=rows, columns=columns)
    return len(rows)


async def _dependencies(
    connection: asyncpg.Connection, services: list[_Service], rng: random.Random, now: dt.datetime
) -> int:
    """Each edge points at a service with a lower rank, so the graph has no cycle."""
    dependents = rng.sample(services[1:], len(services) // 20)
    rows = [(s.id, services[rng.randrange(0, s.rank)].id, rng.random() < 0.7, now) for s in dependents]
    columns = ["service_id", "depends_on_id", "required", "created_at"]
    await connection.copy_records_to_table("service_dependency", records=rows, columns=columns)
    return len(rows)


@dataclasses.dataclass(frozen=True, slots=True)
class _Grid:
    """Where the raw checks are.

    Step k of the service of rank r is at start + k * interval_s + its phase, with the id
    first_id + k * services + r: ids follow the order the recorder writes in.
    """

    start: dt.datetime
    steps: int
    interval_s: int
    services: int
    first_id: int

    def check_at(self, service: _Service, at: dt.datetime) -> tuple[int, dt.datetime]:
        """The raw check of `service` at or just before `at`: its id and time."""
        step = math.floor(((at - self.start).total_seconds() - service.phase_s) / self.interval_s)
        step = max(0, min(self.steps - 1, step))
        checked_at = self.start + dt.timedelta(seconds=step * self.interval_s + service.phase_s)
        return self.first_id + step * self.services + service.rank, checked_at

    def covers(self, at: dt.datetime) -> bool:
        return at >= self.start + dt.timedelta(seconds=self.interval_s)


@dataclasses.dataclass(slots=True)
class _Incident:
    service: _Service
    kind: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    started_by: int = 0
    ended_by: int | None = None


def _incidents(services: list[_Service], scale: Scale, rng: random.Random, now: dt.datetime) -> list[_Incident]:
    start = now - dt.timedelta(days=scale.days)
    found = []
    for service in services:
        per_day = 1.0 if service.rank % 10 == 0 else 1 / 15
        at = start + dt.timedelta(days=rng.expovariate(per_day))
        while at < now:
            length = dt.timedelta(minutes=max(2 * scale.interval_s / 60, rng.lognormvariate(math.log(20), 1.0)))
            kind = "MAINTENANCE" if rng.random() < 0.1 else "UNHEALTHY"
            ended = at + length
            found.append(_Incident(service, kind, at, ended if ended < now else None))
            at = ended + dt.timedelta(days=rng.expovariate(per_day))
    return found


async def _kept_checks(connection: asyncpg.Connection, incidents: list[_Incident], grid: _Grid) -> int:
    """Checks older than the raw window that status events cite: retention keeps exactly these."""
    moments = []
    for incident in incidents:
        for at in (incident.started_at, incident.ended_at):
            if at is not None and not grid.covers(at):
                moments.append((at, incident))
    moments.sort(key=lambda m: m[0])
    rows = []
    for number, (at, incident) in enumerate(moments, start=1):
        opening = at == incident.started_at
        status = incident.kind if opening else "HEALTHY"
        if opening:
            incident.started_by = number
        else:
            incident.ended_by = number
        rows.append((number, incident.service.id, at, status, status, None if opening else 310.0, "", False))
    columns = ["id", "service_id", "checked_at", "status", "raw_status", "response_time_ms", "message", "manual"]
    await connection.copy_records_to_table("health_check", records=rows, columns=columns)
    return len(rows)


async def _raw_checks(connection: asyncpg.Connection, services: list[_Service], grid: _Grid) -> int:
    await connection.execute("CREATE TEMP TABLE seed_service (id int, rank int, phase_s float8, has_queue bool)")
    await connection.copy_records_to_table(
        "seed_service",
        records=[(s.id, s.rank, s.phase_s, s.api_type == "CLOUDGENE") for s in services],
        columns=["id", "rank", "phase_s", "has_queue"],
    )
    written = 0
    chunk = max(1, 2_000_000 // max(1, len(services)))  # steps per statement: two million rows at a time
    for first in range(0, grid.steps, chunk):
        last = min(grid.steps, first + chunk) - 1
        status = await connection.execute(
            """
            INSERT INTO health_check (id, service_id, checked_at, status, raw_status, response_time_ms, http_status,
                                      failure_kind, message, service_version, queue_size, manual)
            SELECT $1 + k * $2 + rank, id, $3::timestamptz + make_interval(secs => k * $4 + phase_s), 'HEALTHY',
                   CASE WHEN failed THEN 'UNHEALTHY' ELSE 'HEALTHY' END,
                   CASE WHEN failed THEN NULL ELSE 300 * exp(0.4 * (random() + random() + random() - 1.5)) END,
                   CASE WHEN failed THEN NULL ELSE 200 END,
                   CASE WHEN failed THEN 'TIMEOUT' END,
                   CASE WHEN failed THEN 'timed out after 10 s' ELSE '' END,
                   '2.4.1',
                   CASE WHEN has_queue AND NOT failed THEN floor(random() * 20)::int END,
                   false
            FROM (
                SELECT k, s.*, random() < 0.005 AS failed  -- volatile: one draw per row, not per step
                FROM generate_series($5::int, $6::int) AS k CROSS JOIN seed_service AS s
            ) AS grid
            ORDER BY k, rank
            """,
            grid.first_id,
            grid.services,
            grid.start,
            float(grid.interval_s),
            first,
            last,
        )
        written += int(status.split()[-1])
    return written


async def _events(
    connection: asyncpg.Connection, incidents: list[_Incident], grid: _Grid, now: dt.datetime
) -> tuple[int, int, int]:
    """Status events, incidents, alerts and deliveries; every event cites the check that caused it."""
    events, incident_rows, alerts, deliveries = [], [], [], []
    open_by_service: dict[int, _Incident] = {}
    for incident in incidents:
        for opening, at in ((True, incident.started_at), (False, incident.ended_at)):
            if at is None:
                continue
            if (incident.started_by if opening else incident.ended_by) in (0, None):
                check_id, at = grid.check_at(incident.service, at)
                if opening:
                    incident.started_at, incident.started_by = at, check_id
                else:
                    incident.ended_at, incident.ended_by = at, check_id
            check_id = incident.started_by if opening else incident.ended_by
            before, after = ("HEALTHY", incident.kind) if opening else (incident.kind, "HEALTHY")
            events.append((at, incident.service.id, check_id, before, after))
        if incident.ended_at is None:
            open_by_service[incident.service.id] = incident
        incident_rows.append(
            (
                incident.service.id,
                incident.kind,
                incident.started_at,
                incident.ended_at,
                "TIMEOUT" if incident.kind == "UNHEALTHY" else None,
                "timed out after 10 s" if incident.kind == "UNHEALTHY" else "planned upgrade",
                incident.started_by,
                incident.ended_by,
                None if incident.ended_at is None else "HEALTHY",
            )
        )
        if incident.kind == "UNHEALTHY" and (incident.ended_at or now) - incident.started_at > dt.timedelta(minutes=5):
            fired = incident.started_at + dt.timedelta(minutes=5)
            firing = incident.ended_at is None
            alert_id = len(alerts) + 1
            alerts.append(
                (
                    alert_id,
                    "service_unhealthy",
                    incident.service.id,
                    "FIRING" if firing else "RESOLVED",
                    f"service_unhealthy:{incident.service.id}" if firing else None,
                    fired,
                    incident.ended_at,
                    fired,
                    0,
                    f"service {incident.service.id} is UNHEALTHY",
                    "{}",
                )
            )
            deliveries.append((alert_id, "hooks.example.org", "FIRING", 1, "SENT", 200, "", fired))
            if incident.ended_at is not None:
                deliveries.append((alert_id, "hooks.example.org", "RESOLVED", 1, "SENT", 200, "", incident.ended_at))
    events.sort()
    await connection.copy_records_to_table(
        "status_event",
        records=[(sid, check, before, after, at) for at, sid, check, before, after in events],
        columns=["service_id", "check_id", "previous_status", "status", "changed_at"],
    )
    incident_rows.sort(key=lambda row: row[2])
    await connection.copy_records_to_table(
        "incident",
        records=incident_rows,
        columns=[
            "service_id",
            "kind",
            "started_at",
            "ended_at",
            "first_failure_kind",
            "first_message",
            "started_by_check_id",
            "ended_by_check_id",
            "ended_by_status",
        ],
    )
    alert_columns = [
        "id",
        "rule",
        "service_id",
        "state",
        "dedup_key",
        "fired_at",
        "resolved_at",
        "last_notified_at",
        "reminders_sent",
        "summary",
        "details",
    ]
    await connection.copy_records_to_table("alert", records=alerts, columns=alert_columns)
    delivery_columns = ["alert_id", "channel", "kind", "attempt", "status", "http_status", "error", "at"]
    await connection.copy_records_to_table("alert_delivery", records=deliveries, columns=delivery_columns)
    for service_id, incident in open_by_service.items():
        await connection.execute(
            "UPDATE service SET status = $2, status_changed_at = $3 WHERE id = $1",
            service_id,
            incident.kind,
            incident.started_at,
        )
    return len(events), len(alerts), len(deliveries)


async def _rollups(
    connection: asyncpg.Connection, scale: Scale, rng: random.Random, now: dt.datetime, services: int
) -> int:
    columns = [*ROW_FIELDS, "failures"]
    await connection.execute(
        """
        CREATE TEMP TABLE seed_pool (n int, resolution_s int, healthy int, degraded int, unhealthy int,
            maintenance int, unknown int, latency_count int, latency_sum_ms float8, latency_min_ms float8,
            latency_max_ms float8, latency_hist jsonb, failure_kinds jsonb, failures int)
        """
    )
    pool = [
        (n, width, *_db_values(_tally(rng, width // 60, 12))) for width in (MINUTE, HOUR, DAY) for n in range(POOL_SIZE)
    ]
    await connection.copy_records_to_table("seed_pool", records=pool, columns=["n", "resolution_s", *columns])
    span_start = bucket_start(now - dt.timedelta(days=scale.days), DAY)
    minute_start = bucket_start(now - dt.timedelta(hours=scale.minute_hours + 1), HOUR)
    plans = (  # resolution, first bucket, last bucket: time-ordered, as the recorder creates them
        (DAY, span_start, bucket_start(now, DAY)),
        (HOUR, span_start, bucket_start(now, HOUR)),
        (MINUTE, minute_start, bucket_start(now, MINUTE)),
    )
    names = ", ".join(columns)
    written = 0
    for resolution, first, last in plans:
        chunk = dt.timedelta(seconds=resolution * max(1, 2_000_000 // max(1, services)))
        at = first
        while at <= last:
            upto = min(last, at + chunk - dt.timedelta(seconds=resolution))
            status = await connection.execute(
                f"""
                INSERT INTO check_rollup (service_id, resolution_s, bucket_start, {names})
                SELECT s.id, $1::int, b.at, {", ".join(f"p.{c}" for c in columns)}
                FROM generate_series($2::timestamptz, $3::timestamptz, make_interval(secs => $1::int)) AS b(at)
                CROSS JOIN seed_service AS s
                JOIN seed_pool AS p
                  ON p.resolution_s = $1::int
                 AND p.n = (s.rank * 7919 + (extract(epoch FROM b.at)::bigint / $1::int)) % {POOL_SIZE}
                ORDER BY b.at, s.rank
                """,
                resolution,
                at,
                upto,
            )
            written += int(status.split()[-1])
            at = upto + dt.timedelta(seconds=resolution)
    return written


async def _maintenance(
    connection: asyncpg.Connection, services: list[_Service], rng: random.Random, now: dt.datetime
) -> int:
    rows = []
    for _ in range(max(1, len(services) // 10)):
        starts = now + dt.timedelta(hours=rng.uniform(-24 * 20, 24 * 10))
        rows.append((rng.choice(services).id, starts, starts + dt.timedelta(hours=2), "upgrade", "alice", starts))
    columns = ["service_id", "starts_at", "ends_at", "reason", "created_by", "created_at"]
    await connection.copy_records_to_table("maintenance_window", records=rows, columns=columns)
    return len(rows)


async def _audit(
    connection: asyncpg.Connection, services: list[_Service], scale: Scale, rng: random.Random, now: dt.datetime
) -> int:
    rows: list[tuple[Any, ...]] = []
    for number in range(len(services) * 3):
        service = rng.choice(services)
        at = (
            now
            - dt.timedelta(days=scale.days)
            + dt.timedelta(seconds=number * scale.days * 86400 / (len(services) * 3))
        )
        rows.append(
            (
                at,
                "alice (token 1)",
                "service.updated",
                "service",
                str(service.id),
                '{"timeoutSeconds":10}',
                '{"timeoutSeconds":20}',
            )
        )
    columns = ["at", "actor", "action", "target_type", "target_id", "before", "after"]
    await connection.copy_records_to_table("audit_event", records=rows, columns=columns)
    return len(rows)
