"""A local emulator of the hosted 0G Router (``router-api.0g.ai``), in front of the devnet providers.

It follows the Router's published API (facts in ``shared/reference/router-api.md``): ``Authorization:
Bearer sk-…`` keys with one balance per account, ``GET /v1/models`` (public), ``GET /v1/providers?model=``,
the account routes (``mk-`` management keys only: ``sk-`` keys get 403 ``insufficient_scope``) and async
image jobs in :mod:`zerog_devnet.router_routes`, and the OpenAI-compatible ``POST /v1/chat/completions``
(JSON and SSE), ``/v1/images/generations``, ``/v1/images/edits`` and ``/v1/audio/transcriptions`` (both
multipart). No ``/v1/embeddings``: no Router page documents it. Images need ``response_format: "b64_json"``.

The Router is itself a Direct client of the providers: it owns a funded devnet wallet (ledger and a
sub-account with every provider), signs ``app-sk-`` session tokens and forwards each request to a provider
chosen by ``X-0G-Provider-Address`` (pin; no fallback unless ``X-0G-Provider-Allow-Fallbacks: true``),
``X-0G-Provider-Sort: price|latency`` or round-robin, restricted by ``X-0G-Provider-Trust-Mode: private``
(providers listed in the ``teetls_providers`` fault are TeeTLS), failing over on connection errors, 5xx and
429. It debits the key's account by the provider's usage × price and passes ``ZG-Res-Key`` through. Every
response carries ``X-RateLimit-*-Requests`` headers; a key gets ``rpm`` requests per minute, then 429 with
``Retry-After``. No other headers are added (no ``X-0G-Provider``: the trace names the provider).

Every response carries ``x_0g_trace: {request_id, provider, billing: {input_cost, output_cost,
total_cost}}`` (neuron strings: exactly what was debited). ``verify_tee`` — the body field of JSON requests,
the query parameter ``?verify_tee=true`` of multipart ones (a form field is not honoured) — makes the Router
fetch the provider's TEE signature, check signer and content binding, and add ``tee_verified`` (and
``detail``) to the trace:

* JSON responses: a top-level ``x_0g_trace`` field of the body.
* SSE streams: the docs do not say where, so the emulator varies it (each in turn, or the ``stream_trace``
  fault): its own ``chat.completion.chunk`` with ``"choices": []``, a field of the last (usage) chunk, or a
  bare ``{"x_0g_trace": ...}`` event — always before ``data: [DONE]``.

Errors use the documented shape ``{"error": {"message", "type", "code"}, "request_id"}`` with the documented
types (``invalid_request_error`` for 400 and 401, ``payment_error``, ``permission_error``,
``not_found_error``, ``rate_limit_error``, ``server_error`` for 5xx).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .accounts import DevAccount
from .broker import billing
from .errors import ConfigError
from .router_requests import (
    MULTIPART_ROUTES,
    ROUTE_TYPES,
    RouterError,
    Spec,
    json_spec,
    multipart_spec,
    read_routing,
)
from .router_state import (
    DEFAULT_KEY_BALANCE,
    DEFAULT_KEYS,
    DEFAULT_RPM,
    JobBook,
    KeyRegistry,
    RequestLimits,
    RoutedProvider,
    RouterFaults,
    RouterKey,
    Routing,
    Selector,
    SessionSigner,
)
from .router_verify import answer_fee, verify_answer

if TYPE_CHECKING:
    from .server import ProviderHost

log = logging.getLogger(__name__)

__all__ = ["RoutedProvider", "RouterConfig", "RouterHandle", "RouterRuntime", "build_router_app", "start_router"]

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    402: "payment_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}
"""``error.type`` per status, as the Router's errors page lists them (5xx: ``server_error``)."""
TRACE_PLACEMENTS = ("chunk", "usage", "bare")
TOP_UP_HINT = "top up at pc.0g.ai"
_ROUTER_SIDE = ("validate session", "validate request", "insufficient balance", "model not supported")


