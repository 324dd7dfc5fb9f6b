"""The retention task: prunes raw checks and old rollups in bounded batches, in the background.

Raw checks older than `raw_retention_days` go, except those a StatusEvent points at (the
change history keeps its checks). Rollups go when older than their resolution's retention.
Each delete removes at most `retention_batch_size` rows in its own short transaction, so a
pass never holds long locks against the recorder.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import time
from typing import Self

from tortoise.expressions import Subquery
from tortoise.queryset import QuerySet

from config import Settings
from models import CheckRollup, HealthCheck, StatusEvent
from resolvers.rollups import DAY, HOUR, MINUTE

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class RetentionPass:
    checks_deleted: int
    rollups_deleted: int
    batches: int
    duration_s: float


async def _delete_in_batches(query: QuerySet, batch_size: int) -> tuple[int, int]:
    deleted = batches = 0
    while True:
        ids = await query.limit(batch_size).values_list("id", flat=True)
        if not ids:
            return deleted, batches
        deleted += await query.model.filter(id__in=list(ids)).delete()
        batches += 1
        await asyncio.sleep(0)  # let the recorder and requests in between batches
        if len(ids) < batch_size:
            return deleted, batches


async def prune(settings: Settings, now: dt.datetime | None = None) -> RetentionPass:
    """One retention pass; returns what it removed."""
    started = time.perf_counter()
    now = now or dt.datetime.now(dt.UTC)
    kept_checks = Subquery(StatusEvent.all().values("check_id"))
    old_checks = HealthCheck.filter(checked_at__lt=now - dt.timedelta(days=settings.raw_retention_days)).exclude(
        id__in=kept_checks
    )
    checks, batches = await _delete_in_batches(old_checks, settings.retention_batch_size)
    rollups = 0
    for resolution, keep in (
        (MINUTE, dt.timedelta(hours=settings.rollup_minute_retention_hours)),
        (HOUR, dt.timedelta(days=settings.rollup_hour_retention_days)),
        (DAY, dt.timedelta(days=settings.rollup_day_retention_days)),
    ):
        old = CheckRollup.filter(resolution_s=resolution, bucket_start__lt=now - keep)
        removed, more = await _delete_in_batches(old, settings.retention_batch_size)
        rollups, batches = rollups + removed, batches + more
    return RetentionPass(checks, rollups, batches, time.perf_counter() - started)


class RetentionTask:
    """Runs `prune` every `retention_interval_seconds`; leaving the context cancels and awaits it."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._task: asyncio.Task[None] | None = None
        self.last_pass: RetentionPass | None = None

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._run(), name="retention")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                self.last_pass = await prune(self._settings)
                log.info("retention pass: %s", self.last_pass)
            except Exception:  # a failed pass is retried at the next interval; the database may be down
                log.exception("retention pass failed")
            await asyncio.sleep(self._settings.retention_interval_seconds)
