"""A live Vigil: uvicorn on 127.0.0.1, a free port, the real app and lifespan, a real database."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import pathlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import uvicorn

from app import create_app
from config import Settings
from models import Role
from resolvers.audit import CLI_ACTOR
from resolvers.tokens import create_token


@dataclasses.dataclass
class LiveVigil:
    url: str
    http: aiohttp.ClientSession
    settings: Settings
    tokens: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"

    @property
    def ws_url(self) -> str:
        return self.graphql_url.replace("http://", "ws://")

    async def token(self, role: Role) -> str:
        if role.value not in self.tokens:
            _, secret = await create_token(f"test-{role.value.lower()}", role, CLI_ACTOR)
            self.tokens[role.value] = secret
        return self.tokens[role.value]

    async def raw(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.http.post(
            self.graphql_url, json={"query": query, "variables": variables or {}}, headers=headers
        ) as response:
            return await response.json()

    async def gql(
        self, query: str, variables: dict[str, Any] | None = None, *, role: Role | None = Role.ADMIN
    ) -> dict[str, Any]:
        token = None if role is None else await self.token(role)
        return await self.raw(query, variables, token=token)


@contextlib.asynccontextmanager
async def serve(settings: Settings, *, log_level: str = "warning") -> AsyncIterator[str]:
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level=log_level, lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(20):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("uvicorn stopped before it started")
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        async with asyncio.timeout(20):
            await task


def make_settings(database_url: str, tmp_path: pathlib.Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "secret_key_file": tmp_path / "vigil.key",
        "probes_enabled": False,
        "allow_private_targets": True,  # the simulators listen on 127.0.0.1
        "graphiql": True,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@contextlib.asynccontextmanager
async def running(settings: Settings, *, log_level: str = "warning") -> AsyncIterator[LiveVigil]:
    """A live Vigil with these settings, and an HTTP client session to call it with; `log_level` is uvicorn's."""
    async with serve(settings, log_level=log_level) as url, aiohttp.ClientSession() as http:
        yield LiveVigil(url=url, http=http, settings=settings)


@pytest.fixture
async def live(database_url: str, tmp_path: pathlib.Path) -> AsyncIterator[LiveVigil]:
    """Vigil on SQLite and on PostgreSQL, probe loop off (registry tests need no probing)."""
    async with running(make_settings(database_url, tmp_path)) as vigil:
        yield vigil


@pytest.fixture
async def anonymous_live(database_url: str, tmp_path: pathlib.Path) -> AsyncIterator[LiveVigil]:
    """Like `live`, with VIGIL_ANONYMOUS_READ on."""
    async with running(make_settings(database_url, tmp_path, anonymous_read=True)) as vigil:
        yield vigil