@dataclass
class RouterConfig:
    """Settings of the emulator."""

    rpm: int = DEFAULT_RPM
    """Requests per minute per key (then 429 with Retry-After)."""
    attempt_timeout: float = 30.0
    """Seconds one provider attempt may take before the Router fails over."""
    max_attempts: int = 4
    """Providers tried per request at most."""
    keys: int = DEFAULT_KEYS
    key_balance: int = DEFAULT_KEY_BALANCE


class RouterRuntime:
    """The emulator's live state: providers, keys, limits, health, session tokens, faults, HTTP client."""

    def __init__(self, wallet: DevAccount, providers: Sequence[RoutedProvider], config: RouterConfig) -> None:
        self.wallet = wallet
        self.providers = list(providers)
        self.config = config
        self.keys = KeyRegistry()
        self.limits = RequestLimits(config.rpm)
        self.selector = Selector()
        self.signer = SessionSigner(wallet)
        self.faults = RouterFaults()
        self.http: httpx.AsyncClient | None = None
        self.jobs = JobBook()
        self._placements = itertools.cycle(TRACE_PLACEMENTS)

    def trace_placement(self) -> str:
        """Where the next stream's trace goes: the ``stream_trace`` fault, else each placement in turn."""
        return self.faults.state.stream_trace or next(self._placements)

    def client(self) -> httpx.AsyncClient:
        if self.http is None:
            self.http = httpx.AsyncClient(timeout=self.config.attempt_timeout)
        return self.http

    def models(self) -> dict[str, list[RoutedProvider]]:
        """Model id → the acknowledged providers serving it (in registration order)."""
        by_model: dict[str, list[RoutedProvider]] = {}
        for provider in self.providers:
            by_model.setdefault(provider.model, []).append(provider)
        return by_model

    def reset(self) -> None:
        self.keys.reset()
        self.limits.reset()
        self.selector.reset()
        self.faults.clear()
        self.jobs.clear()

    async def aclose(self) -> None:
        if self.http is not None:
            await self.http.aclose()
            self.http = None


# ---------------------------------------------------------------------------------------------------------
# responses


@dataclass
class _Call:
    """Per-request bookkeeping: id and the headers every response of this request carries."""

    request_id: str = field(default_factory=lambda: f"req-{uuid.uuid4().hex}")
    headers: dict[str, str] = field(default_factory=dict)

    def all_headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {**self.headers, **(extra or {})}  # the request id is in the body: the trace or the error


def _error_response(error: RouterError, call: _Call) -> JSONResponse:
    kind = ERROR_TYPES.get(error.status, "server_error")
    body = {"error": {"message": error.message, "type": kind, "code": error.code}, "request_id": call.request_id}
    return JSONResponse(body, status_code=error.status, headers=call.all_headers(error.headers))


def _bearer(request: Request) -> str | None:
    value = request.headers.get("authorization")
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else ""


def _admit(rt: RouterRuntime, request: Request, call: _Call) -> RouterKey | None:
    """Count the request against its key (or its client address) and set the rate-limit headers."""
    secret = _bearer(request)
    key = rt.keys.lookup(secret) if secret else None
    host = request.client.host if request.client else "unknown"
    decision = rt.limits.admit(key.secret if key is not None else f"anon:{host}")
    call.headers.update(decision.headers())
    if not decision.allowed:
        raise RouterError(
            429,
            "rate_limit_exceeded",
            f"rate limit exceeded: {decision.limit} requests per minute; retry after {decision.retry_after} s",
            {"Retry-After": str(decision.retry_after)},
        )
    return key


