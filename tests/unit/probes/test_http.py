"""The HTTP boundary: size caps without buffering, deadlines, redirects and credential scoping."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from probes.http import HttpFailure, HttpLimits, HttpResponse, MalformedResponse, decode_json, fetch
from probes.result import ApiType, FailureKind, ProbeTarget
from simulators import Behaviour, WesSimulator
from tests.fakes import free_port, serving

SECRET = "s3cret-token"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def target(base_url: str, timeout_s: float = 5.0, credential: str | None = None) -> ProbeTarget:
    return ProbeTarget(base_url=base_url, api_type=ApiType.GA4GH_WES, credential=credential, timeout_seconds=timeout_s)


@pytest.mark.parametrize("declare_length", [False, True], ids=["chunked", "content-length"])
async def test_a_50_mb_body_is_refused_as_too_large_without_being_buffered(
    http: aiohttp.ClientSession, declare_length: bool
) -> None:
    sim = WesSimulator()
    sim.behaviour = Behaviour.HUGE_BODY
    sim.declare_length = declare_length
    async with serving(sim, "/ga4gh/wes/v1") as url:
        tracemalloc.start()
        try:
            async with asyncio.timeout(10):
                got = await fetch(http, target(url), url + "/service-info", HttpLimits())
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

    assert isinstance(got, HttpFailure)
    assert (got.kind, got.http_status) == (FailureKind.TOO_LARGE, 200)
    assert peak < 10 * 1024 * 1024


async def test_an_endless_chunked_body_ends_within_the_timeout_as_too_large(
    http: aiohttp.ClientSession,
) -> None:
    sim = WesSimulator()
    sim.behaviour = Behaviour.ENDLESS_BODY
    async with serving(sim) as url:
        async with asyncio.timeout(5):
            got = await fetch(http, target(url, timeout_s=4), url + "/ga4gh/wes/v1/service-info", HttpLimits())

    assert isinstance(got, HttpFailure) and got.kind is FailureKind.TOO_LARGE


async def test_a_server_that_never_answers_times_out_within_the_deadline(http: aiohttp.ClientSession) -> None:
    sim = WesSimulator()
    sim.behaviour = Behaviour.HANG
    async with serving(sim) as url:
        async with asyncio.timeout(3):
            got = await fetch(http, target(url, timeout_s=0.3), url + "/ga4gh/wes/v1/service-info", HttpLimits())
        assert sim.arrived.is_set()

    assert isinstance(got, HttpFailure) and got.kind is FailureKind.TIMEOUT
    assert 250 <= got.elapsed_ms < 2000


async def test_a_released_hang_answers_normally(http: aiohttp.ClientSession) -> None:
    sim = WesSimulator()
    sim.behaviour = Behaviour.HANG
    async with serving(sim) as url:
        request = asyncio.ensure_future(fetch(http, target(url), url + "/ga4gh/wes/v1/service-info", HttpLimits()))
        async with asyncio.timeout(3):
            await sim.arrived.wait()
            assert not request.done()
            sim.release.set()
            got = await request

    assert isinstance(got, HttpResponse) and got.status == 200


async def test_refused_connection_is_a_connect_failure(http: aiohttp.ClientSession) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    got = await fetch(http, target(url), url + "/service-info", HttpLimits())

    assert isinstance(got, HttpFailure) and got.kind is FailureKind.CONNECT


async def test_unresolvable_host_is_a_dns_failure(http: aiohttp.ClientSession) -> None:
    url = "http://vigil-no-such-host.invalid"
    got = await fetch(http, target(url), url + "/service-info", HttpLimits())

    assert isinstance(got, HttpFailure) and got.kind is FailureKind.DNS


async def test_https_to_a_plain_http_server_is_a_tls_failure(http: aiohttp.ClientSession) -> None:
    async with serving(WesSimulator()) as url:
        https_url = url.replace("http://", "https://")
        got = await fetch(http, target(https_url), https_url + "/service-info", HttpLimits())

    assert isinstance(got, HttpFailure) and got.kind is FailureKind.TLS


class Recorder:
    """Answers `/final` with 200 and remembers the headers of every request."""

    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []
        self.app = web.Application()
        self.app.router.add_get("/final", self.final)
        self.app.router.add_get("/hop", self.hop)
        self.next_hop = ""

    async def final(self, request: web.Request) -> web.Response:
        self.headers.append(dict(request.headers))
        return web.json_response({"ok": True})

    async def hop(self, request: web.Request) -> web.Response:
        self.headers.append(dict(request.headers))
        raise web.HTTPFound(self.next_hop)


async def test_credentials_are_not_sent_after_a_cross_origin_redirect(http: aiohttp.ClientSession) -> None:
    home, elsewhere = Recorder(), Recorder()
    async with TestServer(home.app) as home_server, TestServer(elsewhere.app) as other_server:
        home.next_hop = str(other_server.make_url("/hop"))
        elsewhere.next_hop = str(home_server.make_url("/final"))  # and back home again
        base = str(home_server.make_url("")).rstrip("/")
        got = await fetch(
            http,
            target(base, credential=SECRET),
            base + "/hop",
            HttpLimits(),
            auth_headers={"Authorization": SECRET},
        )

    assert isinstance(got, HttpResponse) and got.status == 200
    assert home.headers[0]["Authorization"] == SECRET
    assert "Authorization" not in elsewhere.headers[0]
    assert "Authorization" not in home.headers[1]  # never again once the chain left the origin
    assert not got.credential_sent
    assert home.headers[0]["User-Agent"].startswith("Vigil/")


async def test_credentials_follow_a_same_origin_redirect(http: aiohttp.ClientSession) -> None:
    home = Recorder()
    async with TestServer(home.app) as server:
        home.next_hop = "/final"
        base = str(server.make_url("")).rstrip("/")
        got = await fetch(http, target(base), base + "/hop", HttpLimits(), auth_headers={"X-Auth-Token": SECRET})

    assert isinstance(got, HttpResponse) and got.credential_sent
    assert [h.get("X-Auth-Token") for h in home.headers] == [SECRET, SECRET]


async def test_a_redirect_loop_is_a_redirect_failure(http: aiohttp.ClientSession) -> None:
    home = Recorder()
    async with TestServer(home.app) as server:
        home.next_hop = "/hop"
        base = str(server.make_url("")).rstrip("/")
        got = await fetch(http, target(base), base + "/hop", HttpLimits())

    assert isinstance(got, HttpFailure) and got.kind is FailureKind.REDIRECT
    assert "loop" in got.message


async def test_more_redirects_than_the_limit_is_a_redirect_failure(http: aiohttp.ClientSession) -> None:
    app = web.Application()

    async def step(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"/step/{int(request.match_info['n']) + 1}")

    app.router.add_get("/step/{n}", step)
    async with TestServer(app) as server:
        base = str(server.make_url("")).rstrip("/")
        got = await fetch(http, target(base), base + "/step/0", HttpLimits(max_redirects=3))

    assert isinstance(got, HttpFailure) and got.kind is FailureKind.REDIRECT
    assert got.url.endswith("/step/3")


@pytest.mark.parametrize(
    "body",
    [b"\xff\xfe not utf-8", b"<html>proxy</html>", b"[" * 100_000, b"1" * 5000, b""],
    ids=["invalid-utf8", "html", "deep-nesting", "huge-int", "empty"],
)
def test_bodies_that_are_not_json_raise_malformed_response(body: bytes) -> None:
    with pytest.raises(MalformedResponse) as caught:
        decode_json(body)
    assert caught.value.kind is FailureKind.INVALID_RESPONSE


def test_json_is_parsed_whatever_the_content_type_and_with_a_bom() -> None:
    assert decode_json(b'\xef\xbb\xbf{"maintenace": false}') == {"maintenace": False}
