"""Turns Settings into a Tortoise configuration, and applies or rolls back migrations."""

from __future__ import annotations

import contextlib
import pkgutil
from collections.abc import AsyncIterator
from typing import Any

from tortoise import Tortoise
from tortoise.exceptions import OperationalError
from tortoise.migrations.api import migrate as tortoise_migrate
from tortoise.migrations.recorder import MigrationRecorder

APP_LABEL = "models"
MODEL_MODULES = ["models.registry", "models.history", "models.access", "models.insight", "models.alerts"]


def connection_name(database_url: str) -> str:
    # Tortoise caches SQL per connection name; one name per backend keeps SQLite placeholders
    # out of PostgreSQL queries when both run in one process (stack-notes gotcha 12).
    return "sqlite" if database_url.startswith("sqlite://") else "pg"


def tortoise_config(database_url: str, *, pool_max_size: int = 10) -> dict[str, Any]:
    name = connection_name(database_url)
    credentials_url = database_url
    if database_url.startswith("postgresql://"):
        credentials_url = "postgres://" + database_url.removeprefix("postgresql://")
    connection: str | dict[str, Any] = credentials_url
    if name == "pg":
        connection = credentials_url + ("&" if "?" in credentials_url else "?") + f"maxsize={pool_max_size}"
    return {
        "connections": {name: connection},
        "apps": {
            APP_LABEL: {
                "models": MODEL_MODULES,
                "default_connection": name,
                "migrations": "models.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


async def migrate(config: dict[str, Any], target: str | None = None) -> None:
    """Apply every migration, or move to `target` (a migration name, or "zero" to undo all)."""
    if target is None:
        await tortoise_migrate(config=config)
    elif target == "zero":
        await tortoise_migrate(config=config, target=f"{APP_LABEL}.__first__", direction="backward")
    else:
        await tortoise_migrate(config=config, target=f"{APP_LABEL}.{target}")


@contextlib.asynccontextmanager
async def open_database(config: dict[str, Any], *, apply_migrations: bool = True) -> AsyncIterator[None]:
    """Initialises Tortoise for this process, brings the schema up to date, closes on exit."""
    # Migrating initialises Tortoise itself, replacing any earlier context, so it runs first.
    # The global fallback then makes the ORM visible to every task (request handlers, the
    # probe loop), not only to the task that ran the lifespan, where a contextvar would end.
    if apply_migrations:
        await migrate(config)
        await Tortoise.close_connections()
    await Tortoise.init(config=config, _enable_global_fallback=True)
    try:
        yield
    finally:
        await Tortoise.close_connections()


def migrations_on_disk() -> list[str]:
    from models import migrations

    return sorted(
        f"{APP_LABEL}.{info.name}" for info in pkgutil.iter_modules(migrations.__path__) if info.name[:4].isdigit()
    )


async def pending_migrations(config: dict[str, Any]) -> list[str]:
    """Migrations on disk that the database has not applied (empty: up to date).

    Reads the migration table directly instead of planning a migration, because planning
    re-initialises Tortoise, which a running app must not do.
    """
    connection = Tortoise.get_connection(next(iter(config["connections"])))
    try:
        applied = {f"{key.app_label}.{key.name}" for key in await MigrationRecorder(connection).applied_migrations()}
    except OperationalError:
        applied = set()
    return [name for name in migrations_on_disk() if name not in applied]
