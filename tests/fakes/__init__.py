"""Helpers for tests that run the protocol simulators as real servers on 127.0.0.1.

The simulators themselves live in the top-level `simulators` package (the demo uses them).
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator

from aiohttp.test_utils import TestServer

from simulators import Behaviour, Simulator

__all__ = ["Behaviour", "free_port", "serving"]


@contextlib.asynccontextmanager
async def serving(simulator: Simulator, path: str = "") -> AsyncIterator[str]:
    """Serve `simulator` on a free loopback port; yields its base URL (+ `path`), without a slash."""
    async with TestServer(simulator.app) as server:
        yield str(server.make_url(path)).rstrip("/")


def free_port() -> int:
    """A loopback port nobody listens on (bound, then released), for connection-refused tests."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
