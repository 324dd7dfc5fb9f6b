"""The status page at `/`: static HTML, CSS and JS served by Vigil itself (no CDN, no build step).

Everything live happens in the browser (web/static/status.js): it speaks graphql-transport-ws to
`/graphql`, subscribes to `statusChanged` and `healthChecked`, then queries, as
docs/monitoring.md §7.1 describes. The server only hands out the files.
"""

from __future__ import annotations

import pathlib

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = pathlib.Path(__file__).resolve().parent / "static"
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    # Only our own files and our own API: the page loads nothing from elsewhere.
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; "
        "script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
}


async def page(request: Request) -> Response:
    return FileResponse(STATIC / "status.html", headers=PAGE_HEADERS)


def routes() -> list[BaseRoute]:
    return [
        Route("/", page, methods=["GET", "HEAD"]),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
