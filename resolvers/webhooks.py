"""Alert notifications as JSON POSTs to the webhooks in `VIGIL_ALERT_WEBHOOKS`, and through apprise
(resolvers/notify_apprise.py) to the URLs in `VIGIL_ALERT_APPRISE_URLS`.

Each (notification, URL) pair runs in its own task, so a slow or failing receiver never
holds up rule evaluation. A task tries up to `alert_webhook_attempts` times with exponential
backoff, and stores every attempt as an AlertDelivery. Only the host of a webhook (the scheme and
at most the host of an apprise URL) is stored or logged: these URLs carry their secret in the path.

`WebhookNotifier` owns those tasks: leaving its context waits up to `grace_seconds` for them,
then cancels and awaits the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import urllib.parse
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Self

import aiohttp

from config import Settings
from models import Alert, AlertDelivery, DeliveryKind, DeliveryStatus
from probes.backoff import Backoff
from resolvers import notify_apprise

# One attempt: (HTTP status if one came back, error text or "" on success).
Attempt = Callable[[], Awaitable[tuple[int | None, str]]]

log = logging.getLogger(__name__)

PAYLOAD_VERSION = 1


def channel_name(url: str) -> str:
    """The host (and port) of a webhook, never its path or query."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "?"
    return f"{host}:{parts.port}" if parts.port else host


def payload(alert: Alert, kind: DeliveryKind, service_name: str | None, now: dt.datetime) -> dict[str, Any]:
    service_id = alert.service_id  # type: ignore[attr-defined]
    prefix = {DeliveryKind.FIRING: "FIRING", DeliveryKind.RESOLVED: "RESOLVED", DeliveryKind.REMINDER: "STILL FIRING"}
    return {
        "version": PAYLOAD_VERSION,
        "kind": kind.value,
        "text": f"[Vigil {prefix[kind]}] {alert.summary}",
        "alert": {
            "id": str(alert.id),
            "rule": alert.rule,
            "state": alert.state.value,
            "serviceId": None if service_id is None else str(service_id),
            "serviceName": service_name,
            "summary": alert.summary,
            "details": alert.details,
            "firedAt": alert.fired_at.isoformat(),
            "resolvedAt": None if alert.resolved_at is None else alert.resolved_at.isoformat(),
            "remindersSent": alert.reminders_sent,
        },
        "sentAt": now.isoformat(),
    }


class WebhookNotifier:
    def __init__(
        self,
        settings: Settings,
        http: aiohttp.ClientSession,
        *,
        grace_seconds: float = 5.0,
        rng: random.Random | None = None,
    ) -> None:
        self._urls = settings.alert_webhooks
        self._apprise_urls = settings.alert_apprise_urls
        self._timeout_s = settings.alert_webhook_timeout_seconds
        self._http = http
        self._timeout = aiohttp.ClientTimeout(total=settings.alert_webhook_timeout_seconds)
        self._attempts = settings.alert_webhook_attempts
        base = settings.alert_webhook_backoff_seconds
        self._backoff = Backoff(base_seconds=base, multiplier=2.0, cap_seconds=max(base, 300.0), jitter=0.2)
        self._grace = grace_seconds
        self._rng = rng or random.Random()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._closing = True
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=self._grace)
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks, return_exceptions=True)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait until every delivery started so far has finished (tests, and graceful shutdown)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    def notify(self, alert: Alert, kind: DeliveryKind, service_name: str | None) -> None:
        """Start one delivery task per webhook and apprise URL; returns at once."""
        if self._closing:
            log.warning("alert %s %s not delivered: shutting down", alert.id, kind.value)
            return
        body = payload(alert, kind, service_name, dt.datetime.now(dt.UTC))
        for url in self._urls:
            self._start(alert.id, kind, channel_name(url), partial(self._post, url, body))
        if self._apprise_urls:
            title, text = body["text"], notify_apprise.message(alert, service_name)
            for url in self._apprise_urls:
                channel = notify_apprise.apprise_channel_name(url)
                self._start(alert.id, kind, channel, partial(self._apprise, url, title, text, kind))

    def _start(self, alert_id: int, kind: DeliveryKind, channel: str, attempt: Attempt) -> None:
        name = f"alert-{alert_id}-{kind.value}"
        task = asyncio.create_task(self._deliver(alert_id, kind, channel, attempt), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, url: str, body: dict[str, Any]) -> tuple[int | None, str]:
        try:
            async with self._http.post(url, json=body, timeout=self._timeout, allow_redirects=False) as response:
                error = "" if 200 <= response.status < 300 else f"HTTP {response.status}"
                return response.status, error
        except (aiohttp.ClientError, TimeoutError) as exc:  # an unreachable receiver is data
            return None, exc.__class__.__name__  # str(exc) may quote the full URL, secret included

    async def _apprise(self, url: str, title: str, text: str, kind: DeliveryKind) -> tuple[int | None, str]:
        return None, await notify_apprise.send(url, title, text, kind, self._timeout_s)

    async def _deliver(self, alert_id: int, kind: DeliveryKind, channel: str, attempt_once: Attempt) -> None:
        for attempt in range(1, self._attempts + 1):
            http_status, error = await attempt_once()
            status = DeliveryStatus.FAILED if error else DeliveryStatus.SENT
            try:
                await AlertDelivery.create(
                    alert_id=alert_id,
                    channel=channel,
                    kind=kind,
                    attempt=attempt,
                    status=status,
                    http_status=http_status,
                    error=error,
                    at=dt.datetime.now(dt.UTC),
                )
            except Exception:  # the attempt happened; losing its record must not stop the retries
                log.exception("storing a delivery attempt of alert %s failed", alert_id)
            if status is DeliveryStatus.SENT:
                return
            log.warning("alert %s %s to %s failed (attempt %d): %s", alert_id, kind.value, channel, attempt, error)
            if attempt < self._attempts:
                await asyncio.sleep(self._backoff.delay(attempt - 1, self._rng))
        log.error("alert %s %s to %s given up after %d attempts", alert_id, kind.value, channel, self._attempts)
