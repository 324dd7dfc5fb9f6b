"""What the probes saw: every check, and every change of published status."""

from __future__ import annotations

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from probes.result import HealthStatus


class HealthCheck(Model):
    """One probe result. `status` is what was published after hysteresis, `raw_status` what the probe saw."""

    id = fields.BigIntField(primary_key=True)
    service = fields.ForeignKeyField("models.Service", related_name="checks", on_delete=fields.CASCADE)
    checked_at = fields.DatetimeField()
    status = fields.CharEnumField(HealthStatus, max_length=16)
    raw_status = fields.CharEnumField(HealthStatus, max_length=16)
    response_time_ms = fields.FloatField(null=True)
    http_status = fields.IntField(null=True)
    failure_kind = fields.CharField(max_length=32, null=True)
    message = fields.TextField(default="")
    service_version = fields.CharField(max_length=200, null=True)
    maintenance_message = fields.TextField(null=True)
    queue_size = fields.IntField(null=True)
    manual = fields.BooleanField(default=False)
    # The observation key (probes/observation.py) that makes a retried write find its earlier row.
    observation_key = fields.CharField(max_length=32, null=True, unique=True)

    class Meta:
        table = "health_check"
        indexes = (
            Index(fields=("service_id", "checked_at")),  # history within since/until and its count
            Index(fields=("service_id", "id")),  # history pages: newest first, after a cursor (an id)
        )


class StatusEvent(Model):
    """A change of the published status of a service, with the check that caused it."""

    id = fields.BigIntField(primary_key=True)
    service = fields.ForeignKeyField("models.Service", related_name="status_events", on_delete=fields.CASCADE)
    check = fields.ForeignKeyField("models.HealthCheck", related_name="status_events", on_delete=fields.CASCADE)
    previous_status = fields.CharEnumField(HealthStatus, max_length=16)
    status = fields.CharEnumField(HealthStatus, max_length=16)
    changed_at = fields.DatetimeField()

    class Meta:
        table = "status_event"
        indexes = (
            Index(fields=("service_id", "changed_at")),
            Index(fields=("changed_at", "id")),  # the dashboard's latest changes, analytics' changes in a window
            Index(fields=("check_id",)),  # deleting checks (retention, deleteService) looks up the events citing them
        )
