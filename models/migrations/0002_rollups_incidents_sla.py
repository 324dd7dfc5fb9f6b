from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from probes.result import HealthStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CheckRollup',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('service', fields.ForeignKeyField('models.Service', source_field='service_id', db_constraint=True, to_field='id', related_name='rollups', on_delete=OnDelete.CASCADE)),
                ('resolution_s', fields.IntField()),
                ('bucket_start', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('healthy', fields.IntField(default=0)),
                ('degraded', fields.IntField(default=0)),
                ('unhealthy', fields.IntField(default=0)),
                ('maintenance', fields.IntField(default=0)),
                ('unknown', fields.IntField(default=0)),
                ('latency_count', fields.IntField(default=0)),
                ('latency_sum_ms', fields.FloatField(default=0.0)),
                ('latency_min_ms', fields.FloatField(null=True)),
                ('latency_max_ms', fields.FloatField(null=True)),
                ('latency_hist', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('failure_kinds', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('failures', fields.IntField(default=0)),
            ],
            options={'table': 'check_rollup', 'app': 'models', 'unique_together': (('service', 'resolution_s', 'bucket_start'),), 'indexes': [Index(fields=['resolution_s', 'bucket_start'])], 'pk_attr': 'id', 'table_description': 'Checks of one service in one time bucket: counts per published status, latency, failure kinds.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Incident',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('service', fields.ForeignKeyField('models.Service', source_field='service_id', db_constraint=True, to_field='id', related_name='incidents', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='HEALTHY: HEALTHY\nDEGRADED: DEGRADED\nUNHEALTHY: UNHEALTHY\nMAINTENANCE: MAINTENANCE\nUNKNOWN: UNKNOWN', enum_type=HealthStatus, max_length=16)),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ended_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('first_failure_kind', fields.CharField(null=True, max_length=32)),
                ('first_message', fields.TextField(default='', unique=False)),
                ('started_by_check_id', fields.BigIntField(null=True)),
                ('ended_by_check_id', fields.BigIntField(null=True)),
                ('ended_by_status', fields.CharEnumField(null=True, description='HEALTHY: HEALTHY\nDEGRADED: DEGRADED\nUNHEALTHY: UNHEALTHY\nMAINTENANCE: MAINTENANCE\nUNKNOWN: UNKNOWN', enum_type=HealthStatus, max_length=16)),
            ],
            options={'table': 'incident', 'app': 'models', 'indexes': [Index(fields=['service_id', 'started_at']), Index(fields=['ended_at'])], 'pk_attr': 'id', 'table_description': 'A period during which the published status of a service was UNHEALTHY, or MAINTENANCE.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Service',
            name='cost_per_job',
            field=fields.FloatField(null=True),
        ),
        ops.AddField(
            model_name='Service',
            name='sla_target',
            field=fields.FloatField(null=True),
        ),
    ]
