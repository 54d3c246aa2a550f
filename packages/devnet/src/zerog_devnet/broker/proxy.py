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
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from . import billing, connection, rewrite, tokens
from .common import Billed, Rejected, error
from .respond import complete, passthrough_error, stream_response
from .runtime import AccountRecord, ProviderRuntime

log = logging.getLogger(__name__)

MAX_BODY = 32 * 1024 * 1024
HANG_LIMIT_S = 600.0
_MISMATCH_WINDOW_S = 300.0
_MISMATCH_LIMIT = 5
_BLOCK_S = 3600.0


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
    elif model not in rt.config.catalog:
        _note_model_mismatch(rt, user)
        accepted = json.dumps(list(rt.config.catalog))
        message = f'prepare HTTP request: model not supported: requested "{model}", accepted: {accepted}'
        raise Rejected(error(400, message))
    if rt.config.rewrite_requests:
        request, changed = rewrite.production_rewrite(request, model=rt.config.model), True
    if request.get("stream") is True and "include_usage" not in (request.get("stream_options") or {}):
        request["stream_options"] = {**(request.get("stream_options") or {}), "include_usage": True}
        changed = True
    if not changed:
        return body
    return json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


async def check_account(rt: ProviderRuntime, user: str, account: AccountRecord | None, estimated: int) -> None:
    """Account existence, acknowledgements and the balance admission rule (all 400s)."""
    if account is None:
        reason = f"execution reverted: AccountNotExists({user}, {rt.config.address})"
        raise Rejected(error(400, f"validate request: get account from contract, account not exist: {reason}"))
    if not account.acknowledged:
        message = (
            "user not acknowledge the provider, please use acknowledgeProviderSigner function in sdk "
            "first, it will take effect in 2 minutes"
        )
        raise Rejected(error(400, f"validate request: {message}"))
    if not await rt.tee_signer_acknowledged():
        raise Rejected(error(400, "validate request: service not acknowledge the tee signer"))
    problem = _admission_problem(rt, user, account, estimated)
    if problem and rt.config.account_cache_ttl > 0:  # the broker re-syncs the account once before refusing
        fresh = await rt.get_account(user, fresh=True)
        problem = _admission_problem(rt, user, fresh, estimated) if fresh else problem
    if problem:
        raise Rejected(error(400, f"validate request: {problem}"))


def _admission_problem(rt: ProviderRuntime, user: str, account: AccountRecord, estimated: int) -> str | None:
    return billing.admission_error(
        lock_balance=account.lock_balance,
        unsettled=rt.fees.unsettled(user),
        estimated_fee=estimated,
        minimum_locked=rt.config.minimum_locked_balance,
        provider=rt.config.address,
    )


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
    n_images, wants_url, forward_body = 1, False, body
    if route == "/chat/completions":
        body = forward_body = rewrite_chat_body(rt, user, body)
    elif route == "/images/generations":
        n_images, wants_url, forward_body = image_request(body)
    await check_account(rt, user, account, 0)
    billed = Billed(route, user, body, limit_headers, str(uuid.uuid4()), n_images, wants_url)
    faulty = await apply_transport_faults(rt, request)
    if faulty is not None:
        return faulty
    upstream = await rt.upstream.send(request.method, route, forward_headers(request), forward_body)
    billed.tls_fingerprint = upstream.tls_fingerprint
    if upstream.status != 200:
        payload = await upstream.read()
        return passthrough_error(upstream.status, payload, upstream.headers)
    if upstream.headers.get("content-type", "").startswith("text/event-stream"):
        return stream_response(rt, request, billed, upstream, release)
    payload = await upstream.read()
    return complete(rt, billed, upstream, payload)


def image_request(body: bytes) -> tuple[int, bool, bytes]:
    """``(n, wants_url, forwarded body)``: upstream always gets ``response_format=b64_json``."""
    try:
        request = json.loads(body)
    except ValueError:
        return 1, False, body
    if not isinstance(request, dict):
        return 1, False, body
    n = request.get("n", 1)
    count = n if isinstance(n, int) and n > 0 else 1
    if request.get("response_format") != "url":
        return count, False, body
    request["response_format"] = "b64_json"
    return count, True, json.dumps(request, sort_keys=True, separators=(",", ":")).encode()
