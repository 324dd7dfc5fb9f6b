"""Vigil's registry served as a GA4GH Service Registry 1.0.0 under `/ga4gh/registry/v1`.

Reading follows the GraphQL rule: anonymous when VIGIL_ANONYMOUS_READ is on, else any valid
bearer token (VIEWER or above). Refusals and unknown ids are the spec's `Error`
`{status, title, detail}`. Every answer is `Content-Type: application/json` with no charset
(Starlette adds one only to text/* types): DNAstack's client accepts a registry root only on
that exact value (protocols.md §5).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from config import Settings
from resolvers import ga4gh_export
from resolvers.deps import Deps
from resolvers.errors import NotFound, Unauthenticated
from resolvers.tokens import authenticate

PREFIX = "/ga4gh/registry/v1"

Handler = Callable[[Request], Awaitable[Any]]


def error(status: int, title: str, detail: str) -> Response:
    headers = {"WWW-Authenticate": 'Bearer realm="vigil"'} if status == 401 else None
    body = {"status": status, "title": title, "detail": detail}
    return JSONResponse(body, status_code=status, headers=headers)


def organization(settings: Settings, request: Request) -> ga4gh_export.Organization:
    """The organization running this Vigil: VIGIL_ORGANIZATION_NAME / VIGIL_ORGANIZATION_URL; without
    a URL, the address the request reached."""
    name = settings.organization_name or ga4gh_export.DEFAULT_ORGANIZATION_NAME
    url = settings.organization_url or str(request.base_url)
    return ga4gh_export.Organization(name=name, url=url)


def readable(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap `handler` (which returns the JSON body) in the read rule and the JSON response."""

    async def endpoint(request: Request) -> Response:
        deps: Deps = request.state.deps
        try:
            principal = await authenticate(request.headers.get("authorization"))
        except Unauthenticated as exc:
            return error(401, "Unauthorized", exc.message)
        if principal.role is None and not deps.settings.anonymous_read:
            return error(401, "Unauthorized", "a VIEWER token is required: send 'Authorization: Bearer <token>'")
        try:
            return JSONResponse(await handler(request))
        except NotFound as exc:
            return error(404, "Not Found", exc.message)

    return endpoint


async def services(request: Request) -> list[dict[str, Any]]:
    deps: Deps = request.state.deps
    return await ga4gh_export.list_external_services(organization(deps.settings, request))


async def service(request: Request) -> dict[str, Any]:
    deps: Deps = request.state.deps
    org = organization(deps.settings, request)
    return await ga4gh_export.get_external_service(request.path_params["service_id"], org)


async def service_types(request: Request) -> list[dict[str, str]]:
    return await ga4gh_export.list_service_types()


async def service_info(request: Request) -> dict[str, Any]:
    deps: Deps = request.state.deps
    return ga4gh_export.registry_service_info(organization(deps.settings, request))


def routes() -> list[Route]:
    """`/services/types` comes before `/services/{service_id}`, which would otherwise match it."""
    return [
        Route(f"{PREFIX}/services", readable(services), methods=["GET"]),
        Route(f"{PREFIX}/services/types", readable(service_types), methods=["GET"]),
        Route(f"{PREFIX}/services/{{service_id}}", readable(service), methods=["GET"]),
        Route(f"{PREFIX}/service-info", readable(service_info), methods=["GET"]),
    ]
