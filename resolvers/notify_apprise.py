"""Alert notifications through apprise, to the Slack, Teams, e-mail or Matrix URLs in `VIGIL_ALERT_APPRISE_URLS`.

`resolvers.webhooks.WebhookNotifier` owns the tasks, retries and stored attempts; this module only
names a URL's channel and makes one attempt. Apprise's own retries are left at their default of
none, so every attempt is ours and is stored.
"""

from __future__ import annotations

import asyncio
import ipaddress
import urllib.parse

import apprise

from models import Alert, DeliveryKind

# apprise gets this long first; the asyncio deadline only catches a plugin that ignores it.
_DEADLINE_SLACK_S = 2.0


def is_apprise_url(url: str) -> bool:
    """Whether apprise knows the scheme and accepts the rest of `url`."""
    return bool(apprise.Apprise().add(url))


def apprise_channel_name(url: str) -> str:
    """The scheme, and the host when it names a machine: never the path, user, password or query.

    Many apprise URLs put a token where a host would be (`slack://TokenA/TokenB/TokenC`,
    `discord://WebhookID/Token`), so a host is kept only when it is an IP address, `localhost` or
    a dotted domain name such as `gmail.com`.
    """
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower() or "?"
    host = parts.hostname or ""
    if not _looks_like_a_machine(host):
        return scheme
    return f"{scheme}://{host}:{parts.port}" if parts.port else f"{scheme}://{host}"


def _looks_like_a_machine(host: str) -> bool:
    if host == "localhost" or "." in host:
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def message(alert: Alert, service_name: str | None) -> str:
    """The body under the webhook's one-line `text` (the title): the summary, then one line per detail."""
    lines = [alert.summary]
    if service_name is not None:
        lines.append(f"service: {service_name}")
    lines += [f"{key}: {value}" for key, value in sorted(alert.details.items())]
    lines.append(f"rule: {alert.rule}, alert {alert.id}, fired at {alert.fired_at.isoformat()}")
    if alert.resolved_at is not None:
        lines.append(f"resolved at {alert.resolved_at.isoformat()}")
    return "\n".join(lines)


async def send(url: str, title: str, body: str, kind: DeliveryKind, timeout_s: float) -> str:
    """One attempt; returns "" on success, else an error naming no part of the URL.

    Apprise runs blocking plugins in its own threads, so the event loop is never held up.
    """
    notifier = apprise.Apprise()
    if not notifier.add(url):
        return "invalid apprise URL"
    notify_type = apprise.NotifyType.SUCCESS if kind is DeliveryKind.RESOLVED else apprise.NotifyType.FAILURE
    try:
        async with asyncio.timeout(timeout_s + _DEADLINE_SLACK_S):
            result = await notifier.async_notify(body=body, title=title, notify_type=notify_type, timeout=timeout_s)
    except TimeoutError:
        return "TimeoutError"
    if result:
        return ""
    return f"apprise {result.status.name}"