def _authenticate(request: Request, key: RouterKey | None, kind: str) -> RouterKey:
    secret = _bearer(request)
    if secret is None:
        raise RouterError(400, "missing_authorization", "missing Authorization header: send `Bearer sk-…`")
    if key is None:
        raise RouterError(401, "invalid_api_key", "invalid API key: create one at pc.0g.ai (Dashboard → API Keys)")
    if key.revoked:
        raise RouterError(401, "api_key_revoked", "this API key has been revoked")
    if key.kind != kind:
        needed = "an sk- inference key" if kind == "sk" else "an mk- management key with scope account:read"
        raise RouterError(403, "insufficient_scope", f"this key cannot call {request.url.path}: use {needed}")
    return key


def _candidates(rt: RouterRuntime, spec: Spec, routing: Routing) -> list[RoutedProvider]:
    serving = rt.models().get(spec.model)
    if not serving:
        raise RouterError(404, "model_not_found", f"model {spec.model!r} not found: GET /v1/models lists the models")
    expected = ROUTE_TYPES[spec.route]
    typed = [p for p in serving if p.service_type == expected]
    if not typed:
        kind = serving[0].service_type
        message = f"model {spec.model!r} is a {kind} model: it does not serve {spec.route}"
        raise RouterError(400, "invalid_body", message)
    if routing.pin is not None and all(p.address.lower() != routing.pin.lower() for p in typed):
        raise RouterError(400, "invalid_provider_header", f"provider {routing.pin} does not serve model {spec.model!r}")
    usable = [p for p in typed if p.acknowledged]
    if not usable:
        raise RouterError(503, "no_available_provider", f"no TEE-acknowledged provider serves {spec.model!r}")
    if routing.trust_mode == "private":
        teetls = {a.lower() for a in rt.faults.state.teetls_providers}
        usable = [p for p in usable if p.address.lower() not in teetls]
        if not usable:
            raise RouterError(503, "no_provider_for_trust_mode", "no provider available for trust mode: tier=private")
    return usable


# ---------------------------------------------------------------------------------------------------------
# forwarding


@dataclass
class _Failure:
    provider: RoutedProvider
    status: int | None
    message: str
    retry_after: str | None = None

    def describe(self) -> str:
        what = f"HTTP {self.status}" if self.status is not None else "unreachable"
        return f"{self.provider.address} ({what}: {self.message[:200]})"


@dataclass
class _Rejected:
    """The provider refused the request itself (4xx): no failover, the caller must fix the request."""

    provider: RoutedProvider
    status: int
    message: str


def _provider_message(content: bytes) -> str:
    text = content.decode("utf-8", "replace").strip()
    try:
        payload = json.loads(text)
    except ValueError:
        return text
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        error = error.get("message")
    return str(error) if error else text


async def _attempt(rt: RouterRuntime, provider: RoutedProvider, spec: Spec) -> httpx.Response | _Failure | _Rejected:
    headers = {"Authorization": rt.signer.header(provider.address), "Content-Type": spec.content_type}
    client = rt.client()
    url = provider.endpoint + spec.forward_route
    request = client.build_request("POST", url, headers=headers, content=spec.forward_body)
    started = time.monotonic()
    try:
        response = await client.send(request, stream=True)
    except httpx.HTTPError as exc:
        return _Failure(provider, None, f"{type(exc).__name__}: {exc}")
    if response.status_code == 200:
        rt.selector.succeeded(provider.address, (time.monotonic() - started) * 1000)
        return response
    try:
        content = await response.aread()
    except httpx.HTTPError:
        content = b""
    finally:
        await response.aclose()
    message = _provider_message(content)
    status = response.status_code
    if "validate session" in message:
        rt.signer.invalidate(provider.address)
    if status == 429 or status >= 500 or any(marker in message.lower() for marker in _ROUTER_SIDE):
        return _Failure(provider, status, message, response.headers.get("retry-after"))
    return _Rejected(provider, status, message)


