"""Real Vigil replicas for tests: `vigil serve` in child processes sharing one PostgreSQL and one Redis.

Two apps cannot share one process (Tortoise keeps one global context), and replicas are separate
processes in production anyway. Each child gets a free port; `replica` waits for `/readyz`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, BinaryIO

import aiohttp

from config import Settings
from models.leases import SLOT_COUNT
from tests.integration.conftest import LiveVigil

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def admin_token(env: Mapping[str, str]) -> str:
    """An ADMIN token made with `vigil token create` against the shared database (migrating it first)."""
    done = subprocess.run(
        [sys.executable, "cli.py", "token", "create", "--name", "replica-tests", "--role", "ADMIN"],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


@contextlib.asynccontextmanager
async def replica(env: Mapping[str, str], log_path: str, token: str) -> AsyncIterator[ReplicaProcess]:
    """A `vigil serve` child with `env` on top of ours; stopped with SIGTERM (or already killed) on exit."""
    port = free_port()
    with _append_to(log_path) as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "cli.py",
            "serve",
            "--port",
            str(port),
            cwd=REPO,
            env={**os.environ, **env, "VIGIL_HOST": "127.0.0.1"},
            stdout=log,
            stderr=log,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            await _wait_ready(http, url, process, log_path)
            vigil = LiveVigil(url=url, http=http, settings=Settings(_env_file=None, **_settings_from(env)))
            vigil.tokens["ADMIN"] = token
            yield ReplicaProcess(vigil, process)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(20):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()


class ReplicaProcess:
    def __init__(self, vigil: LiveVigil, process: asyncio.subprocess.Process) -> None:
        self.vigil = vigil
        self.process = process

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when a machine dies."""
        self.process.kill()
        await self.process.wait()


async def ownership(vigil: LiveVigil) -> dict[str, Any]:
    """The `ownership` object of the replica's `/readyz` (docs/deployment.md §3.2)."""
    async with vigil.http.get(f"{vigil.url}/readyz") as response:
        return (await response.json())["ownership"]


async def settled(replicas: Sequence[LiveVigil], services: int, timeout_s: float = 15) -> list[dict[str, Any]]:
    """Wait until the replicas split the slots fairly and each of `services` is watched once."""
    async with asyncio.timeout(timeout_s):
        while True:
            seen = [await ownership(vigil) for vigil in replicas]
            slots = [set(owned["slots"]) for owned in seen]
            if (
                all(owned["members"] == len(replicas) for owned in seen)
                and sum(map(len, slots)) == SLOT_COUNT
                and len(set().union(*slots)) == SLOT_COUNT
                and sum(owned["services"] for owned in seen) == services
            ):
                return seen
            await asyncio.sleep(0.1)


async def _wait_ready(http: aiohttp.ClientSession, url: str, process: asyncio.subprocess.Process, log: str) -> None:
    async with asyncio.timeout(30):
        while True:
            if process.returncode is not None:
                tail = (await asyncio.to_thread(pathlib.Path(log).read_text))[-3000:]
                raise RuntimeError(f"replica exited with {process.returncode}:\n{tail}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{url}/readyz") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)


def _append_to(path: str) -> BinaryIO:
    return open(path, "ab")


def _settings_from(env: Mapping[str, str]) -> dict[str, str]:
    return {key.removeprefix("VIGIL_").lower(): value for key, value in env.items() if key.startswith("VIGIL_")}
