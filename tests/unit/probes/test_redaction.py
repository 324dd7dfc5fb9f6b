"""`redact`, and the probe entry points that apply it to what a reflecting server sends back."""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import AsyncIterator

import aiohttp
import pytest

from probes.adapter import Discovery, check, discover
from probes.discovery import detect, discover_services
from probes.http import HttpLimits
from probes.redaction import REDACTED, redact
from probes.result import (
    ApiType,
    Capabilities,
    FailureKind,
    HealthStatus,
    PanelInfo,
    Population,
    ProbeResult,
    ProbeTarget,
)
from tests.fakes.reflecting import reflecting

SECRET = "tok-3f9a/+c1e7"
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_every_string_of_a_nested_value_loses_the_secret_raw_and_percent_encoded() -> None:
    quoted = urllib.parse.quote(SECRET, safe="")
    found = Discovery(
        ProbeResult(HealthStatus.MAINTENANCE, NOW, message=f"as {SECRET}", maintenance_message=f"back for {quoted}"),
        Capabilities(
            name=SECRET,
            panels=(PanelInfo(key=f"apps@{SECRET}@1", label="HRC", populations=(Population("eur", SECRET),)),),
        ),
    )

    clean = redact(found, SECRET)

    assert SECRET not in repr(clean) and quoted not in repr(clean)
    assert clean.result.message == f"as {REDACTED}"
    assert clean.result.maintenance_message == f"back for {REDACTED}"
    assert clean.capabilities is not None and clean.capabilities.panels[0].key == f"apps@{REDACTED}@1"
    assert clean.capabilities.panels[0].populations[0].name == REDACTED
    assert clean.result.status is HealthStatus.MAINTENANCE and clean.result.checked_at == NOW


def test_a_value_without_the_secret_comes_back_as_the_same_object() -> None:
    result = ProbeResult(HealthStatus.HEALTHY, NOW, message="fine", failure_kind=FailureKind.AUTH)
    assert redact(result, SECRET) is result
    assert redact(result, None) is result


def test_a_credential_too_short_to_protect_anything_is_left_alone() -> None:
    result = ProbeResult(HealthStatus.UNHEALTHY, NOW, message="HTTP 500")
    assert redact(result, "500").message == "HTTP 500"


@pytest.fixture
async def reflector() -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    async with reflecting() as (_, base), aiohttp.ClientSession() as http:
        yield http, base


async def test_check_and_discover_never_return_the_credential_a_server_reflects(
    reflector: tuple[aiohttp.ClientSession, str],
) -> None:
    http, base = reflector
    cloudgene = ProbeTarget(base_url=f"{base}/cg-maintenance", api_type=ApiType.CLOUDGENE, credential=SECRET)
    wes = ProbeTarget(base_url=f"{base}/wes-info", api_type=ApiType.GA4GH_WES, credential=SECRET)

    maintenance = await check(http, cloudgene, HttpLimits())
    wes_found = await discover(http, wes, HttpLimits())

    assert maintenance.maintenance_message == f"Back soon; your token {REDACTED} will work again"
    assert wes_found.result.service_version == REDACTED
    assert SECRET not in repr(maintenance) + repr(wes_found)


async def test_detection_and_a_registry_crawl_never_return_the_credential_a_server_reflects(
    reflector: tuple[aiohttp.ClientSession, str],
) -> None:
    http, base = reflector

    detected = await detect(http, f"{base}/cg-apps", HttpLimits(), SECRET)
    crawled = await discover_services(http, f"{base}/dnastack", HttpLimits(), SECRET)

    assert detected.api_type is ApiType.CLOUDGENE
    assert detected.discovery.panels is not None
    assert [p.key for p in detected.discovery.panels] == [f"apps@{REDACTED}@1.0"]
    assert [s.api_type for s in crawled] == [ApiType.DNASTACK, ApiType.GA4GH_WES]
    listed = crawled[1]
    assert listed.name == f"Listed {REDACTED}" and listed.result.service_version == REDACTED
    everything = repr(detected) + repr(crawled)
    assert SECRET not in everything and urllib.parse.quote(SECRET, safe="") not in everything


@pytest.mark.parametrize("secret", [None, SECRET])
def test_nul_and_lone_surrogates_become_replacement_characters_with_or_without_a_credential(
    secret: str | None,
) -> None:
    result = ProbeResult(HealthStatus.HEALTHY, NOW, message="a\x00b", service_version="2.0\ud800")
    clean = redact(result, secret)
    assert (clean.message, clean.service_version) == ("a\ufffdb", "2.0\ufffd")
    clean.message.encode()  # storable: no surrogate left
