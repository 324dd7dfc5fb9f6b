"""Deps for resolver tests: a real session, cipher and memory broker over the `db` fixture.

Every fixture here depends on `db`, so each test runs once on SQLite and once on PostgreSQL.
The probe loop is off (`supervisor=None`); tests that need one build it themselves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from config import Settings
from events import Broker, open_broker
from probes.http import HttpLimits
from probes.result import ApiType, ServiceType
from resolvers.audit import Actor
from resolvers.credentials import CredentialCipher
from resolvers.deps import Deps
from resolvers.registration import ServiceFields, register_service
from tests.fakes.webhook import WebhookReceiver as Receiver
from tests.fakes.webhook import receiving

ADMIN = Actor(name="alice", token_id=1)


@pytest.fixture
async def deps(db: str) -> AsyncIterator[Deps]:
    settings = Settings(database_url=db, probes_enabled=False, default_timeout_seconds=5.0)
    async with aiohttp.ClientSession() as http, open_broker(None) as broker:
        yield Deps(
            settings=settings,
            http=http,
            limits=HttpLimits(),
            cipher=CredentialCipher(b"test-key-material-123"),
            broker=broker,
            supervisor=None,
        )


async def add_service(
    deps: Deps,
    base_url: str,
    *,
    name: str = "Test service",
    api_type: ApiType = ApiType.CLOUDGENE,
    service_type: ServiceType = ServiceType.MICHIGAN,
    credential: str | None = None,
    is_active: bool = True,
) -> int:
    """Register a service through the real use case (no detection: the API type is given)."""
    fields = ServiceFields(
        name=name,
        type=service_type,
        api_type=api_type,
        base_url=base_url,
        credential=credential,
        is_active=is_active,
    )
    return (await register_service(deps, fields, ADMIN)).id


Wires = tuple[aiohttp.ClientSession, Broker]
"""The HTTP session and broker an AlertEvaluator needs."""


@pytest.fixture
async def wires() -> AsyncIterator[Wires]:
    async with aiohttp.ClientSession() as http, open_broker(None) as broker:
        yield http, broker


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    async with receiving() as pair:
        yield pair