def _exhausted(spec: Spec, failures: list[_Failure]) -> RouterError:
    tried = "; ".join(f.describe() for f in failures)
    if not failures:
        return RouterError(503, "no_available_provider", f"no provider available for model {spec.model!r}")
    if all(f.status == 429 for f in failures):
        waits = [int(float(f.retry_after)) for f in failures if f.retry_after and f.retry_after.isdigit()]
        wait = str(max(1, min(waits))) if waits else "1"
        message = f"every provider of {spec.model!r} is rate-limiting the Router: {tried}"
        return RouterError(429, "rate_limit_exceeded", message, {"Retry-After": wait})
    if all(f.status is None for f in failures):
        return RouterError(503, "no_available_provider", f"no provider of {spec.model!r} could be reached: {tried}")
    return RouterError(502, "provider_error", f"all providers failed for model {spec.model!r}: {tried}")


def _trace(
    provider: RoutedProvider, call: _Call, fee: billing.FeeBreakdown, verdict: tuple[bool, str] | None
) -> dict[str, Any]:
    """``x_0g_trace``: on every response, with the exact bill; ``tee_verified`` only when ``verify_tee`` was set."""
    trace: dict[str, Any] = {
        "request_id": call.request_id,
        "provider": provider.address,
        "billing": {"input_cost": str(fee.input_fee), "output_cost": str(fee.output_fee), "total_cost": str(fee.total)},
    }
    if verdict is not None:
        trace["tee_verified"], trace["detail"] = verdict
    return trace


def _success_headers(call: _Call, upstream: httpx.Response) -> dict[str, str]:
    extra: dict[str, str] = {}
    res_key = upstream.headers.get("zg-res-key")
    if res_key:
        extra["ZG-Res-Key"] = res_key
    return call.all_headers(extra)


async def _complete(
    rt: RouterRuntime, key: RouterKey, call: _Call, spec: Spec, provider: RoutedProvider, upstream: httpx.Response
) -> Response | _Failure:
    try:
        content = await upstream.aread()
    except httpx.HTTPError as exc:
        return _Failure(provider, None, f"response broke off: {type(exc).__name__}: {exc}")
    finally:
        await upstream.aclose()
    try:
        data = json.loads(content)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return _Failure(provider, 200, "the provider sent a body that is not a JSON object")
    fee = answer_fee(spec, provider, data)
    rt.keys.debit(key, fee.total, _usage_row(call, spec, provider, data.get("usage")))
    headers = _success_headers(call, upstream)
    verdict = None
    if spec.verify:
        verdict = await verify_answer(rt, provider, upstream.headers.get("zg-res-key"), spec, content, data)
    if not rt.faults.state.omit_trace:
        data["x_0g_trace"] = _trace(provider, call, fee, verdict)
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(body, status_code=200, headers=headers, media_type="application/json")


def _usage_row(call: _Call, spec: Spec, provider: RoutedProvider, usage: Any) -> dict[str, Any]:
    return {
        "request_id": call.request_id,
        "created_at": int(time.time()),
        "model": spec.model,
        "provider": provider.address,
        "endpoint": spec.route,
        "usage": usage if isinstance(usage, dict) else None,
        "source": "api",
    }


def _first_chunk(line: bytes) -> dict[str, Any] | None:
    if not line.startswith(b"data:") or line.strip() == b"data: [DONE]":
        return None
    try:
        payload = json.loads(line[5:])
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def _trace_event(placement: str, held: bytes | None, trace: dict[str, Any], first: dict[str, Any] | None) -> bytes:
    """The SSE bytes carrying the trace (and the held-back last chunk) for one placement.

    ``usage``: a field of the last chunk before ``[DONE]`` (the usage chunk); ``chunk``: its own
    ``chat.completion.chunk`` with empty ``choices``; ``bare``: an event ``{"x_0g_trace": ...}`` only.
    """
    last = _first_chunk(held) if held else None
    if placement == "usage" and last is not None:
        return b"data: " + json.dumps({**last, "x_0g_trace": trace}, separators=(",", ":")).encode() + b"\n\n"
    before = held + b"\n\n" if held else b""
    if placement == "bare":
        return before + b"data: " + json.dumps({"x_0g_trace": trace}, separators=(",", ":")).encode() + b"\n\n"
    chunk = {
        "id": (first or {}).get("id", ""),
        "object": "chat.completion.chunk",
        "created": (first or {}).get("created", int(time.time())),
        "model": (first or {}).get("model", ""),
        "choices": [],
        "x_0g_trace": trace,
    }
    return before + b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"


