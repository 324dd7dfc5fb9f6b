"""Secrets stay secret: one live Vigil is handed secrets wherever one can enter, its watched servers
send every credential straight back, and then every place where text leaves Vigil is searched.

Where secrets enter: service credentials for each protocol (Cloudgene `X-Auth-Token`, WES and
registry bearers, DNAstack) through registerService (with and without detection), updateService,
importServices, testConnection, discoverServices and `vigil discover`; API tokens made by the
mutation and by `vigil token create`; VIGIL_SECRET_KEY; webhook and apprise URLs with secrets in
their path, query and user info, one receiver answering 500 and one refusing connections; and
credentials typed where they do not belong (a URL's user info or port, a token as an id, an
unknown bearer, a credential too long or with a line break).

Where they are looked for, raw, in the encodings a leak would use (percent, JSON, HTML, base64
of the secret and of `user:secret`) and in pieces of 12 characters (a shortened token in a log
line): every GraphQL answer (each root field with every field it offers, every mutation
payload, error messages), subscription events, `/metrics`, `/healthz`, `/readyz`, the status
page, the GA4GH registry, every database row, the webhook and apprise bodies received, the
`vigil export` and `vigil discover` output, every log record with its traceback and extras,
and the process's own stdout and stderr. Logging is set up as `vigil serve` sets it with
VIGIL_LOG_LEVEL=DEBUG: every logger at DEBUG, except the three it keeps at INFO because their DEBUG
records show notification URLs (apprise, urllib3) or WebSocket frames (uvicorn). An API token
may appear only in the one answer that created it, and a token pasted as an id only in the
error answering that request.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import dataclasses
import html
import json
import logging
import pathlib
import secrets
import traceback
import urllib.parse
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from click.testing import CliRunner
from graphql import GraphQLObjectType, GraphQLSchema, get_named_type, is_abstract_type, is_leaf_type, is_non_null_type
from graphql.pyutils import Undefined
from tortoise import Tortoise

from cli import configure_logging, uvicorn_log_level
from cli import main as vigil
from config import Settings
from models import AlertDelivery, DeliveryStatus, Service
from probes.redaction import REDACTED
from schema.build import build_schema
from tests.fakes import free_port
from tests.fakes.reflecting import reflecting
from tests.integration.conftest import LiveVigil, make_settings, running

TRANSPORT_WS = "graphql-transport-ws"


# Secrets -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Secret:
    """One planted secret. `user` makes `user:value` a form too (HTTP Basic from a URL's user info);
    `allowed` names the sinks where it may appear (an API token, in the answer that created it);
    `probed_with` marks a service credential that must have reached the reflecting server."""

    name: str
    value: str
    user: str | None = None
    allowed: frozenset[str] = frozenset()
    probed_with: bool = False

    def forms(self) -> set[str]:
        value = self.value
        found = {
            value,
            urllib.parse.quote(value, safe=""),
            urllib.parse.quote_plus(value),
            json.dumps(value)[1:-1],
            html.escape(value),
            repr(value)[1:-1],
            base64.b64encode(value.encode()).decode().rstrip("="),
            base64.urlsafe_b64encode(value.encode()).decode().rstrip("="),
        }
        if self.user is not None:
            found.add(base64.b64encode(f"{self.user}:{value}".encode()).decode().rstrip("="))
        return found


def credential() -> str:
    """A random credential with characters that every encoding changes."""
    return f"c{secrets.token_hex(12)}/+="


def url_part(prefix: str = "u") -> str:
    """A random secret that sits in a URL as it is."""
    return f"{prefix}{secrets.token_hex(12)}"


def fragments(value: str, size: int = 12, stride: int = 6) -> set[str]:
    """Pieces of `value` such that any 17 characters of it in a row contain one of them whole:
    a log line that shortens a token ("Bearer vgl_Ab...x9Yz") still shows a piece."""
    if len(value) <= size:
        return {value}
    return {value[i : i + size] for i in range(0, len(value) - size + 1, stride)} | {value[-size:]}


class Planted:
    def __init__(self) -> None:
        self.all: dict[str, Secret] = {}

    def add(self, name: str, value: str, **options: Any) -> str:
        self.all[name] = Secret(name, value, **options)
        return value


# Sinks ---------------------------------------------------------------------------------------


class Sinks:
    """Every text that left Vigil, by where it was seen."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []

    def add(self, where: str, text: str) -> str:
        self.texts.append((where, text))
        return text

    def leaks(self, planted: dict[str, Secret], ciphertexts: dict[str, str]) -> list[str]:
        found = []
        for secret in planted.values():
            needles = secret.forms() | fragments(secret.value)
            for where, text in self.texts:
                if where in secret.allowed:
                    continue
                for needle in needles:
                    index = text.find(needle)
                    if index >= 0:
                        context = text[max(0, index - 80) : index + len(needle) + 40]
                        found.append(f"{secret.name} in {where}: ...{context!r}...")
                        break
        for name, ciphertext in ciphertexts.items():
            for where, text in self.texts:
                # Ciphertexts live in the database, and DEBUG SQL records show statement parameters.
                if not where.startswith(("log", "db:")) and ciphertext in text:
                    found.append(f"{name} in {where}")
        return found


# Vigil serves nothing with aiohttp.web: these records are the fakes' own, which see their URLs.
FAKES_LOGGERS = ("aiohttp.access", "aiohttp.server", "aiohttp.web")


class CapturedLogs(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def attach(self) -> None:
        """To the root, and to every logger that does not pass records up (uvicorn's)."""
        loggers = [logging.getLogger()] + [
            logger
            for logger in logging.Logger.manager.loggerDict.values()
            if isinstance(logger, logging.Logger) and not logger.propagate
        ]
        for logger in loggers:
            if self not in logger.handlers:
                logger.addHandler(self)

    def text(self) -> str:
        lines = []
        for record in self.records:
            if record.name.startswith(FAKES_LOGGERS):
                continue
            try:
                lines.append(f"{record.name} {record.levelname} {record.getMessage()}")
            except Exception:  # a bad format string still shows its parts
                lines.append(f"{record.name} {record.levelname} {record.msg!r} {record.args!r}")
            extras = {k: v for k, v in vars(record).items() if k not in _STANDARD_RECORD}
            if extras:
                lines.append(repr(extras))
            if record.exc_info and record.exc_info[1] is not None:
                lines.append("".join(traceback.format_exception(record.exc_info[1])))
            if record.stack_info:
                lines.append(record.stack_info)
        return "\n".join(lines)


_STANDARD_RECORD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


@contextlib.contextmanager
def everything_logged() -> Iterator[CapturedLogs]:
    """Every logger at DEBUG into one handler; levels and handlers are put back afterwards."""
    handler = CapturedLogs()
    loggers = [logging.getLogger()] + [
        logger for logger in logging.Logger.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    levels = {logger: logger.level for logger in loggers}
    for logger in loggers:
        logger.setLevel(logging.DEBUG if logger is logging.getLogger() else logging.NOTSET)
    handler.attach()
    try:
        yield handler
    finally:
        for logger in logging.Logger.manager.loggerDict.values():
            if isinstance(logger, logging.Logger) and handler in logger.handlers:
                logger.removeHandler(handler)
        logging.getLogger().removeHandler(handler)
        for logger, level in levels.items():
            logger.setLevel(level)


# Receivers -----------------------------------------------------------------------------------


class Inbox:
    """Webhook and apprise receiver: `/failing/...` answers 500, anything else 204."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, str]] = []
        self.arrived = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_post("/{tail:.*}", self.receive)

    async def receive(self, request: web.Request) -> web.Response:
        self.bodies.append((request.path, await request.text()))
        self.arrived.set()
        return web.Response(status=500 if request.path.startswith("/failing/") else 204)

    def count(self, prefix: str) -> int:
        return sum(1 for path, _ in self.bodies if path.startswith(prefix))

    async def until(self, condition: Callable[[], bool], seconds: float = 20) -> None:
        try:
            async with asyncio.timeout(seconds):
                while not condition():
                    self.arrived.clear()
                    await self.arrived.wait()
        except TimeoutError:
            paths = collections.Counter(path.split("/")[1] for path, _ in self.bodies)
            raise AssertionError(f"not within {seconds} s; received: {dict(paths)}") from None


# GraphQL -------------------------------------------------------------------------------------


def selection(schema: GraphQLSchema, type_: Any, depth: int = 5, outer: frozenset[str] = frozenset()) -> str:
    """Every field of `type_` that needs no argument, `depth` levels down, no type twice on a path."""
    named = get_named_type(type_)
    if is_leaf_type(named):
        return ""
    if is_abstract_type(named):
        parts = [f"... on {t.name} {selection(schema, t, depth, outer)}" for t in schema.get_possible_types(named)]
        return "{ __typename " + " ".join(parts) + " }"
    assert isinstance(named, GraphQLObjectType)
    fields = ["__typename"]
    for name, field in named.fields.items():
        if any(is_non_null_type(a.type) and a.default_value is Undefined for a in field.args.values()):
            continue
        inner = get_named_type(field.type)
        if is_leaf_type(inner):
            fields.append(name)
        elif depth > 1 and inner.name not in outer:
            fields.append(f"{name} {selection(schema, field.type, depth - 1, outer | {named.name})}")
    return "{ " + " ".join(fields) + " }"


@dataclasses.dataclass
class Client:
    live: LiveVigil
    schema: GraphQLSchema
    sinks: Sinks
    admin: str

    def payload(self, field: str, root: str = "Mutation") -> str:
        kind = self.schema.mutation_type if root == "Mutation" else self.schema.subscription_type
        assert kind is not None
        return selection(self.schema, kind.fields[field].type)

    async def post(self, where: str, query: str, variables: dict[str, Any] | None = None, **headers: str) -> Any:
        headers = {"Authorization": f"Bearer {self.admin}", **headers}
        body = {"query": query, "variables": variables or {}}
        async with self.live.http.post(self.live.graphql_url, json=body, headers=headers) as response:
            text = self.sinks.add(f"graphql:{where}", await response.text())
        return json.loads(text)

    async def mutate(self, where: str, field: str, signature: str, call: str, variables: dict[str, Any]) -> Any:
        query = f"mutation{signature} {{ {field}{call} {self.payload(field)} }}"
        return await self.post(where, query, variables)

    async def get(self, path: str, token: str | None = None) -> str:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.live.http.get(f"{self.live.url}{path}", headers=headers) as response:
            return self.sinks.add(f"http:{path}", await response.text())


class Feed:
    """healthChecked and statusChanged with every field, over one WebSocket; frames kept as text."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.frames: list[str] = []
        self.checks: collections.Counter[str] = collections.Counter()
        self.changed = asyncio.Event()

    async def read(self) -> None:
        async for message in self.ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                break
            self.frames.append(message.data)
            data = json.loads(message.data)
            check = (data.get("payload") or {}).get("data", {}) or {}
            if "healthChecked" in check:
                self.checks[check["healthChecked"]["serviceId"]] += 1
            self.changed.set()

    async def until(self, condition: Callable[[], bool], seconds: float = 20) -> None:
        try:
            async with asyncio.timeout(seconds):
                while not condition():
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            raise AssertionError(f"not within {seconds} s; checks seen per service: {dict(self.checks)}") from None


@contextlib.asynccontextmanager
async def feed(client: Client, token: str) -> AsyncIterator[Feed]:
    async with client.live.http.ws_connect(client.live.ws_url, protocols=[TRANSPORT_WS]) as ws:
        await ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        async with asyncio.timeout(5):
            assert (await ws.receive_json())["type"] == "connection_ack"
        for number, field in enumerate(("healthChecked", "statusChanged")):
            query = f"subscription {{ {field} {client.payload(field, 'Subscription')} }}"
            await ws.send_json({"id": str(number), "type": "subscribe", "payload": {"query": query}})
        listening = Feed(ws)
        reader = asyncio.create_task(listening.read(), name="secrets-feed")
        try:
            yield listening
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            client.sinks.add("websocket:subscriptions", "\n".join(listening.frames))


async def refused_websocket(client: Client, token: str) -> str:
    async with client.live.http.ws_connect(client.live.ws_url, protocols=[TRANSPORT_WS]) as ws:
        await ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        async with asyncio.timeout(5):
            closing = await ws.receive()
    return client.sinks.add("websocket:refused", f"{ws.close_code} {closing.extra}")


# The scene -----------------------------------------------------------------------------------

REGISTER_SIGNATURE = "($input: RegisterServiceInput!)"
REGISTER_CALL = "(input: $input)"
UPDATE_SIGNATURE = "($id: ID!, $input: UpdateServiceInput!)"
UPDATE_CALL = "(id: $id, input: $input)"


async def cli(sinks: Sinks, where: str, env: dict[str, str], *args: str) -> str:
    """Runs `vigil ARGS` in a worker thread (its asyncio.run needs a thread without a loop)."""
    result = await asyncio.to_thread(CliRunner().invoke, vigil, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return sinks.add(f"cli:{where}", result.output)


async def eventually(condition: Callable[[], Any], what: str, seconds: float = 20) -> None:
    """Poll a database state that has no event to wait for."""
    try:
        async with asyncio.timeout(seconds):
            while not await condition():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"not within {seconds} s: {what}") from None


@dataclasses.dataclass
class Scene:
    """The secrets, the receivers' addresses, and the steps that hand the secrets to Vigil."""

    planted: Planted
    sinks: Sinks
    base: str  # the reflecting server
    inbox_base: str
    database_url: str
    refused_port: int = dataclasses.field(default_factory=free_port)

    def __post_init__(self) -> None:
        add = self.planted.add
        self.secret_key = add("VIGIL_SECRET_KEY", url_part())
        password, path, query = (
            add("webhook password", url_part(), user="hookuser"),
            add("webhook path", url_part()),
            add("webhook query", url_part()),
        )
        host = self.inbox_base.removeprefix("http://")
        self.webhooks = (
            f"http://hookuser:{password}@{host}/hooks/{path}?signature={query}",
            f"{self.inbox_base}/failing/{add('failing webhook path', url_part())}",
            f"http://127.0.0.1:{self.refused_port}/hooks/{add('refused webhook path', url_part())}",
        )
        apprise_password = add("apprise password", url_part(), user="appriseuser")
        self.apprise = f"json://appriseuser:{apprise_password}@{host}/apprise/{add('apprise path', url_part())}"

    def cli_env(self) -> dict[str, str]:
        return {
            "VIGIL_DATABASE_URL": self.database_url,
            "VIGIL_SECRET_KEY": self.secret_key,
            "VIGIL_ALLOW_PRIVATE_TARGETS": "true",
            "VIGIL_LOG_LEVEL": "DEBUG",
        }

    def settings_overrides(self) -> dict[str, Any]:
        return {
            "probes_enabled": True,
            "secret_key": self.secret_key,
            "log_level": "DEBUG",
            "min_check_interval_seconds": 1,
            "alert_unhealthy_seconds": 0.1,
            "alert_evaluation_interval_seconds": 0.5,
            "alert_webhooks": self.webhooks,
            "alert_apprise_urls": (self.apprise,),
            "alert_webhook_attempts": 2,
            "alert_webhook_backoff_seconds": 0.05,
            "alert_webhook_timeout_seconds": 2.0,
            "rate_limit_per_minute": 0,
            "mutation_rate_limit_per_minute": 0,
            "max_tokens": 100_000,
            "max_query_depth": 50,
            "max_aliases": 1000,
        }

    async def register(self, client: Client, name: str, path: str, api_type: str | None, secret: str) -> str:
        fields: dict[str, Any] = {
            "name": name,
            "type": "MICHIGAN" if path.startswith("/cg-") else "GA4GH",
            "baseUrl": self.base + path,
            "credential": secret,
            "checkIntervalSeconds": 1,
            "timeoutSeconds": 1,
        }
        if api_type is not None:
            fields["apiType"] = api_type
        answer = await client.mutate(
            f"registerService {name}", "registerService", REGISTER_SIGNATURE, REGISTER_CALL, {"input": fields}
        )
        assert "errors" not in answer, answer
        service_id: str = answer["data"]["registerService"]["service"]["id"]
        return service_id

    async def register_everywhere(self, client: Client) -> None:
        """Credentials of every protocol through every mutation that takes one."""
        add = self.planted.add
        services = [
            ("Reflect maintenance", "/cg-maintenance", "CLOUDGENE"),
            ("Reflect 503", "/cg-503", "CLOUDGENE"),
            ("Reflect 500", "/cg-500", "CLOUDGENE"),
            ("Reflect redirect", "/cg-redirect", "CLOUDGENE"),
            ("Reflect bad JSON", "/cg-badjson", "CLOUDGENE"),
            ("Reflect WES", "/wes-info", "GA4GH_WES"),
            ("Reflect WES 401", "/wes-401", "GA4GH_WES"),
            ("Reflect registry", "/registry-mismatch", "GA4GH_SERVICE_REGISTRY"),
            ("Reflect DNAstack", "/dnastack", "DNASTACK"),
            ("Reflect detected", "/wes-info/detected", None),  # registration detects the protocol
        ]
        for name, path, api_type in services:
            await self.register(
                client, name, path, api_type, add(f"credential of {name}", credential(), probed_with=True)
            )

        apps = await self.register(
            client, "Reflect apps", "/cg-apps", "CLOUDGENE", add("credential replaced by updateService", credential())
        )
        update = {"credential": add("credential set by updateService", credential(), probed_with=True)}
        answer = await client.mutate(
            "updateService", "updateService", UPDATE_SIGNATURE, UPDATE_CALL, {"id": apps, "input": update}
        )
        assert "errors" not in answer, answer
        await client.mutate(
            "syncReferencePanels", "syncReferencePanels", "($id: ID!)", "(serviceId: $id)", {"id": apps}
        )

        document = {
            "format": "vigil.services/v1",
            "services": [
                {
                    "name": "Reflect imported",
                    "type": "GA4GH",
                    "apiType": "GA4GH_WES",
                    "baseUrl": f"{self.base}/wes-info/imported",
                    "checkIntervalSeconds": 1,
                    "timeoutSeconds": 1,
                    "credential": add("credential in an import document", credential()),
                }
            ],
        }
        imported = await client.mutate(
            "importServices",
            "importServices",
            "($document: String!)",
            "(document: $document)",
            {"document": json.dumps(document)},
        )
        assert imported["data"]["importServices"]["created"] == ["Reflect imported"], imported
        listed = await client.post("service ids", "{ services { nodes { id name } } }")
        imported_id = next(n["id"] for n in listed["data"]["services"]["nodes"] if n["name"] == "Reflect imported")
        update = {"credential": add("credential set after import", credential(), probed_with=True)}
        await client.mutate(
            "updateService imported",
            "updateService",
            UPDATE_SIGNATURE,
            UPDATE_CALL,
            {"id": imported_id, "input": update},
        )

        for name, path in (("testConnection Cloudgene", "/cg-apps"), ("testConnection WES", "/wes-info/probe")):
            given = {
                "baseUrl": self.base + path,
                "credential": add(f"credential of {name}", credential(), probed_with=True),
            }
            answer = await client.mutate(
                name, "testConnection", "($input: TestConnectionInput!)", "(input: $input)", {"input": given}
            )
            assert "errors" not in answer, answer
        answer = await client.mutate(
            "discoverServices",
            "discoverServices",
            "($url: String!, $credential: String)",
            "(url: $url, register: true, credential: $credential)",
            {
                "url": f"{self.base}/dnastack",
                "credential": add("credential of discoverServices", credential(), probed_with=True),
            },
        )
        assert answer["data"]["discoverServices"]["services"], answer

    async def misuse(self, client: Client) -> None:
        """Secrets where they do not belong: every answer is an error that must not quote them."""
        add = self.planted.add
        long_one = add("credential too long", credential())
        password = add("password in a URL", url_part(), user="someone")
        port = add("secret as a port", url_part())
        wrong = [
            ("a credential too long", {"baseUrl": "https://mis.example", "credential": long_one * 400}),
            ("a URL with user info", {"baseUrl": f"https://someone:{password}@mis.example/"}),
            ("a URL with user info and a bad host", {"baseUrl": f"https://someone:{password}@mis\uff03example/"}),
            ("a URL with a secret as port", {"baseUrl": f"https://mis.example:{port}/"}),
        ]
        for what, fields in wrong:
            given = {"name": "Misused", "type": "MICHIGAN", "apiType": "CLOUDGENE", **fields}
            answer = await client.mutate(
                f"registerService with {what}", "registerService", REGISTER_SIGNATURE, REGISTER_CALL, {"input": given}
            )
            assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", answer
            test = {k: v for k, v in fields.items() if k in ("baseUrl", "credential")}
            answer = await client.mutate(
                f"testConnection with {what}",
                "testConnection",
                "($input: TestConnectionInput!)",
                "(input: $input)",
                {"input": test},
            )
            assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", answer
        answer = await client.mutate(
            "discoverServices with user info",
            "discoverServices",
            "($url: String!)",
            "(url: $url)",
            {"url": f"https://someone:{password}@registry.example/"},
        )
        assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", answer
        document = {
            "format": "vigil.services/v1",
            "services": [
                {
                    "name": "X",
                    "type": "GA4GH",
                    "apiType": "GA4GH_WES",
                    "baseUrl": f"https://someone:{password}@wes.example/",
                }
            ],
        }
        answer = await client.mutate(
            "importServices with user info",
            "importServices",
            "($document: String!)",
            "(document: $document)",
            {"document": json.dumps(document)},
        )
        assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", answer
        broken = '{"format": "vigil.services/v1", "services": [{"credential": "' + add(
            "secret in a broken document", credential()
        )
        answer = await client.mutate(
            "importServices not JSON",
            "importServices",
            "($document: String!)",
            "(document: $document)",
            {"document": broken},
        )
        assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", answer
        newline = {"credential": add("credential with a line break", credential()) + "\n"}
        answer = await client.mutate(
            "updateService with a line break",
            "updateService",
            UPDATE_SIGNATURE,
            UPDATE_CALL,
            {"id": await self.some_service_id(client), "input": newline},
        )
        assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", answer

        unknown = add("unknown bearer", url_part("vgl_"))
        answer = await client.post("unknown bearer", "{ services { totalCount } }", Authorization=f"Bearer {unknown}")
        assert answer["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", answer
        basic = add("Basic credentials", url_part(), user="someone")
        header = "Basic " + base64.b64encode(f"someone:{basic}".encode()).decode()
        answer = await client.post("Basic credentials", "{ services { totalCount } }", Authorization=header)
        assert answer["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", answer
        assert (await refused_websocket(client, add("unknown WebSocket token", url_part("vgl_")))).startswith("4403")

    async def some_service_id(self, client: Client) -> str:
        """An id that exists, so the refusal is about the input (ids are not 1 on a reused PostgreSQL)."""
        answer = await client.post("a service id", "{ services(first: 1) { nodes { id } } }")
        return str(answer["data"]["services"]["nodes"][0]["id"])

    async def tokens(self, client: Client) -> None:
        """A token made by the mutation: used, revoked, refused; and a token pasted where an id goes."""
        where = "graphql:createApiToken"
        answer = await client.post(
            "createApiToken",
            f'mutation {{ createApiToken(name: "viewer", role: VIEWER) {client.payload("createApiToken")} }}',
        )
        created = answer["data"]["createApiToken"]
        viewer = self.planted.add("API token made by createApiToken", created["secret"], allowed=frozenset({where}))
        await client.post("a viewer's query", "{ dashboard { totalServices } }", Authorization=f"Bearer {viewer}")
        for path in (
            "/ga4gh/registry/v1/services",
            "/ga4gh/registry/v1/services/types",
            "/ga4gh/registry/v1/service-info",
        ):
            await client.get(path, viewer)
        pasted = self.planted.add(
            "API token pasted as an id",
            url_part("vgl_"),
            allowed=frozenset({"graphql:revokeApiToken given a token as its id"}),
        )
        answer = await client.post(
            "revokeApiToken given a token as its id", "mutation($id: ID!) { revokeApiToken(id: $id) }", {"id": pasted}
        )
        assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", answer
        await client.post(
            "revokeApiToken", "mutation($id: ID!) { revokeApiToken(id: $id) }", {"id": created["token"]["id"]}
        )
        answer = await client.post(
            "a revoked token's query", "{ dashboard { totalServices } }", Authorization=f"Bearer {viewer}"
        )
        assert answer["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", answer
        assert (await refused_websocket(client, viewer)).startswith("4403")

    async def read_everything(self, client: Client, service_ids: list[str]) -> None:
        """Each root query field with every field it offers; the HTTP endpoints; the GA4GH registry."""
        schema = client.schema
        assert schema.query_type is not None
        for name, field in schema.query_type.fields.items():
            wanted = selection(schema, field.type)
            required = [
                a for a, arg in field.args.items() if is_non_null_type(arg.type) and arg.default_value is Undefined
            ]
            if not required:
                await client.post(f"query {name}", f"{{ {name} {wanted} }}")
            elif required == ["ids"]:
                await client.post(f"query {name}", f"{{ {name}(ids: {json.dumps(service_ids[:20])}) {wanted} }}")
            else:  # one alias per service
                (argument,) = required  # a new root field with other required arguments: teach this test
                each = " ".join(f's{sid}: {name}({argument}: "{sid}") {wanted}' for sid in service_ids)
                await client.post(f"query {name}", f"{{ {each} }}")
        for path in ("/metrics", "/healthz", "/readyz", "/", "/static/status.js"):
            await client.get(path)
        for service_id in service_ids:
            await client.get(f"/ga4gh/registry/v1/services/vigil.service.{service_id}", client.admin)

    async def read_database(self) -> dict[str, str]:
        """Every row of every table into the sinks; returns the stored ciphertexts, which must stay there."""
        for models in Tortoise.apps.values():
            for model in models.values():
                rows = await model.all().values()
                self.sinks.add(f"db:{model._meta.db_table}", "\n".join(repr(row) for row in rows))
        stored = await Service.exclude(credential_encrypted=None).values_list("id", "credential_encrypted")
        return {f"ciphertext of service {sid}": text for sid, text in stored}


async def test_no_secret_reaches_an_answer_an_event_a_row_a_log_an_export_or_a_webhook(
    database_url: str, tmp_path: pathlib.Path, capfd: pytest.CaptureFixture[str]
) -> None:
    planted, sinks, inbox = Planted(), Sinks(), Inbox()
    with everything_logged() as logs:
        configure_logging(Settings(_env_file=None, log_level="DEBUG"))  # as `vigil serve` does, from the start
        async with reflecting() as (reflector, base), TestServer(inbox.app) as inbox_server:
            inbox_base = str(inbox_server.make_url("")).rstrip("/")
            scene = Scene(planted, sinks, base, inbox_base, database_url)
            made = await cli(
                sinks, "token create", scene.cli_env(), "token", "create", "--name", "ops", "--role", "ADMIN"
            )
            admin = planted.add(
                "API token made by vigil token create", made.split()[0], allowed=frozenset({"cli:token create"})
            )
            assert admin.startswith("vgl_")

            settings = make_settings(database_url, tmp_path, **scene.settings_overrides())
            async with running(settings, log_level=uvicorn_log_level(settings)) as live:  # as `vigil serve`
                logs.attach()  # uvicorn configured its own loggers as it started
                client = Client(live, build_schema(settings)._schema, sinks, admin)
                async with feed(client, admin) as events:
                    await scene.register_everywhere(client)
                    await scene.misuse(client)
                    await scene.tokens(client)
                    listed = await client.post("service ids", "{ services { nodes { id } } }")
                    service_ids = [node["id"] for node in listed["data"]["services"]["nodes"]]
                    assert len(service_ids) >= 12, listed
                    for service_id in service_ids:  # the loop's first check may wait up to 10 s
                        await client.mutate(
                            f"checkServiceHealth {service_id}",
                            "checkServiceHealth",
                            "($id: ID!)",
                            "(serviceId: $id)",
                            {"id": service_id},
                        )
                    await events.until(lambda: all(events.checks[sid] >= 1 for sid in service_ids))
                    await inbox.until(
                        lambda: (
                            inbox.count("/hooks/") >= 1
                            and inbox.count("/apprise/") >= 1
                            and inbox.count("/failing/") >= 2
                        )
                    )
                    refused = AlertDelivery.filter(status=DeliveryStatus.FAILED, http_status=None)
                    await eventually(refused.exists, "a delivery to the refusing webhook")
                    await scene.read_everything(client, service_ids)
                    ciphertexts = await scene.read_database()

            await cli(sinks, "export", scene.cli_env(), "export")
            discover_env = {
                **scene.cli_env(),
                "VIGIL_DISCOVER_CREDENTIAL": planted.add(
                    "credential of vigil discover", credential(), probed_with=True
                ),
            }
            await cli(sinks, "discover", discover_env, "discover", f"{base}/dnastack")
        for path, body in inbox.bodies:
            sinks.add(f"received by {path.split('/')[1]}", body)
    sinks.add("log records", logs.text())
    out, err = capfd.readouterr()
    sinks.add("stdio:stdout", out)
    sinks.add("stdio:stderr", err)

    # The scene did what it claims: each credential reached the hostile server, which sent it back.
    missing = [s.name for s in planted.all.values() if s.probed_with and s.value not in reflector.received]
    assert not missing, f"never sent to the reflecting server: {missing}"

    leaks = sinks.leaks(planted.all, ciphertexts)
    assert not leaks, "secrets leaked:\n" + "\n".join(leaks)

    # ...and what came back was scrubbed, not merely lost.
    graphql = "\n".join(text for where, text in sinks.texts if where.startswith("graphql:"))
    assert f"your token {REDACTED} will work again" in graphql
