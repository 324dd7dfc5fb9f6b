"""Headless Chromium driven over the DevTools protocol with aiohttp: no driver, no extra package.

`launch()` starts Debian's `chromium` with a fresh profile, reads the DevTools WebSocket address
from its stderr ("DevTools listening on ws://..."), opens one tab and yields a `Tab`. Leaving the
context closes the browser and waits for the process. Waiting for the page is event-driven: a
`MutationObserver` inside the page resolves a promise when a condition holds.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import itertools
import json
import os
import pathlib
import re
import shutil
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
    "--remote-debugging-port=0",
)
LISTENING = re.compile(r"DevTools listening on (ws://\S+)")


class BrowserError(RuntimeError):
    pass


def find_chromium() -> str | None:
    """`VIGIL_TEST_CHROMIUM`, else the first of chromium / chromium-browser / google-chrome on PATH."""
    explicit = os.environ.get("VIGIL_TEST_CHROMIUM")
    if explicit:
        return shutil.which(explicit)
    return next(
        (path for name in ("chromium", "chromium-browser", "google-chrome") if (path := shutil.which(name))), None
    )


class Tab:
    """One page target, attached with `flatten`, so its commands carry our session id."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._session: str | None = None
        self.console: collections.deque[str] = collections.deque(maxlen=200)
        self._loaded = asyncio.Event()

    async def command(self, method: str, params: dict[str, Any] | None = None, *, browser: bool = False) -> Any:
        message_id = next(self._ids)
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params or {}}
        if not browser and self._session is not None:
            message["sessionId"] = self._session
        done: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[message_id] = done
        await self._ws.send_json(message)
        reply = await done
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    async def read(self) -> None:
        """Dispatch replies and the few events we keep; runs in a task the launcher owns."""
        async for frame in self._ws:
            if frame.type is not aiohttp.WSMsgType.TEXT:
                break
            message = json.loads(frame.data)
            if "id" in message:
                waiter = self._waiting.pop(message["id"], None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(message)
                continue
            method, params = message.get("method"), message.get("params", {})
            if method == "Runtime.consoleAPICalled":
                text = " ".join(str(arg.get("value", arg.get("description", ""))) for arg in params.get("args", []))
                self.console.append(f"console.{params.get('type')}: {text}")
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                self.console.append(f"exception: {details.get('exception', {}).get('description') or details}")
            elif method == "Page.loadEventFired":
                self._loaded.set()
        for waiter in self._waiting.values():
            if not waiter.done():
                waiter.set_exception(BrowserError("the DevTools connection closed"))

    async def attach(self) -> None:
        target = await self.command("Target.createTarget", {"url": "about:blank"}, browser=True)
        attached = await self.command(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}, browser=True
        )
        self._session = attached["sessionId"]
        await self.command("Page.enable")
        await self.command("Runtime.enable")

    async def goto(self, url: str, *, seconds: float = 20) -> None:
        self._loaded.clear()
        await self.command("Page.navigate", {"url": url})
        async with asyncio.timeout(seconds):
            await self._loaded.wait()

    async def evaluate(self, expression: str) -> Any:
        reply = await self.command(
            "Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True}
        )
        if "exceptionDetails" in reply:
            raise BrowserError(f"{expression!r} threw: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    async def wait_for(self, condition: str, *, seconds: float = 20) -> Any:
        """Waits until the JS expression `condition` is truthy, re-checking on every DOM change."""
        script = f"""new Promise((resolve) => {{
            const check = () => {{ try {{ const v = ({condition}); if (v) {{ observer.disconnect(); resolve(v); }} }}
                                  catch (e) {{}} }};
            const observer = new MutationObserver(check);
            observer.observe(document, {{subtree: true, childList: true, attributes: true, characterData: true}});
            check();
        }})"""
        try:
            async with asyncio.timeout(seconds):
                return await self.evaluate(script)
        except TimeoutError:
            recent = "\n".join(self.console) or "(nothing logged)"
            raise AssertionError(
                f"timed out after {seconds} s waiting for {condition}; browser console:\n{recent}"
            ) from None

    async def screenshot(self, path: pathlib.Path) -> pathlib.Path:
        """The whole page, not only the window."""
        size = (await self.command("Page.getLayoutMetrics"))["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = await self.command(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
        )
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))
        return path


@contextlib.asynccontextmanager
async def launch(executable: str, profile: pathlib.Path) -> AsyncIterator[Tab]:
    process = await asyncio.create_subprocess_exec(
        executable,
        *FLAGS,
        f"--user-data-dir={profile}",
        "about:blank",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    log: collections.deque[str] = collections.deque(maxlen=100)
    address: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def drain() -> None:  # keeps reading so chromium never blocks on a full pipe
        assert process.stderr is not None
        async for raw in process.stderr:
            line = raw.decode(errors="replace").rstrip()
            log.append(line)
            if (match := LISTENING.search(line)) and not address.done():
                address.set_result(match.group(1))
        if not address.done():
            address.set_exception(BrowserError("chromium exited before DevTools listened:\n" + "\n".join(log)))

    drainer = asyncio.create_task(drain(), name="chromium-stderr")
    try:
        async with asyncio.timeout(30):
            url = await address
        async with aiohttp.ClientSession() as http, http.ws_connect(url, max_msg_size=0) as ws:
            tab = Tab(ws)
            reader = asyncio.create_task(tab.read(), name="devtools-reader")
            try:
                await tab.attach()
                yield tab
                with contextlib.suppress(BrowserError, ConnectionError, TimeoutError):
                    async with asyncio.timeout(5):
                        await tab.command("Browser.close", browser=True)
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
    finally:
        if process.returncode is None:
            try:
                async with asyncio.timeout(5):  # Browser.close was sent, unless the test failed first
                    await process.wait()
            except TimeoutError:
                process.terminate()
                try:
                    async with asyncio.timeout(10):
                        await process.wait()
                except TimeoutError:
                    process.kill()
                    await process.wait()
        async with asyncio.timeout(10):
            await drainer
