"""scheduleMaintenance: a planned outage, during which checks publish MAINTENANCE, not downtime.

The window reaches the probe loop at once (`sync_watch` rebuilds the service's watch with the
new window predicate), so a window that starts now covers the very next check. Times must be
timezone-aware: a naive "02:00" means a different instant on every server and every client.
"""

from __future__ import annotations

import datetime as dt

from tortoise.transactions import in_transaction

from models import MaintenanceWindow
from resolvers import validation
from resolvers.audit import Actor, record_audit
from resolvers.deps import Deps
from resolvers.errors import BadUserInput
from resolvers.monitoring import sync_watch
from resolvers.services import get_service

MAX_DURATION = dt.timedelta(days=30)
MAX_REASON = 500


def _aware(value: dt.datetime, field: str) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise BadUserInput("give a timezone (for example 2026-05-01T02:00:00Z)", field=field)
    try:
        return value.astimezone(dt.UTC)
    except OverflowError as exc:  # 0001-01-01T00:00+01:00 is a day before the calendar starts, in UTC
        raise BadUserInput("the time is out of range once in UTC", field=field) from exc


def check_window(
    starts_at: dt.datetime, ends_at: dt.datetime, now: dt.datetime | None = None
) -> tuple[dt.datetime, dt.datetime]:
    """The window in UTC, or BadUserInput naming `startsAt` or `endsAt`.

    A window that has already started is accepted (an outage in progress is announced late);
    one that has ended is not, since it could no longer change any check.
    """
    start, end = _aware(starts_at, "startsAt"), _aware(ends_at, "endsAt")
    now = now or dt.datetime.now(dt.UTC)
    if end <= start:
        raise BadUserInput("the window must end after it starts", field="endsAt")
    if end <= now:
        raise BadUserInput("the window has already ended", field="endsAt")
    if end - start > MAX_DURATION:
        raise BadUserInput(f"a window may last at most {MAX_DURATION.days} days", field="endsAt")
    return start, end


def _view(row: MaintenanceWindow) -> dict[str, object]:
    return {
        "windowId": row.id,
        "startsAt": row.starts_at.isoformat(),
        "endsAt": row.ends_at.isoformat(),
        "reason": row.reason,
    }


async def schedule_maintenance(
    deps: Deps,
    service_id: int,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    reason: str | None,
    actor: Actor,
) -> MaintenanceWindow:
    """Store a window for the service, audit it and apply it to the probe loop.

    Raises NotFound (field `serviceId`) or BadUserInput (field `startsAt`, `endsAt` or `reason`).
    Overlapping windows are allowed: a check is in maintenance when it falls in any of them.
    """
    service = await get_service(service_id, field="serviceId")
    start, end = check_window(starts_at, ends_at)
    text = validation.clean_text(reason, MAX_REASON, "reason")
    async with in_transaction():
        row = await MaintenanceWindow.create(
            service_id=service.id, starts_at=start, ends_at=end, reason=text, created_by=str(actor)[:200]
        )
        await record_audit(actor, "service.maintenance_scheduled", "service", service.id, after=_view(row))
    await sync_watch(deps, service)
    return row
