"""Outbound HTTP for probes: one GET, bounded in time, size and redirects, that never raises.

Every probe talks to servers we do not control, so this module is the one boundary where
aiohttp, OSError, ssl and asyncio exceptions become a `FailureKind`. Most specific first,
because the exception classes nest (a certificate error is an SSL error, which is a
connector error, which is an OSError):

    certificate / SSL        -> TLS
    DNS (gaierror)           -> DNS
    timeouts                 -> TIMEOUT
    connector / refused      -> CONNECT
    too many redirects       -> REDIRECT
    payload / disconnect     -> INVALID_RESPONSE

The caller owns the `aiohttp.ClientSession`; nothing here opens or closes one. Credentials
travel only to the origin (scheme, host, port) of `ProbeTarget.base_url`, and once a redirect
chain has left that origin they are not sent again, even if it comes back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.metadata
import json
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from probes.address_policy import AddressPolicy, ForbiddenAddress, parse_ip
from probes.result import FailureKind, ProbeTarget

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CHUNK_BYTES = 64 * 1024


def _vigil_version() -> str:
    try:
        return importlib.metadata.version("vigil")
    except importlib.metadata.PackageNotFoundError:
        return "0.1.0"


@dataclasses.dataclass(frozen=True, slots=True)
class HttpLimits:
    """Bounds applied to every probe request; the total time comes from `ProbeTarget.timeout_seconds`."""

    max_body_bytes: int = 2 * 1024 * 1024
    max_redirects: int = 5
    connect_timeout_s: float = 5.0
    address_policy: AddressPolicy | None = None  # None: any address (the app always sets one)
    user_agent: str = dataclasses.field(default_factory=lambda: f"Vigil/{_vigil_version()}")


@dataclasses.dataclass(frozen=True, slots=True)
class HttpResponse:
    """A complete response whose body fitted under `HttpLimits.max_body_bytes`."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    elapsed_ms: float
    url: str
    credential_sent: bool = False  # the final hop carried the auth headers


@dataclasses.dataclass(frozen=True, slots=True)
class HttpFailure:
    """Why no usable response arrived. `http_status` is set when headers came but the body did not."""

    kind: FailureKind
    message: str
    elapsed_ms: float
    url: str
    http_status: int | None = None


class MalformedResponse(Exception):
    """A body that is not what the protocol promises; adapters turn it into a failed result.

    `kind` is INVALID_RESPONSE for bodies that are not JSON or have impossible types, and
    PROTOCOL_MISMATCH for well-formed JSON that belongs to some other protocol.
    """

    def __init__(self, message: str, kind: FailureKind = FailureKind.INVALID_RESPONSE) -> None:
        super().__init__(message)
        self.kind = kind


def origin(url: str | URL) -> tuple[str, str, int | None]:
    """Scheme, host and effective port: the unit a credential is scoped to."""
    parsed = URL(url) if isinstance(url, str) else url
    return (parsed.scheme.lower(), (parsed.host or "").lower(), parsed.port)


def join_url(base_url: str, path: str) -> str:
    """`base_url` + `path`, keeping any context path on the base (`/imputation` + `/api/v2/server`)."""
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def decode_json(body: bytes) -> Any:
    """Parse a body as JSON whatever its Content-Type says (Cloudgene 2 sends JSON as text/plain).

    Raises `MalformedResponse` for invalid UTF-8, text that is not JSON, and nesting deep
    enough to exhaust the recursion limit.
    """
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedResponse(f"body is not UTF-8 ({exc.reason})") from exc
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise MalformedResponse("JSON nested too deeply") from exc
    except ValueError as exc:  # JSONDecodeError, and ints beyond the digit limit
        raise MalformedResponse("body is not JSON") from exc


def classify_exception(exc: BaseException) -> tuple[FailureKind, str]:
    """Map a network exception to a kind and a short human message (never a raw body)."""
    name = type(exc).__name__
    forbidden = exc if isinstance(exc, ForbiddenAddress) else getattr(exc, "os_error", None)
    if isinstance(forbidden, ForbiddenAddress):
        return FailureKind.FORBIDDEN_ADDRESS, str(forbidden)
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return FailureKind.TLS, f"TLS certificate rejected: {exc.certificate_error}"
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError | ssl.CertificateError):
        return FailureKind.TLS, f"TLS handshake failed ({name})"
    if isinstance(exc, aiohttp.ClientConnectorDNSError | socket.gaierror):
        return FailureKind.DNS, "host name could not be resolved"
    if isinstance(exc, TimeoutError):
        return FailureKind.TIMEOUT, "no complete answer within the timeout"
    if isinstance(exc, aiohttp.ClientConnectorError | ConnectionRefusedError):
        return FailureKind.CONNECT, f"connection failed ({name})"
    if isinstance(exc, aiohttp.TooManyRedirects):
        return FailureKind.REDIRECT, "too many redirects"
    if isinstance(exc, aiohttp.InvalidURL):
        return FailureKind.CONNECT, "the URL cannot be requested"
    if isinstance(
        exc,
        aiohttp.ClientPayloadError
        | aiohttp.ServerDisconnectedError
        | aiohttp.ClientResponseError
        | ConnectionResetError
        | BrokenPipeError,
    ):
        return FailureKind.INVALID_RESPONSE, f"connection dropped or response malformed ({name})"
    if isinstance(exc, aiohttp.ClientOSError):
        return FailureKind.INVALID_RESPONSE, f"connection failed mid-response ({name})"
    if isinstance(exc, OSError):
        return FailureKind.CONNECT, f"network error ({name})"
    return FailureKind.INVALID_RESPONSE, f"request failed ({name})"


