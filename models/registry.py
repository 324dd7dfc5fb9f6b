"""The registry: services, what they offer, what they depend on and when they are down on purpose."""

from __future__ import annotations

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from probes.result import ApiType, CircuitState, GenomeBuild, HealthStatus, ServiceType


class Service(Model):
    """One imputation or discovery service Vigil watches.

    The state of the probe loop (status, breaker, hysteresis, next check) lives on the row so that a
    restart resumes where the last process stopped.
    """

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=100, unique=True)
    type = fields.CharEnumField(ServiceType, max_length=16)
    api_type = fields.CharEnumField(ApiType, max_length=32)
    base_url = fields.CharField(max_length=2048)
    description = fields.TextField(default="")
    location = fields.CharField(max_length=200, default="")
    is_active = fields.BooleanField(default=True, db_index=True)
    check_interval_seconds = fields.IntField()
    timeout_seconds = fields.FloatField()
    verify_tls = fields.BooleanField(default=True)
    credential_encrypted = fields.TextField(null=True)

    status = fields.CharEnumField(HealthStatus, max_length=16, default=HealthStatus.UNKNOWN, db_index=True)
    circuit_state = fields.CharEnumField(CircuitState, max_length=16, default=CircuitState.CLOSED)
    consecutive_failures = fields.IntField(default=0)
    breaker_snapshot = fields.JSONField(null=True)
    hysteresis_snapshot = fields.JSONField(null=True)
    last_checked_at = fields.DatetimeField(null=True)
    next_check_at = fields.DatetimeField(null=True)
    status_changed_at = fields.DatetimeField(null=True)
    response_time_ms = fields.FloatField(null=True)
    last_failure_kind = fields.CharField(max_length=32, null=True)
    last_message = fields.TextField(default="")
    service_version = fields.CharField(max_length=200, null=True)

    capabilities = fields.JSONField(null=True)
    capabilities_synced_at = fields.DatetimeField(null=True)

    sla_target = fields.FloatField(null=True)  # availability target as a share (0.999); null: the default
    cost_per_job = fields.FloatField(null=True)  # what an operator says one job costs here; null: unknown

    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "service"
        ordering = ("id",)
        indexes = (Index(fields=("type", "api_type")),)

    def __repr__(self) -> str:
        return f"Service(id={self.id}, name={self.name!r})"


class ReferencePanel(Model):
    """A panel a service offers. Vanished panels stay, inactive: jobs may still name their key."""

    id = fields.IntField(primary_key=True)
    service: fields.ForeignKeyRelation[Service] = fields.ForeignKeyField(
        "models.Service", related_name="panels", on_delete=fields.CASCADE
    )
    key = fields.CharField(max_length=300)
    label = fields.CharField(max_length=500)
    build = fields.CharEnumField(GenomeBuild, max_length=8, null=True)
    populations = fields.JSONField(default=list)
    is_active = fields.BooleanField(default=True)
    first_seen_at = fields.DatetimeField(auto_now_add=True)
    last_seen_at = fields.DatetimeField(null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "reference_panel"
        unique_together = (("service", "key"),)
        ordering = ("service_id", "key")


class ServiceDependency(Model):
    """`service` needs `depends_on`. A required dependency blocks deleting `depends_on`."""

    id = fields.IntField(primary_key=True)
    service: fields.ForeignKeyRelation[Service] = fields.ForeignKeyField(
        "models.Service", related_name="dependencies", on_delete=fields.CASCADE
    )
    depends_on: fields.ForeignKeyRelation[Service] = fields.ForeignKeyField(
        "models.Service", related_name="dependents", on_delete=fields.CASCADE
    )
    required = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "service_dependency"
        unique_together = (("service", "depends_on"),)
        indexes = (Index(fields=("depends_on_id",)),)  # dependents, and deleting the service depended on


class MaintenanceWindow(Model):
    """A planned outage: checks inside it count as MAINTENANCE, not downtime."""

    id = fields.IntField(primary_key=True)
    service: fields.ForeignKeyRelation[Service] = fields.ForeignKeyField(
        "models.Service", related_name="maintenance_windows", on_delete=fields.CASCADE
    )
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField()
    reason = fields.TextField(default="")
    created_by = fields.CharField(max_length=200, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "maintenance_window"
        indexes = (Index(fields=("service_id", "ends_at")),)
