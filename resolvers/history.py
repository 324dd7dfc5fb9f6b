"""Health history: the raw checks of one service, paged newest first.

Uptime and trends read rollups instead (resolvers.availability); raw rows are kept only for the
retention period.
"""

from __future__ import annotations

import datetime as dt

from models import HealthCheck
from resolvers.errors import BadUserInput
from resolvers.pagination import Page, paginate


def _utc(value: dt.datetime | None, field: str) -> dt.datetime | None:
    """`value` in UTC, naive meaning UTC as the database reads it (compared with an aware time, a
    naive one raises). A time that leaves the calendar in UTC (0001-01-01T00:00+01:00) is refused."""
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=dt.UTC)
    try:
        return value.astimezone(dt.UTC)
    except OverflowError as exc:
        raise BadUserInput("the time is out of range once in UTC", field=field) from exc


async def health_history(
    service_id: int, since: dt.datetime | None, until: dt.datetime | None, first: int, after: str | None
) -> Page[HealthCheck]:
    """Newest first; `since`/`until` bound `checkedAt` (inclusive, exclusive).

    A time without a timezone is UTC, as the database reads it.
    """
    since, until = _utc(since, "since"), _utc(until, "until")
    if since is not None and until is not None and since >= until:
        raise BadUserInput("'since' must be before 'until'", field="since")
    checks = HealthCheck.filter(service_id=service_id)
    if since is not None:
        checks = checks.filter(checked_at__gte=since)
    if until is not None:
        checks = checks.filter(checked_at__lt=until)
    return await paginate(checks, "check", first, after, descending=True)
