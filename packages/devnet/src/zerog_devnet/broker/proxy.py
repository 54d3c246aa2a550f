"""The billed request pipeline of ``ANY /v1/proxy/*``, in the broker's order.

body limit → session validation → per-user limits → model checks → account and admission checks
→ forward upstream → sanitise and stream back → bill → sign and cache the signature.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from . import billing, connection, signing, tokens
from .runtime import AccountRecord, ProviderRuntime
from .upstream import UpstreamResponse

log = logging.getLogger(__name__)

MAX_BODY = 32 * 1024 * 1024
HANG_LIMIT_S = 600.0
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
_MISMATCH_WINDOW_S = 300.0
_MISMATCH_LIMIT = 5
_BLOCK_S = 3600.0


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """A broker error body ``{"error": message}``."""
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class Rejected(Exception):
    """Ends the pipeline with a ready response."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


@dataclass
class Billed:
    """What the pipeline knows about one admitted request."""

    route: str
    user: str
    body: bytes
    headers: dict[str, str]
    chat_id: str
    n_images: int = 1


async def authenticate(
    rt: ProviderRuntime, header: str | None, prefix: str
) -> tuple[tokens.SessionToken, AccountRecord | None]:
    """Validate the session token exactly as the broker does; failures are 400s."""
    try:
        token = tokens.parse_authorization(header)
        tokens.check_claims(token, provider_address=rt.config.address, now_ms=int(time.time() * 1000))
        account = await rt.get_account(token.address)
        tokens.check_revocation(token, account.state if account else None)
        tokens.verify_signature(token)
    except tokens.SessionError as exc:
        raise Rejected(error(400, f"{prefix}validate session: {exc.message}")) from None
    return token, account


def _check_model_block(rt: ProviderRuntime, user: str) -> None:
    until = rt.blocked_until.get(user.lower(), 0.0)
    if until > time.monotonic():
        minutes = int((until - time.monotonic()) // 60) + 1
        message = f"Rate limit exceeded: too many invalid model requests. Please try again in {minutes}m0s"
        raise Rejected(error(429, message))


def _note_model_mismatch(rt: ProviderRuntime, user: str) -> None:
    now = time.monotonic()
    recent = [t for t in rt.model_mismatches.get(user.lower(), []) if now - t < _MISMATCH_WINDOW_S]
    recent.append(now)
    rt.model_mismatches[user.lower()] = recent
    if len(recent) >= _MISMATCH_LIMIT:
        rt.blocked_until[user.lower()] = now + _BLOCK_S


def rewrite_chat_body(rt: ProviderRuntime, user: str, body: bytes) -> bytes:
    """Model enforcement and ``include_usage`` injection; re-marshals only when something changed."""
    try:
        request = json.loads(body)
    except ValueError as exc:
        raise Rejected(error(400, f"check if stream: {exc}")) from None
    if not isinstance(request, dict):
        raise Rejected(error(400, "check if stream: request body must be a JSON object"))
    changed = False
    model = request.get("model")
    if model is None:
        request["model"], changed = rt.config.model, True
    elif model != rt.config.model:
        _note_model_mismatch(rt, user)
        accepted = json.dumps([rt.config.model])
        message = f'prepare HTTP request: model not supported: requested "{model}", accepted: {accepted}'
        raise Rejected(error(400, message))
    if request.get("stream") is True and "include_usage" not in (request.get("stream_options") or {}):
        request["stream_options"] = {**(request.get("stream_options") or {}), "include_usage": True}
        changed = True
    if not changed:
        return body
    return json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


async def check_account(
    rt: ProviderRuntime, user: str, account: AccountRecord | None, estimated: int
) -> None:
    """Account existence, acknowledgements and the balance admission rule (all 400s)."""
    if account is None:
        reason = f"execution reverted: AccountNotExists({user}, {rt.config.address})"
        raise Rejected(
            error(400, f"validate request: get account from contract, account not exist: {reason}")
        )
    if not account.acknowledged:
        message = (
            "user not acknowledge the provider, please use acknowledgeProviderSigner function in sdk "
            "first, it will take effect in 2 minutes"
        )
        raise Rejected(error(400, f"validate request: {message}"))
    if not await rt.tee_signer_acknowledged():
        raise Rejected(error(400, "validate request: service not acknowledge the tee signer"))
    problem = billing.admission_error(
        lock_balance=account.lock_balance,
        unsettled=rt.fees.unsettled(user),
        estimated_fee=estimated,
        minimum_locked=rt.config.minimum_locked_balance,
        provider=rt.config.address,
    )
    if problem:
        raise Rejected(error(400, f"validate request: {problem}"))


def forward_headers(request: Request) -> dict[str, str]:
    """Client headers minus auth/legacy ones, with identity encoding, as the broker forwards them."""
    dropped = {
        "address",
        "fee",
        "input-fee",
        "nonce",
        "request-hash",
        "signature",
        "session-token",
        "session-signature",
        "authorization",
        "host",
        "content-length",
        "accept-encoding",
    }
    headers = {k: v for k, v in request.headers.items() if k.lower() not in dropped}
    headers["accept-encoding"] = "identity"
    return headers


def response_headers(rt: ProviderRuntime, upstream: UpstreamResponse, billed: Billed) -> dict[str, str]:
    """Upstream headers minus identity-leaking ones, plus Provider, ZG-Res-Key and rate-limit headers."""
    headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _DROPPED_HEADERS}
    headers = {k: v for k, v in headers.items() if not k.lower().startswith(("x-ratelimit", "openai-"))}
    headers["X-Accel-Buffering"] = "no"
    headers["Provider"] = rt.config.address
    headers["Access-Control-Expose-Headers"] = "Provider,content-encoding,ZG-Res-Key"
    if not rt.faults.state.missing_res_key:
        headers["ZG-Res-Key"] = billed.chat_id
    headers.update(billed.headers)
    return headers


