"""The outbound address policy: which addresses a probe may reach, checked where it connects."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer

from probes.address_policy import AddressPolicy, ForbiddenAddress, PolicyResolver
from probes.http import HttpFailure, HttpLimits, HttpResponse, fetch
from probes.result import ApiType, FailureKind, ProbeTarget

STRICT = AddressPolicy()
ON_PREMISE = AddressPolicy(allow_private=True)


@pytest.mark.parametrize(
    ("address", "strict", "on_premise"),
    [
        ("8.8.8.8", None, None),
        ("2001:4860:4860::8888", None, None),
        ("127.0.0.1", "loopback", None),
        ("::1", "loopback", None),
        ("10.1.2.3", "private", None),
        ("172.16.5.4", "private", None),
        ("192.168.0.10", "private", None),
        ("fd12::1", "private", None),
        ("169.254.10.10", "link-local", None),
        ("fe80::1", "link-local", None),
        ("100.64.0.1", "shared (carrier-grade NAT)", None),
        ("::ffff:10.0.0.1", "private", None),
        ("::ffff:127.0.0.1", "loopback", None),
        ("2002:a00:1::1", "private", None),
        ("169.254.169.254", "cloud metadata", "cloud metadata"),
        ("::ffff:169.254.169.254", "cloud metadata", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata", "cloud metadata"),
        ("224.0.0.251", "multicast", "multicast"),
        ("ff02::1", "multicast", "multicast"),
        ("0.0.0.0", "unspecified", "unspecified"),
        ("240.0.0.1", "reserved", "reserved"),
    ],
)
def test_each_range_is_judged_by_its_rule(address: str, strict: str | None, on_premise: str | None) -> None:
    assert STRICT.violation(address) == strict
    assert ON_PREMISE.violation(address) == on_premise


def test_metadata_can_be_allowed_explicitly() -> None:
    assert AddressPolicy(allow_private=True, allow_metadata=True).violation("169.254.169.254") is None


class FixedResolver(AbstractResolver):
    """Answers every name with one address: a DNS name that points somewhere it should not."""

    def __init__(self, address: str) -> None:
        self.address = address

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [{"hostname": host, "host": self.address, "port": port, "family": family, "proto": 0, "flags": 0}]

    async def close(self) -> None:
        return None


@pytest.fixture
async def local_server() -> AsyncIterator[TestServer]:
    async def info(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def to_metadata(request: web.Request) -> web.Response:
        raise web.HTTPFound("http://169.254.169.254/latest/meta-data/")

    app = web.Application()
    app.router.add_get("/service-info", info)
    app.router.add_get("/to-metadata", to_metadata)
    async with TestServer(app) as server:
        yield server


def target(url: str) -> ProbeTarget:
    return ProbeTarget(base_url=url, api_type=ApiType.GA4GH_SERVICE_INFO, timeout_seconds=5)


async def test_a_name_resolving_to_loopback_is_refused_at_connect(local_server: TestServer) -> None:
    resolver = PolicyResolver(STRICT, inner=FixedResolver("127.0.0.1"))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=resolver)) as http:
        url = f"http://innocent.example:{local_server.port}/service-info"
        got = await fetch(http, target(url), url, HttpLimits(address_policy=STRICT))
    assert isinstance(got, HttpFailure)
    assert got.kind is FailureKind.FORBIDDEN_ADDRESS
    assert "loopback" in got.message and "VIGIL_ALLOW_PRIVATE_TARGETS" in got.message


async def test_the_same_name_is_fetched_when_private_targets_are_allowed(local_server: TestServer) -> None:
    resolver = PolicyResolver(ON_PREMISE, inner=FixedResolver("127.0.0.1"))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=resolver)) as http:
        url = f"http://innocent.example:{local_server.port}/service-info"
        got = await fetch(http, target(url), url, HttpLimits(address_policy=ON_PREMISE))
    assert isinstance(got, HttpResponse) and got.status == 200


async def test_an_ip_literal_is_refused_without_connecting() -> None:
    async with aiohttp.ClientSession() as http:
        url = "http://169.254.169.254/latest/meta-data/"
        got = await fetch(http, target(url), url, HttpLimits(address_policy=ON_PREMISE))
    assert isinstance(got, HttpFailure) and got.kind is FailureKind.FORBIDDEN_ADDRESS
    assert "cloud metadata" in got.message


async def test_a_redirect_to_a_forbidden_address_is_refused(local_server: TestServer) -> None:
    async with aiohttp.ClientSession() as http:
        url = str(local_server.make_url("/to-metadata"))
        got = await fetch(http, target(url), url, HttpLimits(address_policy=ON_PREMISE))
    assert isinstance(got, HttpFailure) and got.kind is FailureKind.FORBIDDEN_ADDRESS
    assert got.url.startswith("http://169.254.169.254")


async def test_the_resolver_refuses_when_every_answer_is_forbidden() -> None:
    resolver = PolicyResolver(STRICT, inner=FixedResolver("10.0.0.8"))
    with pytest.raises(ForbiddenAddress) as caught:
        await resolver.resolve("db.internal", 5432)
    assert caught.value.rule == "private"
