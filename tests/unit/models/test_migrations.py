"""Versioned migrations apply and roll back on SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest
from tortoise import Tortoise
from tortoise.exceptions import OperationalError

from models import Service
from models.db import migrate, open_database, pending_migrations, tortoise_config

ALL = [
    "models.0001_initial",
    "models.0002_rollups_incidents_sla",
    "models.0003_alerts",
    "models.0004_query_indexes",
    "models.0005_observation_key",
]


async def test_migrations_apply_then_roll_back_to_nothing(empty_database_url: str) -> None:
    config = tortoise_config(empty_database_url)
    async with open_database(config, apply_migrations=False):
        assert await pending_migrations(config) == ALL
        await migrate(config)
        assert await pending_migrations(config) == []
        assert await Service.all().count() == 0
        await migrate(config, "zero")
        assert await pending_migrations(config) == ALL
        connection = Tortoise.get_connection(next(iter(config["connections"])))
        with pytest.raises(OperationalError):
            await connection.execute_query("SELECT count(*) FROM service")
        await migrate(config)
        assert await Service.all().count() == 0
