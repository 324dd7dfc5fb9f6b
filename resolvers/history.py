"""Health history: the raw checks of one service, paged newest first.

Uptime and trends read rollups instead (resolvers.availability); raw rows are kept only for the
retention period.
"""

from __future__ import annotations

import datetime as dt

from models import HealthCheck
from resolvers.errors import BadUserInput
from resolvers.pagination import Page, paginate


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
