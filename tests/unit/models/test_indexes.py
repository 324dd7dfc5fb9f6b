"""Every filter and order the schema offers has an index, and PostgreSQL uses it on a seeded history.

The inventory (which query needs which index, and the EXPLAIN figures behind it) is in
docs/database.md; `python -m bench.explain` measures it at full scale.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import asyncpg
import pytest
from tortoise import Tortoise

from bench.explain import Call, Plan, captured, explain
from bench.seed import Scale, Seeded, seed
from config import Settings
from models import Service
from models.db import open_database, tortoise_config
from resolvers import dashboard, history, trends
from tests.conftest import _asyncpg_dsn, fresh_postgres_database

# (table, leading columns of some index, what reads it); docs/database.md lists the same.
NEEDED = [
    ("service", ("type", "api_type"), "services(filter: {type, apiType})"),
    ("service", ("status",), "services(filter: {status})"),
    ("service", ("is_active",), "services(filter: {isActive}), the probe loop"),
    ("health_check", ("service_id", "id"), "healthHistory pages, newest first after a cursor"),
    ("health_check", ("service_id", "checked_at"), "healthHistory(since, until) and its totalCount"),
    ("check_rollup", ("service_id", "resolution_s", "bucket_start"), "trends, uptime, sla, compareServices"),
    ("check_rollup", ("resolution_s", "bucket_start"), "dashboard, analytics, alert rules, retention"),
    ("status_event", ("changed_at", "id"), "dashboard.recentStatusChanges, analytics"),
    ("status_event", ("check_id",), "deleting checks: retention, deleteService"),
    ("incident", ("service_id", "started_at"), "incidents(serviceId), trends, sla"),
    ("incident", ("ended_at",), "incidents(openOnly), dashboard.openIncidents"),
    ("alert", ("service_id", "fired_at"), "alerts(serviceId)"),
    ("alert", ("state",), "alerts(firingOnly), the alert evaluator"),
    ("alert_delivery", ("alert_id", "at"), "Alert.deliveries"),
    ("reference_panel", ("service_id", "key"), "Service.referencePanels, referencePanels"),
    ("maintenance_window", ("service_id", "ends_at"), "Service.maintenanceWindows"),
    ("service_dependency", ("depends_on_id",), "Service.dependents, deleteService"),
]


async def index_columns(table: str) -> list[tuple[str, ...]]:
    """The columns of each index on `table`, in index order (primary keys included)."""
    connection = Service._meta.db
    if connection.schema_generator.DIALECT == "sqlite":
        found = [("id",)]  # an INTEGER PRIMARY KEY is the rowid: SQLite lists no index for it
        for index in await connection.execute_query_dict(f"PRAGMA index_list('{table}')"):
            rows = await connection.execute_query_dict(f"PRAGMA index_info('{index['name']}')")
            found.append(tuple(row["name"] for row in sorted(rows, key=lambda r: r["seqno"])))
        return found
    rows = await connection.execute_query_dict(
        """
        SELECT array_agg(a.attname ORDER BY k.n) AS columns
        FROM pg_index AS x
        JOIN pg_class AS t ON t.oid = x.indrelid
        CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, n)
        JOIN pg_attribute AS a ON a.attrelid = t.oid AND a.attnum = k.attnum
        WHERE t.relname = $1 AND t.relnamespace = 'public'::regnamespace
        GROUP BY x.indexrelid
        """,
        [table],
    )
    return [tuple(row["columns"]) for row in rows]


def leads(columns: tuple[str, ...], indexes: list[tuple[str, ...]]) -> bool:
    return any(index[: len(columns)] == columns for index in indexes)


async def test_each_filter_and_order_the_schema_offers_has_an_index(db: str) -> None:
    missing = [
        f"{table} ({', '.join(columns)}) for {reader}"
        for table, columns, reader in NEEDED
        if not leads(columns, await index_columns(table))
    ]
    assert not missing, "no index leads with: " + "; ".join(missing)


async def test_every_foreign_key_column_leads_an_index(db: str) -> None:
    # Without one, deleting a referenced row makes the database scan the referencing table once
    # per row deleted (a retention batch of 5,000 checks took 1.4 s on status_event this way).
    missing = []
    for model in Tortoise.apps["models"].values():
        table = model._meta.db_table
        for name in model._meta.fk_fields:
            column = model._meta.fields_map[name].source_field
            if not leads((column,), await index_columns(table)):
                missing.append(f"{table}.{column}")
    assert not missing, "no index leads with: " + "; ".join(missing)


@pytest.fixture
async def seeded(pg_url: str) -> AsyncIterator[tuple[Seeded, asyncpg.Connection, Settings]]:
    """A fresh PostgreSQL database: 500 services, checks every minute for half a day, rollups, analysed."""
    async with fresh_postgres_database(pg_url) as url, open_database(tortoise_config(url)):
        connection = await asyncpg.connect(_asyncpg_dsn(url))
        try:
            now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
            found = await seed(connection, Scale(services=500, days=2, raw_days=0.5, minute_hours=2), now)
            yield found, connection, Settings(_env_file=None, database_url=url)
        finally:
            await connection.close()


async def plans_of(connection: asyncpg.Connection, call: Call) -> list[Plan]:
    with captured() as statements:
        await call()
    return [await explain(connection, statement, repeat=1, text=True) for statement in statements]


def scans(plans: list[Plan], table: str) -> list[str]:
    return [node for plan in plans for node in plan.nodes if node.endswith(f" on {table}")]


async def test_history_pages_walk_an_index_newest_first_without_sorting(
    seeded: tuple[Seeded, asyncpg.Connection, Settings],
) -> None:
    found, connection, _ = seeded
    service_id = found.flappy_ids[0]
    newer = await history.health_history(service_id, None, None, 100, None)
    for call in (
        lambda: history.health_history(service_id, None, None, 100, None),
        lambda: history.health_history(service_id, None, None, 100, newer.cursors[-1]),
        lambda: history.health_history(found.unchecked_id, None, None, 100, None),
    ):
        page = (await plans_of(connection, call))[-1]
        # Walking the primary key instead, filtered on the service, reads every other service's
        # checks too: a second for a service with no checks, at 1,000 services x 7 days.
        assert "Index Scan Backward" in page.text, page.text
        assert "Index Cond: ((service_id = " in page.text or "Index Cond: (service_id = " in page.text, page.text
        assert "Sort" not in page.text and "Seq Scan" not in page.text, page.text


async def test_history_windows_trends_and_the_dashboard_read_no_large_table_whole(
    seeded: tuple[Seeded, asyncpg.Connection, Settings],
) -> None:
    found, connection, settings = seeded
    service = await Service.get(id=found.flappy_ids[0])
    hours_ago = found.now - dt.timedelta(hours=6)
    for call in (
        lambda: history.health_history(service.id, hours_ago, hours_ago + dt.timedelta(hours=1), 100, None),
        lambda: trends.trends(service, "LAST_24_HOURS", settings, found.now),
        lambda: trends.trends(service, "LAST_30_DAYS", settings, found.now),
        lambda: dashboard.dashboard(settings, found.now),
    ):
        plans = await plans_of(connection, call)
        assert [scan for plan in plans for scan in plan.seq_scans(("health_check", "check_rollup"))] == []
        assert scans(plans, "health_check") + scans(plans, "check_rollup")
