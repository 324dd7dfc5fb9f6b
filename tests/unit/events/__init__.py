"""Tests of `events`, and the sample messages they share."""

from __future__ import annotations

import datetime as dt

from events.messages import CacheInvalidated, CheckRecorded, StatusChanged
from probes.result import HealthStatus

CHECKED_AT = dt.datetime(2026, 11, 29, 10, 30, tzinfo=dt.UTC)


def check_recorded(seq: int, *, service_id: int = 1) -> CheckRecorded:
    return CheckRecorded(
        seq=seq,
        service_id=service_id,
        check_id=seq,
        status=HealthStatus.HEALTHY,
        raw_status=HealthStatus.HEALTHY,
        checked_at=CHECKED_AT,
        response_time_ms=12.5,
        http_status=200,
        message="ok",
        service_version="3.1.0",
    )


def status_changed(seq: int, *, service_id: int = 1) -> StatusChanged:
    check = check_recorded(seq, service_id=service_id)
    return StatusChanged(
        seq=seq,
        service_id=service_id,
        previous_status=HealthStatus.UNKNOWN,
        status=check.status,
        changed_at=check.checked_at,
        check=check,
    )


def cache_invalidated(seq: int, *, origin: str = "replica-a") -> CacheInvalidated:
    return CacheInvalidated(seq=seq, origin=origin, keys=(f"service:{seq}",), tags=("services",))
