"""Fixtures shared by every test: reachable external services, or a printed reason to skip.

`VIGIL_TEST_DATABASE_URL` and `VIGIL_TEST_REDIS_URL` name the PostgreSQL and Redis to use
(defaults: the local ones). With `VIGIL_TEST_REQUIRE_SERVICES=1` (CI) an unreachable service
fails the test instead of skipping it, so a green CI run means they were really exercised.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
import shutil
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"


def _services_required() -> bool:
    return os.environ.get("VIGIL_TEST_REQUIRE_SERVICES", "") not in ("", "0", "false", "no")


async def _reachable(url: str, default_port: int) -> str | None:
    """None when something accepts TCP connections at the URL's host and port, else the reason."""
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        async with asyncio.timeout(2):
            _, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError) as exc:
        return f"{host}:{port} unreachable ({exc.__class__.__name__}: {exc})"
    writer.close()
    await writer.wait_closed()
    return None


async def _service_url(env_name: str, default: str, default_port: int, what: str) -> str:
    url = os.environ.get(env_name, default)
    reason = await _reachable(url, default_port)
    if reason is not None:
        message = f"{what} not reachable at {url}: {reason} (set {env_name})"
        if _services_required():
            pytest.fail(f"{message}; VIGIL_TEST_REQUIRE_SERVICES is set, so this is a failure")
        print(f"\nSKIP: {message}")
        pytest.skip(message)
    return url


@pytest.fixture
async def pg_url() -> str:
    """A PostgreSQL server URL (database `test`); the test makes its own database on it."""
    return await _service_url("VIGIL_TEST_DATABASE_URL", DEFAULT_PG_URL, 5432, "PostgreSQL")


@pytest.fixture
async def redis_url() -> str:
    """A Redis URL; tests flush nothing they did not write and use their own key prefixes."""
    return await _service_url("VIGIL_TEST_REDIS_URL", DEFAULT_REDIS_URL, 6379, "Redis")


@contextlib.asynccontextmanager
async def fresh_postgres_database(server_url: str) -> AsyncIterator[str]:
    """A new, empty database on the server of `server_url`, dropped on exit even on failure."""
    import asyncpg

    name = f"vigil_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(_asyncpg_dsn(server_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield _with_database(server_url, name)
    finally:
        admin = await asyncpg.connect(_asyncpg_dsn(server_url))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def _with_database(server_url: str, name: str) -> str:
    parts = urllib.parse.urlsplit(server_url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def _asyncpg_dsn(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]


# Migrating a database takes seconds, and creating or dropping a PostgreSQL database forces a
# checkpoint. So each session migrates one PostgreSQL database (dropped when the session ends)
# and empties it before every test, and one SQLite file that every test gets a copy of.
_PG_TEMPLATES: dict[str, str] = {}
_SQLITE_TEMPLATE: list[pathlib.Path] = []
_KEEP = ("tortoise_migrations",)


async def _migrate(url: str) -> None:
    from models.db import open_database, tortoise_config

    async with open_database(tortoise_config(url)):
        pass


async def _pg_session_database(server: str) -> str:
    import asyncpg

    if server not in _PG_TEMPLATES:
        name = f"vigil_test_session_{uuid.uuid4().hex[:12]}"
        admin = await asyncpg.connect(_asyncpg_dsn(server))
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        _PG_TEMPLATES[server] = name
        await _migrate(_with_database(server, name))
    url = _with_database(server, _PG_TEMPLATES[server])
    connection = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        tables = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        # DELETE on these near-empty tables is far cheaper than TRUNCATE (new files, fsyncs);
        # replica mode skips the foreign-key triggers so the order does not matter.
        async with connection.transaction():
            await connection.execute("SET LOCAL session_replication_role = replica")
            for row in tables:
                if row["tablename"] not in _KEEP:
                    await connection.execute(f'DELETE FROM "{row["tablename"]}"')
    finally:
        await connection.close()
    return url


async def _sqlite_template(directory: pathlib.Path) -> pathlib.Path:
    if not _SQLITE_TEMPLATE:
        path = directory / "template.db"
        await _migrate(f"sqlite://{path}")
        _SQLITE_TEMPLATE.append(path)
    return _SQLITE_TEMPLATE[0]


@pytest.fixture(scope="session", autouse=True)
def _drop_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    yield
    if not _PG_TEMPLATES:
        return

    async def drop() -> None:
        import asyncpg

        for server, name in _PG_TEMPLATES.items():
            admin = await asyncpg.connect(_asyncpg_dsn(server))
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()

    asyncio.run(drop())


@pytest.fixture(params=["sqlite", "postgres"])
async def empty_database_url(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> AsyncIterator[str]:
    """An empty, unmigrated database URL, once on SQLite and once on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'vigil.db'}"
        return
    server = await _service_url("VIGIL_TEST_DATABASE_URL", DEFAULT_PG_URL, 5432, "PostgreSQL")
    async with fresh_postgres_database(server) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """A migrated database holding no rows, once on SQLite and once on PostgreSQL (the session's
    database, emptied for this test)."""
    if request.param == "sqlite":
        template = await _sqlite_template(tmp_path_factory.getbasetemp())
        path = tmp_path / "vigil.db"
        shutil.copyfile(template, path)
        yield f"sqlite://{path}"
        return
    server = await _service_url("VIGIL_TEST_DATABASE_URL", DEFAULT_PG_URL, 5432, "PostgreSQL")
    yield await _pg_session_database(server)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[str]:
    """Tortoise initialised on a migrated database holding no rows; yields its URL."""
    from models.db import open_database, tortoise_config

    async with open_database(tortoise_config(database_url), apply_migrations=False):
        yield database_url
