"""EXPLAIN (ANALYZE, BUFFERS) of every query behind the schema's lists, on a seeded PostgreSQL database.

Run it as `python -m bench.explain [--url URL] [--services 1000] [--days 30] [--raw-days 7]
[--interval-s 60] [--minute-hours 48] [--before MIGRATION] [--repeat 5] [--only WORD] [--plans]
[--jit on|off]`; docs/database.md explains the figures.

A fresh database on the server of `--url` (else $VIGIL_EXPLAIN_DATABASE_URL, else
$VIGIL_TEST_DATABASE_URL, else the local `postgres://postgres@127.0.0.1:5432/test`) is migrated,
seeded by `bench.seed` and dropped at the end. Each query is a real resolver call (or the ORM
query a schema field makes); the SQL Tortoise sends is captured from the `tortoise.db_client`
logger and run again under EXPLAIN (ANALYZE, BUFFERS) in a transaction that is rolled back, so
a DELETE explained is not applied. Each statement runs once to warm the cache, then `--repeat`
times under EXPLAIN; the median execution time is reported with the plan's scans and sorts.

`--before 0003_alerts` migrates only that far first, measures, then applies the remaining
migrations (timed: they build indexes on the seeded tables) and measures again, and prints a
before/after table. `--plans` prints each plan in full; `--jit off` sets `jit = off` on the
database first. Figures, no assertions: tests/unit/models/test_indexes.py asserts, on a smaller
seeded database, what the figures depend on.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import logging
import os
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any

import asyncpg
from tortoise import Tortoise
from tortoise.expressions import Q, Subquery
from tortoise.transactions import in_transaction

from bench.seed import Scale, Seeded, seed
from config import Settings
from models import (
    Alert,
    AlertDelivery,
    AlertState,
    AuditEvent,
    HealthCheck,
    Incident,
    MaintenanceWindow,
    ReferencePanel,
    Service,
    ServiceDependency,
)
from models.db import migrate, tortoise_config
from probes.result import ApiType, GenomeBuild, HealthStatus, ServiceType
from resolvers import (
    alert_rules,
    alerts,
    analytics,
    availability,
    catalog,
    compare,
    dashboard,
    history,
    incidents,
    recommend,
    retention,
    services,
    trends,
)
from resolvers.pagination import encode_cursor, paginate

DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/test"
BIG_TABLES = ("health_check", "check_rollup", "status_event", "incident", "alert", "alert_delivery", "audit_event")

Call = Callable[[], Awaitable[object]]


@dataclasses.dataclass(frozen=True, slots=True)
class Statement:
    sql: str
    values: tuple[Any, ...]

    @property
    def label(self) -> str:
        """`count health_check`, `select check_rollup`, `delete health_check`: enough to tell statements apart."""
        words = self.sql.split()
        verb = words[0].lower()
        if verb == "select" and "COUNT(*)" in self.sql.split(" FROM ", 1)[0].upper():
            verb = "count"
        table = next((w.strip('"') for i, w in enumerate(words) if words[i - 1].upper() in ("FROM", "INTO")), "?")
        return f"{verb} {table}"


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    statement: Statement
    nodes: tuple[str, ...]
    execution_ms: float
    planning_ms: float
    shared_hit: int
    shared_read: int
    text: str

    @property
    def shape(self) -> tuple[str, ...]:
        """The nodes without their figures (how often a trigger ran, how long it took)."""
        return tuple(node.split(" x")[0] for node in self.nodes)

    @property
    def pages(self) -> int:
        return self.shared_hit + self.shared_read

    @property
    def summary(self) -> str:
        return "; ".join(self.nodes) or "(no scan)"

    def seq_scans(self, tables: Sequence[str] = BIG_TABLES) -> list[str]:
        return [node for node in self.nodes if node.startswith("Seq Scan on ") and node.split()[-1] in tables]


@dataclasses.dataclass(frozen=True, slots=True)
class Measured:
    name: str
    resolver_ms: float
    plans: tuple[Plan, ...]


class _Capture(logging.Handler):
    """Collects the statements Tortoise sends, from its `tortoise.db_client` debug records."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[Statement] = []

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        if isinstance(args, tuple) and len(args) == 2 and isinstance(args[0], str):
            self.statements.append(Statement(args[0], tuple(args[1] or ())))


