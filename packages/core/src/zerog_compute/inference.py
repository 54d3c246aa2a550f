"""Inference requests, written once as flows: session header, request, fee, record, verification.

A request is: resolve the service (cached 10 min) → session token (cached per provider, refreshed
an hour before expiry; the on-chain generation is read once per token) → POST to
``service.url + /v1/proxy/<route>`` → typed result with a ``zerog`` record (provider, model, chat
id, fee, verdict). Warm requests make no chain RPC at all.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from . import ledger, sse
from ._context import Context
from ._io import Flow, Http, HttpResult, Sleep, loads_json
from .errors import ConfigurationError, InvalidTokenError, NotAcknowledgedError, ProviderError, ZeroGError
from .services import Service, get_service
from .types import ZeroGRecord
from .verification import AttestationReport, Verdict, VerificationResult, check_attestation, evaluate

log = logging.getLogger(__name__)

ROUTE_TYPES = {
    "/chat/completions": "chatbot",
    "/images/generations": "text-to-image",
    "/audio/transcriptions": "speech-to-text",
    "/embeddings": "embedding",
}
SIGNATURE_RETRIES = 3


@dataclass
class Prepared:
    """A request ready to send, plus what is needed to account for its response."""

    service: Service
    route: str
    url: str
    headers: dict[str, str]
    body: bytes
    model: str
    started: float = field(default_factory=time.perf_counter)


def session_header(ctx: Context, service: Service) -> Flow[str]:
    """``Bearer app-sk-…`` for ``service.provider`` (cached; chain read only for a new token)."""
    provider = service.provider
    generation = ctx.generations.get(provider.lower())
    if generation is None:
        account = yield from ledger.sub_account(ctx, provider)
        if account is None:
            raise NotAcknowledgedError(
                f"no sub-account with provider {provider} yet: fund it with zg.acknowledge({provider!r}, amount=1) "
                "or zg.ledger.transfer(provider, amount)"
            )
        if not account.acknowledged:
            raise NotAcknowledgedError(
                f"your sub-account with {provider} is not acknowledged: run zg.acknowledge(provider)"
            )
        generation = account.generation
    return f"Bearer {ctx.sessions.get_or_create(ctx.wallet, provider, generation=generation)}"


def prepare(
    ctx: Context, provider: str, route: str, body: bytes, *, content_type: str = "application/json", model: str = ""
) -> Flow[Prepared]:
    """Resolve the provider's service and build the authenticated request."""
    service = yield from get_service(ctx, provider)
    expected = ROUTE_TYPES[route]
    if service.service_type != expected:
        raise ConfigurationError(
            f"provider {service.provider} serves {service.service_type!r}, not {expected!r}: "
            f"pick a {expected} provider from zg.services.list(service_type={expected!r})"
        )
    auth = yield from session_header(ctx, service)
    headers = {"Authorization": auth, "Content-Type": content_type}
    return Prepared(service, route, service.endpoint + route, headers, body, model or service.model)


def encode_body(
    payload: dict[str, Any], model: str, files: dict[str, tuple[str, bytes, str]] | None = None
) -> tuple[bytes, str]:
    """The exact request bytes and content type (JSON, or multipart when ``files`` are given).

    These bytes are what the provider's signature must cover, so they are built once and kept.
    """
    if files is None:
        body = json.dumps({"model": model, **payload}, separators=(",", ":"), ensure_ascii=False).encode()
        return body, "application/json"
    fields = {k: v if isinstance(v, str) else json.dumps(v) for k, v in {"model": model, **payload}.items()}
    request = httpx.Request("POST", "http://multipart.invalid", data=fields, files=files)
    return request.read(), request.headers["content-type"]


def prepare_payload(
    ctx: Context,
    provider: str,
    route: str,
    payload: dict[str, Any],
    *,
    model: str | None = None,
    files: dict[str, tuple[str, bytes, str]] | None = None,
) -> Flow[Prepared]:
    """Resolve the service, fill in its model when none is given, encode and authenticate."""
    service = yield from get_service(ctx, provider)
    chosen = model or service.model
    body, content_type = encode_body(payload, chosen, files)
    prepared = yield from prepare(ctx, provider, route, body, content_type=content_type, model=chosen)
    return prepared


def fee_for(service: Service, route: str, data: dict[str, Any], request_body: bytes) -> int:
    """What the provider bills for this response, with the broker's formulas (neuron)."""
    usage = _dict(data.get("usage"))
    if route == "/chat/completions":
        return (
            _count(usage, "prompt_tokens") * service.input_price
            + _count(usage, "completion_tokens") * service.output_price
        )
    if route == "/embeddings":
        return _count(usage, "prompt_tokens") * service.input_price
    if route == "/images/generations":
        return _image_count(request_body) * service.output_price
    seconds = usage.get("seconds") if usage.get("type") == "duration" else data.get("duration")
    if isinstance(seconds, (int, float)) and seconds > 0:
        return max(int(min(seconds, 356_400) + 0.5), 1) * service.input_price
    return _count(usage, "input_tokens") * service.input_price + _count(usage, "output_tokens") * service.output_price


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _tokens(usage: dict[str, Any], key: str) -> int | None:
    """A usage counter; None unless an integer in 0..2**63-1 (the broker's int64), whatever the provider sent."""
    value = usage.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63 else None


def _count(usage: dict[str, Any], key: str) -> int:
    return _tokens(usage, key) or 0


def _image_count(body: bytes) -> int:
    try:
        n = json.loads(body).get("n", 1)
    except (ValueError, AttributeError):
        return 1
    return n if isinstance(n, int) and n > 0 else 1


def status_error(ctx: Context, prepared: Prepared, status: int, content: bytes, headers: Any) -> ZeroGError:
    """The typed error for a non-200 answer (a rejected session token is dropped from the cache)."""
    error = sse.error_from_response(status, content, headers, prepared.service.provider)
    if isinstance(error, InvalidTokenError):
        ctx.sessions.invalidate(prepared.service.provider)
        ctx.generations.drop(prepared.service.provider.lower())
    return error


def record_for(prepared: Prepared, result: HttpResult, data: dict[str, Any]) -> ZeroGRecord:
    """The ``zerog`` record of a non-streamed response."""
    body_id = data.get("id") if isinstance(data.get("id"), str) else None
    usage = _dict(data.get("usage"))
    return ZeroGRecord(
        provider=prepared.service.provider,
        model=str(data.get("model") or prepared.model),
        chat_id=sse.chat_id(result.headers, body_id, prepared.service.service_type),
        fee=fee_for(prepared.service, prepared.route, data, prepared.body),
        input_tokens=_tokens(usage, "prompt_tokens"),
        output_tokens=_tokens(usage, "completion_tokens"),
        service_type=prepared.service.service_type,
        latency_ms=(time.perf_counter() - prepared.started) * 1000,
    )


def verify(
    service: Service,
    chat_id: str | None,
    request_body: bytes,
    response_body: bytes,
    images: list[bytes] | None = None,
) -> Flow[VerificationResult]:
    """Fetch the TEE signature for ``chat_id`` and check signer and content binding.

    Images returned as URLs are downloaded from the provider so their hashes can be checked too.
    """
    if images is None and service.service_type == "text-to-image":
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
            result = yield Http("GET", url, headers={"Content-Type": "application/json"}, timeout=10.0)
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
            result = yield Http("GET", url, timeout=10.0)
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
