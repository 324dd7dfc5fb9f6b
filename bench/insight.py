"""Read and retention costs of rollups: trends, dashboard and compareServices over a month of history.

Run it as `python -m bench.insight [--services 1000] [--days 30] [--raw-hours 0] [--backends sqlite postgres]`.

For each backend, a fresh database (a SQLite file in a temporary directory; a new PostgreSQL
database on VIGIL_TEST_DATABASE_URL's server, dropped at the end) gets `--services` services and
a history of one check a minute each over `--days` days:

- older than `--raw-hours`: rollups generated directly (raw checks out of retention are gone in
  a real deployment): per-minute rollups for the last `rollup_minute_retention_hours` (48 h), per-hour
  for the whole span, per-day for the whole span. Counts are ~99.5% HEALTHY, latencies
  log-normal around 300 ms (a rollup's histogram is a dozen sampled latencies). Each row is drawn
  from a pool of 1,000 such rollups per resolution, already converted to database values, and
  written with COPY on PostgreSQL (executemany on SQLite): 3.6 M rows take 2-3 minutes.
- from the top of the hour `--raw-hours` ago (0: the current hour) until now: real checks written
  through the recorder's `_store_all`, in batches of 200 as the BatchRecorder writes them, so
  rollups and incidents are maintained as in production.
- `--stale-checks` raw checks older than the retention period, for the retention pass to delete.

Then it times, calling the resolvers in-process (no HTTP): `trends` over LAST_30_DAYS for one
random service, `dashboard`, and `compare` of 10 random services, `--repeat` times each (p50 and
p99), the retention pass, and reports the database size. Figures, no assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import math
import os
import pathlib
import random
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence

from tortoise import Tortoise
from tortoise.transactions import in_transaction

from bench.sweep import _percentile
from config import Settings
from models import CheckRollup, HealthCheck, Service
from models.db import open_database, tortoise_config
from probes.breaker import BreakerSnapshot
from probes.hysteresis import HysteresisSnapshot
from probes.observation import Observation
from probes.result import ApiType, HealthStatus, ProbeResult, ProbeTarget, ServiceType
from resolvers import compare, dashboard, retention, trends
from resolvers.recording import _store_all
from resolvers.rollups import DAY, HOUR, MINUTE, ROW_FIELDS, Tally, bucket_start, latency_bin

PG_SERVER = os.environ.get("VIGIL_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")


def _latency(rng: random.Random) -> float:
    return rng.lognormvariate(math.log(300), 0.4)


def _tally(rng: random.Random, checks: int, samples: int = 12) -> Tally:
    """A synthetic rollup of `checks` checks: a few sampled latencies stand for all of them."""
    tally = Tally()
    failures = sum(1 for _ in range(checks) if rng.random() < 0.005) if checks <= 60 else round(checks * 0.005)
    tally.counts[HealthStatus.HEALTHY] = checks - failures
    if failures:
        tally.counts[HealthStatus.UNHEALTHY] = failures
        tally.failure_kinds["TIMEOUT"] = failures
    measured = checks - failures
    if measured:
        drawn = [_latency(rng) for _ in range(min(samples, measured))]
        per, extra = divmod(measured, len(drawn))
        hist: Counter[int] = Counter()
        for i, value in enumerate(drawn):
            hist[latency_bin(value)] += per + (1 if i < extra else 0)
        tally.latency_hist = hist
        tally.latency_count = measured
        tally.latency_sum_ms = sum(drawn) / len(drawn) * measured
        tally.latency_min_ms, tally.latency_max_ms = min(drawn), max(drawn)
    return tally


_ROLLUP_COLUMNS = ("service_id", "resolution_s", "bucket_start", *ROW_FIELDS, "failures")


def _db_values(tally: Tally) -> tuple[object, ...]:
    """A tally's columns after `service_id, resolution_s, bucket_start`, as the ORM would store them."""
    fields_map = CheckRollup._meta.fields_map
    values = tally.as_fields()
    return tuple(fields_map[name].to_db_value(values[name], None) for name in _ROLLUP_COLUMNS[3:])


