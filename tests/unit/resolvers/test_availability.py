"""Uptime, SLA, incidents and trends on hand-built histories, read from rollups."""

from __future__ import annotations

import datetime as dt

import pytest

from config import Settings
from models import HealthCheck, Incident, Service
from probes.hysteresis import HysteresisSnapshot, StatusTracker
from probes.result import FailureKind, HealthStatus
from resolvers import availability, trends
from resolvers.deps import Deps
from resolvers.incidents import list_incidents
from resolvers.recording import record
from resolvers.retention import prune
from tests.unit.resolvers.conftest import add_service
from tests.unit.resolvers.timeline import T0, Timeline, observation

NOW = T0 + dt.timedelta(hours=12)  # on the hour
H, D, U, M, K = (
    HealthStatus.HEALTHY,
    HealthStatus.DEGRADED,
    HealthStatus.UNHEALTHY,
    HealthStatus.MAINTENANCE,
    HealthStatus.UNKNOWN,
)


def minutes_ago(n: int) -> dt.datetime:
    return NOW - dt.timedelta(minutes=n)


async def mixed_history(deps: Deps) -> int:
    """-120..-91 HEALTHY, -90..-81 DEGRADED, -80..-75 UNHEALTHY, -74..-55 MAINTENANCE,
    -54..-50 UNKNOWN, -49..-40 HEALTHY: one check a minute."""
    sid = await add_service(deps, "https://mixed.example")
    timeline = Timeline(deps.broker, sid)
    await timeline.every(minutes_ago(120), 30, H, latency_ms=100.0)
    await timeline.every(minutes_ago(90), 10, D, latency_ms=900.0)
    await timeline.every(minutes_ago(80), 6, U, latency_ms=None, kind=FailureKind.TIMEOUT, message="no answer")
    await timeline.every(minutes_ago(74), 20, M, latency_ms=50.0)
    await timeline.every(minutes_ago(54), 5, K, latency_ms=None)
    await timeline.every(minutes_ago(49), 10, H, latency_ms=100.0)
    return sid


def settings_for(deps: Deps, **policy: str) -> Settings:
    return Settings(database_url=deps.settings.database_url, **policy)


async def test_uptime_follows_the_default_policy_exactly(deps: Deps) -> None:
    sid = await mixed_history(deps)
    s = deps.settings
    assert await availability.uptime(sid, "LAST_24_HOURS", s, now=NOW) == pytest.approx(50 / 56)
    assert await availability.uptime(sid, "LAST_HOUR", s, now=NOW) == 1.0  # maintenance and unknown left out
    assert await availability.uptime(sid, "LAST_30_DAYS", s, now=NOW) == pytest.approx(50 / 56)


POLICIES = [
    ({"uptime_degraded": "DOWN"}, 40 / 56),
    ({"uptime_degraded": "EXCLUDE"}, 40 / 46),
    ({"uptime_maintenance": "UP"}, 70 / 76),
    ({"uptime_maintenance": "DOWN"}, 50 / 76),
    ({"uptime_unknown": "DOWN"}, 50 / 61),
]


async def test_uptime_policy_settings_change_the_figure_as_documented(deps: Deps) -> None:
    sid = await mixed_history(deps)
    for policy, expected in POLICIES:
        uptime = await availability.uptime(sid, "LAST_24_HOURS", settings_for(deps, **policy), now=NOW)
        assert uptime == pytest.approx(expected), policy


async def test_uptime_is_null_without_counted_checks_and_reads_no_raw_rows(deps: Deps) -> None:
    sid = await mixed_history(deps)
    await HealthCheck.all().delete()  # only rollups remain: the figures must not change
    assert await availability.uptime(sid, "LAST_24_HOURS", deps.settings, now=NOW) == pytest.approx(50 / 56)
    other = await add_service(deps, "https://quiet.example", name="Quiet")
    await Timeline(deps.broker, other).every(minutes_ago(30), 5, M)
    assert await availability.uptime(other, "LAST_24_HOURS", deps.settings, now=NOW) is None


async def test_window_edges_are_exact_to_the_minute_where_minutes_are_kept(deps: Deps) -> None:
    sid = await add_service(deps, "https://edges.example")
    timeline = Timeline(deps.broker, sid)
    now = NOW + dt.timedelta(minutes=30)
    await timeline.check(now - dt.timedelta(hours=24, minutes=1), U)  # just before the 24 h window
    await timeline.check(now - dt.timedelta(hours=23, minutes=59), H)
    await timeline.check(now - dt.timedelta(minutes=1), H)
    assert await availability.uptime(sid, "LAST_24_HOURS", deps.settings, now=now) == 1.0
    assert await availability.uptime(sid, "LAST_HOUR", deps.settings, now=now) == 1.0


async def test_sla_reports_achieved_availability_downtime_and_error_budget(deps: Deps) -> None:
    sid = await mixed_history(deps)
    sla = await availability.sla(sid, None, "LAST_24_HOURS", deps.settings, now=NOW)
    assert sla.target == 0.999
    assert sla.achieved == pytest.approx(50 / 56) and sla.is_met is False
    assert sla.downtime_seconds == 6 * 60  # UNHEALTHY from -80 until MAINTENANCE at -74
    assert sla.allowed_downtime_seconds == pytest.approx(86.4)
    assert sla.remaining_downtime_seconds == pytest.approx(86.4 - 360)
    assert sla.error_budget_remaining == pytest.approx(1 - (6 / 56) / 0.001)
    await Service.filter(id=sid).update(sla_target=0.5)
    own = await availability.sla(sid, 0.5, "LAST_24_HOURS", deps.settings, now=NOW)
    assert own.is_met is True and own.error_budget_remaining == pytest.approx(1 - (6 / 56) / 0.5)


