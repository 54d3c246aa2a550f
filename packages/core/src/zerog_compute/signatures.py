"""Checking a Direct-mode response: fetch its TEE signature, judge it, apply the verification policy.

Flows (I/O through the runner); the judging itself is pure and lives in :mod:`.verification`.
:func:`settle` is the one place where the ``off``/``warn``/``enforce`` policy is applied to a Direct
response, streamed or not, single-provider or pooled.
"""

from __future__ import annotations

import logging
from typing import Any

from ._bounds import Deadline
from ._context import Context
from ._io import Background, Flow, Http, HttpResult, Sleep, loads_json
from .errors import ProviderError
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
)

log = logging.getLogger(__name__)

SIGNATURE_RETRIES = 3
FETCH_DEADLINE = 30.0
"""Seconds one verification fetch (a signature, an image) may take in total, however slowly it trickles."""
SIGNATURE_MAX_BYTES = 1024 * 1024
"""A signature answer is a few hundred bytes; anything over this is refused unread."""


def settle(
    policy: VerificationPolicy,
    service: Service,
    record: ZeroGRecord,
    request_body: bytes,
    response_body: Body,
    images: list[bytes] | None = None,
) -> Flow[None]:
    """Apply ``policy`` to a finished response: ``off`` records a skip, ``enforce`` checks now and raises
    on failure, ``warn`` starts the check in the background (``record.verdict()`` waits for it)."""
    if policy == "off":
        record.verification = VerificationResult.skipped(chat_id=record.chat_id, provider=record.provider)
        return
    check = verify(service, record.chat_id, request_body, response_body, images)
    if policy == "enforce":
        record.verification = apply_policy((yield from check), "enforce")
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
) -> Flow[VerificationResult]:
    """Fetch the TEE signature for ``chat_id`` and check signer and content binding.

    Images returned as URLs are downloaded from the provider so their hashes can be checked too.
    """
    if images is None and service.service_type == "text-to-image" and isinstance(response_body, bytes):
        images, problem = yield from _download_images(response_body)
        if problem is not None:
            chat_id, missing = None, problem
        else:
            missing = None
    else:
        missing = None
    if chat_id is None:
        return evaluate(
            service=service,
            chat_id=None,
            signature_payload=None,
            request_body=request_body,
            response_body=response_body,
            images=images,
            fetch_error=missing or "the response carried no chat id",
        )
    url = f"{service.endpoint}/signature/{chat_id}?model={service.model}"
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
            )
        except Exception as exc:  # the provider may be gone; that is a verdict, not a crash
            problem = f"signature fetch failed: {exc}"
            break
        payload, problem = _signature_payload(result)
        if payload is not None or attempt == SIGNATURE_RETRIES - 1:
            break
        yield Sleep(0.05 * (attempt + 1))  # the broker signs just after the body is written
    return evaluate(
        service=service,
        chat_id=chat_id,
        signature_payload=payload,
        request_body=request_body,
        response_body=response_body,
        images=images,
        fetch_error=problem,
    )


def _download_images(response_body: bytes) -> Flow[tuple[list[bytes] | None, str | None]]:
    """The images of a URL-style images response, fetched (None when the response had no URLs)."""
    try:
        data = loads_json(response_body)
    except (ValueError, RecursionError):
        return None, None
    items = data.get("data") if isinstance(data, dict) else None
    raw = [item.get("url") for item in items or [] if isinstance(item, dict)]
    urls = [u for u in raw if isinstance(u, str) and u.startswith(("http://", "https://"))]
    if not urls or len(urls) != len(raw):
        return None, None
    images = []
    for url in urls:
        try:
            result = yield Http("GET", url, timeout=10.0, deadline=Deadline.after(FETCH_DEADLINE))
        except Exception as exc:  # the provider may be gone; that is a verdict, not a crash
            return None, f"could not download image {url} to check its hash: {exc}"
        if result.status != 200:
            return None, f"could not download image {url} to check its hash (HTTP {result.status})"
        images.append(result.content)
    return images, None


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
    result = yield from verify(service, chat_id, request_body or b"", response_body or b"")
    if request_body is None or response_body is None:
        result = result.model_copy(update={"content_bound": None, "request_bound": None, "response_bound": None})
        if result.verdict is Verdict.content_mismatch:
            result = result.model_copy(
                update={"verdict": Verdict.verified, "detail": "signer verified; bodies not given"}
            )
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