@contextlib.contextmanager
def captured() -> Iterator[list[Statement]]:
    logger = logging.getLogger("tortoise.db_client")
    handler, level, propagate = _Capture(), logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield handler.statements
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def _nodes(node: dict[str, Any]) -> Iterator[str]:
    kind = node["Node Type"]
    if "Relation Name" in node:
        using = f" using {node['Index Name']}" if "Index Name" in node else ""
        backward = " Backward" if node.get("Scan Direction") == "Backward" else ""
        yield f"{kind}{backward}{using} on {node['Relation Name']}"
    elif kind in ("Sort", "Incremental Sort"):
        yield f"{kind} ({node.get('Sort Method', '?')})"
    for trigger in node.get("Triggers", ()):
        if trigger["Time"] >= 1:  # the foreign keys a delete checks; only those that cost something
            name = trigger.get("Constraint Name", trigger["Trigger Name"])
            yield f"{name} x{trigger['Calls']} {trigger['Time']:.0f} ms"
    for child in node.get("Plans", ()):
        yield from _nodes(child)


async def explain(connection: asyncpg.Connection, statement: Statement, repeat: int = 3, text: bool = False) -> Plan:
    """The median of `repeat` EXPLAIN ANALYZE runs after one warming run, each rolled back."""
    runs = []
    for i in range(repeat + 1):
        transaction = connection.transaction()
        await transaction.start()
        try:
            if i == 0:
                await connection.fetch(statement.sql, *statement.values)
                continue
            raw = await connection.fetchval(
                f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {statement.sql}", *statement.values
            )
        finally:
            await transaction.rollback()
        (document,) = json.loads(raw)
        runs.append(document)
    runs.sort(key=lambda d: d["Execution Time"])
    median = runs[len(runs) // 2]
    top = {**median["Plan"], "Triggers": median.get("Triggers", [])}  # foreign-key checks a delete ran
    text_rows = await _text_plan(connection, statement) if text else ""
    return Plan(
        statement=statement,
        nodes=tuple(dict.fromkeys(_nodes(top))),
        execution_ms=median["Execution Time"],
        planning_ms=median["Planning Time"],
        shared_hit=top.get("Shared Hit Blocks", 0),
        shared_read=top.get("Shared Read Blocks", 0),
        text=text_rows,
    )


async def _text_plan(connection: asyncpg.Connection, statement: Statement) -> str:
    transaction = connection.transaction()
    await transaction.start()
    try:
        rows = await connection.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {statement.sql}", *statement.values)
    finally:
        await transaction.rollback()
    return "\n".join(row[0] for row in rows)


class _Rollback(Exception):
    """Raised to undo a call that writes (the retention pass) once its statements are captured."""


def rolled_back(call: Call) -> Call:
    async def run() -> None:
        with contextlib.suppress(_Rollback):
            async with in_transaction("pg"):
                await call()
                raise _Rollback

    return run


async def _list_services(query: services.ServiceQuery) -> object:
    try:
        return await services.list_services(query, 50, None)
    except TypeError:
        # The panel and build filters pass a ValuesListQuery to `id__in`, which Tortoise 1.1.9
        # refuses before sending any SQL. What they mean, as a subquery, is measured instead.
        rows = services.filtered(dataclasses.replace(query, panel=None, build=None))
        panels = ReferencePanel.filter(is_active=True)
        if query.panel:
            panels = panels.filter(Q(key__icontains=query.panel) | Q(label__icontains=query.panel))
        if query.build is not None:
            panels = panels.filter(build=query.build)
        return await paginate(rows.filter(id__in=Subquery(panels.values("service_id"))), "service", 50, None)


async def queries(seeded: Seeded, settings: Settings) -> list[tuple[str, Call]]:
    """(name, call) for every list and filter the schema offers, plus the background readers."""
    now = seeded.now
    flappy, quiet = seeded.flappy_ids[0], seeded.quiet_id
    row = await Service.get(id=flappy)
    page = seeded.service_ids[:50]
    depth = min(2000, await HealthCheck.filter(service_id=flappy).count() // 2)  # 20 pages of 100 in
    deep = (
        await HealthCheck.filter(service_id=flappy).order_by("-id").offset(depth).first().values_list("id", flat=True)
    )
    alert_ids = list(
        await Alert.filter(service_id__in=seeded.flappy_ids).order_by("-id").limit(50).values_list("id", flat=True)
    )
    day_ago, five_days_ago = now - dt.timedelta(days=1), now - dt.timedelta(days=5)

    def listed(**filters: Any) -> Call:
        return lambda: _list_services(services.ServiceQuery(**filters))

    return [
        ("services: no filter", listed()),
        (
            "services: page 3 (after cursor)",
            lambda: services.list_services(services.ServiceQuery(), 50, encode_cursor("service", 100)),
        ),
        ("services: type", listed(type=ServiceType.GA4GH)),
        ("services: apiType", listed(api_type=ApiType.GA4GH_WES)),
        ("services: type + apiType", listed(type=ServiceType.GA4GH, api_type=ApiType.GA4GH_WES)),
        ("services: status", listed(status=HealthStatus.UNHEALTHY)),
        ("services: isActive false", listed(is_active=False)),
        ("services: search", listed(search="cape town")),
        ("services: panel", listed(panel="topmed")),
        ("services: build", listed(build=GenomeBuild.HG38)),
        ("healthHistory: first page", lambda: history.health_history(flappy, None, None, 100, None)),
        (
            "healthHistory: 20 pages deep",
            lambda: history.health_history(flappy, None, None, 100, encode_cursor("check", deep)),
        ),
        (
            "healthHistory: a service with no checks yet",
            lambda: history.health_history(seeded.unchecked_id, None, None, 100, None),
        ),
        ("healthHistory: last 24 h", lambda: history.health_history(flappy, day_ago, None, 100, None)),
        (
            "healthHistory: one hour, 5 days ago",
            lambda: history.health_history(flappy, five_days_ago, five_days_ago + dt.timedelta(hours=1), 100, None),
        ),
        ("trends: LAST_24_HOURS", lambda: trends.trends(row, "LAST_24_HOURS", settings, now)),
        ("trends: LAST_7_DAYS", lambda: trends.trends(row, "LAST_7_DAYS", settings, now)),
        ("trends: LAST_30_DAYS", lambda: trends.trends(row, "LAST_30_DAYS", settings, now)),
        ("dashboard", lambda: dashboard.dashboard(settings, now)),
        ("incidents: all", lambda: incidents.list_incidents(None, False, 50, None)),
        ("incidents: openOnly", lambda: incidents.list_incidents(None, True, 50, None)),
        ("incidents: one service", lambda: incidents.list_incidents(flappy, False, 50, None)),
        ("alerts: all", lambda: alerts.list_alerts(None, False, 50, None)),
        ("alerts: firingOnly", lambda: alerts.list_alerts(None, True, 50, None)),
        ("alerts: one service", lambda: alerts.list_alerts(flappy, False, 50, None)),
        ("Alert.deliveries (batch of 50)", lambda: AlertDelivery.filter(alert_id__in=alert_ids).order_by("id")),
        ("Service.uptime 30 days (one service)", lambda: availability.uptime(quiet, "LAST_30_DAYS", settings, now)),
        (
            "Service.openIncidents (batch of 50)",
            lambda: Incident.filter(service_id__in=page, ended_at__isnull=True).order_by("started_at", "id"),
        ),
        (
            "Service.maintenanceWindows (batch of 50)",
            lambda: MaintenanceWindow.filter(service_id__in=page, ends_at__gt=now).order_by("starts_at", "id"),
        ),
        (
            "Service.referencePanels (batch of 50)",
            lambda: ReferencePanel.filter(service_id__in=page, is_active=True).order_by("service_id", "key"),
        ),
        ("Service.dependents (batch of 50)", lambda: ServiceDependency.filter(depends_on_id__in=page).order_by("id")),
        ("referencePanels: search", lambda: catalog.list_panels(catalog.PanelQuery(search="1000g"))),
        ("compareServices of 10", lambda: compare.compare([*seeded.flappy_ids[:5], quiet, *page[1:5]], settings)),
        ("recommendServices: panel", lambda: recommend.recommend(settings, "topmed", None, None, 5, now)),
        ("analytics: LAST_24_HOURS", lambda: analytics.analytics(settings, "LAST_24_HOURS", now)),
        ("analytics: LAST_30_DAYS", lambda: analytics.analytics(settings, "LAST_30_DAYS", now)),
        ("alert evaluator: rollup window", lambda: alerts._service_states(now, 600)),
        ("alert evaluator: firing alerts", lambda: Alert.filter(state=AlertState.FIRING, rule__in=alert_rules.RULES)),
        ("audit log: newest 50 (no reader yet)", lambda: AuditEvent.all().limit(50)),
        ("retention pass (rolled back)", rolled_back(lambda: retention.prune(settings, now=now))),
        ("deleteService: the cascade (rolled back)", rolled_back(lambda: Service.filter(id=flappy).delete())),
    ]


async def measure(
    seeded: Seeded, settings: Settings, server: asyncpg.Connection, repeat: int, only: str | None, text: bool = False
) -> list[Measured]:
    results = []
    for name, call in await queries(seeded, settings):
        if only and only.lower() not in name.lower():
            continue
        with captured() as statements:
            await call()
        timings = []
        for _ in range(repeat):
            started = time.perf_counter()
            await call()
            timings.append((time.perf_counter() - started) * 1000)
        # A statement repeated with other values (retention batches, the windows of a loop) is
        # explained once, with the values of its last run.
        distinct = list({s.sql: s for s in statements}.values())
        plans = tuple([await explain(server, statement, text=text) for statement in distinct])
        results.append(Measured(name, statistics.median(timings), plans))
    return results


def report(results: Sequence[Measured], full: bool) -> None:
    for measured in results:
        total = sum(p.execution_ms for p in measured.plans)
        print(f"\n{measured.name}: resolver p50 {measured.resolver_ms:.1f} ms, SQL {total:.1f} ms")
        for plan in measured.plans:
            print(f"  {plan.execution_ms:8.2f} ms {plan.pages:>8,} pages  {plan.statement.label:<26} {plan.summary}")
            if full:
                print("    " + plan.statement.sql)
                print("\n".join("      " + line for line in plan.text.splitlines()))


def compare_report(before: Sequence[Measured], after: Sequence[Measured]) -> None:
    """The statements whose plan changed, with execution time and buffers (8 KiB pages) read or hit."""
    print("\n| query | statement | plan before | plan after | ms before | ms after | pages before | pages after |")
    print("|---|---|---|---|---|---|---|---|")
    for old, new in zip(before, after, strict=True):
        for a, b in zip(old.plans, new.plans, strict=False):
            slower, faster = max(a.execution_ms, b.execution_ms), min(a.execution_ms, b.execution_ms)
            if a.shape == b.shape and slower < 5 * max(1.0, faster):
                continue
            print(
                f"| {old.name} | {a.statement.label} | {a.summary} | {b.summary} "
                f"| {a.execution_ms:.2f} | {b.execution_ms:.2f} | {a.pages:,} | {b.pages:,} |"
            )
    print("\n| query | resolver p50 before | after |")
    print("|---|---|---|")
    for old, new in zip(before, after, strict=True):
        print(f"| {old.name} | {old.resolver_ms:.1f} ms | {new.resolver_ms:.1f} ms |")


@contextlib.asynccontextmanager
async def orm(url: str) -> AsyncIterator[None]:
    await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)
    try:
        yield
    finally:
        await Tortoise.close_connections()


async def migrate_to(url: str, target: str | None) -> float:
    started = time.perf_counter()
    await migrate(tortoise_config(url), target)
    await Tortoise.close_connections()
    return time.perf_counter() - started


async def run(args: argparse.Namespace) -> None:
    from tests.conftest import _asyncpg_dsn, fresh_postgres_database

    server_url = (
        args.url
        or os.environ.get("VIGIL_EXPLAIN_DATABASE_URL")
        or os.environ.get("VIGIL_TEST_DATABASE_URL")
        or DEFAULT_SERVER
    )
    scale = Scale(args.services, args.days, args.raw_days, args.interval_s, args.minute_hours)
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    async with fresh_postgres_database(server_url) as url:
        if args.jit == "off":
            admin = await asyncpg.connect(_asyncpg_dsn(url))
            try:
                name = await admin.fetchval("SELECT current_database()")
                await admin.execute(f'ALTER DATABASE "{name}" SET jit = off')
            finally:
                await admin.close()
        await migrate_to(url, args.before)
        connection = await asyncpg.connect(_asyncpg_dsn(url))
        try:
            started = time.perf_counter()
            seeded = await seed(connection, scale, now)
            print(
                f"seeded in {time.perf_counter() - started:.0f} s: "
                + ", ".join(f"{k} {v:,}" for k, v in seeded.counts.items())
            )
            size = await connection.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
            print(f"database size {size}")
            settings = Settings(_env_file=None, database_url=url)
            async with orm(url):
                before = await measure(seeded, settings, connection, args.repeat, args.only, args.plans)
            report(before, args.plans)
            if args.before is None:
                return
            took = await migrate_to(url, None)
            await connection.execute("VACUUM ANALYZE")
            print(f"\nremaining migrations applied on the seeded database in {took:.1f} s")
            size = await connection.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
            print(f"database size {size}")
            async with orm(url):
                after = await measure(seeded, settings, connection, args.repeat, args.only, args.plans)
            report(after, args.plans)
            compare_report(before, after)
        finally:
            await connection.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a PostgreSQL server URL; the database in it is only used to connect")
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--raw-days", type=float, default=7)
    parser.add_argument("--interval-s", type=int, default=60)
    parser.add_argument("--minute-hours", type=float, default=48, help="per-minute rollups kept (h)")
    parser.add_argument("--before", help="measure at this migration first (e.g. 0003_alerts), then after the rest")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", help="only the queries whose name contains this")
    parser.add_argument("--plans", action="store_true", help="print every plan in full")
    parser.add_argument("--jit", choices=["on", "off"], default="on", help="the server default, or jit = off")
    args = parser.parse_args(argv)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
