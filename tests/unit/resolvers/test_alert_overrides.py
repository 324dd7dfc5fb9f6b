"""Per-service alert settings: validated, audited, and obeyed by the next evaluation pass."""

from __future__ import annotations

import pytest

from models import AlertOverride, AuditEvent
from probes.result import HealthStatus
from resolvers import alert_rules
from resolvers.alert_overrides import remove_override, set_override
from resolvers.alerts import AlertEvaluator
from resolvers.audit import CLI_ACTOR
from resolvers.errors import BadUserInput, NotFound
from tests.fakes.webhook import WebhookReceiver as Receiver
from tests.unit.resolvers.conftest import Wires
from tests.unit.resolvers.test_alerts import add_service, alert_settings, at


async def test_a_switched_off_rule_never_fires_and_a_longer_threshold_fires_later(
    db: str, receiver: tuple[Receiver, str], wires: Wires
) -> None:
    _, url = receiver
    quiet = await add_service(HealthStatus.UNHEALTHY, at(0), name="Quiet")
    patient = await add_service(HealthStatus.UNHEALTHY, at(0), name="Patient")
    await set_override(quiet.id, alert_rules.SERVICE_UNHEALTHY, None, False, CLI_ACTOR)
    await set_override(patient.id, alert_rules.SERVICE_UNHEALTHY, 60.0, True, CLI_ACTOR)
    http, broker = wires
    async with AlertEvaluator(alert_settings(db, url), http, broker, start_loop=False) as evaluator:
        assert (await evaluator.evaluate(at(2))).fired == 0  # global threshold 1 s: only overrides hold
        assert (await evaluator.evaluate(at(61))).fired == 1
        await remove_override(quiet.id, alert_rules.SERVICE_UNHEALTHY, CLI_ACTOR)
        assert (await evaluator.evaluate(at(62))).fired == 1  # back to the global threshold


async def test_overrides_are_validated_changed_in_place_and_audited(db: str) -> None:
    service = await add_service(HealthStatus.HEALTHY, at(0))
    with pytest.raises(BadUserInput) as too_much:
        await set_override(service.id, alert_rules.FAILURE_RATE, 1.5, True, CLI_ACTOR)
    assert too_much.value.extensions["field"] == "threshold"
    with pytest.raises(BadUserInput):
        await set_override(service.id, alert_rules.SLOW_RESPONSE, -5.0, True, CLI_ACTOR)
    with pytest.raises(BadUserInput) as platform:
        await set_override(service.id, "cache_miss_rate", 0.5, True, CLI_ACTOR)
    assert platform.value.extensions["field"] == "rule"
    with pytest.raises(NotFound):
        await set_override(999_999, alert_rules.SLOW_RESPONSE, 100.0, True, CLI_ACTOR)

    await set_override(service.id, alert_rules.SLOW_RESPONSE, 100.0, True, CLI_ACTOR)
    await set_override(service.id, alert_rules.SLOW_RESPONSE, 250.0, True, CLI_ACTOR)
    await set_override(service.id, alert_rules.SLOW_RESPONSE, 250.0, True, CLI_ACTOR)  # no change, no audit
    rows = await AlertOverride.filter(service_id=service.id)
    assert [(r.rule, r.threshold, r.is_enabled) for r in rows] == [(alert_rules.SLOW_RESPONSE, 250.0, True)]
    await remove_override(service.id, alert_rules.SLOW_RESPONSE, CLI_ACTOR)
    await remove_override(service.id, alert_rules.SLOW_RESPONSE, CLI_ACTOR)  # nothing left: no error
    actions = await AuditEvent.filter(target_id=service.id).order_by("id").values_list("action", flat=True)
    assert actions == ["service.alert_override_set", "service.alert_override_set", "service.alert_override_removed"]
