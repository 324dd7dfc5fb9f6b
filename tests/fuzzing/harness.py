"""Vigil's real schema over a real database, driven from the synchronous code Hypothesis calls.

Hypothesis calls a test once per example, and the examples of a run share one database: a
refused input must leave it exactly as it was, whatever came before. So the harness owns an
event loop (`asyncio.Runner`) of its own for its whole life, and every await goes through `run`.
Requests go through `schema.execute` with an ADMIN context, which is what the HTTP view does
after it has read the body and the token; tests/unit/schema/test_http_fuzz.py covers the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable
from types import TracebackType
from typing import Any, Self, TypeVar

import aiohttp
from starlette.requests import Request
from tortoise import Tortoise

from config import Settings
from events import open_broker
from models import Role
from models.db import open_database, tortoise_config
from probes.http import HttpLimits
from probes.result import ApiType, ServiceType
from resolvers.credentials import CredentialCipher
from resolvers.deps import Deps
from resolvers.registration import ServiceFields, register_service
from resolvers.tokens import Principal
from schema.build import build_schema
from schema.context import Context
from tests.fuzzing.contract import error_codes

T = TypeVar("T")

ADMIN = Principal(name="fuzz-admin", role=Role.ADMIN)

APPEND_ONLY = frozenset({"AuditEvent"})
"""Tables that only grow: compared by row count, so a long run does not read the whole audit trail."""


class SchemaHarness:
    """The schema the app builds, over `database_url` (migrated on entry), with the probe loop off.

    No address policy and no probe loop: nothing a fuzz target sends may reach the network.
    Targets never omit `apiType` (which would make registration detect it over HTTP) and never
    call the mutations that fetch (`testConnection`, `discoverServices`, `checkServiceHealth`,
    `syncReferencePanels`).
    """

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._runner = asyncio.Runner()
        self._stack = contextlib.AsyncExitStack()

    def __enter__(self) -> Self:
        try:
            self.run(self._open())
        except BaseException:
            self._runner.close()
            raise
        return self

    def __exit__(self, *exc_info: type[BaseException] | BaseException | TracebackType | None) -> None:
        try:
            self.run(self._stack.aclose())
        finally:
            self._runner.close()

    async def _open(self) -> None:
        self.settings = Settings(_env_file=None, database_url=self.database_url, probes_enabled=False)
        await self._stack.enter_async_context(open_database(tortoise_config(self.database_url)))
        http = await self._stack.enter_async_context(aiohttp.ClientSession())
        broker = await self._stack.enter_async_context(open_broker(None))
        self.deps = Deps(
            settings=self.settings,
            http=http,
            limits=HttpLimits(),
            cipher=CredentialCipher(b"fuzz-key-material-0123456789"),
            broker=broker,
        )
        self.schema = build_schema(self.settings)

    def run(self, awaitable: Awaitable[T]) -> T:
        """Await on the harness's loop (a query set is awaitable, not a coroutine)."""

        async def wait() -> T:
            return await awaitable

        return self._runner.run(wait())

    def new_service(
        self, api_type: ApiType = ApiType.CLOUDGENE, service_type: ServiceType = ServiceType.MICHIGAN, **extra: Any
    ) -> int:
        """A new, valid service to change, registered through the use case rather than the API under test."""
        tag = uuid.uuid4().hex[:12]
        fields = ServiceFields(
            name=f"fuzz {tag}", type=service_type, api_type=api_type, base_url=f"https://{tag}.example.org", **extra
        )
        return self.run(register_service(self.deps, fields, ADMIN.actor())).id

    def execute(self, document: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The response body the HTTP view would send for this document, run as an ADMIN."""
        return self.run(self._execute(document, variables))

    async def _execute(self, document: str, variables: dict[str, Any] | None) -> dict[str, Any]:
        request = Request({"type": "http", "method": "POST", "path": "/graphql", "headers": [], "client": ("fuzz", 1)})
        context = Context(deps=self.deps, request=request, response=None, _principal=ADMIN)
        result = await self.schema.execute(document, variable_values=variables, context_value=context)
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [error.formatted for error in result.errors]
        if result.extensions:
            body["extensions"] = result.extensions
        return body

    def query(self, document: str, variables: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[str]]:
        """Run a read; assert the response contract and return the response and its error codes."""
        response = self.execute(document, variables)
        return response, error_codes(response, (document, variables))

    def mutate(self, document: str, variables: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[str]]:
        """Run a change like `query`, and assert that a refused one left every table as it was."""
        before = self.state()
        response, codes = self.query(document, variables)
        if codes:
            assert self.state() == before, f"refused with {codes}, yet the database changed"
        return response, codes

    def state(self) -> dict[str, object]:
        """Every table's rows (the row count for append-only ones): equal before and after a
        refused mutation, or it changed something."""
        return self.run(self._state())

    async def _state(self) -> dict[str, object]:
        state: dict[str, object] = {}
        for name, model in sorted(Tortoise.apps["models"].items()):
            if name in APPEND_ONLY:
                state[name] = await model.all().count()
            else:
                state[name] = await model.all().order_by(model._meta.pk_attr).values()
        return state
