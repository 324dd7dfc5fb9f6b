"""Incidents: each period of published UNHEALTHY (or MAINTENANCE) status, opened and closed by checks.

Rules, applied when a check moves the published status (so hysteresis already filtered flaps):
- a service has at most one open incident of each kind;
- moving to UNHEALTHY or MAINTENANCE opens one of that kind (if none is open), starting at
  that check, with its failure kind and message;
- moving to any other status closes the open incidents of the other kinds, ending at that
  check, which is recorded as the one that ended it.
Incidents live in the database, so they survive restarts: a process that resumes from the
stored snapshots finds the open incident and closes it when the status moves on.
"""

from __future__ import annotations

import datetime as dt

from tortoise.expressions import Q

from models import HealthCheck, Incident
from probes.result import HealthStatus
from resolvers.pagination import Page, paginate

INCIDENT_KINDS = (HealthStatus.UNHEALTHY, HealthStatus.MAINTENANCE)


async def on_status_change(check: HealthCheck, status: HealthStatus) -> None:
    """Opens and closes incidents for a check that moved the published status (inside its transaction)."""
    service_id = check.service_id  # type: ignore[attr-defined]
    open_rows = await Incident.filter(service_id=service_id, ended_at__isnull=True)
    for row in open_rows:
        if row.kind != status:
            row.ended_at = check.checked_at
            row.ended_by_check_id = check.id
            row.ended_by_status = status
            await row.save(update_fields=["ended_at", "ended_by_check_id", "ended_by_status"])
    if status in INCIDENT_KINDS and not any(row.kind == status for row in open_rows):
        await Incident.create(
            service_id=service_id,
            kind=status,
            started_at=check.checked_at,
            first_failure_kind=check.failure_kind,
            first_message=(check.message or check.maintenance_message or "")[:2000],
            started_by_check_id=check.id,
        )


async def list_incidents(
    service_id: int | None, open_only: bool, first: int, after: str | None, kind: HealthStatus | None = None
) -> Page[Incident]:
    """Newest first."""
    rows = Incident.all()
    if service_id is not None:
        rows = rows.filter(service_id=service_id)
    if open_only:
        rows = rows.filter(ended_at__isnull=True)
    if kind is not None:
        rows = rows.filter(kind=kind)
    return await paginate(rows, "incident", first, after, descending=True)


async def overlapping(
    start: dt.datetime, end: dt.datetime, service_ids: list[int] | None = None, kind: HealthStatus | None = None
) -> list[Incident]:
    """Incidents that overlap [start, end)."""
    rows = Incident.filter(Q(ended_at__isnull=True) | Q(ended_at__gt=start), started_at__lt=end)
    if service_ids is not None:
        rows = rows.filter(service_id__in=service_ids)
    if kind is not None:
        rows = rows.filter(kind=kind)
    return await rows.order_by("started_at")


def seconds_within(incident: Incident, start: dt.datetime, end: dt.datetime) -> float:
    """How long the incident lasted inside [start, end); an open one runs to `end`."""
    stop = min(incident.ended_at or end, end)
    begin = max(incident.started_at, start)
    return max(0.0, (stop - begin).total_seconds())
