"""How many checks a second the recorder writes, with rollups and incidents, on SQLite and PostgreSQL.

Run it as `python -m bench.recording [--services 200] [--minutes 20] [--batch 200]`.

A fresh database gets `--services` services; then each simulated minute every service gets one
check, written through `resolvers.recording._store_all` in transactions of `--batch` observations,
as the BatchRecorder writes them. Every 50th check fails, so status events and incidents are
written too. The first minute creates each service's hour and day rollups; later minutes update
them, which is the steady state. Prints checks/s for the whole run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import math
import pathlib
import random
import tempfile
import time
from collections.abc import Sequence

from tortoise.transactions import in_transaction

from bench.insight import PG_SERVER, _database
from models import Service
from models.db import open_database, tortoise_config
from probes.breaker import BreakerSnapshot
from probes.hysteresis import HysteresisSnapshot
from probes.observation import Observation
from probes.result import ApiType, FailureKind, HealthStatus, ProbeResult, ProbeTarget, ServiceType
from resolvers.recording import _store_all


def _observation(rng: random.Random, sid: int, at: dt.datetime, previous: HealthStatus) -> Observation:
    failed = rng.random() < 0.02
    status = HealthStatus.UNHEALTHY if failed else HealthStatus.HEALTHY
    return Observation(
        target=ProbeTarget(base_url="https://x.example", api_type=ApiType.CLOUDGENE, service_id=sid),
        result=ProbeResult(
            status=status,
            checked_at=at,
            response_time_ms=None if failed else rng.lognormvariate(math.log(300), 0.4),
            failure_kind=FailureKind.TIMEOUT if failed else None,
            message="timed out" if failed else "",
        ),
        status=status,
        previous_status=previous,
        status_changed=status is not previous,
        breaker=BreakerSnapshot(),
        hysteresis=HysteresisSnapshot(published=status),
        next_check_at=None,
    )


async def run(args: argparse.Namespace, backend: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        async with _database(backend, pathlib.Path(tmp)) as (url, _), open_database(tortoise_config(url)):
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
                ]
            )
            ids = list(await Service.all().values_list("id", flat=True))
            rng = random.Random(1)
            status = dict.fromkeys(ids, HealthStatus.HEALTHY)
            start = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) - dt.timedelta(minutes=args.minutes)
            written = 0
            started = time.perf_counter()
            for minute in range(args.minutes):
                at = start + dt.timedelta(minutes=minute, seconds=rng.random())
                batch = []
                for sid in ids:
                    observation = _observation(rng, sid, at, status[sid])
                    status[sid] = observation.status
                    batch.append(observation)
                for i in range(0, len(batch), args.batch):
                    async with in_transaction():
                        await _store_all(batch[i : i + args.batch])
                written += len(batch)
            elapsed = time.perf_counter() - started
    rate = written / elapsed
    print(f"{backend:<10} {written} checks in {elapsed:6.1f} s: {rate:7.0f} checks/s")
    return rate


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--minutes", type=int, default=20)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    args = parser.parse_args(argv)
    print(f"PostgreSQL server: {PG_SERVER}")
    for backend in args.backends:
        asyncio.run(run(args, backend))


if __name__ == "__main__":
    main()
