"""TeeTLS (centralized) providers: a local HTTPS upstream with its own certificate, and routing proofs.

A centralized provider's broker forwards to a centralized API over TLS and signs a *routing proof*
``sha256(req):sha256(resp):providerType:providerIdentity:tlsCertFingerprint`` (provider-protocol §5.4), the
fingerprint being the SHA-256 of the upstream's leaf certificate (DER) as seen on the connection. Here the
"centralized API" is the provider's own upstream (the scripted model, or ``--upstream``) served over real
HTTPS on loopback with a certificate made at start (the ``cryptography`` package); the broker trusts exactly
that certificate and reads the fingerprint from the TLS connection of every request.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import ipaddress
import shutil
import socket
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from .upstream import Upstream, UpstreamResponse, _json

CENTRALIZED = "centralized"
DEFAULT_IDENTITY = "zerog-devnet-upstream"
"""The ``ProviderIdentity`` a devnet TeeTLS provider registers and signs (the upstream's name)."""
_CERT_DAYS = 30


@dataclass(frozen=True)
class TlsIdentity:
    """A certificate and its key (PEM), and the certificate's DER bytes."""

    cert_pem: bytes
    key_pem: bytes = b""
    der: bytes = b""

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the DER certificate, 64 lower-case hex digits (what the routing proof carries)."""
        return hashlib.sha256(self.der).hexdigest()

    def __repr__(self) -> str:
        return f"TlsIdentity(fingerprint={self.fingerprint!r})"


def make_certificate(host: str = "127.0.0.1") -> TlsIdentity:
    """A fresh self-signed P-256 certificate for ``host`` (an IP address or a name) and ``localhost``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    try:
        subject: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        subject = x509.DNSName(host)
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=_CERT_DAYS))
        .add_extension(x509.SubjectAlternativeName([subject, x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, False, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return TlsIdentity(
        cert.public_bytes(serialization.Encoding.PEM), key_pem, cert.public_bytes(serialization.Encoding.DER)
    )


def upstream_app(inner: Upstream) -> Starlette:
    """An OpenAI-compatible server (``POST /v1/...``) answering with ``inner`` (the scripted model)."""

    async def forward(request: Request) -> Response:
        path = "/" + request.path_params["rest"]
        answer = await inner.send(request.method, path, dict(request.headers), await request.body())
        headers = {k: v for k, v in answer.headers.items() if k.lower() not in ("content-length", "transfer-encoding")}
        return StreamingResponse(answer.body, status_code=answer.status, headers=headers)

    return Starlette(routes=[Route("/v1/{rest:path}", forward, methods=["POST"])])


def peer_fingerprint(response: httpx.Response) -> str | None:
    """The SHA-256 fingerprint of the leaf certificate on ``response``'s TLS connection (None without TLS)."""
    stream = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    return hashlib.sha256(der).hexdigest() if der else None


class TlsUpstream:
    """A TeeTLS provider's upstream: serves ``inner`` over HTTPS on loopback and forwards to it over TLS.

    Every answer carries the fingerprint of the certificate its connection presented (``tls_fingerprint``).
    """

    def __init__(self, inner: Upstream, sock: socket.socket, identity: TlsIdentity | None = None) -> None:
        self.inner = inner
        self.identity = identity or make_certificate()
        self.port = int(sock.getsockname()[1])
        self.base_url = f"https://127.0.0.1:{self.port}"
        self._sock = sock
        self._dir = Path(tempfile.mkdtemp(prefix="zerog-devnet-tls-"))
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        trust = ssl.create_default_context(cadata=self.identity.cert_pem.decode())
        self._client = httpx.AsyncClient(verify=trust, timeout=300.0)

    @property
    def serving_domain(self) -> str:
        """``host:port`` of the upstream, as ``/v1/models`` publishes it."""
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Serve on the socket given at construction (call on the provider host's loop)."""
        cert, key = self._dir / "cert.pem", self._dir / "key.pem"
        cert.write_bytes(self.identity.cert_pem)
        key.write_bytes(self.identity.key_pem)
        key.chmod(0o600)
        config = uvicorn.Config(
            upstream_app(self.inner),
            lifespan="off",
            log_level="warning",
            access_log=False,
            ssl_certfile=str(cert),
            ssl_keyfile=str(key),
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.get_running_loop().create_task(self._server.serve(sockets=[self._sock]))
        while not self._server.started:  # uvicorn exposes only this flag
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.005)

    async def send(self, method: str, path: str, headers: dict[str, str], body: bytes) -> UpstreamResponse:
        request = self._client.build_request(method, self.base_url + "/v1" + path, headers=headers, content=body)
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TimeoutException:
            return _json(504, {"error": "Gateway Timeout"})
        except httpx.HTTPError:
            return _json(502, {"error": "Bad Gateway"})
        return UpstreamResponse(
            response.status_code,
            dict(response.headers),
            response.aiter_raw(),
            response.aclose,
            tls_fingerprint=peer_fingerprint(response),
        )

    async def aclose(self) -> None:
        await self._client.aclose()
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await asyncio.wait([self._task], timeout=5)
        await self.inner.aclose()
        shutil.rmtree(self._dir, ignore_errors=True)


def routing_proof_text(chat_text: str, provider_identity: str, fingerprint: str) -> str:
    """The routing proof over the two hashes of a ``sha256(req):sha256(resp)`` text."""
    return f"{chat_text}:{CENTRALIZED}:{provider_identity}:{fingerprint}"


def routing_fields(provider_identity: str, fingerprint: str) -> dict[str, Any]:
    """The routing-proof fields a centralized broker adds to the cached signature."""
    return {
        "provider_type": CENTRALIZED,
        "provider_identity": provider_identity,
        "tls_cert_fingerprint": fingerprint,
    }


def additional_info(provider_identity: str = DEFAULT_IDENTITY) -> dict[str, Any]:
    """The on-chain ``additionalInfo`` keys of a centralized provider (brokers force ``TargetSeparated``)."""
    return {
        "ProviderType": CENTRALIZED,
        "ProviderIdentity": provider_identity,
        "TargetSeparated": True,
        "TargetTeeAddress": "",
    }


def model_info(provider_identity: str, serving_domain: str) -> dict[str, Any]:
    """The ``/v1/models`` fields of a centralized provider."""
    return {"provider_type": CENTRALIZED, "provider_identity": provider_identity, "serving_domain": serving_domain}
