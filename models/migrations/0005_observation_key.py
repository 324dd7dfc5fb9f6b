from tortoise import fields, migrations
from tortoise.migrations import operations as ops

# The column and its unique index are written as SQL that SQLite and PostgreSQL both accept:
# Tortoise 1.1.9 removes a field on SQLite by rebuilding the table, which drops the indexes of
# 0004 and breaks rolling back past it. `AddFieldStateOnly` tells the migration state about the field
# (so makemigrations sees no change) without touching the database a second time.


class AddFieldStateOnly(ops.AddField):
    async def database_forward(self, *args, **kwargs) -> None:
        return None

    async def database_backward(self, *args, **kwargs) -> None:
        return None


class Migration(migrations.Migration):
    dependencies = [('models', '0004_query_indexes')]

    initial = False

    operations = [
        ops.RunSQL(
            [
                'ALTER TABLE "health_check" ADD COLUMN "observation_key" VARCHAR(32)',
                'CREATE UNIQUE INDEX "uid_health_check_observation_key" ON "health_check" ("observation_key")',
            ],
            reverse_sql=[
                'DROP INDEX "uid_health_check_observation_key"',
                'ALTER TABLE "health_check" DROP COLUMN "observation_key"',
            ],
        ),
        AddFieldStateOnly(
            model_name='HealthCheck',
            name='observation_key',
            field=fields.CharField(null=True, unique=True, max_length=32),
        ),
    ]