async def apply_transport_faults(rt: ProviderRuntime, request: Request) -> Response | None:
    """Latency, hang, 5xx and connection drop, applied just before the upstream call."""
    state = rt.faults.state
    if state.latency_ms > 0:
        await asyncio.sleep(state.latency_ms / 1000)
    deadline = time.monotonic() + HANG_LIMIT_S
    # the fault flag is flipped from other threads, so poll it rather than await an asyncio.Event
    while rt.faults.state.hang and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    if state.drop_connection:
        connection.cut(request.scope, reset=True)
        return Response(status_code=500)
    if state.http_status:
        phrase = {
            500: "Internal Server Error",
            502: "Bad Gateway",
            503: "Service Unavailable",
            504: "Gateway Timeout",
        }.get(state.http_status, "Internal Server Error")
        return error(state.http_status, phrase)
    return None


def sign_and_store(rt: ProviderRuntime, billed: Billed, text: str) -> None:
    """Sign ``text`` with the TEE key (or a wrong key, under fault) and cache it by chat id."""
    state = rt.faults.state
    if state.sign_other_content:
        head, _, _ = text.partition(":")
        text = f"{head}:{signing.response_text(b'', b'not-what-was-sent').split(':')[1]}"
    key = rt.config.tee_private_key
    if state.wrong_signature:
        key = "0x" + uuid.uuid5(uuid.NAMESPACE_OID, billed.chat_id).hex * 2
    signature = signing.sign_text(text, key)
    rt.signatures.put(billed.chat_id, text, signature, rt.config.tee_address)


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
                    line = _rewrite_sse_line(line, billed.chat_id)
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


def _limit_headers(decision: Any) -> dict[str, str]:
    return dict(getattr(decision, "headers", {}) or {})


async def handle_billed(rt: ProviderRuntime, request: Request, route: str) -> Response:
    """Run one billed request through the whole pipeline."""
    body = await request.body()
    if len(body) > MAX_BODY:
        return error(413, "Request body size exceeds the maximum allowed size of 32MB")
    if not rt.global_cap.try_enter():
        return error(503, "Server is currently processing too many requests. Please try again later.")
    try:
        token, account = await authenticate(rt, request.headers.get("authorization"), "")
    except Rejected as rejected:
        rt.global_cap.exit()
        return rejected.response
    return await _admitted(rt, request, route, body, token, account)


