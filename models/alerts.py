"""Alerts raised by the rule evaluator, their per-service threshold overrides and every delivery attempt.

One open alert per (rule, service) is held by the database itself: `dedup_key` is unique and is
set only while the alert fires (NULL once resolved, and NULLs never collide). Two replicas that
race to fire the same alert insert the same key, so exactly one insert succeeds.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class AlertState(StrEnum):
    FIRING = "FIRING"
    RESOLVED = "RESOLVED"


class DeliveryKind(StrEnum):
    FIRING = "FIRING"
    RESOLVED = "RESOLVED"
    REMINDER = "REMINDER"


class DeliveryStatus(StrEnum):
    SENT = "SENT"
    FAILED = "FAILED"


class Alert(Model):
    """A rule that fired for a service (or for the platform when service is null).

    `dedup_key` is rule and service while FIRING and NULL once RESOLVED: the unique index on it
    allows one open alert per rule and service across every replica.
    """

    id = fields.BigIntField(primary_key=True)
    rule = fields.CharField(max_length=64)
    service = fields.ForeignKeyField("models.Service", related_name="alerts", on_delete=fields.CASCADE, null=True)
    state = fields.CharEnumField(AlertState, max_length=16, default=AlertState.FIRING)
    dedup_key = fields.CharField(max_length=128, null=True, unique=True)
    fired_at = fields.DatetimeField()
    resolved_at = fields.DatetimeField(null=True)
    last_notified_at = fields.DatetimeField(null=True)
    reminders_sent = fields.IntField(default=0)
    summary = fields.TextField(default="")
    details = fields.JSONField(default=dict)

    class Meta:
        table = "alert"
        indexes = (Index(fields=("service_id", "fired_at")), Index(fields=("state",)))


class AlertDelivery(Model):
    """One attempt to deliver one notification of an alert to one channel.

    `channel` holds the host of the webhook only: its path and query often carry a secret token.
    """

    id = fields.BigIntField(primary_key=True)
    alert = fields.ForeignKeyField("models.Alert", related_name="deliveries", on_delete=fields.CASCADE)
    channel = fields.CharField(max_length=300)
    kind = fields.CharEnumField(DeliveryKind, max_length=16)
    attempt = fields.IntField()
    status = fields.CharEnumField(DeliveryStatus, max_length=16)
    http_status = fields.IntField(null=True)
    error = fields.TextField(default="")
    at = fields.DatetimeField()

    class Meta:
        table = "alert_delivery"
        indexes = (Index(fields=("alert_id", "at")),)


class AlertOverride(Model):
    """A per-service threshold for one rule, or the rule switched off for that service.

    `threshold` null keeps the global value from settings, in the unit of the rule.
    """

    id = fields.IntField(primary_key=True)
    service = fields.ForeignKeyField("models.Service", related_name="alert_overrides", on_delete=fields.CASCADE)
    rule = fields.CharField(max_length=64)
    threshold = fields.FloatField(null=True)
    is_enabled = fields.BooleanField(default=True)

    class Meta:
        table = "alert_override"
        unique_together = (("service", "rule"),)
