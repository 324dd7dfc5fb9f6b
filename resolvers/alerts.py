"""Alerting: the evaluator that fires, resolves and reminds, and the `alerts` query.

`AlertEvaluator` is owned by the lifespan of a probing process. Every
`alert_evaluation_interval_seconds`, and soon after a StatusChanged event (an UNHEALTHY change
schedules a pass for the moment its threshold is crossed), it reads the services, their minute
rollups over the rule window, the cluster-wide usage counters (`resolvers.usage`) and the open
alerts, then:

- fires an alert for each condition that holds (`resolvers.alert_rules`) and has no open alert,
  unless the service is silenced (MAINTENANCE, or inside a scheduled window; platform alerts,
  which have no service, are never silenced);
- resolves each open alert whose condition no longer holds;
- reminds every `alert_reminder_interval_seconds` while an alert keeps firing (not while silenced).

Exactly once across replicas: firing inserts an Alert whose unique `dedup_key` names the rule
and service, so when two replicas race, one insert fails and that replica does nothing.
Resolving and reminding are conditional UPDATEs (state still FIRING, reminder count unchanged),
and only the replica whose UPDATE changed a row notifies. Every probing replica evaluates the
platform rules too, on the same Redis-summed totals, and the same unique key keeps them once.

While the usage counters cannot reach Redis their totals are this replica's share only, so the
platform rules are left out of the pass: they neither fire nor resolve (nor remind) until the
counters are whole again. Without counters (`usage=None`) they are not evaluated at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
from typing import Self

import aiohttp
from tortoise.exceptions import IntegrityError
from tortoise.functions import Sum

from config import Settings
from events.broker import Broker, Subscription
from events.messages import StatusChanged
from models import (
    Alert,
    AlertOverride,
    AlertState,
    CheckRollup,
    DeliveryKind,
    MaintenanceWindow,
    Service,
)
from probes.result import HealthStatus
from resolvers import alert_rules, usage
from resolvers.alert_rules import Condition, PlatformThresholds, PlatformUsage, ServiceState, Thresholds
from resolvers.pagination import Page, paginate
from resolvers.rollups import MINUTE, bucket_start
from resolvers.usage import UsageCounters
from resolvers.webhooks import WebhookNotifier

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class EvaluationPass:
    fired: int = 0
    resolved: int = 0
    reminded: int = 0
    lost_races: int = 0  # conditions another replica fired first


async def _service_states(now: dt.datetime, window_s: float) -> dict[int, ServiceState]:
    services = await Service.filter(is_active=True).values("id", "name", "status", "status_changed_at")
    since = bucket_start(now - dt.timedelta(seconds=window_s), MINUTE)
    sums = (
        await CheckRollup.filter(resolution_s=MINUTE, bucket_start__gte=since)
        .annotate(
            s_healthy=Sum("healthy"),
            s_degraded=Sum("degraded"),
            s_unhealthy=Sum("unhealthy"),
            s_unknown=Sum("unknown"),
            s_failures=Sum("failures"),
            s_latency_count=Sum("latency_count"),
            s_latency_sum=Sum("latency_sum_ms"),
        )
        .group_by("service_id")
        .values(
            "service_id",
            "s_healthy",
            "s_degraded",
            "s_unhealthy",
            "s_unknown",
            "s_failures",
            "s_latency_count",
            "s_latency_sum",
        )
    )
    by_service = {row["service_id"]: row for row in sums}
    states = {}
    for row in services:
        window = by_service.get(row["id"], {})
        counted = sum(int(window.get(k) or 0) for k in ("s_healthy", "s_degraded", "s_unhealthy", "s_unknown"))
        states[row["id"]] = ServiceState(
            service_id=row["id"],
            name=row["name"],
            status=HealthStatus(row["status"]),
            status_changed_at=row["status_changed_at"],
            checks=counted,
            failures=int(window.get("s_failures") or 0),
            latency_count=int(window.get("s_latency_count") or 0),
            latency_sum_ms=float(window.get("s_latency_sum") or 0.0),
        )
    return states


async def _overrides() -> dict[int, dict[str, tuple[float | None, bool]]]:
    found: dict[int, dict[str, tuple[float | None, bool]]] = {}
    for row in await AlertOverride.all().values("service_id", "rule", "threshold", "is_enabled"):
        found.setdefault(row["service_id"], {})[row["rule"]] = (row["threshold"], row["is_enabled"])
    return found


async def _silenced(now: dt.datetime, states: dict[int, ServiceState]) -> set[int]:
    windows = await MaintenanceWindow.filter(starts_at__lte=now, ends_at__gt=now).values_list("service_id", flat=True)
    in_maintenance = {s.service_id for s in states.values() if s.status is HealthStatus.MAINTENANCE}
    return {int(sid) for sid in windows} | in_maintenance


class AlertEvaluator:
    """Owns the evaluation loop, its StatusChanged listener and the webhook notifier.

    With `start_loop=False` nothing runs on its own: call `evaluate` (tests drive time this way).
    Leaving the context cancels and awaits the loop, then lets deliveries in flight finish
    (up to the notifier's grace period).
    """

    def __init__(
        self,
        settings: Settings,
        http: aiohttp.ClientSession,
        broker: Broker,
        *,
        start_loop: bool = True,
        grace_seconds: float = 5.0,
        usage: UsageCounters | None = None,
    ) -> None:
        """`usage`: the cluster-wide counters of the platform rules, opened and closed by the caller."""
        self._settings = settings
        self._broker = broker
        self._start_loop = start_loop
        self._thresholds = Thresholds.from_settings(settings)
        self._platform = PlatformThresholds.from_settings(settings)
        self._usage = usage
        self.notifier = WebhookNotifier(settings, http, grace_seconds=grace_seconds)
        self._stack = contextlib.AsyncExitStack()
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._due: list[float] = []
        self.last_pass: EvaluationPass | None = None

    async def __aenter__(self) -> Self:
        await self._stack.enter_async_context(self.notifier)
        if self._start_loop:
            subscription = await self._stack.enter_async_context(self._broker.subscribe(StatusChanged))
            self._tasks = [
                asyncio.create_task(self._run(), name="alert-evaluator"),
                asyncio.create_task(self._listen(subscription), name="alert-status-listener"),
            ]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._stack.aclose()

    async def evaluate(self, now: dt.datetime | None = None) -> EvaluationPass:
        """One pass over every rule and service; returns what it changed."""
        now = now or dt.datetime.now(dt.UTC)
        states = await _service_states(now, self._settings.alert_window_seconds)
        overrides = await _overrides()
        silenced = await _silenced(now, states)
        holding: dict[tuple[str, int | None], Condition] = {}
        for state in states.values():
            thresholds = self._thresholds.overridden(overrides.get(state.service_id, {}))
            for condition in alert_rules.conditions(state, thresholds, now):
                holding[(condition.rule, condition.service_id)] = condition
        evaluated = alert_rules.SERVICE_RULES
        platform = await self._platform_conditions(now)
        if platform is not None:
            evaluated = alert_rules.RULES
            for condition in platform:
                holding[(condition.rule, None)] = condition
        # Only the rules evaluated in this pass: an open alert of a rule left out keeps its state.
        open_alerts = await Alert.filter(state=AlertState.FIRING, rule__in=evaluated)
        open_keys = {(a.rule, a.service_id): a for a in open_alerts}  # type: ignore[attr-defined]
        fired = resolved = reminded = lost = 0

        def name_of(service_id: int | None) -> str | None:
            state = states.get(service_id) if service_id is not None else None
            return None if state is None else state.name

        for key, condition in holding.items():
            if key in open_keys or condition.service_id in silenced:
                continue
            try:
                alert = await Alert.create(
                    rule=condition.rule,
                    service_id=condition.service_id,
                    state=AlertState.FIRING,
                    dedup_key=alert_rules.dedup_key(condition.rule, condition.service_id),
                    fired_at=now,
                    last_notified_at=now,
                    summary=condition.summary,
                    details=condition.details,
                )
            except IntegrityError:  # another replica fired it first and notifies for it
                lost += 1
                continue
            fired += 1
            log.warning("alert fired: %s", condition.summary)
            self.notifier.notify(alert, DeliveryKind.FIRING, name_of(condition.service_id))

        reminder_every = dt.timedelta(seconds=self._settings.alert_reminder_interval_seconds)
        for key, alert in open_keys.items():
            service_id = key[1]
            if key not in holding:
                changed = await Alert.filter(id=alert.id, state=AlertState.FIRING).update(
                    state=AlertState.RESOLVED, resolved_at=now, dedup_key=None
                )
                if changed:
                    alert.state, alert.resolved_at, alert.dedup_key = AlertState.RESOLVED, now, None
                    resolved += 1
                    log.info("alert resolved: %s", alert.summary)
                    self.notifier.notify(alert, DeliveryKind.RESOLVED, name_of(service_id))
                continue
            last = alert.last_notified_at or alert.fired_at
            if service_id in silenced or now - last < reminder_every:
                continue
            changed = await Alert.filter(
                id=alert.id, state=AlertState.FIRING, reminders_sent=alert.reminders_sent
            ).update(last_notified_at=now, reminders_sent=alert.reminders_sent + 1)
            if changed:
                alert.last_notified_at, alert.reminders_sent = now, alert.reminders_sent + 1
                reminded += 1
                self.notifier.notify(alert, DeliveryKind.REMINDER, name_of(service_id))
        self.last_pass = EvaluationPass(fired, resolved, reminded, lost)
        return self.last_pass

    async def _platform_conditions(self, now: dt.datetime) -> list[Condition] | None:
        """The platform conditions that hold, or None when the totals are not cluster-wide."""
        if self._usage is None:
            return None
        window_s = self._settings.alert_window_seconds
        try:
            await self._usage.flush()  # this replica's latest counts, without waiting for the next flush
            totals = await self._usage.window_total(usage.NAMES, window_s, now=now.timestamp())
        except Exception:  # a bug in a counter source: the service rules still run
            log.exception("reading the usage counters failed; platform rules skipped this pass")
            return None
        if not self._usage.healthy:
            return None
        figures = PlatformUsage(
            window_seconds=window_s,
            graphql_operations=totals[usage.GRAPHQL_OPERATIONS],
            graphql_errors=totals[usage.GRAPHQL_ERRORS],
            cache_reads=totals[usage.CACHE_READS],
            cache_misses=totals[usage.CACHE_MISSES],
        )
        return alert_rules.platform_conditions(figures, self._platform)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self._settings.alert_evaluation_interval_seconds
        next_pass = loop.time()
        while True:
            wait_s = max(0.0, min([next_pass, *self._due]) - loop.time())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    await self._wake.wait()
            self._wake.clear()
            started = loop.time()
            self._due = [due for due in self._due if due > started]
            try:
                await self.evaluate()
            except Exception:  # the database may be down; the next pass tries again
                log.exception("alert evaluation failed")
            if started >= next_pass:
                next_pass = started + interval

    async def _listen(self, subscription: Subscription) -> None:
        loop = asyncio.get_running_loop()
        async for message in subscription:
            if not isinstance(message, StatusChanged):
                continue
            if message.status is HealthStatus.UNHEALTHY:
                threshold = await self._unhealthy_threshold(message.service_id)
                if threshold is not None:
                    elapsed = (dt.datetime.now(dt.UTC) - message.changed_at).total_seconds()
                    self._due.append(loop.time() + max(0.0, threshold - elapsed) + 0.05)
            self._wake.set()  # a recovery may resolve an alert, and a new due time shortens the wait

    async def _unhealthy_threshold(self, service_id: int) -> float | None:
        try:
            row = await AlertOverride.get_or_none(service_id=service_id, rule=alert_rules.SERVICE_UNHEALTHY)
        except Exception:  # without the override, the regular pass still evaluates this service
            log.exception("reading alert overrides failed")
            return self._thresholds.unhealthy_seconds
        if row is None:
            return self._thresholds.unhealthy_seconds
        if not row.is_enabled:
            return None
        return self._thresholds.unhealthy_seconds if row.threshold is None else row.threshold


async def list_alerts(service_id: int | None, firing_only: bool, first: int, after: str | None) -> Page[Alert]:
    """Newest first."""
    rows = Alert.all()
    if service_id is not None:
        rows = rows.filter(service_id=service_id)
    if firing_only:
        rows = rows.filter(state=AlertState.FIRING)
    return await paginate(rows, "alert", first, after, descending=True)
