"""The status page at `/`, in a real headless Chromium, following a live Vigil without reloading.

The browser is Debian's `chromium` (apt), driven over the DevTools protocol (tests/integration/
browser.py). Without one the tests skip with the reason printed; under VIGIL_TEST_REQUIRE_SERVICES=1
(CI, which installs it in .ci/run) a missing browser is a failure. Screenshots go to the test's
tmp dir, and to VIGIL_TEST_ARTIFACTS (a directory; "1" means ./test-artifacts) when it is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
import shutil
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import uvicorn

from app import create_app
from config import Settings
from demo import DemoTimings, banner
from models import Role
from simulators import Behaviour, CloudgeneSimulator
from tests.conftest import _services_required
from tests.fakes import serving
from tests.integration.browser import Tab, find_chromium, launch
from tests.integration.conftest import LiveVigil, make_settings

ROOT = pathlib.Path(__file__).resolve().parents[2]
REGISTER = """
mutation($name: String!, $url: String!) {
  registerService(input: {name: $name, type: MICHIGAN, apiType: CLOUDGENE, baseUrl: $url, checkIntervalSeconds: 1,
                          timeoutSeconds: 1}) { service { id } }
}"""


@pytest.fixture
def chromium() -> str:
    path = find_chromium()
    if path is None:
        message = "no chromium on PATH (apt-get install -y chromium; or set VIGIL_TEST_CHROMIUM)"
        if _services_required():
            pytest.fail(f"{message}; VIGIL_TEST_REQUIRE_SERVICES is set, so this is a failure")
        print(f"\nSKIP: {message}")
        pytest.skip(message)
    return path


@contextlib.asynccontextmanager
async def vigil(settings: Settings, port: int = 0) -> AsyncIterator[int]:
    """uvicorn serving Vigil on 127.0.0.1:`port` (0: any); yields the bound port."""
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(20):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("uvicorn stopped before it started")
                await asyncio.sleep(0.01)
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        async with asyncio.timeout(20):
            await task


def keep(shot: pathlib.Path) -> None:
    target = os.environ.get("VIGIL_TEST_ARTIFACTS")
    if not target:
        return
    folder = ROOT / "test-artifacts" if target.lower() in ("1", "true", "yes") else pathlib.Path(target)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, folder / shot.name)


def badge(service_id: str) -> str:
    return f"document.querySelector('[data-service-id=\"{service_id}\"] .badge')"


async def status_shown(tab: Tab, service_id: str, status: str, seconds: float = 20) -> None:
    await tab.wait_for(f'{badge(service_id)}?.dataset.status === "{status}"', seconds=seconds)


async def register(live: LiveVigil, name: str, url: str) -> str:
    answer = await live.gql(REGISTER, {"name": name, "url": url})
    assert "errors" not in answer, answer
    return answer["data"]["registerService"]["service"]["id"]


def settings_for(tmp_path: pathlib.Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"probes_enabled": True, "min_check_interval_seconds": 1, "anonymous_read": True}
    values.update(overrides)
    return make_settings(f"sqlite://{tmp_path / 'vigil.db'}", tmp_path, **values)


async def test_the_status_page_shows_a_service_going_down_without_reloading(
    chromium: str, tmp_path: pathlib.Path
) -> None:
    fake = CloudgeneSimulator()
    settings = settings_for(tmp_path)
    async with (
        serving(fake) as fake_url,
        vigil(settings) as port,
        aiohttp.ClientSession() as http,
        launch(chromium, tmp_path / "profile") as tab,
    ):
        live = LiveVigil(url=f"http://127.0.0.1:{port}", http=http, settings=settings)
        sid = await register(live, "Michigan (fake)", fake_url)
        await tab.goto(f"{live.url}/")
        await status_shown(tab, sid, "HEALTHY")
        await tab.wait_for('document.getElementById("connection").dataset.state === "live"')
        assert await tab.evaluate(f"{badge(sid)}.textContent") == "Healthy"
        assert "Michigan" in await tab.evaluate('document.querySelector("#groups h2").textContent')
        await tab.evaluate("window.sameDocument = true")  # gone if the page reloads

        fake.behaviour = Behaviour.HTTP_500
        await status_shown(tab, sid, "UNHEALTHY")
        assert await tab.evaluate("window.sameDocument === true"), "the page reloaded"
        assert await tab.evaluate(f"{badge(sid)}.textContent") == "Down"
        summary = await tab.evaluate('document.getElementById("summary-text").textContent')
        assert "1 down" in summary and "Healthy → Down" in summary
        keep(await tab.screenshot(tmp_path / "status-page-down.png"))

        await tab.evaluate(f'location.hash = "#service/{sid}"')
        await tab.wait_for('document.querySelector("#chart svg polyline")')
        label = await tab.evaluate('document.querySelector("#chart svg").getAttribute("aria-label")')
        assert "failed" in label
        keep(await tab.screenshot(tmp_path / "status-page-detail.png"))


async def test_the_status_page_reconnects_after_a_restart_and_catches_up(chromium: str, tmp_path: pathlib.Path) -> None:
    fake = CloudgeneSimulator()
    settings = settings_for(tmp_path)
    async with (
        serving(fake) as fake_url,
        aiohttp.ClientSession() as http,
        launch(chromium, tmp_path / "profile") as tab,
    ):
        async with vigil(settings) as port:
            live = LiveVigil(url=f"http://127.0.0.1:{port}", http=http, settings=settings)
            sid = await register(live, "TOPMed (fake)", fake_url)
            await tab.goto(f"{live.url}/")
            await status_shown(tab, sid, "HEALTHY")
            await tab.evaluate("window.sameDocument = true")
        await tab.wait_for('document.getElementById("connection").dataset.state === "retrying"')
        fake.behaviour = Behaviour.HTTP_500  # changes while the page is disconnected...
        async with vigil(settings, port):
            await status_shown(tab, sid, "UNHEALTHY", seconds=40)  # ...show up after it reconnects
            await tab.wait_for('document.getElementById("connection").dataset.state === "live"')
        assert await tab.evaluate("window.sameDocument === true"), "the page reloaded"


async def test_without_anonymous_read_the_page_asks_for_a_token_and_then_shows_status(
    chromium: str, tmp_path: pathlib.Path
) -> None:
    fake = CloudgeneSimulator()
    settings = settings_for(tmp_path, anonymous_read=False)
    async with (
        serving(fake) as fake_url,
        vigil(settings) as port,
        aiohttp.ClientSession() as http,
        launch(chromium, tmp_path / "profile") as tab,
    ):
        live = LiveVigil(url=f"http://127.0.0.1:{port}", http=http, settings=settings)
        sid = await register(live, "AfriGen-D (fake)", fake_url)
        await tab.goto(f"{live.url}/")
        await tab.wait_for('!document.getElementById("token-form").hidden')
        token = await live.token(Role.VIEWER)
        await tab.evaluate(
            f'document.getElementById("token-input").value = "{token}";'
            'document.getElementById("token-form").requestSubmit()'
        )
        await status_shown(tab, sid, "HEALTHY")
        assert await tab.evaluate('localStorage.getItem("vigil.token")') == token
        keep(await tab.screenshot(tmp_path / "status-page-token.png"))


async def test_the_page_and_its_assets_are_served_from_vigil_itself(tmp_path: pathlib.Path) -> None:
    settings = settings_for(tmp_path, probes_enabled=False)
    async with vigil(settings) as port, aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{port}"
        async with http.get(f"{base}/", allow_redirects=False) as response:
            assert response.status == 200
            assert response.content_type == "text/html"
            assert "default-src 'self'" in response.headers["Content-Security-Policy"]
            html = await response.text()
        for asset, kind in (("/static/status.js", "javascript"), ("/static/status.css", "text/css")):
            assert asset in html
            async with http.get(f"{base}{asset}") as response:
                assert response.status == 200
                assert kind in response.content_type
        assert "http" not in html.replace("http-equiv", "").split("<footer")[0], "no third-party assets"


def test_the_demo_banner_names_the_status_page_first() -> None:
    lines = [line for line in banner("http://127.0.0.1:8000", "vgl_x", {}, DemoTimings()).splitlines() if ":" in line]
    assert "Status page" in lines[0] and "http://127.0.0.1:8000/ " in lines[0]
