from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.alerts import AlertState, DeliveryKind, DeliveryStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0002_rollups_incidents_sla')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Alert',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('rule', fields.CharField(max_length=64)),
                ('service', fields.ForeignKeyField('models.Service', source_field='service_id', null=True, db_constraint=True, to_field='id', related_name='alerts', on_delete=OnDelete.CASCADE)),
                ('state', fields.CharEnumField(default=AlertState.FIRING, description='FIRING: FIRING\nRESOLVED: RESOLVED', enum_type=AlertState, max_length=16)),
                ('dedup_key', fields.CharField(null=True, unique=True, max_length=128)),
                ('fired_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('resolved_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_notified_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('reminders_sent', fields.IntField(default=0)),
                ('summary', fields.TextField(default='', unique=False)),
                ('details', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'alert', 'app': 'models', 'indexes': [Index(fields=['service_id', 'fired_at']), Index(fields=['state'])], 'pk_attr': 'id', 'table_description': 'A rule that fired for a service (or for the platform when service is null).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AlertDelivery',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('alert', fields.ForeignKeyField('models.Alert', source_field='alert_id', db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE)),
                ('channel', fields.CharField(max_length=300)),
                ('kind', fields.CharEnumField(description='FIRING: FIRING\nRESOLVED: RESOLVED\nREMINDER: REMINDER', enum_type=DeliveryKind, max_length=16)),
                ('attempt', fields.IntField()),
                ('status', fields.CharEnumField(description='SENT: SENT\nFAILED: FAILED', enum_type=DeliveryStatus, max_length=16)),
                ('http_status', fields.IntField(null=True)),
                ('error', fields.TextField(default='', unique=False)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'alert_delivery', 'app': 'models', 'indexes': [Index(fields=['alert_id', 'at'])], 'pk_attr': 'id', 'table_description': 'One attempt to deliver one notification of an alert to one channel.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AlertOverride',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('service', fields.ForeignKeyField('models.Service', source_field='service_id', db_constraint=True, to_field='id', related_name='alert_overrides', on_delete=OnDelete.CASCADE)),
                ('rule', fields.CharField(max_length=64)),
                ('threshold', fields.FloatField(null=True)),
                ('is_enabled', fields.BooleanField(default=True)),
            ],
            options={'table': 'alert_override', 'app': 'models', 'unique_together': (('service', 'rule'),), 'pk_attr': 'id', 'table_description': 'A per-service threshold for one rule, or the rule switched off for that service.'},
            bases=['Model'],
        ),
    ]
