"""Rollups: checks summed per service and time bucket, kept up to date as checks are written.

Three resolutions: per minute, per hour, per day (UTC, aligned to the width). Each rollup holds
counts per published status, latency count/sum/min/max, a latency histogram and counts per
failure kind. Every part merges by addition, so a window is the sum of the buckets that cover it.

Latency percentiles come from the histogram: bin 0 holds latencies up to 1 ms, bin i (i >= 1)
holds (1.1^(i-1), 1.1^i] ms. A percentile is the geometric middle of the bin holding its rank
(nearest rank), clamped to the observed min and max, so its relative error is at most
sqrt(1.1) - 1, under 4.9%, for latencies above 1 ms. Raw latencies are never stored in rollups.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
import operator
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tortoise.expressions import Q

from models import CheckRollup, HealthCheck
from probes.result import HealthStatus

MINUTE, HOUR, DAY = 60, 3600, 86400
RESOLUTIONS = (MINUTE, HOUR, DAY)
BIN_GROWTH = 1.1
MAX_BIN = 250
_LOG_GROWTH = math.log(BIN_GROWTH)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

_STATUS_FIELDS = {
    HealthStatus.HEALTHY: "healthy",
    HealthStatus.DEGRADED: "degraded",
    HealthStatus.UNHEALTHY: "unhealthy",
    HealthStatus.MAINTENANCE: "maintenance",
    HealthStatus.UNKNOWN: "unknown",
}
COUNT_FIELDS = tuple(_STATUS_FIELDS.values())
ROW_FIELDS = (
    *COUNT_FIELDS,
    "latency_count",
    "latency_sum_ms",
    "latency_min_ms",
    "latency_max_ms",
    "latency_hist",
    "failure_kinds",
)


def latency_bin(ms: float) -> int:
    if ms <= 1.0:
        return 0
    return min(MAX_BIN, 1 + math.floor(math.log(ms) / _LOG_GROWTH))


def bin_middle_ms(index: int) -> float:
    return 1.0 if index == 0 else BIN_GROWTH ** (index - 0.5)


def bucket_start(at: dt.datetime, resolution_s: int) -> dt.datetime:
    seconds = int((at - EPOCH).total_seconds() // resolution_s) * resolution_s
    return EPOCH + dt.timedelta(seconds=seconds)


@dataclasses.dataclass(slots=True)
class Tally:
    """A mergeable summary of checks: one rollup row, or the sum of many."""

    counts: Counter[HealthStatus] = dataclasses.field(default_factory=Counter)
    latency_count: int = 0
    latency_sum_ms: float = 0.0
    latency_min_ms: float | None = None
    latency_max_ms: float | None = None
    latency_hist: Counter[int] = dataclasses.field(default_factory=Counter)
    failure_kinds: Counter[str] = dataclasses.field(default_factory=Counter)
    failures_only: int = 0  # a failure count summed in SQL, when failure_kinds were not read

    @property
    def checks(self) -> int:
        return sum(self.counts.values())

    @property
    def failures(self) -> int:
        """Checks that observed a failure (carried a failure kind)."""
        return sum(self.failure_kinds.values()) or self.failures_only

    def add(self, status: HealthStatus, latency_ms: float | None, failure_kind: str | None) -> None:
        self.counts[status] += 1
        if latency_ms is not None:
            self.latency_count += 1
            self.latency_sum_ms += latency_ms
            self.latency_min_ms = latency_ms if self.latency_min_ms is None else min(self.latency_min_ms, latency_ms)
            self.latency_max_ms = latency_ms if self.latency_max_ms is None else max(self.latency_max_ms, latency_ms)
            self.latency_hist[latency_bin(latency_ms)] += 1
        if failure_kind:
            self.failure_kinds[failure_kind] += 1

    def merge(self, other: Tally) -> None:
        self.counts.update(other.counts)
        self.latency_count += other.latency_count
        self.latency_sum_ms += other.latency_sum_ms
        for name in ("latency_min_ms", "latency_max_ms"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if theirs is not None:
                pick = min if name == "latency_min_ms" else max
                setattr(self, name, theirs if mine is None else pick(mine, theirs))
        self.latency_hist.update(other.latency_hist)
        self.failure_kinds.update(other.failure_kinds)
        self.failures_only += other.failures_only

    @classmethod
    def from_values(cls, row: Mapping[str, Any]) -> Tally:
        """From a rollup row, or a dict with the same field names (`.values()` queries)."""
        tally = cls(
            latency_count=row["latency_count"] or 0,
            latency_sum_ms=row["latency_sum_ms"] or 0.0,
            latency_min_ms=row["latency_min_ms"],
            latency_max_ms=row["latency_max_ms"],
            latency_hist=Counter({int(k): int(v) for k, v in (row["latency_hist"] or {}).items()}),
            failure_kinds=Counter({str(k): int(v) for k, v in (row["failure_kinds"] or {}).items()}),
        )
        for status, name in _STATUS_FIELDS.items():
            if row[name]:
                tally.counts[status] = int(row[name])
        return tally

    def absorb(self, row: Mapping[str, Any]) -> None:
        """Adds a rollup row given as values (as `merge(Tally.from_values(row))`, without the copies).

        Reads of many rows (trends, windows) spend most of their time here, so it works in place.
        """
        counts = self.counts
        for status, name in _STATUS_FIELDS.items():
            if row[name]:
                counts[status] += int(row[name])
        if row["latency_count"]:
            self.latency_count += row["latency_count"]
            self.latency_sum_ms += row["latency_sum_ms"] or 0.0
        low, high = row["latency_min_ms"], row["latency_max_ms"]
        if low is not None and (self.latency_min_ms is None or low < self.latency_min_ms):
            self.latency_min_ms = low
        if high is not None and (self.latency_max_ms is None or high > self.latency_max_ms):
            self.latency_max_ms = high
        hist = self.latency_hist
        for key, value in (row["latency_hist"] or {}).items():
            hist[int(key)] += int(value)
        kinds = self.failure_kinds
        for key, value in (row["failure_kinds"] or {}).items():
            kinds[str(key)] += int(value)

    @classmethod
    def from_row(cls, row: CheckRollup) -> Tally:
        return cls.from_values({name: getattr(row, name) for name in ROW_FIELDS})

    def as_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {name: self.counts.get(status, 0) for status, name in _STATUS_FIELDS.items()}
        fields.update(
            latency_count=self.latency_count,
            latency_sum_ms=self.latency_sum_ms,
            latency_min_ms=self.latency_min_ms,
            latency_max_ms=self.latency_max_ms,
            latency_hist={str(k): v for k, v in sorted(self.latency_hist.items()) if v},
            failure_kinds={k: v for k, v in sorted(self.failure_kinds.items()) if v},
            failures=sum(self.failure_kinds.values()),
        )
        return fields

    def percentile_ms(self, q: float) -> float | None:
        """Nearest-rank percentile from the histogram (relative error under 4.9% above 1 ms)."""
        if self.latency_count == 0:
            return None
        rank = max(1, math.ceil(q * self.latency_count))
        seen = 0
        for index in sorted(self.latency_hist):
            seen += self.latency_hist[index]
            if seen >= rank:
                value = bin_middle_ms(index)
                low = self.latency_min_ms if self.latency_min_ms is not None else value
                high = self.latency_max_ms if self.latency_max_ms is not None else value
                return min(max(value, low), high)
        return self.latency_max_ms

    @property
    def latency_avg_ms(self) -> float | None:
        return None if self.latency_count == 0 else self.latency_sum_ms / self.latency_count


RollupKey = tuple[int, int, dt.datetime]


def tally_checks(checks: Iterable[HealthCheck]) -> dict[RollupKey, Tally]:
    """What a set of checks adds to each (service, resolution, bucket); also the brute-force reference."""
    tallies: dict[RollupKey, Tally] = {}
    for check in checks:
        for resolution in RESOLUTIONS:
            key = (check.service_id, resolution, bucket_start(check.checked_at, resolution))  # type: ignore[attr-defined]
            tallies.setdefault(key, Tally()).add(check.status, check.response_time_ms, check.failure_kind)
    return tallies


async def add_checks(checks: Sequence[HealthCheck]) -> None:
    """Folds new checks into their rollups; call inside the transaction that wrote the checks.

    The caller holds the row lock of each check's service (`_store` takes it), so no other
    writer creates or updates these services' rollups until the transaction ends. A batch costs
    two statements however many checks it holds: one read of the rows it touches, and one upsert
    of their merged values (checks are tallied per row in memory first).
    """
    if not checks:
        return
    tallies = tally_checks(checks)
    service_ids = sorted({key[0] for key in tallies})
    wanted = [
        Q(resolution_s=resolution, bucket_start__in=sorted({key[2] for key in tallies if key[1] == resolution}))
        for resolution in RESOLUTIONS
    ]
    rows = await CheckRollup.filter(functools.reduce(operator.or_, wanted), service_id__in=service_ids).values(
        *_KEY_COLUMNS, *ROW_FIELDS
    )
    existing = {(row["service_id"], row["resolution_s"], row["bucket_start"]): row for row in rows}
    merged_rows = []
    for key, added in tallies.items():
        row = existing.get(key)
        merged = added if row is None else Tally.from_values(row)
        if row is not None:
            merged.merge(added)
        merged_rows.append({"service_id": key[0], "resolution_s": key[1], "bucket_start": key[2], **merged.as_fields()})
    await _upsert(merged_rows)


_UPSERT_COLUMNS = ("service_id", "resolution_s", "bucket_start", *ROW_FIELDS, "failures")
_KEY_COLUMNS = _UPSERT_COLUMNS[:3]
_UPSERT_CHUNK = 1000  # rows per SQLite statement: 16 parameters a row stays below its limit of 32,766


async def _upsert(rows: list[dict[str, Any]]) -> None:
    """Writes whole rollup rows with INSERT ... ON CONFLICT (the unique key) DO UPDATE.

    Raw SQL because Tortoise's bulk_update rebuilds its query once per column and row (seconds
    for a batch) and has no upsert. Values go through each field's `to_db_value`, so they are
    stored as the ORM stores them. PostgreSQL gets one array per column (`unnest`): a constant
    statement that asyncpg prepares once, whatever the batch size.
    """
    if not rows:
        return
    db = CheckRollup._meta.db
    fields = [(name, CheckRollup._meta.fields_map[name]) for name in _UPSERT_COLUMNS]
    columns = ", ".join(_UPSERT_COLUMNS)
    conflict = f"ON CONFLICT ({', '.join(_KEY_COLUMNS)}) DO UPDATE SET " + ", ".join(
        f"{name} = excluded.{name}" for name in _UPSERT_COLUMNS if name not in _KEY_COLUMNS
    )
    if db.schema_generator.DIALECT == "postgres":
        arrays = ", ".join(
            f"${i}::{field.get_for_dialect('postgres', 'SQL_TYPE')}[]" for i, (_, field) in enumerate(fields, start=1)
        )
        params = [[field.to_db_value(row[name], None) for row in rows] for name, field in fields]
        sql = f"INSERT INTO check_rollup ({columns}) SELECT * FROM unnest({arrays}) {conflict}"
        await db.execute_query(sql, params)
        return
    row_marks = "(" + ", ".join("?" * len(fields)) + ")"
    for start in range(0, len(rows), _UPSERT_CHUNK):
        chunk = rows[start : start + _UPSERT_CHUNK]
        values = [field.to_db_value(row[name], None) for row in chunk for name, field in fields]
        marks = ", ".join([row_marks] * len(chunk))
        await db.execute_query(f"INSERT INTO check_rollup ({columns}) VALUES {marks} {conflict}", values)
