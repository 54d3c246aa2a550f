"""Checking a Direct-mode response: fetch its TEE signature, judge it, apply the verification policy.

Flows (I/O through the runner); the judging itself is pure and lives in :mod:`.verification`.
:func:`settle` is the one place where the ``off``/``warn``/``enforce`` policy is applied to a Direct
response, streamed or not, single-provider or pooled.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

from ._bounds import Deadline
from ._context import Context
from ._io import Background, Flow, Http, HttpResult, Sleep, loads_json
from ._origin import decode_data_url, on_origin, signature_url
from .errors import ProviderError
from .live_certificate import check as live_check
from .services import Service, get_service
from .types import ZeroGRecord
from .verification import (
    AttestationReport,
    Body,
    Verdict,
    VerificationPolicy,
    VerificationResult,
    apply_policy,
    check_attestation,
    evaluate,
    routing_checked,
)

log = logging.getLogger(__name__)

SIGNATURE_RETRIES = 3
FETCH_DEADLINE = 30.0
"""Seconds one verification fetch (a signature, an image) may take in total, however slowly it trickles."""
SIGNATURE_MAX_BYTES = 1024 * 1024
"""A signature answer is a few hundred bytes; anything over this is refused unread."""
MAX_IMAGES = 16
"""Most images one response may ask verification to fetch (OpenAI allows up to 10 per request)."""


def settle(
    policy: VerificationPolicy,
    service: Service,
    record: ZeroGRecord,
    request_body: bytes,
    response_body: Body,
    images: list[bytes] | None = None,
    *,
    live_certificate: bool = False,
) -> Flow[None]:
    """Apply ``policy`` to a finished response: ``off`` records a skip, ``enforce`` checks now and raises
    on failure, ``warn`` starts the check in the background (``record.verdict()`` waits for it).
    ``live_certificate``: also compare a routing proof's fingerprint with the upstream's certificate."""
    if policy == "off":
        record.verification = VerificationResult.skipped(chat_id=record.chat_id, provider=record.provider)
        return
    check = verify(service, record.chat_id, request_body, response_body, images, live_certificate=live_certificate)
    if policy == "enforce":
        record.verification = yield from check  # kept on the record (the usage ledger) even when it fails
        apply_policy(record.verification, "enforce")
    else:
        record.verification_future = yield Background(_warned(check))


def _warned(check: Flow[VerificationResult]) -> Flow[VerificationResult]:
    result = yield from check
    return warn(result)


def verify(
    service: Service,
    chat_id: str | None,
    request_body: bytes,
    response_body: Body,
    images: list[bytes] | None = None,
    *,
    live_certificate: bool = False,
) -> Flow[VerificationResult]:
    """Fetch the TEE signature for ``chat_id`` and check signer and content binding.

    An image response's images are decoded (``b64_json``, ``data:`` URLs) or downloaded from the provider's
    own origin so their hashes can be checked too; URLs elsewhere are never fetched.
    """
    images_problem = None
    if images is None and service.service_type == "text-to-image" and isinstance(response_body, bytes):
        images, images_problem = yield from _response_images(service, response_body)
    payload, problem = None, None
    if chat_id:
        payload, problem = yield from _fetch_signature(service, chat_id)
    result = evaluate(
        service=service,
        chat_id=chat_id,
        signature_payload=payload,
        request_body=request_body,
        response_body=response_body,
        images=images,
        fetch_error=problem,
        images_problem=images_problem,
    )
    if live_certificate:
        result = yield from live_check(service, result)
    return result


def _fetch_signature(service: Service, chat_id: str) -> Flow[tuple[dict[str, Any] | None, str | None]]:
    """The signature payload for ``chat_id`` from the provider (retried while the broker signs), or the problem."""
    url = signature_url(service.endpoint, chat_id, service.model)
    if url is None:
        return None, f"the chat id {chat_id[:80]!r} is not a plausible chat id; not sent back to the provider"
    payload, problem = None, None
    for attempt in range(SIGNATURE_RETRIES):
        try:
            result = yield Http(
                "GET",
                url,
                headers={"Content-Type": "application/json"},
                timeout=10.0,
                max_bytes=SIGNATURE_MAX_BYTES,
                deadline=Deadline.after(FETCH_DEADLINE),
                follow_redirects=False,
            )
        except Exception as exc:  # the provider may be gone; that is a verdict, not a crash
            return None, f"signature fetch failed: {exc}"
        payload, problem = _signature_payload(result)
        if payload is not None or attempt == SIGNATURE_RETRIES - 1:
            break
        yield Sleep(0.05 * (attempt + 1))  # the broker signs just after the body is written
    return payload, problem


def _response_images(service: Service, response_body: bytes) -> Flow[tuple[list[bytes] | None, str | None]]:
    """The images of an images response (None when it is not one), or why they could not be had."""
    try:
        data = loads_json(response_body)
    except (ValueError, RecursionError):
        return None, None
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return None, None
    if len(items) > MAX_IMAGES:
        return None, f"{len(items)} images, more than the {MAX_IMAGES} verification fetches; none fetched"
    deadline = Deadline.after(FETCH_DEADLINE)
    images = []
    for item in items:
        image, problem = yield from _image(service, item, deadline)
        if image is None:
            return None, problem
        images.append(image)
    return images, None


def _image(service: Service, item: object, deadline: Deadline) -> Flow[tuple[bytes | None, str]]:
    """One image's bytes: decoded in place, or downloaded from the provider's own origin only."""
    encoded = item.get("b64_json") if isinstance(item, dict) else None
    url = item.get("url") if isinstance(item, dict) else None
    if isinstance(encoded, str):
        return _b64(encoded), "an image's b64_json is not valid base64"
    if not isinstance(url, str):
        return None, "an image has neither b64_json nor a URL"
    if url[:5].lower() == "data:":
        return decode_data_url(url), "an image's data: URL is not valid"
    target = on_origin(url, service.url)
    if target is None:
        log.warning("provider %s sent an image URL off its origin %s; not fetched", service.provider, service.url)
        return None, f"image URL {url[:200]!r} is not on the provider's origin {service.url}; not fetched"
    try:
        result = yield Http("GET", target, timeout=10.0, deadline=deadline, follow_redirects=False)
    except Exception as exc:  # the provider may be gone; that is a verdict, not a crash
        return None, f"could not download image {target} to check its hash: {exc}"
    if result.status != 200:
        status = f"HTTP {result.status}; redirects are not followed"
        return None, f"could not download image {target} to check its hash ({status})"
    return result.content, ""


def _b64(encoded: str) -> bytes | None:
    try:
        return base64.b64decode(encoded)
    except (binascii.Error, ValueError):
        return None


def _signature_payload(result: HttpResult) -> tuple[dict[str, Any] | None, str | None]:
    try:
        data = loads_json(result.content)
    except (ValueError, RecursionError):  # RecursionError: JSON nested deeper than Python's recursion limit
        data = None
    if result.status == 200 and isinstance(data, dict) and "signature" in data:
        return data, None
    return None, f"signature endpoint answered {result.status}: {result.content[:200]!r}"


def warn(result: VerificationResult) -> VerificationResult:
    """Log a warning for a failed verification (policy ``warn``)."""
    if result.verdict is not Verdict.verified:
        log.warning(
            "response %s from %s: %s (%s)", result.chat_id, result.provider, result.verdict.value, result.detail
        )
    return result


def verify_chat(
    ctx: Context, provider: str, chat_id: str, request_body: bytes | None, response_body: bytes | None
) -> Flow[VerificationResult]:
    """``zg.verify``: signature check by chat id, plus content binding when both bodies are given."""
    service = yield from get_service(ctx, provider)
    live, given = ctx.check_upstream_certificate, request_body is not None and response_body is not None
    result = yield from verify(
        service, chat_id, request_body or b"", response_body or b"", live_certificate=live and given
    )
    if not given:
        result = result.model_copy(update={"content_bound": None, "request_bound": None, "response_bound": None})
        if result.verdict is Verdict.content_mismatch:
            result = result.model_copy(
                update={"verdict": Verdict.verified, "detail": "signer verified; bodies not given"}
            )
            result = routing_checked(result, service)  # a routing proof's claims hold without the bodies
            if live:
                result = yield from live_check(service, result)
    return result


def attestation(ctx: Context, provider: str) -> Flow[AttestationReport]:
    """Download the provider's quote report and compare its signer with the chain's."""
    service = yield from get_service(ctx, provider, fresh=True)
    result = yield Http("GET", service.url.rstrip("/") + "/v1/quote", timeout=10.0)
    if result.status != 200:
        raise ProviderError(
            f"provider {service.provider} answered {result.status} for /v1/quote",
            status_code=result.status,
            provider=service.provider,
        )
    return check_attestation(result.content.decode(errors="replace"), tee_signer_address=service.tee_signer_address)