def _relay(
    rt: RouterRuntime, key: RouterKey, call: _Call, spec: Spec, provider: RoutedProvider, upstream: httpx.Response
) -> AsyncIterator[bytes]:
    """Relay the provider's SSE events; hold the last one and ``[DONE]`` back to add the trace with the bill."""

    async def body() -> AsyncIterator[bytes]:
        received = bytearray()
        lines: list[bytes] = []
        buffer = b""
        held: bytes | None = None  # the last data event, sent with (or before) the trace
        done = False
        first: dict[str, Any] | None = None
        try:
            try:
                async for data in upstream.aiter_raw():
                    received += data
                    buffer += data
                    out = bytearray()
                    while b"\n" in buffer:
                        line, buffer = buffer.split(b"\n", 1)
                        lines.append(line)
                        first = first or _first_chunk(line)
                        stripped = line.strip()
                        if done or not stripped:
                            continue
                        if stripped == b"data: [DONE]":
                            done = True
                        elif stripped.startswith(b"data:"):
                            if held is not None:
                                out += held + b"\n\n"
                            held = stripped
                        else:
                            out += line + b"\n"
                    if out:
                        yield bytes(out)
            except httpx.HTTPError as exc:
                message = f"the provider's stream broke off: {type(exc).__name__}: {exc}"
                error = {"message": message, "type": "server_error", "code": "provider_error"}
                sent = held + b"\n\n" if held is not None else b""
                yield sent + b"data: " + json.dumps({"error": error, "request_id": call.request_id}).encode() + b"\n\n"
                return
            if buffer:
                lines.append(buffer)
            usage, text = billing.usage_from_sse(lines)
            fee = billing.chat_fee(usage, text, provider.prices)
            if not done:  # the provider's stream ended without [DONE]: relay what came, no trace, no [DONE]
                if held is not None:
                    yield held + b"\n\n"
                return
            verdict = None
            if spec.verify:
                chat_key = upstream.headers.get("zg-res-key")
                verdict = await verify_answer(rt, provider, chat_key, spec, bytes(received), None)
            if rt.faults.state.omit_trace:
                yield (held + b"\n\n" if held else b"") + b"data: [DONE]\n\n"
                return
            placement = rt.trace_placement()
            yield _trace_event(placement, held, _trace(provider, call, fee, verdict), first) + b"data: [DONE]\n\n"
        finally:
            await upstream.aclose()
            usage, text = billing.usage_from_sse(lines)
            charged = billing.chat_fee(usage, text, provider.prices).total
            rt.keys.debit(key, charged, _usage_row(call, spec, provider, usage))

    return body()


