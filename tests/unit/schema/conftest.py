"""The schema harness the fuzz targets share: one per module and backend, SQLite and PostgreSQL.

One migrated database per module, not per test: the examples of a Hypothesis run share the
database anyway (a refusal is judged by comparing every table before and after), and migrating
once per test would cost more than the fuzzing. Module scope also keeps other modules' `db`
fixtures, which re-initialise Tortoise for the process, from running while a harness is open.
Both backends, because they refuse different things: PostgreSQL a NUL in text or an id past
32 bits, SQLite neither.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.conftest import DEFAULT_PG_URL, _service_url, fresh_postgres_database
from tests.fuzzing.harness import SchemaHarness


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def harness(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SchemaHarness]:
    if request.param == "sqlite":
        with SchemaHarness(f"sqlite://{tmp_path_factory.mktemp('fuzz') / 'vigil.db'}") as opened:
            yield opened
        return
    # A loop of its own that outlives the harness: the database is dropped when its context ends.
    with asyncio.Runner() as runner:
        server = runner.run(_service_url("VIGIL_TEST_DATABASE_URL", DEFAULT_PG_URL, 5432, "PostgreSQL"))
        database = fresh_postgres_database(server)
        url = runner.run(database.__aenter__())
        try:
            with SchemaHarness(url) as opened:
                yield opened
        finally:
            runner.run(database.__aexit__(None, None, None))