async def fetch(
    http: aiohttp.ClientSession,
    target: ProbeTarget,
    url: str,
    limits: HttpLimits,
    *,
    auth_headers: Mapping[str, str] | None = None,
    timeout_s: float | None = None,
) -> HttpResponse | HttpFailure:
    """GET `url` for a probe of `target`; returns a response or a failure, never raises for the network.

    `auth_headers` are added only while the request URL shares the origin of `target.base_url`.
    `timeout_s` (default `target.timeout_seconds`) bounds the whole exchange: connect, every
    redirect hop and the body. Cancellation is passed through untouched.
    """
    started = time.perf_counter()
    budget = target.timeout_seconds if timeout_s is None else timeout_s
    cursor = _Cursor(url)

    def elapsed() -> float:
        return (time.perf_counter() - started) * 1000.0

    try:
        async with asyncio.timeout(budget):
            return await _follow(http, target, limits, auth_headers or {}, elapsed, cursor)
    except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
        kind, message = classify_exception(exc)
        return HttpFailure(kind=kind, message=message, elapsed_ms=elapsed(), url=cursor.url)


@dataclasses.dataclass(slots=True)
class _Cursor:
    """The URL being requested, so a failure names the hop that failed."""

    url: str


async def _follow(
    http: aiohttp.ClientSession,
    target: ProbeTarget,
    limits: HttpLimits,
    auth_headers: Mapping[str, str],
    elapsed: Callable[[], float],
    cursor: _Cursor,
) -> HttpResponse | HttpFailure:
    home = origin(target.base_url)
    left_home = False
    visited: set[str] = set()
    current = URL(cursor.url)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=limits.connect_timeout_s)
    hops = 0
    while True:
        cursor.url = str(current)
        if current.scheme not in ("http", "https") or not current.host:
            kind = FailureKind.REDIRECT if hops else FailureKind.CONNECT
            return HttpFailure(kind, "not an http(s) URL", elapsed(), str(current))
        if limits.address_policy is not None and (ip := parse_ip(current.host)) is not None:
            refusal = limits.address_policy.refusal(current.host, ip)
            if refusal is not None:
                return HttpFailure(FailureKind.FORBIDDEN_ADDRESS, str(refusal), elapsed(), str(current))
        visited.add(str(current))
        left_home = left_home or origin(current) != home
        headers = CIMultiDict({"User-Agent": limits.user_agent, "Accept": "application/json"})
        if not left_home:
            headers.update(auth_headers)
        async with http.get(
            current,
            headers=headers,
            allow_redirects=False,
            timeout=timeout,
            ssl=target.verify_tls,
        ) as resp:
            location = resp.headers.get("Location")
            if resp.status in _REDIRECT_STATUSES and location:
                nxt = resp.url.join(URL(location))
                if hops == limits.max_redirects:
                    message = f"more than {limits.max_redirects} redirects"
                    return HttpFailure(FailureKind.REDIRECT, message, elapsed(), str(current), resp.status)
                if str(nxt) in visited:
                    message = "redirect loop"
                    return HttpFailure(FailureKind.REDIRECT, message, elapsed(), str(current), resp.status)
                current, hops = nxt, hops + 1
                continue
            got = await _read(resp, limits, elapsed)
            if isinstance(got, HttpResponse) and auth_headers and not left_home:
                got = dataclasses.replace(got, credential_sent=True)
            return got


async def _read(
    resp: aiohttp.ClientResponse, limits: HttpLimits, elapsed: Callable[[], float]
) -> HttpResponse | HttpFailure:
    """Read the body in chunks and stop at the cap, so a huge or endless body is never buffered."""
    too_large = HttpFailure(
        FailureKind.TOO_LARGE,
        f"response body exceeds {limits.max_body_bytes} bytes",
        0.0,
        str(resp.url),
        http_status=resp.status,
    )
    declared = resp.content_length
    if declared is not None and declared > limits.max_body_bytes:
        resp.close()
        return dataclasses.replace(too_large, elapsed_ms=elapsed())
    body = bytearray()
    async for chunk in resp.content.iter_chunked(_CHUNK_BYTES):
        body += chunk
        if len(body) > limits.max_body_bytes:
            resp.close()  # drop the connection instead of draining the rest
            return dataclasses.replace(too_large, elapsed_ms=elapsed())
    return HttpResponse(
        status=resp.status,
        headers=resp.headers,
        body=bytes(body),
        elapsed_ms=elapsed(),
        url=str(resp.url),
    )
