"""Performing :class:`~._io.PeerCertificate`: read the leaf certificate a TLS server presents (used by the runners).

The connection sends nothing but a TLS ClientHello and is closed after the handshake. The certificate is not
validated against any CA: the caller compares its fingerprint with a signed one, which is the whole point.
With ``public_only`` the host name is resolved first and refused unless every address is globally routable
(no loopback, private, link-local, shared, multicast or reserved address: SSRF), and the connection goes to
the vetted address, so a second DNS answer cannot steer it elsewhere.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ipaddress
import socket
import ssl
from typing import Any

from ._io import PeerCertificate

__all__ = ["ProbeRefused", "aleaf_certificate", "leaf_certificate", "vetted_address"]


class ProbeRefused(Exception):
    """The host resolves to an address the probe may not connect to."""


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def vetted_address(op: PeerCertificate, infos: list[tuple[Any, ...]]) -> str:
    """The address to connect to among ``getaddrinfo`` results, or :class:`ProbeRefused`."""
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise ProbeRefused(f"{op.host} resolves to no address")
    if op.public_only:
        private = [address for address in addresses if not _is_public(address)]
        if private:
            raise ProbeRefused(
                f"{op.host} resolves to {private[0]}, which is not a public address; "
                "only the provider's own host may be private"
            )
    return addresses[0]


def _context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _server_name(host: str) -> str | None:
    """The SNI to send: the host name, or none for an IP literal."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host
    return None


def _resolve(op: PeerCertificate) -> list[tuple[Any, ...]]:
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="zerog-resolve")
    try:
        future = pool.submit(socket.getaddrinfo, op.host, op.port, type=socket.SOCK_STREAM)
        return list(future.result(timeout=op.timeout))
    finally:
        pool.shutdown(wait=False)  # a resolver stuck past the timeout is left behind, not waited for


def leaf_certificate(op: PeerCertificate) -> bytes:
    """The DER leaf certificate of ``op.host``:``op.port`` (blocking)."""
    address = vetted_address(op, _resolve(op))
    with (
        socket.create_connection((address, op.port), timeout=op.timeout) as raw,
        _context().wrap_socket(raw, server_hostname=_server_name(op.host)) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise ssl.SSLError(f"{op.host}:{op.port} presented no certificate")
    return der


async def aleaf_certificate(op: PeerCertificate) -> bytes:
    """The DER leaf certificate of ``op.host``:``op.port`` (asyncio)."""
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(loop.getaddrinfo(op.host, op.port, type=socket.SOCK_STREAM), op.timeout)
    address = vetted_address(op, list(infos))
    connecting = asyncio.open_connection(address, op.port, ssl=_context(), server_hostname=_server_name(op.host) or "")
    _, writer = await asyncio.wait_for(connecting, op.timeout)
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    finally:
        writer.close()
        with contextlib.suppress(OSError, asyncio.TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), op.timeout)
    if not der:
        raise ssl.SSLError(f"{op.host}:{op.port} presented no certificate")
    return bytes(der)
