"""Raw TCP/TLS servers on 127.0.0.1 that misbehave below HTTP: trickles, resets, bad certificates.

aiohttp's web server always speaks well-formed HTTP, so these are plain `asyncio` servers whose
`Handler` writes whatever bytes it likes. Certificates are made on the fly with `cryptography`;
no key or certificate is kept in the repository.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import ipaddress
import pathlib
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

OK_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"


@dataclasses.dataclass(frozen=True, slots=True)
class Issued:
    """A key and certificate, PEM-encoded, and the files a server context loads them from."""

    cert_pem: bytes
    key_pem: bytes

    def server_context(self, directory: pathlib.Path) -> ssl.SSLContext:
        cert_file, key_file = directory / "cert.pem", directory / "key.pem"
        cert_file.write_bytes(self.cert_pem)
        key_file.write_bytes(self.key_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        return context


class TestCA:
    """A certificate authority that exists for one test; trust it with `client_context()`."""

    __test__ = False  # not a pytest class

    def __init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Vigil test CA")])
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            _builder(
                self._name, self._name, self._key.public_key(), now - dt.timedelta(days=1), now + dt.timedelta(days=1)
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self._key, hashes.SHA256())
        )

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cadata=self.cert.public_bytes(serialization.Encoding.PEM).decode())

    def issue(self, *, not_before: dt.datetime, not_after: dt.datetime) -> Issued:
        """A server certificate for 127.0.0.1 signed by this CA."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _server_extensions(_builder(_loopback_name(), self._name, key.public_key(), not_before, not_after)).sign(
            self._key, hashes.SHA256()
        )
        return _issued(cert, key)


def self_signed() -> Issued:
    """A currently valid certificate for 127.0.0.1 that nobody vouches for."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    name = _loopback_name()
    cert = _server_extensions(
        _builder(name, name, key.public_key(), now - dt.timedelta(days=1), now + dt.timedelta(days=30))
    ).sign(key, hashes.SHA256())
    return _issued(cert, key)


def _loopback_name() -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )


def _server_extensions(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    return builder.add_extension(
        x509.SubjectAlternativeName([x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]), critical=False
    ).add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)


def _issued(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Issued:
    return Issued(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )


@contextlib.asynccontextmanager
async def hostile(handler: Handler, *, tls: ssl.SSLContext | None = None) -> AsyncIterator[str]:
    """Serve `handler` on a free loopback port; yields the base URL (http or https, no slash).

    Handlers may loop forever: on exit every connection's task is cancelled and awaited.
    """
    tasks: set[asyncio.Task[None]] = set()

    async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handler(reader, writer)
        except (ConnectionError, ssl.SSLError):
            pass  # the client gave up first, which is what a bounded client does
        finally:
            tasks.discard(task)
            writer.transport.abort()

    server = await asyncio.start_server(connected, "127.0.0.1", 0, ssl=tls)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


async def read_request_head(reader: asyncio.StreamReader) -> bytes:
    """The request line and headers; a probe's GET has no body."""
    return await reader.readuntil(b"\r\n\r\n")


async def answer_ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request_head(reader)
    writer.write(OK_RESPONSE)
    await writer.drain()


def trickle(data: bytes | Callable[[], bytes], every_s: float, *, head: bytes = b"") -> Handler:
    """Send `head` at once, then one byte of `data` every `every_s` seconds; a callable `data`
    is called again whenever its bytes run out, so the trickle never ends."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(head)
        await writer.drain()
        while True:
            chunk = data() if callable(data) else data
            for byte in chunk:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(every_s)
            if not callable(data):
                await asyncio.Event().wait()  # everything sent: hold the connection open

    return handler


def reset_after(partial: bytes) -> Handler:
    """Write `partial` (headers and part of a body), then reset the connection (RST, not FIN)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(partial)
        await writer.drain()
        await asyncio.sleep(0.05)  # let the client read what was sent before the reset
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    return handler
