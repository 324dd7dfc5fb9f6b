"""What Vigil derives from the checks as they are written: rollups per time bucket, and incidents.

Both are maintained in the transaction that writes the checks (`resolvers/recording.py`), so a
query never sees a check that its rollup or incident does not reflect. Raw checks are pruned
after a retention period; rollups and incidents are what long windows read.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from probes.result import HealthStatus


class CheckRollup(Model):
    """Checks of one service in one time bucket: counts per published status, latency, failure kinds.

    `resolution_s` is the bucket width in seconds (60, 3600 or 86400) and `bucket_start` its start
    in UTC, aligned to that width. `latency_hist` maps a log-spaced bin index (as text) to a count,
    so buckets merge by adding counts (see resolvers/rollups.py for the bins and the error bound).
    """

    id = fields.BigIntField(primary_key=True)
    service = fields.ForeignKeyField("models.Service", related_name="rollups", on_delete=fields.CASCADE)
    resolution_s = fields.IntField()
    bucket_start = fields.DatetimeField()
    healthy = fields.IntField(default=0)
    degraded = fields.IntField(default=0)
    unhealthy = fields.IntField(default=0)
    maintenance = fields.IntField(default=0)
    unknown = fields.IntField(default=0)
    latency_count = fields.IntField(default=0)
    latency_sum_ms = fields.FloatField(default=0.0)
    latency_min_ms = fields.FloatField(null=True)
    latency_max_ms = fields.FloatField(null=True)
    latency_hist = fields.JSONField(default=dict)
    failure_kinds = fields.JSONField(default=dict)
    failures = fields.IntField(default=0)  # checks with a failure kind: the sum of failure_kinds, for SQL sums

    class Meta:
        table = "check_rollup"
        unique_together = (("service", "resolution_s", "bucket_start"),)
        indexes = (Index(fields=("resolution_s", "bucket_start")),)


class Incident(Model):
    """A period during which the published status of a service was UNHEALTHY, or MAINTENANCE.

    `ended_at` is null while the incident is open. Check ids are plain numbers, not foreign
    keys: raw checks are pruned after their retention period while incidents are kept.
    """

    id = fields.BigIntField(primary_key=True)
    service = fields.ForeignKeyField("models.Service", related_name="incidents", on_delete=fields.CASCADE)
    kind = fields.CharEnumField(HealthStatus, max_length=16)
    started_at = fields.DatetimeField()
    ended_at = fields.DatetimeField(null=True)
    first_failure_kind = fields.CharField(max_length=32, null=True)
    first_message = fields.TextField(default="")
    started_by_check_id = fields.BigIntField(null=True)
    ended_by_check_id = fields.BigIntField(null=True)
    ended_by_status = fields.CharEnumField(HealthStatus, max_length=16, null=True)

    class Meta:
        table = "incident"
        indexes = (Index(fields=("service_id", "started_at")), Index(fields=("ended_at",)))
