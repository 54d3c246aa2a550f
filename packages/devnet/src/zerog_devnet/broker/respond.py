"""Building billed responses: sanitising, streaming, billing and signing what was delivered."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from . import billing, connection, signing, teetls
from .common import Billed, error
from .runtime import ProviderRuntime
from .upstream import UpstreamResponse

log = logging.getLogger(__name__)

_DROPPED_HEADERS = {
    "content-length",
    "provider",
    "server",
    "via",
    "x-powered-by",
    "location",
    "transfer-encoding",
    "connection",
    "date",
}


def response_headers(rt: ProviderRuntime, upstream: UpstreamResponse, billed: Billed) -> dict[str, str]:
    """Upstream headers minus identity-leaking ones, plus Provider, ZG-Res-Key and rate-limit headers."""
    headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _DROPPED_HEADERS}
    headers = {k: v for k, v in headers.items() if not k.lower().startswith(("x-ratelimit", "openai-"))}
    headers["X-Accel-Buffering"] = "no"
    headers["Provider"] = rt.config.address
    headers["Access-Control-Expose-Headers"] = "Provider,content-encoding,ZG-Res-Key"
    if not rt.faults.state.missing_res_key and not rt.config.separated:  # a separated model's id is the key
        headers["ZG-Res-Key"] = billed.chat_id
    headers.update(billed.headers)
    return headers


def sign_and_store(rt: ProviderRuntime, billed: Billed, text: str) -> None:
    """Sign ``text`` with the TEE key (or a wrong key, under fault) and cache it by chat id.

    A TeeTLS provider signs the routing proof over the same hashes instead, and nothing without a fingerprint.
    """
    if rt.config.separated:  # the model's own TEE signed what it sent (see ``separated``)
        return
    state = rt.faults.state
    if state.sign_other_content:
        head, _, _ = text.partition(":")
        text = f"{head}:{signing.response_text(b'', b'not-what-was-sent').split(':')[1]}"
    extra = None
    if rt.config.provider_identity is not None:
        if billed.tls_fingerprint is None:
            log.warning("no upstream TLS certificate fingerprint for %s: routing proof not signed", billed.chat_id)
            return
        text = teetls.routing_proof_text(text, rt.config.provider_identity, billed.tls_fingerprint)
        extra = teetls.routing_fields(rt.config.provider_identity, billed.tls_fingerprint)
    key = rt.config.tee_private_key
    if state.wrong_signature:
        key = "0x" + uuid.uuid5(uuid.NAMESPACE_OID, billed.chat_id).hex * 2
    signature = signing.sign_text(text, key)
    rt.signatures.put(billed.chat_id, text, signature, rt.config.tee_address, extra)


def passthrough_error(upstream_status: int, body: bytes, headers: dict[str, str]) -> Response:
    """Upstream non-200: pass it on (client-error-looking 5xx become 400; 5xx text is masked)."""
    text = body.decode(errors="replace")
    client_markers = ("maximum context length", "invalid_request_error", "context_length_exceeded")
    if upstream_status >= 500 and any(m in text for m in client_markers):
        return Response(body, status_code=400, media_type=headers.get("content-type"))
    if upstream_status >= 500:
        phrase = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
        return error(upstream_status, phrase.get(upstream_status, "Internal Server Error"))
    return Response(body, status_code=upstream_status, media_type=headers.get("content-type"))


async def iter_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Split a byte stream into lines without their ``\\n``."""
    buffer = b""
    async for chunk in chunks:
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            yield line
    if buffer:
        yield buffer


def sanitise_chat_json(payload: Any, chat_id: str) -> Any:
    """Rewrite ``id`` to ``chatcmpl-<chatKey>`` and drop upstream identity/cost fields."""
    if not isinstance(payload, dict):
        return payload
    for key in ("provider", "is_byok", "cost", "cost_details", "native_finish_reason", "reasoning_details"):
        payload.pop(key, None)
    payload["id"] = f"chatcmpl-{chat_id}"
    return payload


