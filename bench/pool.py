"""What the size of the connection pool buys one Vigil process: throughput and latency of API reads.

Run it as `python -m bench.pool [--url URL] [--services 1000] [--raw-days 1] [--sizes 1 2 5 10 20]
[--clients 50] [--seconds 10]`.

A fresh PostgreSQL database (on the server of `--url`, else $VIGIL_EXPLAIN_DATABASE_URL, else
$VIGIL_TEST_DATABASE_URL, else the local one; dropped at the end) is seeded by `bench.seed`.
Then, for each pool size, `--clients` tasks in this one process call resolvers back to back for
`--seconds`: a page of services, the newest page of a service's history, its trends over 24
hours, and a page of incidents, each picked at random. Prints reads/s, p50 and p99 latency, and
the most server sessions this database had at once. Figures, no assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import time
from collections.abc import Sequence

import asyncpg
from tortoise import Tortoise

from bench.explain import DEFAULT_SERVER, migrate_to
from bench.seed import Scale, seed
from bench.sweep import _percentile
from config import Settings
from models import Service
from models.db import tortoise_config
from resolvers import history, incidents, services, trends


async def _client(rng: random.Random, ids: list[int], settings: Settings, stop: float, timings: list[float]) -> None:
    rows = {row.id: row for row in await Service.filter(id__in=ids)}
    while time.perf_counter() < stop:
        sid = rng.choice(ids)
        kind = rng.randrange(4)
        started = time.perf_counter()
        if kind == 0:
            await services.list_services(services.ServiceQuery(), 50, None)
        elif kind == 1:
            await history.health_history(sid, None, None, 100, None)
        elif kind == 2:
            await trends.trends(rows[sid], "LAST_24_HOURS", settings)
        else:
            await incidents.list_incidents(None, False, 50, None)
        timings.append((time.perf_counter() - started) * 1000)


async def _sessions(admin: asyncpg.Connection, stop: float) -> int:
    most = 0
    while time.perf_counter() < stop:
        count = await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        most = max(most, int(count))
        await asyncio.sleep(0.2)
    return most


async def run(args: argparse.Namespace) -> None:
    from tests.conftest import _asyncpg_dsn, fresh_postgres_database

    server_url = (
        args.url
        or os.environ.get("VIGIL_EXPLAIN_DATABASE_URL")
        or os.environ.get("VIGIL_TEST_DATABASE_URL")
        or DEFAULT_SERVER
    )
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    async with fresh_postgres_database(server_url) as url:
        await migrate_to(url, None)
        admin = await asyncpg.connect(_asyncpg_dsn(url))
        try:
            seeded = await seed(admin, Scale(services=args.services, days=2, raw_days=args.raw_days), now)
            settings = Settings(_env_file=None, database_url=url)
            print(f"{args.services} services, {args.clients} concurrent clients, {args.seconds:g} s per pool size")
            print("| pool size | reads/s | p50 | p99 | server sessions (most) |")
            print("|---|---|---|---|---|")
            for size in args.sizes:
                await Tortoise.init(config=tortoise_config(url, pool_max_size=size), _enable_global_fallback=True)
                try:
                    timings: list[float] = []
                    stop = time.perf_counter() + args.seconds
                    rngs = [random.Random(i) for i in range(args.clients)]
                    *_, sessions = await asyncio.gather(
                        *(_client(rng, seeded.service_ids, settings, stop, timings) for rng in rngs),
                        _sessions(admin, stop),
                    )
                finally:
                    await Tortoise.close_connections()
                timings.sort()
                print(
                    f"| {size} | {len(timings) / args.seconds:.0f} | {_percentile(timings, 50):.1f} ms "
                    f"| {_percentile(timings, 99):.1f} ms | {sessions} |"
                )
        finally:
            await admin.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a PostgreSQL server URL; the database in it is only used to connect")
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--raw-days", type=float, default=1)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 5, 10, 20])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