async def test_incidents_open_and_close_with_the_published_status(deps: Deps) -> None:
    sid = await mixed_history(deps)
    rows = await Incident.filter(service_id=sid).order_by("started_at")
    assert [(r.kind, r.started_at, r.ended_at, r.ended_by_status) for r in rows] == [
        (U, minutes_ago(80), minutes_ago(74), M),
        (M, minutes_ago(74), minutes_ago(54), K),
    ]
    assert rows[0].first_failure_kind == "TIMEOUT" and rows[0].first_message == "no answer"
    ender = await HealthCheck.get(id=rows[0].ended_by_check_id)
    assert ender.status is M and ender.checked_at == minutes_ago(74)
    page = await list_incidents(sid, open_only=False, first=10, after=None)
    assert [r.kind for r in page.rows] == [M, U]  # newest first
    assert (await list_incidents(None, open_only=True, first=10, after=None)).rows == []


async def test_incidents_survive_a_restart_and_ignore_flaps_that_hysteresis_absorbs(deps: Deps) -> None:
    sid = await add_service(deps, "https://flaky.example")
    tracker = StatusTracker()
    at = T0

    async def observe(raw: HealthStatus, tracker: StatusTracker) -> None:
        nonlocal at
        moved = tracker.observe(raw)
        obs = observation(
            sid, at, moved.status, moved.previous, raw=raw, kind=FailureKind.CONNECT if raw is U else None
        )
        obs = type(obs)(**{**{f: getattr(obs, f) for f in obs.__dataclass_fields__}, "hysteresis": tracker.snapshot()})
        await record(deps.broker, obs)
        at += dt.timedelta(minutes=1)

    for raw in (H, U, H, U, H):  # single failures: hysteresis publishes none of them
        await observe(raw, tracker)
    assert await Incident.filter(service_id=sid).count() == 0
    for raw in (U, U, U):
        await observe(raw, tracker)
    opened = await Incident.get(service_id=sid)
    assert opened.ended_at is None and opened.started_at == T0 + dt.timedelta(minutes=6)
    # restart: a new tracker resumes from the stored snapshot
    stored = await Service.get(id=sid)
    resumed = StatusTracker(snapshot=HysteresisSnapshot.from_dict(stored.hysteresis_snapshot))
    assert resumed.published is U
    for raw in (U, K, H):
        await observe(raw, resumed)
    rows = await Incident.filter(service_id=sid)
    assert len(rows) == 1 and rows[0].ended_at == T0 + dt.timedelta(minutes=10) and rows[0].ended_by_status is H
    # a restart that forgot the status (UNKNOWN -> UNHEALTHY) reuses an open incident instead of a second one
    for raw in (U, U):
        await observe(raw, resumed)
    fresh = StatusTracker()
    await observe(U, fresh)
    assert await Incident.filter(service_id=sid, ended_at__isnull=True).count() == 1


async def test_trends_give_sixty_buckets_with_uptime_latency_and_counts(deps: Deps) -> None:
    sid = await mixed_history(deps)
    service = await Service.get(id=sid)
    hour = await trends.trends(service, "LAST_HOUR", deps.settings, now=NOW)
    assert len(hour.points) == 60 and hour.bucket_seconds == 60
    assert hour.points[-1].start == NOW  # the bucket holding now
    by_start = {p.start: p.figures for p in hour.points}
    assert by_start[minutes_ago(45)].uptime == 1.0 and by_start[minutes_ago(45)].tally.percentile_ms(0.5) == 100.0
    assert by_start[minutes_ago(52)].uptime is None  # UNKNOWN only
    day = await trends.trends(service, "LAST_24_HOURS", deps.settings, now=NOW)
    assert len(day.points) == 60 and day.bucket_seconds == 1440
    assert sum(p.figures.checks for p in day.points) == 81
    assert sum(p.figures.failures for p in day.points) == 6
    assert day.summary.uptime == pytest.approx(50 / 56)
    assert day.summary.tally.percentile_ms(0.95) == pytest.approx(900.0, rel=0.05)
    assert [i.kind for i in day.incidents] == [U, M]
    month = await trends.trends(service, "LAST_30_DAYS", deps.settings, now=NOW)
    assert len(month.points) == 60 and month.bucket_seconds == 43200
    assert sum(p.figures.checks for p in month.points) == 81
    week = await trends.trends(service, "LAST_7_DAYS", deps.settings, now=NOW)
    assert len(week.points) == 56 and sum(p.figures.checks for p in week.points) == 81


async def test_long_windows_still_read_right_after_raw_checks_are_pruned(deps: Deps) -> None:
    sid = await mixed_history(deps)
    await prune(settings_for(deps, raw_retention_days="0.01"), now=NOW + dt.timedelta(days=1))
    assert await HealthCheck.filter(service_id=sid).count() < 81
    week = await trends.trends(await Service.get(id=sid), "LAST_7_DAYS", deps.settings, now=NOW + dt.timedelta(days=1))
    assert week.summary.checks == 81 and week.summary.uptime == pytest.approx(50 / 56)
