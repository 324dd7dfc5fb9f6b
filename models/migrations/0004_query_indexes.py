from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0003_alerts')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='HealthCheck',
            index=Index(fields=['service_id', 'id']),
        ),
        ops.AddIndex(
            model_name='ServiceDependency',
            index=Index(fields=['depends_on_id']),
        ),
        ops.AddIndex(
            model_name='StatusEvent',
            index=Index(fields=['changed_at', 'id']),
        ),
        ops.AddIndex(
            model_name='StatusEvent',
            index=Index(fields=['check_id']),
        ),
    ]
