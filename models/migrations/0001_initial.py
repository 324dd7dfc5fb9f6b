from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.access import Role
from probes.result import ApiType, CircuitState, GenomeBuild, HealthStatus, ServiceType
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='ApiToken',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=100)),
                ('role', fields.CharEnumField(description='VIEWER: VIEWER\nOPERATOR: OPERATOR\nADMIN: ADMIN', enum_type=Role, max_length=16)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('prefix', fields.CharField(max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('last_used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'api_token', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AuditEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('actor', fields.CharField(max_length=200)),
                ('action', fields.CharField(max_length=64)),
                ('target_type', fields.CharField(max_length=64)),
                ('target_id', fields.CharField(null=True, max_length=64)),
                ('before', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('after', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'audit_event', 'app': 'models', 'pk_attr': 'id', 'table_description': 'An admin action: who, what, when, and the record before and after (secrets removed).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Service',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=100)),
                ('type', fields.CharEnumField(description='MICHIGAN: MICHIGAN\nH3AFRICA: H3AFRICA\nGA4GH: GA4GH\nDNASTACK: DNASTACK', enum_type=ServiceType, max_length=16)),
                ('api_type', fields.CharEnumField(description='CLOUDGENE: CLOUDGENE\nGA4GH_WES: GA4GH_WES\nGA4GH_SERVICE_INFO: GA4GH_SERVICE_INFO\nGA4GH_SERVICE_REGISTRY: GA4GH_SERVICE_REGISTRY\nDNASTACK: DNASTACK', enum_type=ApiType, max_length=32)),
                ('base_url', fields.CharField(max_length=2048)),
                ('description', fields.TextField(default='', unique=False)),
                ('location', fields.CharField(default='', max_length=200)),
                ('is_active', fields.BooleanField(default=True, db_index=True)),
                ('check_interval_seconds', fields.IntField()),
                ('timeout_seconds', fields.FloatField()),
                ('verify_tls', fields.BooleanField(default=True)),
                ('credential_encrypted', fields.TextField(null=True, unique=False)),
                ('status', fields.CharEnumField(default=HealthStatus.UNKNOWN, db_index=True, description='HEALTHY: HEALTHY\nDEGRADED: DEGRADED\nUNHEALTHY: UNHEALTHY\nMAINTENANCE: MAINTENANCE\nUNKNOWN: UNKNOWN', enum_type=HealthStatus, max_length=16)),
                ('circuit_state', fields.CharEnumField(default=CircuitState.CLOSED, description='CLOSED: CLOSED\nOPEN: OPEN\nHALF_OPEN: HALF_OPEN', enum_type=CircuitState, max_length=16)),
                ('consecutive_failures', fields.IntField(default=0)),
                ('breaker_snapshot', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('hysteresis_snapshot', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('last_checked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('next_check_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('status_changed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('response_time_ms', fields.FloatField(null=True)),
                ('last_failure_kind', fields.CharField(null=True, max_length=32)),
                ('last_message', fields.TextField(default='', unique=False)),
                ('service_version', fields.CharField(null=True, max_length=200)),
                ('capabilities', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('capabilities_synced_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'service', 'app': 'models', 'indexes': [Index(fields=['type', 'api_type'])], 'pk_attr': 'id', 'table_description': 'One imputation or discovery service Vigil watches.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='HealthCheck',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('service', fields.ForeignKeyField('models.Service', source_field='service_id', db_constraint=True, to_field='id', related_name='checks', on_delete=OnDelete.CASCADE)),
                ('checked_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('status', fields.CharEnumField(description='HEALTHY: HEALTHY\nDEGRADED: DEGRADED\nUNHEALTHY: UNHEALTHY\nMAINTENANCE: MAINTENANCE\nUNKNOWN: UNKNOWN', enum_type=HealthStatus, max_length=16)),
                ('raw_status', fields.CharEnumField(description='HEALTHY: HEALTHY\nDEGRADED: DEGRADED\nUNHEALTHY: UNHEALTHY\nMAINTENANCE: MAINTENANCE\nUNKNOWN: UNKNOWN', enum_type=HealthStatus, max_length=16)),
                ('response_time_ms', fields.FloatField(null=True)),
                ('http_status', fields.IntField(null=True)),
                ('failure_kind', fields.CharField(null=True, max_length=32)),
                ('message', fields.TextField(default='', unique=False)),
                ('service_version', fields.CharField(null=True, max_length=200)),
                ('maintenance_message', fields.TextField(null=True, unique=False)),
                ('queue_size', fields.IntField(null=True)),
                ('manual', fields.BooleanField(default=False)),
            ],
            options={'table': 'health_check', 'app': 'models', 'indexes': [Index(fields=['service_id', 'checked_at'])], 'pk_attr': 'id', 'table_description': 'One probe result. `status` is what was published after hysteresis, `raw_status` what the probe saw.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MaintenanceWindow',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('service', fields.ForeignKeyField('models.Service', source_field='service_id', db_constraint=True, to_field='id', related_name='maintenance_windows', on_delete=OnDelete.CASCADE)),
                ('starts_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('reason', fields.TextField(default='', unique=False)),
                ('created_by', fields.CharField(default='', max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'maintenance_window', 'app': 'models', 'indexes': [Index(fields=['service_id', 'ends_at'])], 'pk_attr': 'id', 'table_description': 'A planned outage: checks inside it count as MAINTENANCE, not downtime.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ReferencePanel',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('service', fields.ForeignKeyField('models.Service', source_field='service_id', db_constraint=True, to_field='id', related_name='panels', on_delete=OnDelete.CASCADE)),
                ('key', fields.CharField(max_length=300)),
                ('label', fields.CharField(max_length=500)),
                ('build', fields.CharEnumField(null=True, description='HG19: HG19\nHG38: HG38', enum_type=GenomeBuild, max_length=8)),
                ('populations', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('is_active', fields.BooleanField(default=True)),
                ('first_seen_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('last_seen_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'reference_panel', 'app': 'models', 'unique_together': (('service', 'key'),), 'pk_attr': 'id', 'table_description': 'A panel a service offers. Vanished panels stay, inactive: jobs may still name their key.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ServiceDependency',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('service', fields.ForeignKeyField('models.Service', source_field='service_id', db_constraint=True, to_field='id', related_name='dependencies', on_delete=OnDelete.CASCADE)),
                ('depends_on', fields.ForeignKeyField('models.Service', source_field='depends_on_id', db_constraint=True, to_field='id', related_name='dependents', on_delete=OnDelete.CASCADE)),
                ('required', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'service_dependency', 'app': 'models', 'unique_together': (('service', 'depends_on'),), 'pk_attr': 'id', 'table_description': '`service` needs `depends_on`. A required dependency blocks deleting `depends_on`.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='StatusEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('service', fields.ForeignKeyField('models.Service', source_field='service_id', db_constraint=True, to_field='id', related_name='status_events', on_delete=OnDelete.CASCADE)),
                ('check', fields.ForeignKeyField('models.HealthCheck', source_field='check_id', db_constraint=True, to_field='id', related_name='status_events', on_delete=OnDelete.CASCADE)),
                ('previous_status', fields.CharEnumField(description='HEALTHY: HEALTHY\nDEGRADED: DEGRADED\nUNHEALTHY: UNHEALTHY\nMAINTENANCE: MAINTENANCE\nUNKNOWN: UNKNOWN', enum_type=HealthStatus, max_length=16)),
                ('status', fields.CharEnumField(description='HEALTHY: HEALTHY\nDEGRADED: DEGRADED\nUNHEALTHY: UNHEALTHY\nMAINTENANCE: MAINTENANCE\nUNKNOWN: UNKNOWN', enum_type=HealthStatus, max_length=16)),
                ('changed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'status_event', 'app': 'models', 'indexes': [Index(fields=['service_id', 'changed_at'])], 'pk_attr': 'id', 'table_description': 'A change of the published status of a service, with the check that caused it.'},
            bases=['Model'],
        ),
    ]
