"""Per-service alert settings: a threshold of one service rule, or that rule switched off for the service.

The evaluator reads them at every pass (`resolvers/alerts.py`), so a change takes effect at the
next pass without a restart. Platform rules (cache miss rate, GraphQL error rate) are global and
take no override. Every change is audited.
"""

from __future__ import annotations

import math

from models import AlertOverride, Service
from resolvers import alert_rules
from resolvers.audit import Actor, record_audit
from resolvers.errors import BadUserInput
from resolvers.services import get_service

UNITS = {
    alert_rules.SERVICE_UNHEALTHY: "seconds",
    alert_rules.FAILURE_RATE: "a share of checks",
    alert_rules.SLOW_RESPONSE: "milliseconds",
}


def _checked_threshold(rule: str, threshold: float | None) -> float | None:
    if rule not in alert_rules.SERVICE_RULES:
        raise BadUserInput(
            f"'{rule}' is not a per-service rule: one of {', '.join(alert_rules.SERVICE_RULES)}", field="rule"
        )
    if threshold is None:
        return None
    if not math.isfinite(threshold) or threshold <= 0:
        raise BadUserInput(f"the {rule} threshold must be a positive number of {UNITS[rule]}", field="threshold")
    if rule == alert_rules.FAILURE_RATE and threshold >= 1:
        raise BadUserInput("the failure_rate threshold is a share of checks, below 1 (0.1 for 10%)", field="threshold")
    return threshold


async def set_override(service_id: int, rule: str, threshold: float | None, enabled: bool, actor: Actor) -> Service:
    """Create or change the service's setting for `rule`; returns the service."""
    checked = _checked_threshold(rule, threshold)
    service = await get_service(service_id, field="serviceId")
    row = await AlertOverride.get_or_none(service_id=service.id, rule=rule)
    after = {"rule": rule, "threshold": checked, "enabled": enabled}
    if row is None:
        await AlertOverride.create(service_id=service.id, rule=rule, threshold=checked, is_enabled=enabled)
        await record_audit(actor, "service.alert_override_set", "service", service.id, after=after)
    elif (row.threshold, row.is_enabled) != (checked, enabled):
        before = {"rule": rule, "threshold": row.threshold, "enabled": row.is_enabled}
        row.threshold, row.is_enabled = checked, enabled
        await row.save(update_fields=["threshold", "is_enabled"])
        await record_audit(actor, "service.alert_override_set", "service", service.id, before=before, after=after)
    return service


async def remove_override(service_id: int, rule: str, actor: Actor) -> Service:
    """Back to the global settings for `rule`; removing what is not there changes nothing."""
    _checked_threshold(rule, None)
    service = await get_service(service_id, field="serviceId")
    row = await AlertOverride.get_or_none(service_id=service.id, rule=rule)
    if row is not None:
        before = {"rule": rule, "threshold": row.threshold, "enabled": row.is_enabled}
        await row.delete()
        await record_audit(actor, "service.alert_override_removed", "service", service.id, before=before)
    return service
