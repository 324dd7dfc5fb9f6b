"""Alert notifications through apprise, received by a real HTTP server over apprise's `json://` plugin.

Apprise's `json://HOST:PORT/PATH` POSTs `{"title", "message", "type", ...}`, so the webhook fake
receives it as it would a webhook; on SQLite and PostgreSQL, like tests/unit/resolvers/test_alerts.py.
"""

from __future__ import annotations

import pathlib
from typing import Any

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from cli import main
from config import Settings
from models import AlertDelivery, DeliveryKind, DeliveryStatus
from probes.result import HealthStatus
from resolvers.alerts import AlertEvaluator
from resolvers.notify_apprise import apprise_channel_name
from tests.fakes.webhook import WebhookReceiver as Receiver
from tests.unit.resolvers.conftest import Wires
from tests.unit.resolvers.test_alerts import add_service, alert_settings, at, set_status


def apprise_settings(db: str, url: str, **overrides: Any) -> Settings:
    return alert_settings(db, None, alert_apprise_urls=[url], alert_webhook_timeout_seconds=5.0, **overrides)


def json_url(webhook_url: str) -> str:
    """The receiver's http://127.0.0.1:PORT/hooks/SECRET-TOKEN as apprise's json:// URL."""
    return "json://" + webhook_url.removeprefix("http://")


async def test_an_outage_sends_one_firing_and_one_resolved_notification_through_apprise(
    db: str,
    receiver: tuple[Receiver, str],
    wires: Wires,
) -> None:
    fake, url = receiver
    service = await add_service(HealthStatus.UNHEALTHY, at(0))
    http, broker = wires
    async with AlertEvaluator(apprise_settings(db, json_url(url)), http, broker, start_loop=False) as evaluator:
        assert (await evaluator.evaluate(at(2))).fired == 1
        first = await fake.next()
        await set_status(service, HealthStatus.HEALTHY, at(4))
        assert (await evaluator.evaluate(at(4))).resolved == 1
        second = await fake.next()
        await evaluator.notifier.drain()
    assert first["title"].startswith("[Vigil FIRING] ") and "Michigan" in first["title"]
    assert first["type"] == "failure"
    assert "service: Michigan" in first["message"] and "thresholdSeconds: 1.0" in first["message"]
    assert second["title"].startswith("[Vigil RESOLVED] ") and second["type"] == "success"
    assert len(fake.received) == 2
    rows = await AlertDelivery.all()  # a FIRING row is stored after its receiver answered: any order
    assert sorted((r.kind.value, r.attempt, r.status) for r in rows) == [
        (DeliveryKind.FIRING.value, 1, DeliveryStatus.SENT),
        (DeliveryKind.RESOLVED.value, 1, DeliveryStatus.SENT),
    ]
    port = url.split(":")[2].split("/")[0]
    assert {r.channel for r in rows} == {f"json://127.0.0.1:{port}"}


async def test_a_failing_apprise_receiver_is_retried_and_each_failure_is_stored_without_the_secret(
    db: str,
    receiver: tuple[Receiver, str],
    wires: Wires,
) -> None:
    fake, url = receiver
    fake.fail_first = 2
    await add_service(HealthStatus.UNHEALTHY, at(0))
    http, broker = wires
    async with AlertEvaluator(apprise_settings(db, json_url(url)), http, broker, start_loop=False) as evaluator:
        await evaluator.evaluate(at(2))
        await evaluator.notifier.drain()
    rows = await AlertDelivery.all().order_by("id")
    assert [(r.attempt, r.status) for r in rows] == [
        (1, DeliveryStatus.FAILED),
        (2, DeliveryStatus.FAILED),
        (3, DeliveryStatus.SENT),
    ]
    assert rows[0].error == "apprise FAILURE" and rows[2].error == ""
    assert all(r.channel.startswith("json://127.0.0.1:") for r in rows)
    assert all("SECRET" not in r.channel + r.error and "hooks" not in r.channel for r in rows)
    assert fake.requests == 3 and len(fake.received) == 1


async def test_webhooks_and_apprise_urls_each_get_every_notification(
    db: str,
    receiver: tuple[Receiver, str],
    wires: Wires,
) -> None:
    fake, url = receiver
    await add_service(HealthStatus.UNHEALTHY, at(0))
    http, broker = wires
    settings = apprise_settings(db, json_url(url), alert_webhooks=[url])
    async with AlertEvaluator(settings, http, broker, start_loop=False) as evaluator:
        await evaluator.evaluate(at(2))
        await evaluator.notifier.drain()
    assert sorted("kind" in body for body in fake.received) == [False, True]
    channels = sorted(r.channel for r in await AlertDelivery.all())
    assert channels[0].startswith("127.0.0.1:") and channels[1].startswith("json://127.0.0.1:")


@pytest.mark.parametrize(
    ("url", "channel"),
    [
        ("slack://TokenA/TokenB/TokenC/#alerts", "slack"),
        ("msteams://team/tokenA/tokenB/tokenC", "msteams"),
        ("mailto://ops:hunter2@gmail.com?to=oncall@example.org", "mailto://gmail.com"),
        ("matrix://vigil:hunter2@matrix.example.org:8448/#ops", "matrix://matrix.example.org:8448"),
        ("json://127.0.0.1:9000/hooks/SECRET", "json://127.0.0.1:9000"),
    ],
)
def test_an_apprise_channel_names_the_scheme_and_at_most_a_real_host(url: str, channel: str) -> None:
    assert apprise_channel_name(url) == channel


def test_an_unknown_apprise_scheme_is_refused_by_the_settings() -> None:
    with pytest.raises(ValidationError, match="alert_apprise_urls"):
        Settings(_env_file=None, alert_apprise_urls=["slack://T1/B2/C3", "nosuch://SECRET-TOKEN@host"])


def test_an_invalid_apprise_url_stops_start_up_naming_the_variable_and_not_the_secret(tmp_path: pathlib.Path) -> None:
    env = {
        "VIGIL_DATABASE_URL": f"sqlite://{tmp_path / 'cli.db'}",
        "VIGIL_SECRET_KEY_FILE": str(tmp_path / "k"),
        "VIGIL_ALERT_APPRISE_URLS": '["nosuch://SECRET-TOKEN@host"]',
    }
    result = CliRunner().invoke(main, ["migrate"], env=env)
    assert result.exit_code != 0
    assert "VIGIL_ALERT_APPRISE_URLS" in result.output and "entry 1" in result.output
    assert "SECRET-TOKEN" not in result.output
