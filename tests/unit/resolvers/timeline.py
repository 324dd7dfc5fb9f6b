"""Builds a service's history check by check, through the real recorder, for insight tests."""

from __future__ import annotations

import datetime as dt

from tortoise.transactions import in_transaction

from events.broker import Broker
from models import HealthCheck
from probes.breaker import BreakerSnapshot
from probes.hysteresis import HysteresisSnapshot
from probes.observation import Observation
from probes.result import ApiType, FailureKind, HealthStatus, ProbeResult, ProbeTarget
from resolvers.recording import _store_all, record

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def observation(
    service_id: int,
    at: dt.datetime,
    status: HealthStatus,
    previous: HealthStatus,
    *,
    raw: HealthStatus | None = None,
    latency_ms: float | None = 100.0,
    kind: FailureKind | None = None,
    message: str = "",
    queue_size: int | None = None,
) -> Observation:
    return Observation(
        target=ProbeTarget(base_url="https://x.example", api_type=ApiType.CLOUDGENE, service_id=service_id),
        result=ProbeResult(
            status=raw or status,
            checked_at=at,
            response_time_ms=latency_ms,
            failure_kind=kind,
            message=message,
            queue_size=queue_size,
        ),
        status=status,
        previous_status=previous,
        status_changed=status != previous,
        breaker=BreakerSnapshot(),
        hysteresis=HysteresisSnapshot(published=status),
        next_check_at=None,
    )


class Timeline:
    """Published statuses of one service, recorded in order; `previous` carries across calls."""

    def __init__(self, broker: Broker, service_id: int, previous: HealthStatus = HealthStatus.UNKNOWN) -> None:
        self.broker = broker
        self.service_id = service_id
        self.previous = previous

    async def check(self, at: dt.datetime, status: HealthStatus, **extra: object) -> HealthCheck | None:
        row = await record(self.broker, observation(self.service_id, at, status, self.previous, **extra))  # type: ignore[arg-type]
        self.previous = status
        return row

    async def every(
        self,
        start: dt.datetime,
        count: int,
        status: HealthStatus,
        step: dt.timedelta = dt.timedelta(minutes=1),
        **extra: object,
    ) -> dt.datetime:
        """`count` checks of one status, `step` apart from `start`; returns the time after the last."""
        observations = []
        at = start
        for _ in range(count):
            observations.append(observation(self.service_id, at, status, self.previous, **extra))  # type: ignore[arg-type]
            self.previous = status
            at += step
        async with in_transaction():  # one batch, as the BatchRecorder writes them
            await _store_all(observations)
        return at
