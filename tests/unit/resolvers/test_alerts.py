"""The alert evaluator and its webhooks, on SQLite and PostgreSQL, against a local receiver.

Time is passed to `evaluate(now)` by hand, so a "five-minute" outage takes no wall time; only
the StatusChanged test runs the evaluator's own loop. The usage counters of the platform rules
read the same hand-set time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import pytest
from tortoise.exceptions import IntegrityError

from config import Settings
from events.messages import CheckRecorded, StatusChanged
from models import (
    Alert,
    AlertDelivery,
    AlertOverride,
    AlertState,
    CheckRollup,
    DeliveryStatus,
    MaintenanceWindow,
    Service,
)
from probes.result import ApiType, HealthStatus, ServiceType
from resolvers.alerts import AlertEvaluator, EvaluationPass
from resolvers.cache import CacheSettings, ReadCache, Region
from resolvers.rollups import MINUTE, bucket_start
from resolvers.usage import GRAPHQL_ERRORS, GRAPHQL_OPERATIONS, UsageCounters
from tests.fakes.webhook import WebhookReceiver as Receiver
from tests.unit.resolvers.conftest import Wires
from tests.unit.resolvers.test_usage import closed_port_url

T0 = dt.datetime.now(dt.UTC).replace(microsecond=0)


def alert_settings(db: str, webhook: str | None, **overrides: Any) -> Settings:
    """Fast alerting on `db`, announced to `webhook` (None: no webhook; pass other channels in `overrides`)."""
    values: dict[str, Any] = {
        "database_url": db,
        "probes_enabled": False,
        "alert_unhealthy_seconds": 1.0,
        "alert_webhooks": [] if webhook is None else [webhook],
        "alert_webhook_backoff_seconds": 0.01,
        "alert_webhook_attempts": 3,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


async def add_service(status: HealthStatus, since: dt.datetime, name: str = "Michigan") -> Service:
    return await Service.create(
        name=name,
        type=ServiceType.MICHIGAN,
        api_type=ApiType.CLOUDGENE,
        base_url="https://imputationserver.sph.umich.edu",
        check_interval_seconds=30,
        timeout_seconds=10.0,
        status=status,
        status_changed_at=since,
    )


async def set_status(service: Service, status: HealthStatus, at: dt.datetime) -> None:
    await Service.filter(id=service.id).update(status=status, status_changed_at=at)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


async def test_an_outage_longer_than_the_threshold_notifies_once_firing_and_once_resolved(
    db: str, receiver: tuple[Receiver, str], wires: Wires
) -> None:
    fake, url = receiver
    service = await add_service(HealthStatus.UNHEALTHY, at(0))
    http, broker = wires
    async with AlertEvaluator(alert_settings(db, url), http, broker, start_loop=False) as evaluator:
        assert (await evaluator.evaluate(at(0.5))).fired == 0
        assert (await evaluator.evaluate(at(2))).fired == 1
        assert (await evaluator.evaluate(at(3))).fired == 0
        await set_status(service, HealthStatus.HEALTHY, at(4))
        assert (await evaluator.evaluate(at(4))).resolved == 1
        assert (await evaluator.evaluate(at(5))).resolved == 0
        await evaluator.notifier.drain()
    assert fake.kinds() == ["FIRING", "RESOLVED"]
    body = fake.received[0]
    assert body["alert"]["rule"] == "service_unhealthy"
    assert body["alert"]["serviceId"] == str(service.id)
    assert body["alert"]["serviceName"] == "Michigan"
    assert "Michigan" in body["text"]
    alert = await Alert.get(service_id=service.id)
    assert (alert.state, alert.dedup_key, alert.resolved_at) == (AlertState.RESOLVED, None, at(4))


async def test_an_outage_shorter_than_the_threshold_sends_nothing(
    db: str, receiver: tuple[Receiver, str], wires: Wires
) -> None:
    fake, url = receiver
    service = await add_service(HealthStatus.UNHEALTHY, at(0))
    http, broker = wires
    async with AlertEvaluator(alert_settings(db, url), http, broker, start_loop=False) as evaluator:
        await evaluator.evaluate(at(0.9))
        await set_status(service, HealthStatus.HEALTHY, at(0.95))
        await evaluator.evaluate(at(2))
        await evaluator.notifier.drain()
    assert fake.received == []
    assert await Alert.all().count() == 0


async def test_a_service_inside_a_maintenance_window_is_silenced(
    db: str, receiver: tuple[Receiver, str], wires: Wires
) -> None:
    fake, url = receiver
    service = await add_service(HealthStatus.UNHEALTHY, at(0))
    await MaintenanceWindow.create(service_id=service.id, starts_at=at(-60), ends_at=at(600), reason="upgrade")
    http, broker = wires
    async with AlertEvaluator(alert_settings(db, url), http, broker, start_loop=False) as evaluator:
        assert (await evaluator.evaluate(at(30))).fired == 0
        await evaluator.notifier.drain()
    assert fake.received == []


async def test_two_replicas_on_one_database_fire_and_resolve_exactly_once(
    db: str, receiver: tuple[Receiver, str], wires: Wires
) -> None:
    fake, url = receiver
    service = await add_service(HealthStatus.UNHEALTHY, at(0))
    settings = alert_settings(db, url)
    http, broker = wires
    async with (
        AlertEvaluator(settings, http, broker, start_loop=False) as one,
        AlertEvaluator(settings, http, broker, start_loop=False) as two,
    ):
        passes = await asyncio.gather(one.evaluate(at(2)), two.evaluate(at(2)))
        assert sum(p.fired for p in passes) == 1
        await set_status(service, HealthStatus.HEALTHY, at(3))
        passes = await asyncio.gather(one.evaluate(at(3)), two.evaluate(at(3)))
        assert sum(p.resolved for p in passes) == 1
        await asyncio.gather(one.notifier.drain(), two.notifier.drain())
    assert fake.kinds() == ["FIRING", "RESOLVED"]
    assert await Alert.all().count() == 1


async def test_the_database_refuses_a_second_open_alert_for_one_rule_and_service(db: str) -> None:
    service = await add_service(HealthStatus.UNHEALTHY, at(0))
    fields = {"rule": "service_unhealthy", "service_id": service.id, "fired_at": at(0)}
    await Alert.create(dedup_key=f"service_unhealthy:{service.id}", **fields)
    with pytest.raises(IntegrityError):
        await Alert.create(dedup_key=f"service_unhealthy:{service.id}", **fields)
    await Alert.create(dedup_key=None, state=AlertState.RESOLVED, **fields)
    await Alert.create(dedup_key=None, state=AlertState.RESOLVED, **fields)  # resolved ones never collide


async def test_a_failing_receiver_is_retried_and_every_attempt_is_recorded(
    db: str, receiver: tuple[Receiver, str], wires: Wires
) -> None:
    fake, url = receiver
    fake.fail_first = 2
    await add_service(HealthStatus.UNHEALTHY, at(0))
    http, broker = wires
    async with AlertEvaluator(alert_settings(db, url), http, broker, start_loop=False) as evaluator:
        await evaluator.evaluate(at(2))
        await evaluator.notifier.drain()
    rows = await AlertDelivery.all().order_by("id")
    assert [(r.attempt, r.status, r.http_status) for r in rows] == [
        (1, DeliveryStatus.FAILED, 500),
        (2, DeliveryStatus.FAILED, 500),
        (3, DeliveryStatus.SENT, 204),
    ]
    assert rows[0].error == "HTTP 500"
    assert all(r.channel.startswith("127.0.0.1:") and "SECRET" not in r.channel + r.error for r in rows)
    assert fake.kinds() == ["FIRING"]


async def test_reminders_follow_at_the_interval_while_the_alert_keeps_firing(
    db: str, receiver: tuple[Receiver, str], wires: Wires
) -> None:
    fake, url = receiver
    await add_service(HealthStatus.UNHEALTHY, at(0))
    settings = alert_settings(db, url, alert_reminder_interval_seconds=10)
    http, broker = wires
    async with AlertEvaluator(settings, http, broker, start_loop=False) as evaluator:
        await evaluator.evaluate(at(2))
        assert (await evaluator.evaluate(at(11))).reminded == 0
        assert (await evaluator.evaluate(at(12))).reminded == 1
        assert (await evaluator.evaluate(at(13))).reminded == 0
        await evaluator.notifier.drain()
    assert fake.kinds() == ["FIRING", "REMINDER"]


async def test_a_status_change_to_unhealthy_fires_soon_after_the_threshold(
    db: str, receiver: tuple[Receiver, str], wires: Wires
) -> None:
    fake, url = receiver
    now = dt.datetime.now(dt.UTC)
    service = await add_service(HealthStatus.UNHEALTHY, now)
    settings = alert_settings(db, url, alert_unhealthy_seconds=0.3, alert_evaluation_interval_seconds=3600)
    check = CheckRecorded(
        seq=1,
        service_id=service.id,
        check_id=1,
        status=HealthStatus.UNHEALTHY,
        raw_status=HealthStatus.UNHEALTHY,
        checked_at=now,
    )
    change = StatusChanged(
        seq=1,
        service_id=service.id,
        previous_status=HealthStatus.HEALTHY,
        status=HealthStatus.UNHEALTHY,
        changed_at=now,
        check=check,
    )
    http, broker = wires
    async with AlertEvaluator(settings, http, broker) as evaluator:
        await broker.publish(change)
        await fake.next(seconds=5)
        await evaluator.notifier.drain()
    assert fake.kinds() == ["FIRING"]


async def test_rate_rules_read_the_minute_rollups_and_honour_a_service_override(
    db: str, receiver: tuple[Receiver, str], wires: Wires
) -> None:
    fake, url = receiver
    service = await add_service(HealthStatus.DEGRADED, at(0))
    minute = bucket_start(at(0), MINUTE)
    await CheckRollup.create(
        service_id=service.id,
        resolution_s=MINUTE,
        bucket_start=minute,
        healthy=3,
        degraded=3,
        unhealthy=4,
        maintenance=50,  # left out of the failure rate
        failures=4,
        latency_count=10,
        latency_sum_ms=10 * 6000.0,
    )
    await CheckRollup.create(  # outside the window
        service_id=service.id, resolution_s=MINUTE, bucket_start=minute - dt.timedelta(hours=1), healthy=1000
    )
    await AlertOverride.create(service_id=service.id, rule="slow_response", is_enabled=False)
    http, broker = wires
    async with AlertEvaluator(alert_settings(db, url), http, broker, start_loop=False) as evaluator:
        assert (await evaluator.evaluate(at(1))).fired == 1
        await evaluator.notifier.drain()
    (alert,) = await Alert.all()
    assert alert.rule == "failure_rate"
    assert alert.details["checks"] == 10 and alert.details["failures"] == 4
    assert fake.kinds() == ["FIRING"]


def counters(**options: Any) -> UsageCounters:
    """Usage counters whose minutes follow the hand-set time of these tests."""
    return UsageCounters(wall_clock=lambda: at(0).timestamp(), flush_seconds=3600, **options)


async def test_a_graphql_error_rate_over_the_threshold_fires_one_platform_alert_and_resolves_when_it_drops(
    db: str, receiver: tuple[Receiver, str], wires: Wires
) -> None:
    fake, url = receiver
    http, broker = wires
    async with (
        counters() as usage,
        AlertEvaluator(alert_settings(db, url), http, broker, start_loop=False, usage=usage) as evaluator,
    ):
        usage.count(GRAPHQL_OPERATIONS, 19)
        usage.count(GRAPHQL_ERRORS, 19)
        assert (await evaluator.evaluate(at(1))).fired == 0  # under the 20-operation minimum
        usage.count(GRAPHQL_OPERATIONS, 1)
        assert (await evaluator.evaluate(at(2))).fired == 1
        assert (await evaluator.evaluate(at(3))).fired == 0
        usage.count(GRAPHQL_OPERATIONS, 400)  # 19 of 420 = 4.5 %
        assert (await evaluator.evaluate(at(4))).resolved == 1
        await evaluator.notifier.drain()
    assert fake.kinds() == ["FIRING", "RESOLVED"]
    fired = fake.received[0]["alert"]
    assert (fired["rule"], fired["serviceId"], fired["serviceName"]) == ("graphql_error_rate", None, None)
    assert fired["details"]["operations"] == 20 and fired["details"]["errors"] == 19
    (alert,) = await Alert.all()
    assert (alert.rule, alert.service_id, alert.state) == ("graphql_error_rate", None, AlertState.RESOLVED)  # type: ignore[attr-defined]
    assert {(d.kind.value, d.status) for d in await AlertDelivery.all()} == {
        ("FIRING", DeliveryStatus.SENT),
        ("RESOLVED", DeliveryStatus.SENT),
    }


async def test_a_cache_miss_rate_read_from_a_real_cache_fires_and_resolves_once_reads_hit(
    db: str, receiver: tuple[Receiver, str], wires: Wires
) -> None:
    fake, url = receiver
    http, broker = wires

    async def load() -> str:
        return "value"

    async with (
        ReadCache(CacheSettings(l1_ttl_seconds=600)) as cache,
        counters() as usage,
        AlertEvaluator(alert_settings(db, url), http, broker, start_loop=False, usage=usage) as evaluator,
    ):
        usage.follow_cache(cache)
        for key in range(100):  # 100 reads, every one a miss
            await cache.get_or_load(Region.DASHBOARD, str(key), load)
        assert (await evaluator.evaluate(at(1))).fired == 1
        (alert,) = await Alert.filter(state=AlertState.FIRING)
        assert (alert.rule, alert.dedup_key) == ("cache_miss_rate", "cache_miss_rate:platform")
        for _ in range(3):  # 300 more reads, every one an L1 hit: 100 of 400 missed
            for key in range(100):
                await cache.get_or_load(Region.DASHBOARD, str(key), load)
        assert (await evaluator.evaluate(at(2))).resolved == 1
        await evaluator.notifier.drain()
    assert fake.kinds() == ["FIRING", "RESOLVED"]


async def test_two_replicas_on_one_redis_fire_a_platform_alert_neither_would_fire_alone(
    db: str, redis_url: str, receiver: tuple[Receiver, str], wires: Wires
) -> None:
    fake, url = receiver
    http, broker = wires
    settings = alert_settings(db, url)
    prefix = f"vigil-test-{uuid.uuid4().hex[:8]}:"
    async with (
        counters(redis_url=redis_url, key_prefix=prefix, keep_seconds=480) as usage_one,
        counters(redis_url=redis_url, key_prefix=prefix, keep_seconds=480) as usage_two,
        AlertEvaluator(settings, http, broker, start_loop=False, usage=usage_one) as one,
        AlertEvaluator(settings, http, broker, start_loop=False, usage=usage_two) as two,
    ):
        usage_one.count(GRAPHQL_OPERATIONS, 12)  # each replica alone is under the 20-operation minimum
        usage_one.count(GRAPHQL_ERRORS, 3)
        usage_two.count(GRAPHQL_OPERATIONS, 12)
        usage_two.count(GRAPHQL_ERRORS, 3)
        passes = await asyncio.gather(one.evaluate(at(1)), two.evaluate(at(1)))
        assert sum(p.fired for p in passes) == 1
        usage_two.count(GRAPHQL_OPERATIONS, 200)
        passes = await asyncio.gather(one.evaluate(at(2)), two.evaluate(at(2)))
        assert sum(p.resolved for p in passes) == 1
        await asyncio.gather(one.notifier.drain(), two.notifier.drain())
    assert fake.kinds() == ["FIRING", "RESOLVED"]
    (alert,) = await Alert.all()
    assert alert.details["operations"] == 24 and alert.details["errors"] == 6


async def test_platform_rules_pause_while_the_counters_cannot_reach_redis(
    db: str, receiver: tuple[Receiver, str], wires: Wires
) -> None:
    fake, url = receiver
    http, broker = wires
    firing = await Alert.create(
        rule="graphql_error_rate", service_id=None, dedup_key="graphql_error_rate:platform", fired_at=at(-7200)
    )
    settings = alert_settings(db, url, alert_reminder_interval_seconds=10)
    async with (
        counters(redis_url=closed_port_url(), retry_seconds=0) as usage,
        AlertEvaluator(settings, http, broker, start_loop=False, usage=usage) as evaluator,
    ):
        usage.count(GRAPHQL_OPERATIONS, 100)  # this replica alone sees no error at all
        assert await evaluator.evaluate(at(1)) == EvaluationPass()  # not resolved, not reminded
        assert not usage.healthy
        await evaluator.notifier.drain()
    assert fake.received == []
    await firing.refresh_from_db()
    assert (firing.state, firing.reminders_sent) == (AlertState.FIRING, 0)


async def test_a_service_in_maintenance_does_not_silence_a_platform_alert(
    db: str, receiver: tuple[Receiver, str], wires: Wires
) -> None:
    fake, url = receiver
    http, broker = wires
    service = await add_service(HealthStatus.MAINTENANCE, at(-60))
    await MaintenanceWindow.create(service_id=service.id, starts_at=at(-60), ends_at=at(600), reason="upgrade")
    settings = alert_settings(db, url, alert_reminder_interval_seconds=10)
    async with (
        counters() as usage,
        AlertEvaluator(settings, http, broker, start_loop=False, usage=usage) as evaluator,
    ):
        usage.count(GRAPHQL_OPERATIONS, 50)
        usage.count(GRAPHQL_ERRORS, 50)
        assert (await evaluator.evaluate(at(1))).fired == 1
        assert (await evaluator.evaluate(at(12))).reminded == 1
        await evaluator.notifier.drain()
    assert fake.kinds() == ["FIRING", "REMINDER"]


async def test_switching_a_platform_rule_off_resolves_its_open_alert(
    db: str, receiver: tuple[Receiver, str], wires: Wires
) -> None:
    fake, url = receiver
    http, broker = wires
    await Alert.create(rule="cache_miss_rate", service_id=None, dedup_key="cache_miss_rate:platform", fired_at=at(-60))
    settings = alert_settings(db, url, alert_cache_miss_rate=0)
    async with (
        counters() as usage,
        AlertEvaluator(settings, http, broker, start_loop=False, usage=usage) as evaluator,
    ):
        assert (await evaluator.evaluate(at(1))).resolved == 1
        await evaluator.notifier.drain()
    assert fake.kinds() == ["RESOLVED"]
