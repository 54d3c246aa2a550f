"""``zerog proxy``: a local OpenAI-compatible server that forwards to 0G Direct providers.

Any OpenAI client (curl, the ``openai`` SDK, ChatOpenAI, LlamaIndex's OpenAI) pointed at
``http://127.0.0.1:PORT/v1`` gets 0G inference with a wallet: session tokens, failover across the
providers of the model, the auto-funding policy and verification all run here. Non-streamed
answers carry ``X-ZeroG-Provider``, ``X-ZeroG-Chat-Id``, ``X-ZeroG-Fee`` (neuron) and
``X-ZeroG-Verification`` headers; streams pass through chunk by chunk and end with an SSE comment
``: zerog {...}`` holding the same record (OpenAI clients ignore comments).

Needs the ``proxy`` extra (Starlette + uvicorn): ``pip install 'zerog-compute[proxy]'``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from .client import AsyncZeroG
from .errors import (
    ConfigurationError,
    InsufficientBalanceError,
    InvalidTokenError,
    NotAcknowledgedError,
    ProviderUnavailableError,
    RateLimitedError,
    RequestRejectedError,
    ServiceNotFoundError,
    VerificationError,
    ZeroGError,
)
from .types import ZeroGRecord

log = logging.getLogger(__name__)

VERDICT_WAIT_S = 10.0
_STATUS = (
    (RequestRejectedError, 400, "invalid_request_error"),
    (ConfigurationError, 400, "invalid_request_error"),
    (InvalidTokenError, 401, "authentication_error"),
    (InsufficientBalanceError, 402, "insufficient_balance"),
    (NotAcknowledgedError, 403, "permission_error"),
    (ServiceNotFoundError, 404, "not_found_error"),
    (RateLimitedError, 429, "rate_limit_error"),
    (VerificationError, 502, "verification_error"),
    (ProviderUnavailableError, 503, "provider_unavailable"),
)


def error_payload(error: BaseException) -> tuple[int, dict[str, Any]]:
    """OpenAI-style error body and status for a zerog error."""
    for kind, status, code in _STATUS:
        if isinstance(error, kind):
            return status, {"error": {"message": str(error), "type": code, "code": code}}
    if isinstance(error, ZeroGError):
        return 500, {"error": {"message": str(error), "type": "server_error", "code": "zerog_error"}}
    return 500, {"error": {"message": "internal error in the zerog proxy", "type": "server_error", "code": "internal"}}


async def record_headers(record: ZeroGRecord | None) -> dict[str, str]:
    """The ``X-ZeroG-*`` headers of one answer (waits briefly for a background verdict)."""
    if record is None:
        return {}
    headers = {"X-ZeroG-Provider": record.provider, "X-ZeroG-Fee": str(record.fee), "X-ZeroG-Model": record.model}
    if record.chat_id:
        headers["X-ZeroG-Chat-Id"] = record.chat_id
    headers["X-ZeroG-Verification"] = await _verdict(record)
    return headers


async def _verdict(record: ZeroGRecord) -> str:
    try:
        result = await record.averdict()
    except Exception as exc:  # a verdict that cannot be had is reported, not raised
        return f"unavailable ({type(exc).__name__})"
    return str(result.verdict.value) if result is not None else "pending"


def record_comment(record: ZeroGRecord | None, verdict: str) -> bytes:
    """The closing ``: zerog {...}`` SSE comment of a streamed answer."""
    if record is None:
        return b""
    data = {"provider": record.provider, "chat_id": record.chat_id, "fee": str(record.fee), "verification": verdict}
    return b": zerog " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


def build_app(zg: AsyncZeroG, *, model: str | None = None, providers: list[str] | None = None) -> Any:
    """The Starlette app; ``model``/``providers`` define the pool behind it."""
    try:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse, Response, StreamingResponse
        from starlette.routing import Route
    except ImportError:  # pragma: no cover - depends on the installed extra
        raise ConfigurationError("the proxy needs its extra: pip install 'zerog-compute[proxy]'") from None
    pool = zg.pool(model=model, providers=providers)

    def failure(error: BaseException) -> Response:
        status, body = error_payload(error)
        if not isinstance(error, ZeroGError):
            log.exception("proxy request failed")
        return JSONResponse(body, status_code=status)

    async def chat(request: Request) -> Response:
        try:
            body = await request.json()
            messages = body.pop("messages")
            requested = body.pop("model", None)
            stream = bool(body.pop("stream", False))
            body.pop("stream_options", None)
        except (ValueError, KeyError, AttributeError):
            return failure(RequestRejectedError("body must be a JSON chat completion request with 'messages'"))
        chosen = requested if requested and requested != "default" else None
        try:
            if stream:
                chunks = await pool.chat.completions.create(messages=messages, model=chosen, stream=True, **body)
                first = await anext(chunks)  # fail over (and fail) before any byte is sent
                return StreamingResponse(_sse(first, chunks), media_type="text/event-stream")
            reply = await pool.chat.completions.create(messages=messages, model=chosen, **body)
        except Exception as error:
            return failure(error)
        headers = await record_headers(reply.zerog)
        return JSONResponse(reply.model_dump(mode="json", exclude={"zerog"}, exclude_none=True), headers=headers)

    async def embeddings(request: Request) -> Response:
        try:
            body = await request.json()
            result = await zg.pool(model=body.pop("model", model), service_type="embedding").embeddings.create(
                input=body.pop("input"), **body
            )
        except Exception as error:
            return failure(error)
        headers = await record_headers(result.zerog)
        return JSONResponse(result.model_dump(mode="json", exclude={"zerog"}, exclude_none=True), headers=headers)

    async def models(_request: Request) -> Response:
        try:
            services = await zg.services.list(model=model) if model else await zg.services.list()
        except Exception as error:
            return failure(error)
        names = sorted({s.model for s in services if not providers or s.provider in providers})
        return JSONResponse({"object": "list", "data": [{"id": n, "object": "model", "owned_by": "0g"} for n in names]})

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/embeddings", embeddings, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
        ]
    )


async def _sse(first: Any, chunks: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    record = None
    current = first
    while current is not None:
        if current.zerog is not None:
            record = current.zerog
        payload = current.model_dump(mode="json", exclude={"zerog"}, exclude_none=True)
        yield b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"
        current = await anext(chunks, None)
    verdict = await _verdict(record) if record is not None else "pending"
    yield record_comment(record, verdict)
    yield b"data: [DONE]\n\n"


def serve(zg: AsyncZeroG, *, model: str | None, providers: list[str] | None, host: str, port: int) -> None:
    """Run the proxy in the foreground until interrupted."""
    try:
        import uvicorn
    except ImportError:  # pragma: no cover - depends on the installed extra
        raise ConfigurationError("the proxy needs its extra: pip install 'zerog-compute[proxy]'") from None
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("the zerog proxy spends your wallet's funds: it is listening on %s, not only on loopback", host)
    uvicorn.run(build_app(zg, model=model, providers=providers), host=host, port=port, log_level="warning")
