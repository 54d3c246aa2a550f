"""TeeTLS routing proofs: what a centralized provider's signed text must say (pure, no I/O).

A centralized ("TeeTLS") provider's broker runs in a TEE, forwards requests over HTTPS to a centralized API
and signs a *routing proof* (provider-protocol §5.4)::

    sha256hex(request):sha256hex(response):providerType:providerIdentity:tlsCertFingerprint

where the fingerprint is the SHA-256 of the upstream's leaf certificate (DER), 64 hex digits. The SDK checks
only the signer; this module adds what the signed text itself claims: the provider type and identity must be
the ones the service registered on chain (``additionalInfo.ProviderType`` / ``ProviderIdentity``) and the
fingerprint must be well-formed. The opt-in live check (:mod:`.live_certificate`) compares the fingerprint
with the certificate the upstream presents now; :func:`tls_target` says where that check may connect.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._origin import origin

__all__ = [
    "CENTRALIZED",
    "RoutingProof",
    "TlsTarget",
    "certificate_fingerprint",
    "parse",
    "problem",
    "tls_target",
]

CENTRALIZED = "centralized"
_HASH = re.compile(r"[0-9a-fA-F]{64}")
_FINGERPRINT = re.compile(r"[0-9a-fA-F]{64}")
MAX_SERVING_DOMAIN = 253 + 6
"""Longest ``serving_domain`` considered (a DNS name and a port)."""


@dataclass(frozen=True)
class RoutingProof:
    """The five fields of a routing-proof text."""

    request_sha256: str
    response_sha256: str
    provider_type: str
    provider_identity: str
    tls_cert_fingerprint: str


def parse(text: str) -> RoutingProof | None:
    """The routing proof in ``text``, or None when it is not the five-field form with two hashes first."""
    parts = text.split(":")
    if len(parts) != 5 or not (_HASH.fullmatch(parts[0]) and _HASH.fullmatch(parts[1])):
        return None
    return RoutingProof(*parts)


def _is_centralized(info: Mapping[str, Any]) -> bool:
    return info.get("ProviderType") == CENTRALIZED


def problem(text: str, info: Mapping[str, Any]) -> str | None:
    """Why ``text`` (already signed by the right key, hashes matching) is not an acceptable routing proof.

    ``info`` is the service's parsed on-chain ``additionalInfo``. None when the text is a routing proof whose
    provider type and identity are those registered and whose fingerprint is 64 hex digits, or when it is no
    routing proof and the service is not centralized (an ordinary TeeML answer).
    """
    proof = parse(text)
    if proof is None:
        if _is_centralized(info):
            return "the service is registered as centralized (TeeTLS) and its signed text is no routing proof"
        return None
    registered_type = info.get("ProviderType")
    if proof.provider_type != registered_type:
        registered = repr(registered_type) if registered_type else "no ProviderType (decentralized)"
        return (
            f"the routing proof names provider type {proof.provider_type[:64]!r}, "
            f"but the service registered {registered} on chain"
        )
    registered_identity = info.get("ProviderIdentity")
    if not isinstance(registered_identity, str) or not registered_identity:
        return "the routing proof names a provider identity, but the service registered no ProviderIdentity on chain"
    if proof.provider_identity != registered_identity:
        return (
            f"the routing proof names provider identity {proof.provider_identity[:64]!r}, "
            f"but the service registered {registered_identity!r} on chain"
        )
    if not _FINGERPRINT.fullmatch(proof.tls_cert_fingerprint):
        return (
            f"the routing proof's TLS certificate fingerprint {proof.tls_cert_fingerprint[:80]!r} is not "
            "64 hex digits (the SHA-256 of a certificate)"
        )
    return None


def certificate_fingerprint(der: bytes) -> str:
    """The SHA-256 fingerprint of a DER certificate: 64 lower-case hex digits, as brokers sign it."""
    return hashlib.sha256(der).hexdigest()


@dataclass(frozen=True)
class TlsTarget:
    """Where the live check connects: ``host`` and ``port``; ``public_only`` makes the connection refuse any
    address that is not globally routable (after DNS resolution)."""

    host: str
    port: int
    public_only: bool


def tls_target(serving_domain: object, provider_url: str) -> TlsTarget | str:
    """Where to check the upstream's certificate, or why not (SSRF policy).

    ``serving_domain`` (from the provider's ``/v1/models``: ``host``, ``host:port`` or ``https://host[:port]``;
    port 443 by default) is provider data. The connection may go to the provider's own registered host
    (any port), or to a name whose every address is public; never to loopback, private, link-local or
    other special addresses of someone else.
    """
    if not isinstance(serving_domain, str) or not serving_domain:
        return "the provider's /v1/models names no serving_domain"
    if len(serving_domain) > MAX_SERVING_DOMAIN:
        return "the provider's serving_domain is too long to be a host name"
    url = serving_domain if "://" in serving_domain else f"https://{serving_domain}"
    target = origin(url)
    rest = url.split("://", 1)[1]
    if target is None or target[0] != "https" or any(sep in rest for sep in "/?#"):
        return f"the provider's serving_domain {serving_domain[:100]!r} is not a host name (with an optional port)"
    own = origin(provider_url)
    _, host, port = target
    return TlsTarget(host.strip("[]"), port, public_only=own is None or own[1] != host)
