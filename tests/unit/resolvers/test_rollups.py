"""Rollups match a brute-force recomputation from raw checks; retention prunes in batches."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from hypothesis import HealthCheck as Health
from hypothesis import given, settings
from hypothesis import strategies as st
from tortoise.transactions import in_transaction

from config import Settings
from models import CheckRollup, HealthCheck, Incident, Service, StatusEvent
from probes.result import FailureKind, HealthStatus
from resolvers.deps import Deps
from resolvers.recording import _store_all
from resolvers.retention import prune
from resolvers.rollups import DAY, HOUR, MINUTE, Tally, bin_middle_ms, latency_bin, tally_checks
from tests.unit.resolvers.conftest import add_service
from tests.unit.resolvers.timeline import T0, Timeline, observation

check_strategy = st.tuples(
    st.integers(0, 1),  # which service
    st.integers(0, 3 * 24 * 60 * 60),  # seconds after T0: crosses minute, hour and day buckets
    st.sampled_from(list(HealthStatus)),
    st.one_of(st.none(), st.floats(0.0, 60_000.0, allow_nan=False)),
    st.one_of(st.none(), st.sampled_from([FailureKind.TIMEOUT, FailureKind.DNS, FailureKind.HTTP_5XX])),
)
checks_strategy = st.lists(check_strategy, max_size=40)


def _comparable(tally: Tally) -> dict[str, object]:
    fields = tally.as_fields()
    fields.pop("latency_sum_ms")
    return fields


@settings(max_examples=12, deadline=None, suppress_health_check=[Health.function_scoped_fixture])
@given(checks=checks_strategy, batch=st.integers(1, 10))
async def test_rollups_equal_a_brute_force_recomputation_in_every_bucket(deps: Deps, checks: list, batch: int) -> None:
    async with in_transaction():
        await CheckRollup.all().delete()
        await StatusEvent.all().delete()
        await Incident.all().delete()
        await HealthCheck.all().delete()
    services = [await _service(deps, n) for n in range(2)]
    previous = {sid: HealthStatus.UNKNOWN for sid in services}
    observations = []
    for which, seconds, status, latency, kind in checks:
        sid = services[which]
        at = T0 + dt.timedelta(seconds=seconds)
        observations.append(observation(sid, at, status, previous[sid], latency_ms=latency, kind=kind))
        previous[sid] = status
    for start in range(0, len(observations), batch):
        async with in_transaction():
            await _store_all(observations[start : start + batch])

    expected = tally_checks(await HealthCheck.all())
    stored = {
        (row.service_id, row.resolution_s, row.bucket_start): Tally.from_row(row) for row in await CheckRollup.all()
    }
    assert stored.keys() == expected.keys()
    for key, tally in expected.items():
        assert _comparable(stored[key]) == _comparable(tally), key
        assert stored[key].latency_sum_ms == pytest.approx(tally.latency_sum_ms)
    assert {key[1] for key in stored} <= {MINUTE, HOUR, DAY}


async def _service(deps: Deps, n: int) -> int:
    """The same two services for every example (the database lives as long as the test)."""
    row = await Service.get_or_none(name=f"R{n}")
    return row.id if row is not None else await add_service(deps, f"https://r{n}.example", name=f"R{n}")


@given(st.floats(1.0001, 1e7, allow_nan=False))
def test_a_histogram_percentile_is_within_five_percent_of_the_latency(latency: float) -> None:
    middle = bin_middle_ms(latency_bin(latency))
    assert abs(middle - latency) / latency <= math.sqrt(1.1) - 1 + 1e-9


def test_percentiles_are_clamped_to_the_observed_range_and_use_nearest_rank() -> None:
    tally = Tally()
    for latency in [10.0] * 50 + [1000.0] * 50:
        tally.add(HealthStatus.HEALTHY, latency, None)
    assert tally.percentile_ms(0.5) == pytest.approx(10.0, rel=0.05)
    assert tally.percentile_ms(0.95) == pytest.approx(1000.0, rel=0.05)
    assert tally.percentile_ms(1.0) <= 1000.0 and tally.percentile_ms(0.0) >= 10.0
    assert Tally().percentile_ms(0.5) is None


@given(st.lists(st.lists(check_strategy, max_size=5), max_size=6))
def test_absorbing_rollup_rows_equals_merging_them(rows: list) -> None:
    merged, absorbed = Tally(), Tally()
    for checks in rows:
        row = Tally()
        for _, _, status, latency, kind in checks:
            row.add(status, latency, None if kind is None else kind.value)
        values = row.as_fields()
        merged.merge(Tally.from_values(values))
        absorbed.absorb(values)
    assert _comparable(absorbed) == _comparable(merged)
    assert absorbed.latency_sum_ms == pytest.approx(merged.latency_sum_ms)


async def test_retention_prunes_old_checks_in_batches_but_keeps_rollups_and_changed_status_checks(deps: Deps) -> None:
    sid = await add_service(deps, "https://old.example")
    timeline = Timeline(deps.broker, sid)
    start = T0 - dt.timedelta(days=10)
    at = await timeline.every(start, 150, HealthStatus.HEALTHY)
    await timeline.every(at, 3, HealthStatus.UNHEALTHY)
    await timeline.every(T0, 5, HealthStatus.HEALTHY)
    settings_ = Settings(database_url=deps.settings.database_url, retention_batch_size=100)
    result = await prune(settings_, now=T0 + dt.timedelta(minutes=10))
    remaining = await HealthCheck.filter(service_id=sid).order_by("checked_at")
    # kept: the first check (UNKNOWN -> HEALTHY), the change to UNHEALTHY, and the 5 recent ones
    assert len(remaining) == 7
    assert result.checks_deleted == 151 and result.batches >= 2
    assert await StatusEvent.filter(service_id=sid).count() == 3
    day_rollups = await CheckRollup.filter(service_id=sid, resolution_s=DAY)
    assert sum(Tally.from_row(r).checks for r in day_rollups) == 158
    assert not await CheckRollup.filter(
        service_id=sid, resolution_s=MINUTE, bucket_start__lt=start + dt.timedelta(days=1)
    )
