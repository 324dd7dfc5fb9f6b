"""A hostile server that sends back the credential it receives, wherever a careless client would copy it.

The first path segment picks a behaviour, so one server stands in for many services:

| Prefix | Speaks | Where the credential comes back |
|---|---|---|
| `/cg-maintenance` | Cloudgene | the maintenance message, the server name, the app id and version (200) |
| `/cg-apps` | Cloudgene | healthy; the app version, panel keys, panel labels and population names |
| `/cg-503` | Cloudgene | a 503 "under maintenance" JSON message |
| `/cg-500` | Cloudgene | a 500 page |
| `/cg-redirect` | Cloudgene | the path and query of a redirect to a cloud metadata address |
| `/cg-badjson` | Cloudgene | a 200 body that is not JSON |
| `/wes-info` | GA4GH WES | service-info name, description, organization, version, workflow types and engines |
| `/wes-401` | GA4GH WES | a 401 error body |
| `/registry-mismatch` | GA4GH registry | the `type.group` of a service-info that is no registry |
| `/dnastack` | DNAstack registry | the listed entries' names, versions, organizations, URLs and `authentication[]` |

`received` keeps every credential that arrived (`X-Auth-Token`, or `Authorization` without its
`Bearer `), so a test can prove the credential really reached the server before it looks for it.
"""

from __future__ import annotations

import contextlib
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

WES_TYPE = {"group": "org.ga4gh", "artifact": "wes", "version": "1.1.0"}


class ReflectingServer:
    def __init__(self) -> None:
        self.received: list[str] = []
        self.app = web.Application()
        self.app.router.add_get("/{mode}/{tail:.*}", self.handle)

    def credential(self, request: web.Request) -> str:
        token = request.headers.get("X-Auth-Token") or request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token:
            self.received.append(token)
        return token

    async def handle(self, request: web.Request) -> web.StreamResponse:
        token = self.credential(request)
        mode, tail = request.match_info["mode"], request.match_info["tail"].strip("/")
        base = f"{request.scheme}://{request.host}"
        if mode.startswith("cg-"):
            return self.cloudgene(mode, tail, token)
        if mode == "wes-info" and tail.endswith("service-info"):
            return web.json_response(wes_service_info(token))
        if mode == "wes-401":
            return web.json_response({"msg": f"token {token} is not valid here", "status_code": 401}, status=401)
        if mode == "registry-mismatch" and tail == "service-info":
            body = {**service_info(token), "type": {"group": token, "artifact": "wes", "version": "1.0.0"}}
            return web.json_response(body)
        if mode == "dnastack" and tail == "services":
            return web.json_response([listed_entry(base, token)])
        return web.json_response({"message": f"nothing at {tail}"}, status=404)

    def cloudgene(self, mode: str, tail: str, token: str) -> web.StreamResponse:
        if tail == "api/v2/server/counters":
            return web.json_response({"queue": {"size": 1}})
        if mode == "cg-apps" and tail.startswith("api/v2/server/apps/"):
            return web.json_response(cloudgene_app(token))
        if tail != "api/v2/server":
            return web.json_response({"message": "not found"}, status=404)
        if mode == "cg-maintenance":
            body = cloudgene_server(token, maintenance=True)
            return web.json_response(body)
        if mode == "cg-apps":
            return web.json_response(cloudgene_server(token, maintenance=False))
        if mode == "cg-503":
            return web.json_response({"message": f"Server is under maintenance ({token} noted)"}, status=503)
        if mode == "cg-500":
            return web.Response(text=f"Internal error while checking {token}", status=500)
        if mode == "cg-redirect":
            quoted = urllib.parse.quote(token, safe="")
            raise web.HTTPFound(f"http://169.254.169.254/latest/{quoted}?token={quoted}")
        if mode == "cg-badjson":
            return web.Response(text='{"maintenace": false, "token": "' + token, content_type="application/json")
        return web.json_response({"message": f"unknown mode {mode}"}, status=404)


def cloudgene_server(token: str, *, maintenance: bool) -> dict[str, Any]:
    return {
        "name": f"Reflector {token}",
        "maintenace": maintenance,
        "maintenaceMessage": f"Back soon; your token {token} will work again" if maintenance else None,
        "loggedIn": True,
        "user": {"username": token},
        "apps": [{"id": "imputationserver2", "name": f"Imputation {token}", "version": token}],
    }


def cloudgene_app(token: str) -> dict[str, Any]:
    panel = f"apps@{token}@1.0"
    return {
        "id": "imputationserver2",
        "name": f"Imputation {token}",
        "version": token,
        "params": [
            {"id": "refpanel", "type": "list", "values": [{"key": panel, "value": f"Panel {token} (GRCh38/hg38)"}]},
            {
                "id": "population",
                "type": "binded_list",
                "values": [{"key": panel, "values": [{"key": "afr", "value": f"African {token}"}]}],
            },
            {"id": "build", "type": "list", "values": [{"key": "hg38", "value": "GRCh38/hg38"}]},
            {"id": "phasing", "type": "list", "values": [{"key": "eagle", "value": f"Eagle {token} v2.4"}]},
            {"id": "mode", "type": "list", "values": [{"key": "imputation", "value": token}]},
            {"id": "files", "type": "local_folder"},
        ],
    }


def service_info(token: str) -> dict[str, Any]:
    return {
        "id": "org.example.reflector",
        "name": f"Reflector {token}",
        "type": WES_TYPE,
        "description": f"Serves {token}",
        "organization": {"name": f"Org {token}", "url": f"https://org.example/{urllib.parse.quote(token, safe='')}"},
        "version": token,
    }


def wes_service_info(token: str) -> dict[str, Any]:
    return {
        **service_info(token),
        "workflow_type_versions": {f"CWL-{token}": {"workflow_type_version": [token]}},
        "workflow_engine_versions": {f"cwltool-{token}": token},
        "supported_filesystem_protocols": [token],
        "supported_wes_versions": ["1.1.0"],
        "system_state_counts": {"QUEUED": 0},
        "auth_instructions_url": f"https://org.example/auth?hint={urllib.parse.quote(token, safe='')}",
    }


def listed_entry(base: str, token: str) -> dict[str, Any]:
    quoted = urllib.parse.quote(token, safe="")
    return {
        **service_info(token),
        "id": "org.example.listed",
        "name": f"Listed {token}",
        "url": f"{base}/wes-info/{quoted}",
        "authentication": [
            {
                "type": "oauth2",
                "clientId": token,
                "clientSecret": token,
                "grantType": "client_credentials",
                "accessTokenUrl": f"{base}/oauth/token?t={quoted}",
            }
        ],
    }


@contextlib.asynccontextmanager
async def reflecting() -> AsyncIterator[tuple[ReflectingServer, str]]:
    """A reflecting server on a free loopback port; yields it and its base URL (no slash)."""
    fake = ReflectingServer()
    async with TestServer(fake.app) as server:
        yield fake, str(server.make_url("")).rstrip("/")