def _range(first: dt.datetime, end: dt.datetime, width_s: int) -> list[dt.datetime]:
    step = dt.timedelta(seconds=width_s)
    return [first + i * step for i in range(max(0, math.ceil((end - first) / step)))]


async def _write_rollups(rows: list[tuple[object, ...]]) -> int:
    """Inserts rollup rows in `_ROLLUP_COLUMNS` order: COPY on PostgreSQL, executemany on SQLite."""
    if not rows:
        return 0
    db = CheckRollup._meta.db
    if db.schema_generator.DIALECT == "postgres":
        async with db.acquire_connection() as connection:
            await connection.copy_records_to_table("check_rollup", records=rows, columns=list(_ROLLUP_COLUMNS))
    else:
        marks = ", ".join("?" * len(_ROLLUP_COLUMNS))
        await db.execute_many(f"INSERT INTO check_rollup ({', '.join(_ROLLUP_COLUMNS)}) VALUES ({marks})", rows)
    return len(rows)


async def _generate(args: argparse.Namespace, settings: Settings, now: dt.datetime) -> dict[str, float]:
    rng = random.Random(42)
    started = time.perf_counter()
    await Service.bulk_create(
        [
            Service(
                name=f"svc{i}",
                type=ServiceType.MICHIGAN,
                api_type=ApiType.CLOUDGENE,
                base_url=f"https://svc{i}.example",
                check_interval_seconds=60,
                timeout_seconds=10,
                status=HealthStatus.HEALTHY,
            )
            for i in range(args.services)
        ],
        batch_size=1000,
    )
    ids = [s for s in await Service.all().values_list("id", flat=True)]
    raw_start = bucket_start(now - dt.timedelta(hours=args.raw_hours), HOUR)
    span_start = bucket_start(now - dt.timedelta(days=args.days), DAY)
    minute_start = max(span_start, bucket_start(now - dt.timedelta(hours=settings.rollup_minute_retention_hours), HOUR))
    # Rows are drawn from pools of synthetic rollups, already in database form, so that generating
    # millions of rows costs little more than writing them (COPY on PostgreSQL).
    pools = {width: [_db_values(_tally(rng, width // 60, 12)) for _ in range(1000)] for width in (MINUTE, HOUR, DAY)}
    to_db = CheckRollup._meta.fields_map["bucket_start"].to_db_value
    partial_day = bucket_start(raw_start, DAY)  # the day the raw period starts in, if not at midnight
    starts = {
        DAY: [to_db(at, None) for at in _range(span_start, partial_day, DAY)],
        HOUR: [to_db(at, None) for at in _range(span_start, raw_start, HOUR)],
        MINUTE: [to_db(at, None) for at in _range(minute_start, raw_start, MINUTE)],
    }
    partial_minutes = int((raw_start - partial_day).total_seconds() // 60)
    rows: list[tuple[object, ...]] = []
    written = 0
    for sid in ids:
        for width, at_list in starts.items():
            pool = pools[width]
            rows.extend((sid, width, at, *rng.choice(pool)) for at in at_list)
        if partial_minutes:
            rows.append((sid, DAY, to_db(partial_day, None), *_db_values(_tally(rng, partial_minutes))))
        if len(rows) >= 50_000:
            written += await _write_rollups(rows)
            rows = []
    written += await _write_rollups(rows)
    generated_s = time.perf_counter() - started

    started = time.perf_counter()
    raw = 0
    at = raw_start
    while at < now:
        batch = [
            Observation(
                target=ProbeTarget(base_url="https://x.example", api_type=ApiType.CLOUDGENE, service_id=sid),
                result=ProbeResult(status=HealthStatus.HEALTHY, checked_at=at, response_time_ms=_latency(rng)),
                status=HealthStatus.HEALTHY,
                previous_status=HealthStatus.HEALTHY,
                status_changed=False,
                breaker=BreakerSnapshot(),
                hysteresis=HysteresisSnapshot(published=HealthStatus.HEALTHY),
                next_check_at=None,
            )
            for sid in ids
        ]
        for i in range(0, len(batch), 200):
            async with in_transaction():
                await _store_all(batch[i : i + 200])
        raw += len(batch)
        at += dt.timedelta(minutes=1)
    recorded_s = time.perf_counter() - started

    stale_at = now - dt.timedelta(days=settings.raw_retention_days + 1)
    stale = [
        HealthCheck(
            service_id=ids[i % len(ids)],
            checked_at=stale_at - dt.timedelta(seconds=i),
            status=HealthStatus.HEALTHY,
            raw_status=HealthStatus.HEALTHY,
            response_time_ms=300.0,
        )
        for i in range(args.stale_checks)
    ]
    await HealthCheck.bulk_create(stale, batch_size=2000)
    return {
        "rollup rows generated": written,
        "generation s": round(generated_s, 1),
        "raw checks recorded": raw,
        "recording s": round(recorded_s, 1),
        "recorded checks/s": round(raw / recorded_s) if recorded_s else 0,
    }


async def _time(label: str, repeat: int, call) -> tuple[str, float | None, float | None]:  # type: ignore[no-untyped-def]
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        await call()
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return label, _percentile(timings, 50), _percentile(timings, 99)


async def _database_size(url: str, sqlite_path: pathlib.Path | None) -> float:
    if sqlite_path is not None:
        return await asyncio.to_thread(os.path.getsize, sqlite_path) / 1e6
    connection = Tortoise.get_connection("pg")
    _, rows = await connection.execute_query("SELECT pg_database_size(current_database())")
    return rows[0][0] / 1e6


@contextlib.asynccontextmanager
async def _database(backend: str, tmp: pathlib.Path) -> AsyncIterator[tuple[str, pathlib.Path | None]]:
    if backend == "sqlite":
        path = tmp / "insight.db"
        yield f"sqlite://{path}", path
        return
    from tests.conftest import fresh_postgres_database

    async with fresh_postgres_database(PG_SERVER) as url:
        yield url, None


async def run(args: argparse.Namespace, backend: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with _database(backend, pathlib.Path(tmp)) as (url, sqlite_path):
            settings = Settings(_env_file=None, database_url=url)
            now = dt.datetime.now(dt.UTC)
            async with open_database(tortoise_config(url)):
                made = await _generate(args, settings, now)
                ids = list(await Service.all().values_list("id", flat=True))
                rng = random.Random(7)
                services = {s.id: s for s in await Service.all()}
                results = [
                    await _time(
                        "trends 30 days, one service",
                        args.repeat,
                        lambda: trends.trends(services[rng.choice(ids)], "LAST_30_DAYS", settings),
                    ),
                    await _time(
                        "trends 24 hours, one service",
                        args.repeat,
                        lambda: trends.trends(services[rng.choice(ids)], "LAST_24_HOURS", settings),
                    ),
                    await _time("dashboard", max(3, args.repeat // 5), lambda: dashboard.dashboard(settings)),
                    await _time(
                        "compareServices of 10",
                        args.repeat,
                        lambda: compare.compare(rng.sample(ids, min(10, len(ids))), settings),
                    ),
                ]
                size_before = await _database_size(url, sqlite_path)
                pruned = await retention.prune(settings, now=now)
                size_after = await _database_size(url, sqlite_path)
    raw = f"raw checks since {args.raw_hours} h before the current hour"
    print(f"\n== {backend}: {args.services} services x {args.days} days, {raw}")
    for key, value in made.items():
        print(f"  {key:<28} {value}")
    for label, p50, p99 in results:
        print(f"  {label:<28} p50 {p50:8.1f} ms   p99 {p99:8.1f} ms")
    print(
        f"  retention pass               {pruned.duration_s:8.2f} s  ({pruned.checks_deleted} checks, "
        f"{pruned.rollups_deleted} rollups, {pruned.batches} batches)"
    )
    print(
        f"  database size                {size_before:8.1f} MB (before the retention pass; {size_after:.1f} MB after)"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--raw-hours", type=int, default=0)
    parser.add_argument("--stale-checks", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    args = parser.parse_args(argv)
    for backend in args.backends:
        asyncio.run(run(args, backend))


if __name__ == "__main__":
    main()
