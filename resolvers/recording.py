"""Stores what the probe loop observed and tells subscribers.

One observation is one transaction: the check row, the service's current state (status,
breaker, hysteresis, next check) and, when the published status moved, a StatusEvent. Events
are published only after the commit, so a subscriber never hears of a check a query cannot
find. The check id is the event's `seq`: a dashboard compares it with the ids it queried.
"""

from __future__ import annotations

import logging

from tortoise.transactions import in_transaction

from events.broker import Broker
from events.messages import CheckRecorded, StatusChanged
from models import HealthCheck, Service, StatusEvent
from probes.observation import Observation

log = logging.getLogger(__name__)


async def record(broker: Broker, observation: Observation) -> HealthCheck | None:
    """None when the service was deleted while its check was in flight."""
    service_id = observation.service_id
    result = observation.result
    async with in_transaction():
        service = await Service.select_for_update().get_or_none(id=service_id)
        if service is None:
            return None
        check = await HealthCheck.create(
            service_id=service_id,
            checked_at=result.checked_at,
            status=observation.status,
            raw_status=result.status,
            response_time_ms=result.response_time_ms,
            http_status=result.http_status,
            failure_kind=None if result.failure_kind is None else result.failure_kind.value,
            message=result.message[:2000],
            service_version=result.service_version,
            maintenance_message=result.maintenance_message,
            queue_size=result.queue_size,
            manual=observation.is_manual,
        )
        service.status = observation.status
        service.circuit_state = observation.breaker.state
        service.consecutive_failures = observation.breaker.consecutive_failures
        service.breaker_snapshot = observation.breaker.to_dict()
        service.hysteresis_snapshot = observation.hysteresis.to_dict()
        service.last_checked_at = result.checked_at
        if observation.next_check_at is not None:
            service.next_check_at = observation.next_check_at
        service.response_time_ms = result.response_time_ms
        service.last_failure_kind = check.failure_kind
        service.last_message = check.message
        if result.service_version:
            service.service_version = result.service_version
        event = None
        if observation.status_changed:
            service.status_changed_at = result.checked_at
            event = await StatusEvent.create(
                service_id=service_id,
                check_id=check.id,
                previous_status=observation.previous_status,
                status=observation.status,
                changed_at=result.checked_at,
            )
        await service.save()
    message = check_message(check)
    await broker.publish(message)
    if event is not None:
        await broker.publish(
            StatusChanged(
                seq=check.id,
                service_id=service_id,
                previous_status=event.previous_status,
                status=event.status,
                changed_at=event.changed_at,
                check=message,
            )
        )
    return check


def check_message(check: HealthCheck) -> CheckRecorded:
    return CheckRecorded(
        seq=check.id,
        service_id=check.service_id,  # type: ignore[attr-defined]
        check_id=check.id,
        status=check.status,
        raw_status=check.raw_status,
        checked_at=check.checked_at,
        response_time_ms=check.response_time_ms,
        http_status=check.http_status,
        failure_kind=check.failure_kind,
        message=check.message,
        service_version=check.service_version,
    )
