"""The opt-in live check of a TeeTLS routing proof (``check_upstream_certificate=True``): a flow.

A routing proof says which TLS certificate the provider's upstream presented (its SHA-256 fingerprint). No
SDK checks that claim; this flow does: it reads the upstream's host from the provider's ``/v1/models``
(``serving_domain``), connects to it over TLS within bounds (where :func:`.routing_proof.tls_target` allows),
and compares the leaf certificate it presents now with the signed fingerprint. A certificate rotated since
the answer was signed also shows as a mismatch, so this is a check for the moment, not a proof of the past.
"""

from __future__ import annotations

from typing import Any

from . import routing_proof
from ._bounds import Deadline
from ._io import Flow, Http, PeerCertificate, loads_json
from .services import Service
from .verification import Verdict, VerificationResult

__all__ = ["CONNECT_TIMEOUT", "MODELS_MAX_BYTES", "check", "serving_domain"]

CONNECT_TIMEOUT = 10.0
"""Seconds each of resolving, connecting and the TLS handshake may take."""
MODELS_MAX_BYTES = 1024 * 1024
"""A ``/v1/models`` answer larger than this is refused unread."""


def check(service: Service, result: VerificationResult) -> Flow[VerificationResult]:
    """``result`` with the live certificate compared, when it is a verified routing proof (else unchanged)."""
    proof = routing_proof.parse(result.signed_text or "")
    if result.verdict is not Verdict.verified or proof is None:
        return result
    domain, problem = yield from serving_domain(service)
    target = routing_proof.tls_target(domain, service.url) if problem is None else problem
    if isinstance(target, str):
        return _not_checked(result, target)
    try:
        der = yield PeerCertificate(target.host, target.port, target.public_only, CONNECT_TIMEOUT)
    except Exception as exc:  # unreachable, refused by the address policy, not TLS: a verdict, not a crash
        return _not_checked(result, f"could not read the certificate of {target.host}:{target.port}: {exc}")
    live = routing_proof.certificate_fingerprint(der)
    where = f"{target.host}:{target.port}"
    if live != proof.tls_cert_fingerprint.lower():
        detail = (
            f"{result.detail}; but the upstream {where} presents certificate {live}, "
            f"not the signed {proof.tls_cert_fingerprint}"
        )
        return result.model_copy(update={"verdict": Verdict.certificate_mismatch, "detail": detail})
    return result.model_copy(update={"detail": f"{result.detail}; the live certificate of {where} matches"})


def _not_checked(result: VerificationResult, why: str) -> VerificationResult:
    detail = f"{result.detail}; but the live certificate check (check_upstream_certificate) could not be done: {why}"
    return result.model_copy(update={"verdict": Verdict.unavailable, "detail": detail})


def serving_domain(service: Service) -> Flow[tuple[Any, str | None]]:
    """The ``serving_domain`` the provider's ``/v1/models`` gives for the service's model, or the problem."""
    url = service.url.rstrip("/") + "/v1/models"
    try:
        answer = yield Http(
            "GET",
            url,
            timeout=CONNECT_TIMEOUT,
            max_bytes=MODELS_MAX_BYTES,
            deadline=Deadline.after(3 * CONNECT_TIMEOUT),
            follow_redirects=False,
        )
    except Exception as exc:  # the provider may be gone
        return None, f"{url} could not be read: {exc}"
    if answer.status != 200:
        return None, f"{url} answered HTTP {answer.status}"
    try:
        listing = loads_json(answer.content)
    except (ValueError, RecursionError):
        return None, f"{url} did not answer JSON"
    entries = listing.get("data") if isinstance(listing, dict) else None
    entries = [entry for entry in entries if isinstance(entry, dict)] if isinstance(entries, list) else []
    chosen = [entry for entry in entries if entry.get("id") == service.model] or (entries if len(entries) == 1 else [])
    if not chosen:
        return None, f"{url} lists no model"
    return chosen[0].get("serving_domain"), None
