"""Health history: paged checks and uptime over a window.

Uptime policy (the documented defaults): a check counts as up when its published status is
HEALTHY or DEGRADED, as down when UNHEALTHY; MAINTENANCE and UNKNOWN checks are left out of
the denominator, so planned work and "not yet known" never count as downtime.
"""

from __future__ import annotations

import datetime as dt

from models import HealthCheck
from probes.result import HealthStatus
from resolvers.errors import BadUserInput
from resolvers.pagination import Page, paginate

WINDOWS: dict[str, dt.timedelta] = {
    "LAST_HOUR": dt.timedelta(hours=1),
    "LAST_24_HOURS": dt.timedelta(hours=24),
    "LAST_7_DAYS": dt.timedelta(days=7),
    "LAST_30_DAYS": dt.timedelta(days=30),
}
UP = (HealthStatus.HEALTHY, HealthStatus.DEGRADED)
COUNTED = (*UP, HealthStatus.UNHEALTHY)


async def uptime(service_id: int, window: str, now: dt.datetime | None = None) -> float | None:
    since = (now or dt.datetime.now(dt.UTC)) - WINDOWS[window]
    checks = HealthCheck.filter(service_id=service_id, checked_at__gte=since)
    counted = await checks.filter(status__in=COUNTED).count()
    if counted == 0:
        return None
    up = await checks.filter(status__in=UP).count()
    return up / counted


async def health_history(
    service_id: int, since: dt.datetime | None, until: dt.datetime | None, first: int, after: str | None
) -> Page[HealthCheck]:
    """Newest first; `since`/`until` bound `checkedAt` (inclusive, exclusive)."""
    if since is not None and until is not None and since >= until:
        raise BadUserInput("'since' must be before 'until'", field="since")
    checks = HealthCheck.filter(service_id=service_id)
    if since is not None:
        checks = checks.filter(checked_at__gte=since)
    if until is not None:
        checks = checks.filter(checked_at__lt=until)
    return await paginate(checks, "check", first, after, descending=True)