async def _forward(rt: RouterRuntime, key: RouterKey, call: _Call, spec: Spec, order: list[RoutedProvider]) -> Response:
    failures: list[_Failure] = []
    for provider in order[: rt.config.max_attempts]:
        outcome = await _attempt(rt, provider, spec)
        if isinstance(outcome, _Rejected):
            message = f"provider {provider.address} rejected the request: {outcome.message}"
            return _error_response(RouterError(400, "invalid_body", message), call)
        if isinstance(outcome, _Failure):
            failures.append(outcome)
            rt.selector.failed(provider.address)
            continue
        streamed = outcome.headers.get("content-type", "").startswith("text/event-stream")
        if spec.stream and streamed:
            headers = _success_headers(call, outcome)
            headers.update({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
            relay = _relay(rt, key, call, spec, provider, outcome)
            return StreamingResponse(relay, headers=headers, media_type="text/event-stream")
        result = await _complete(rt, key, call, spec, provider, outcome)
        if isinstance(result, _Failure):
            failures.append(result)
            rt.selector.failed(provider.address)
            continue
        return result
    raise _exhausted(spec, failures)


async def _router_fault(rt: RouterRuntime) -> None:
    state = rt.faults.state
    if state.latency_ms > 0:
        await asyncio.sleep(state.latency_ms / 1000)
    status = state.http_status
    if not status:
        return
    codes = {429: "rate_limit_exceeded", 502: "provider_error", 503: "no_available_provider"}
    headers = {"Retry-After": "1"} if status == 429 else {}
    raise RouterError(status, codes.get(status, "internal_error"), f"injected Router fault (HTTP {status})", headers)


async def admit_inference(
    rt: RouterRuntime, request: Request, route: str, call: _Call, *, body: bytes | None = None
) -> tuple[RouterKey, Spec, list[RoutedProvider]]:
    """Auth, limits, parsing, routing and balance of one inference request: the key, the spec, the order.

    ``body`` replaces the request's JSON body (a request translated to another route's shape)."""
    key = _authenticate(request, _admit(rt, request, call), "sk")
    await _router_fault(rt)
    if route in MULTIPART_ROUTES:
        spec = await multipart_spec(route, request)
    else:
        spec = json_spec(route, body if body is not None else await request.body())
    routing = read_routing(request, spec.routing_body)
    candidates = _candidates(rt, spec, routing)
    if not rt.keys.has_balance(key):
        raise RouterError(402, "insufficient_balance", f"insufficient balance: {TOP_UP_HINT}")
    return key, spec, rt.selector.order(candidates, routing)


async def handle_inference(rt: RouterRuntime, request: Request, route: str) -> Response:
    """One inference request: auth, limits, parsing, routing, balance, forwarding with failover."""
    call = _Call()
    try:
        key, spec, order = await admit_inference(rt, request, route, call)
        return await _forward(rt, key, call, spec, order)
    except RouterError as error:
        return _error_response(error, call)
    except Exception:
        log.exception("router request %s failed", call.request_id)
        return _error_response(RouterError(500, "internal_error", "internal error in the Router"), call)


# ---------------------------------------------------------------------------------------------------------
# listings and account


def model_entry(model: str, providers: list[RoutedProvider]) -> dict[str, Any]:
    """A ``/v1/models`` entry; ``pricing`` is the cheapest provider's (each provider's is on /v1/providers)."""
    cheapest = min(providers, key=lambda p: p.price_key)
    return {
        "id": model,
        "object": "model",
        "created": 0,
        "owned_by": "zerog-devnet",
        "name": model.rsplit("/", 1)[-1],
        "type": providers[0].service_type,
        "verifiability": "TeeML",
        "supported_formats": ["openai"],
        "context_length": 8192,
        "pricing": cheapest.pricing(),
        "provider_count": len(providers),
    }


def provider_entry(rt: RouterRuntime, provider: RoutedProvider) -> dict[str, Any]:
    latency = rt.selector.latency(provider.address)
    teetls = provider.address.lower() in {a.lower() for a in rt.faults.state.teetls_providers}
    return {
        "address": provider.address,
        "name": provider.name,
        "model": provider.model,
        "service_type": provider.service_type,
        "verifiability": "TeeTLS" if teetls else "TeeML",
        "tee_signer": provider.tee_signer,
        "tee_acknowledged": provider.acknowledged,
        "pricing": provider.pricing(),
        "latency_ms": round(latency, 1) if latency is not None else None,
        "healthy": rt.selector.healthy(provider.address),
    }


async def _guarded(rt: RouterRuntime, request: Request, kind: str | None, build: Any) -> Response:
    """Admit, authenticate (``kind`` sk/mk, or None for public routes) and answer ``build(request, key)``."""
    call = _Call()
    try:
        key = _admit(rt, request, call)
        if kind is not None:
            key = _authenticate(request, key, kind)
        return JSONResponse(build(rt, request, key), headers=call.all_headers())
    except RouterError as error:
        return _error_response(error, call)


def _list_models(rt: RouterRuntime, _request: Request, _key: RouterKey | None) -> dict[str, Any]:
    return {"object": "list", "data": [model_entry(m, ps) for m, ps in rt.models().items()]}


def _list_providers(rt: RouterRuntime, request: Request, _key: RouterKey | None) -> dict[str, Any]:
    model = request.query_params.get("model") or request.query_params.get("model_id")
    kind = request.query_params.get("service_type")
    chosen = rt.providers
    if model:
        chosen = rt.models().get(model, [])
        if not chosen:
            raise RouterError(404, "model_not_found", f"model {model!r} not found: GET /v1/models lists the models")
    if kind:
        chosen = [p for p in chosen if p.service_type == kind]
    return {"object": "list", "model": model, "data": [provider_entry(rt, p) for p in chosen if p.acknowledged]}


def build_router_app(rt: RouterRuntime) -> Starlette:
    """The Starlette app of the emulator."""

    def inference(route: str) -> Any:
        async def endpoint(request: Request) -> Response:
            return await handle_inference(rt, request, route)

        return endpoint

    def listing(kind: str | None, build: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            return await _guarded(rt, request, kind, build)

        return endpoint

    async def not_found(request: Request) -> Response:
        call = _Call()
        try:
            _admit(rt, request, call)
        except RouterError as error:
            return _error_response(error, call)
        return _error_response(RouterError(404, "not_found", f"no route {request.method} {request.url.path}"), call)

    from . import router_routes as extra  # account and async-job routes (they build on this module)

    routes = [Route(f"/v1{path}", inference(path), methods=["POST"]) for path in ROUTE_TYPES]
    routes += [
        Route("/v1/models", listing(None, _list_models), methods=["GET"]),
        Route("/v1/providers", listing(None, _list_providers), methods=["GET"]),
        Route("/v1/account/balance", listing("mk", extra.balance), methods=["GET"]),
        Route("/v1/account/funds", listing("mk", extra.funds), methods=["GET"]),
        Route("/v1/account/usage/stats", listing("mk", extra.usage_stats), methods=["GET"]),
        Route("/v1/account/usage/history", listing("mk", extra.usage_history), methods=["GET"]),
        Route("/v1/async/images/generations", extra.submit_endpoint(rt), methods=["POST"]),
        Route("/v1/async/jobs/{job_id}", extra.poll_endpoint(rt), methods=["GET"]),
        Route("/v1/messages", extra.messages_endpoint(rt), methods=["POST"]),
        Route("/{path:path}", not_found, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
    ]
    return Starlette(routes=routes)


# ---------------------------------------------------------------------------------------------------------
# serving and control


class RouterHandle:
    """``net.router``: the running emulator (URL, keys, balances, faults)."""

    def __init__(self, host: ProviderHost, runtime: RouterRuntime, url: str) -> None:
        self._host = host
        self.runtime = runtime
        self.url = url
        """Base URL including ``/v1`` (what an OpenAI client takes as ``base_url``)."""
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def address(self) -> str:
        """The Router's own wallet (it pays the providers from its sub-accounts)."""
        return self.runtime.wallet.address

    @property
    def api_keys(self) -> list[str]:
        """The ``sk-devnet-…`` inference keys (public dev material, like the anvil keys)."""
        return self.runtime.keys.keys("sk")

    @property
    def management_keys(self) -> list[str]:
        """The ``mk-devnet-…`` management keys (scope ``account:read``), one per account."""
        return self.runtime.keys.keys("mk")

    @property
    def faults(self) -> RouterFaults:
        return self.runtime.faults

    @property
    def providers(self) -> list[RoutedProvider]:
        return list(self.runtime.providers)

    def balance(self, key: str) -> int:
        """The balance (neuron) of the account ``key`` (an sk- or mk- key) belongs to."""
        return self.runtime.keys.get(key).account.balance

    def set_balance(self, key: str, neuron: int) -> None:
        self.runtime.keys.set_balance(self.runtime.keys.get(key), neuron)

    def usage(self, key: str) -> list[dict[str, Any]]:
        """The billed requests of the key's account, oldest first (``cost`` in neuron)."""
        return [dict(row) for row in self.runtime.keys.get(key).account.usage]

    def create_key(self, balance: int = DEFAULT_KEY_BALANCE) -> str:
        """A new account with ``balance`` neuron and an sk- key for it."""
        return self.runtime.keys.create_key(self.runtime.keys.create_account(balance), "sk")

    def create_management_key(self, key: str) -> str:
        """An mk- key on the same account as ``key``."""
        return self.runtime.keys.create_key(self.runtime.keys.get(key).account, "mk")

    def revoke(self, key: str) -> None:
        self.runtime.keys.revoke(self.runtime.keys.get(key))

    def set_rate_limit(self, rpm: int) -> None:
        """Requests per minute per key from now on (windows restart)."""
        if rpm < 1:
            raise ConfigError("rpm must be >= 1")
        self.runtime.limits.rpm = rpm
        self.runtime.limits.reset()

    def reset(self) -> None:
        """Initial balances, fresh rate-limit windows and provider health, no faults, nothing revoked."""
        self.runtime.reset()
        self.runtime.limits.rpm = self.runtime.config.rpm

    def describe(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "address": self.address,
            "api_keys": [{"key": k, "balance": str(self.balance(k))} for k in self.api_keys],
            "management_keys": self.management_keys,
            "rate_limit_rpm": self.runtime.limits.rpm,
            "note": "sk-/mk- devnet keys are public dev material: they only work on this local Router",
        }

    # -- lifecycle (runs on the provider host's loop)

    def _serve(self, sock: socket.socket) -> None:
        self._host.call(self._aserve(sock))

    async def _aserve(self, sock: socket.socket) -> None:
        config = uvicorn.Config(
            build_router_app(self.runtime), lifespan="off", log_level="warning", access_log=False, timeout_keep_alive=30
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.get_running_loop().create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:  # uvicorn exposes only this flag
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.005)

    def stop(self) -> None:
        """Stop serving and close the Router's HTTP client."""
        self._host.call(self._astop())

    async def _astop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True
        if self._task is not None:
            await asyncio.wait([self._task], timeout=5)
        self._server, self._task = None, None
        await self.runtime.aclose()

    def __repr__(self) -> str:
        return f"RouterHandle(url={self.url!r}, address={self.address!r})"


def start_router(
    host: ProviderHost,
    wallet: DevAccount,
    providers: Sequence[RoutedProvider],
    sock: socket.socket,
    config: RouterConfig | None = None,
) -> RouterHandle:
    """Create the default accounts and keys and serve the emulator on ``sock``."""
    runtime = RouterRuntime(wallet, providers, config or RouterConfig())
    for _ in range(runtime.config.keys):
        account = runtime.keys.create_account(runtime.config.key_balance)
        runtime.keys.create_key(account, "sk")
        runtime.keys.create_key(account, "mk")
    handle = RouterHandle(host, runtime, f"http://127.0.0.1:{sock.getsockname()[1]}/v1")
    handle._serve(sock)
    return handle


def routed(info: Any) -> RoutedProvider:
    """A :class:`RoutedProvider` from a ``ProviderInfo`` (same field names)."""
    return RoutedProvider(**{k: v for k, v in asdict(info).items() if k in RoutedProvider.__dataclass_fields__})
