"""Certificates made by the test (`cryptography`), and a real TLS endpoint in front of
a plain server, for what csops says and does over TLS."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path

import hpack
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Pem:
    """A certificate and its private key, as PEM files."""

    cert: Path
    key: Path
    _signer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = field(
        default=None, repr=False
    )


def _write(folder: Path, name: str, cert: x509.Certificate, key) -> Pem:
    cert_file, key_file = folder / f"{name}.crt", folder / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Pem(cert_file, key_file, (cert, key))


def _builder(name: str, issuer: x509.Name, public_key) -> x509.CertificateBuilder:
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
    )


def self_signed(folder: Path, name: str) -> Pem:
    """A certificate authority of its own, also valid as 127.0.0.1's certificate for
    Python's ssl (not for rustls, which refuses a CA as a server: use `issue`)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        _builder(name, subject, key.public_key())
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return _write(folder, name, cert, key)


def issue(ca: Pem, folder: Path, name: str, *, dns: list[str] | None = None) -> Pem:
    """A leaf certificate `ca` signs: a server's for `dns` names (and 127.0.0.1), or a
    client's when no names are given."""
    assert ca._signer is not None, "a CA made by self_signed() in this run"
    ca_cert, ca_key = ca._signer
    key = ec.generate_private_key(ec.SECP256R1())
    builder = _builder(name, ca_cert.subject, key.public_key()).add_extension(
        x509.BasicConstraints(ca=False, path_length=None), critical=True
    )
    if dns is None:
        usage = ExtendedKeyUsageOID.CLIENT_AUTH
    else:
        usage = ExtendedKeyUsageOID.SERVER_AUTH
        names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        builder = builder.add_extension(
            x509.SubjectAlternativeName([*names, x509.IPAddress(ip_address("127.0.0.1"))]),
            critical=False,
        )
    cert = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False).sign(
        ca_key, hashes.SHA256()
    )
    return _write(folder, name, cert, key)


class GrpcHeaders:
    """The request headers of each gRPC call in a client's HTTP/2 byte stream: frames
    read as they pass, header blocks decoded with hpack (HTTP/2's header codec)."""

    PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    HEADERS, CONTINUATION = 0x1, 0x9
    END_HEADERS, PADDED, PRIORITY = 0x4, 0x8, 0x20

    def __init__(self, calls: list[dict[str, str]]) -> None:
        self.calls = calls  # each call's headers are appended here
        self._pending = b""
        self._block = b""
        self._after_preface = False
        self._decoder = hpack.Decoder()

    def feed(self, data: bytes) -> None:
        self._pending += data
        if not self._after_preface:
            if len(self._pending) < len(self.PREFACE):
                return
            self._pending = self._pending[len(self.PREFACE) :]
            self._after_preface = True
        while len(self._pending) >= 9:
            length = int.from_bytes(self._pending[:3], "big")
            kind, flags = self._pending[3], self._pending[4]
            if len(self._pending) < 9 + length:
                return
            payload, self._pending = self._pending[9 : 9 + length], self._pending[9 + length :]
            if kind == self.HEADERS:
                if flags & self.PADDED:
                    payload = payload[1 : len(payload) - payload[0]]
                if flags & self.PRIORITY:
                    payload = payload[5:]
                self._block = payload
            elif kind == self.CONTINUATION:
                self._block += payload
            else:
                continue
            if flags & self.END_HEADERS:
                self.calls.append(dict(self._decoder.decode(self._block)))
                self._block = b""


@dataclass
class TlsFront:
    """Where the endpoint listens, the client certificates it let through (by common
    name, one per connection), and the headers of the gRPC calls it passed on."""

    port: int
    clients: list[str] = field(default_factory=list)
    calls: list[dict[str, str]] = field(default_factory=list)


@contextlib.asynccontextmanager
async def tls_front(
    upstream: str, server: Pem, client_ca: Pem | None = None
) -> AsyncIterator[TlsFront]:
    """A TLS endpoint (HTTP/2 by ALPN, as gRPC asks) on 127.0.0.1 that passes each
    connection's bytes to `upstream` (host:port) and back: a secured cluster in front
    of a dev server. With `client_ca`, it takes only clients whose certificate that
    CA signed."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(server.cert, server.key)
    if client_ca is not None:
        context.load_verify_locations(client_ca.cert)
        context.verify_mode = ssl.CERT_REQUIRED
    context.set_alpn_protocols(["h2"])
    host, port = upstream.rsplit(":", 1)
    tasks: set[asyncio.Task] = set()

    async def pipe(
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        headers: GrpcHeaders | None = None,
    ) -> None:
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            while data := await reader.read(65536):
                if headers is not None:
                    headers.feed(data)
                writer.write(data)
                await writer.drain()
        writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peercert") or {}
        front.clients.append(
            next((v for rdn in peer.get("subject", ()) for k, v in rdn if k == "commonName"), "")
        )
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        headers = GrpcHeaders(front.calls)  # every connection's calls, in one list
        both = asyncio.gather(pipe(reader, up_writer, headers), pipe(up_reader, writer))
        tasks.add(both)  # type: ignore[arg-type]
        await both

    listener = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    front = TlsFront(listener.sockets[0].getsockname()[1])
    try:
        yield front
    finally:
        listener.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