def encode_go_json(payload: Any) -> bytes:
    """Compact JSON with sorted keys and no HTML escaping, like the broker's re-encoding."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def stream_response(
    rt: ProviderRuntime, request: Request, billed: Billed, upstream: UpstreamResponse, release: Any
) -> StreamingResponse:
    """Forward SSE line by line, then bill from the usage chunk and sign the delivered bytes."""
    cut_after = rt.faults.state.stream_cut_after

    async def body() -> AsyncIterator[bytes]:
        sent = bytearray()
        seen: list[bytes] = []
        data_lines = 0
        lines = iter_lines(upstream.body)
        try:
            async for line in lines:
                seen.append(line)
                if line.startswith(b":"):
                    continue
                if line.startswith(b"data: ") and line.strip() != b"data: [DONE]":
                    line = line if rt.config.separated else _rewrite_sse_line(line, billed.chat_id)
                    data_lines += 1
                    if 0 <= cut_after < data_lines:
                        connection.cut(request.scope, reset=False)
                        seen.extend([rest async for rest in lines])
                        break
                out = line + b"\n"
                sent += out
                yield out
        finally:
            await _close(upstream)
            _bill_stream(rt, billed, seen, bytes(sent))
            release()

    headers = response_headers(rt, upstream, billed)
    return StreamingResponse(body(), status_code=200, headers=headers, media_type="text/event-stream")


def _rewrite_sse_line(line: bytes, chat_id: str) -> bytes:
    try:
        payload = json.loads(line[len(b"data: ") :])
    except ValueError:
        return line
    return b"data: " + encode_go_json(sanitise_chat_json(payload, chat_id))


async def _close(upstream: UpstreamResponse) -> None:
    result = upstream.close()
    if asyncio.iscoroutine(result):
        await result


def _bill_stream(rt: ProviderRuntime, billed: Billed, seen: list[bytes], sent: bytes) -> None:
    usage, text = billing.usage_from_sse(seen)
    fee = billing.chat_fee(usage, text, rt.prices)
    rt.fees.record(billed.user, fee)
    sign_and_store(rt, billed, signing.response_text(billed.body, sent))


def complete(rt: ProviderRuntime, billed: Billed, upstream: UpstreamResponse, payload: bytes) -> Response:
    """Non-streamed success: sanitise, bill, sign the exact delivered bytes."""
    try:
        parsed = json.loads(payload)
    except ValueError:
        parsed = None
    if billed.route == "/chat/completions" and isinstance(parsed, dict) and not rt.config.separated:
        payload = encode_go_json(sanitise_chat_json(parsed, billed.chat_id))
    fee, text = _fee_and_text(rt, billed, parsed, payload)
    rt.fees.record(billed.user, fee)
    sign_and_store(rt, billed, text)
    if billed.wants_url and isinstance(parsed, dict):
        payload = json.dumps(_as_urls(rt, billed, parsed)).encode()
    headers = response_headers(rt, upstream, billed)
    return Response(payload, status_code=200, headers=headers, media_type=headers.pop("content-type", None))


def _fee_and_text(rt: ProviderRuntime, billed: Billed, parsed: Any, payload: bytes) -> tuple[billing.FeeBreakdown, str]:
    data = parsed if isinstance(parsed, dict) else {}
    if billed.route == "/images/generations":
        images = _decoded_images(data)
        if billed.wants_url:
            rt.images[billed.chat_id] = images
        text = signing.image_response_text(billed.body, images) if images else None
        return billing.image_fee(billed.n_images, rt.prices), text or signing.response_text(billed.body, payload)
    text = signing.response_text(billed.body, payload)
    if billed.route == "/audio/transcriptions":
        return billing.transcription_fee(_stt_usage(data), str(data.get("text", "")), rt.prices), text
    if billed.route == "/embeddings":
        return billing.embedding_fee(data.get("usage"), rt.prices), text
    content = "".join(str((c.get("message") or {}).get("content") or "") for c in data.get("choices", []))
    return billing.chat_fee(data.get("usage"), content, rt.prices), text


def _stt_usage(data: dict[str, Any]) -> dict[str, Any] | None:
    usage = data.get("usage")
    if isinstance(usage, dict):
        return usage
    if isinstance(data.get("duration"), (int, float)):
        return {"type": "duration", "seconds": data["duration"]}
    return None


def _decoded_images(data: dict[str, Any]) -> list[bytes]:
    images = []
    for item in data.get("data", []) or []:
        b64 = item.get("b64_json") if isinstance(item, dict) else None
        if isinstance(b64, str):
            try:
                images.append(base64.b64decode(b64))
            except (binascii.Error, ValueError):
                continue
    return images


def _as_urls(rt: ProviderRuntime, billed: Billed, data: dict[str, Any]) -> dict[str, Any]:
    """Replace ``b64_json`` items by URLs on this provider's image-serve route."""
    items = []
    for index, item in enumerate(data.get("data") or []):
        entry = {k: v for k, v in (item if isinstance(item, dict) else {}).items() if k != "b64_json"}
        entry["url"] = f"{rt.config.url}/v1/proxy/images/{billed.chat_id}/{index}"
        items.append(entry)
    return {**data, "data": items}