async def _admitted(
    rt: ProviderRuntime,
    request: Request,
    route: str,
    body: bytes,
    token: tokens.SessionToken,
    account: AccountRecord | None,
) -> Response:
    user = token.address
    if rt.faults.state.rate_limit_storm:
        rt.global_cap.exit()
        return JSONResponse({"error": {"type": "rate_limit_error", "message": _RPM_MESSAGE}}, status_code=429)
    decision = rt.limits.admit(user)
    if not decision.allowed:
        rt.global_cap.exit()
        return JSONResponse(decision.body, status_code=decision.status)
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            released = True
            if decision.slot is not None:
                decision.slot.release()
            rt.global_cap.exit()

    try:
        response = await _run(rt, request, route, body, user, account, _limit_headers(decision), release)
    except Rejected as rejected:
        release()
        return rejected.response
    except BaseException:
        release()
        raise
    if not isinstance(response, StreamingResponse):
        release()
    return response


_RPM_MESSAGE = "Rate limit exceeded. Please slow down your request rate (limit: 30 requests/min)."


async def _run(
    rt: ProviderRuntime,
    request: Request,
    route: str,
    body: bytes,
    user: str,
    account: AccountRecord | None,
    limit_headers: dict[str, str],
    release: Any,
) -> Response:
    _check_model_block(rt, user)
    n_images = 1
    if route == "/chat/completions":
        body = rewrite_chat_body(rt, user, body)
    elif route == "/images/generations":
        n_images = _image_count(body)
    await check_account(rt, user, account, 0)
    billed = Billed(route, user, body, limit_headers, str(uuid.uuid4()), n_images)
    faulty = await apply_transport_faults(rt, request)
    if faulty is not None:
        return faulty
    upstream = await rt.upstream.send(request.method, route, forward_headers(request), body)
    if upstream.status != 200:
        payload = await upstream.read()
        return passthrough_error(upstream.status, payload, upstream.headers)
    if upstream.headers.get("content-type", "").startswith("text/event-stream"):
        return stream_response(rt, request, billed, upstream, release)
    payload = await upstream.read()
    return _complete(rt, billed, upstream, payload)


def _image_count(body: bytes) -> int:
    try:
        n = json.loads(body).get("n", 1)
    except (ValueError, AttributeError):
        return 1
    return n if isinstance(n, int) and n > 0 else 1


def _complete(rt: ProviderRuntime, billed: Billed, upstream: UpstreamResponse, payload: bytes) -> Response:
    """Non-streamed success: sanitise, bill, sign the exact delivered bytes."""
    try:
        parsed = json.loads(payload)
    except ValueError:
        parsed = None
    if billed.route == "/chat/completions" and isinstance(parsed, dict):
        payload = encode_go_json(sanitise_chat_json(parsed, billed.chat_id))
    fee, text = _fee_and_text(rt, billed, parsed, payload)
    rt.fees.record(billed.user, fee)
    sign_and_store(rt, billed, text)
    headers = response_headers(rt, upstream, billed)
    return Response(payload, status_code=200, headers=headers, media_type=headers.pop("content-type", None))


def _fee_and_text(
    rt: ProviderRuntime, billed: Billed, parsed: Any, payload: bytes
) -> tuple[billing.FeeBreakdown, str]:
    data = parsed if isinstance(parsed, dict) else {}
    if billed.route == "/images/generations":
        images = _decoded_images(data)
        store = rt.images.setdefault(billed.chat_id, [])
        store.extend(images)
        text = signing.image_response_text(billed.body, images) if images else None
        return billing.image_fee(billed.n_images, rt.prices), text or signing.response_text(
            billed.body, payload
        )
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
    import base64
    import binascii

    images = []
    for item in data.get("data", []) or []:
        b64 = item.get("b64_json") if isinstance(item, dict) else None
        if isinstance(b64, str):
            try:
                images.append(base64.b64decode(b64))
            except (binascii.Error, ValueError):
                continue
    return images
