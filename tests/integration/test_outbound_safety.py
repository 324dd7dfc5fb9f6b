"""Vigil refuses to become a way into the network it runs in (server-side request forgery)."""

from __future__ import annotations

import pathlib
from collections.abc import AsyncIterator

import pytest

from models import Service
from tests.integration.conftest import LiveVigil, make_settings, running

REGISTER = """
mutation($url: String!) {
  registerService(input: {name: "Target", type: GA4GH, apiType: GA4GH_SERVICE_INFO, baseUrl: $url}) { service { id } }
}"""
TEST_CONNECTION = "mutation($url: String!) { testConnection(input: {baseUrl: $url}) { apiType } }"
DISCOVER = "mutation($url: String!) { discoverServices(url: $url) { services { baseUrl } } }"


@pytest.fixture
async def strict(database_url: str, tmp_path: pathlib.Path) -> AsyncIterator[LiveVigil]:
    """Vigil with the production default: no private or loopback targets."""
    settings = make_settings(database_url, tmp_path, allow_private_targets=False)
    async with running(settings) as vigil:
        yield vigil


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://169.254.169.254/latest", "cloud metadata"),
        ("http://[::ffff:169.254.169.254]/", "cloud metadata"),
        ("http://127.0.0.1:8080", "loopback"),
        ("http://[::1]:8080", "loopback"),
        ("http://10.20.30.40", "private"),
        ("http://localhost:8080", "loopback"),
    ],
)
async def test_registering_a_forbidden_target_names_the_rule(strict: LiveVigil, url: str, rule: str) -> None:
    for query in (REGISTER, TEST_CONNECTION, DISCOVER):
        answer = await strict.gql(query, {"url": url})
        error = answer["errors"][0]
        assert error["extensions"]["code"] == "BAD_USER_INPUT", (query, answer)
        assert error["extensions"]["rule"] == rule
        assert error["extensions"]["field"] in ("baseUrl", "url")
    assert await Service.all().count() == 0


async def test_metadata_stays_refused_when_private_targets_are_allowed(live: LiveVigil) -> None:
    answer = await live.gql(REGISTER, {"url": "http://169.254.169.254/"})
    assert answer["errors"][0]["extensions"]["rule"] == "cloud metadata"
    private = await live.gql(REGISTER, {"url": "http://10.20.30.40"})
    assert "errors" not in private
