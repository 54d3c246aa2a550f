"""Direct mode: the wallet signs, requests go straight to the provider. Written once, as flows.

A request: resolve the service once (cached 10 min) → fund it when the policy says so → encode the
body → ``Bearer app-sk-…`` session header (cached per provider; the on-chain generation is read once
per token) → :func:`exchange`, the one send/retry loop (client-side limiter around it; a 429 or the
503 global cap is retried after ``Retry-After`` or the provider's next token, a provider's
"insufficient balance" triggers one reconcile-and-top-up) → record (fee, chat id, latency without the
limiter's queue) → :func:`~.signatures.settle` applies the verification policy. Warm requests make no
chain RPC at all. Pools (:mod:`.failover`) call the single-provider flows with retries off, so retries
never stack.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from . import funding, ledger, payloads, ratelimit, records, signatures
from ._bounds import Deadline
from ._context import Context
from ._io import (
    Emit,
    Flow,
    Http,
    HttpResult,
    Lane,
    OpenStream,
    ReadChunk,
    Sleep,
    StreamStart,
    TransportError,
    loads_json,
)
from .backend import BackendName, Call, Completed, Progress
from .errors import (
    ConfigurationError,
    InsufficientBalanceError,
    InvalidTokenError,
    NotAcknowledgedError,
    ProviderError,
    ProviderUnavailableError,
    ZeroGError,
)
from .failover import complete_pooled, stream_pooled
from .http_errors import provider_error, scrub_error
from .services import Service, get_service
from .stream import StreamState
from .types import ZeroGRecord


@dataclass
class Prepared:
    """A request ready to send, plus what is needed to account for its response."""

    service: Service
    route: str
    url: str
    headers: dict[str, str] = field(repr=False)
    body: bytes = field(repr=False)
    model: str
    started: float = field(default_factory=time.perf_counter)
    """When the answering attempt was sent (after its limiter wait): latency counts from here."""
    queued: float = 0.0
    """Seconds spent waiting for a client-side limiter slot, over all attempts."""


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


def prepare(ctx: Context, call: Call) -> Flow[Prepared]:
    """Resolve the service (once), fund it per the policy, and build the signed request."""
    service = yield from get_service(ctx, call.require_provider())
    expected = payloads.ROUTE_TYPES[call.route]
    if service.service_type != expected:
        raise ConfigurationError(
            f"provider {service.provider} serves {service.service_type!r}, not {expected!r}: "
            f"pick a {expected} provider from zg.services.list(service_type={expected!r})"
        )
    yield from funding.ensure_funded(ctx, ctx.funding, service)
    model = call.model or service.model
    body, content_type = payloads.encode_body(call.payload, model, call.files)
    auth = yield from session_header(ctx, service)
    headers = {"Authorization": auth, "Content-Type": content_type}
    return Prepared(service, call.route, service.endpoint + call.route, headers, body, model)


def status_error(ctx: Context, prepared: Prepared, status: int, content: bytes, headers: Any) -> ZeroGError:
    """The typed error for a non-200 answer (a rejected session token is dropped from the cache)."""
    error = provider_error(status, content, headers, prepared.service.provider)
    if isinstance(error, InvalidTokenError):
        ctx.sessions.invalidate(prepared.service.provider)
        ctx.generations.drop(prepared.service.provider.lower())
    return error


def after_failure(ctx: Context, prepared: Prepared, error: ZeroGError, attempt: int, max_retries: int) -> Flow[None]:
    """Return to retry (after waiting or funding), or raise ``error``."""
    service = prepared.service
    if isinstance(error, InsufficientBalanceError) and ctx.funding.policy is not None and attempt == 0:
        ctx.funding.set_tally(service.provider, funding.Tally(0, 0, 0, True, 0.0))  # force a fresh reconcile
        yield Lane(funding.top_up(ctx, ctx.funding, service, refused=True))
        return
    delay = ratelimit.retry_delay(error, attempt, max_retries, **ratelimit.rate_facts(ctx.limiter, service.provider))
    if delay is None:
        raise error
    yield Sleep(delay)


def exchange(
    ctx: Context, prepared: Prepared, *, stream: bool, timeout: float | None, max_retries: int | None
) -> Flow[Any]:
    """The send/retry loop of Direct mode: returns the 200 answer (an ``HttpResult``, or a ``StreamStart``
    left open) while holding a limiter slot with the provider; the caller releases it.

    ``ctx.deadline`` (capped by a pool's ``timeout`` for this attempt) bounds every try and every read of the
    answer, streamed or not; ``ctx.max_response_bytes`` bounds its decoded size."""
    provider, retries = prepared.service.provider, ctx.max_retries if max_retries is None else max_retries
    deadline = Deadline.after(ctx.deadline).capped(timeout)  # one deadline for every try and every read
    attempt = 0
    while True:
        waiting = time.perf_counter()
        yield from ratelimit.acquire(ctx.limiter, provider)
        prepared.started = time.perf_counter()
        prepared.queued += prepared.started - waiting
        held = False
        try:
            kind = OpenStream if stream else Http
            answer = yield kind(
                "POST",
                prepared.url,
                prepared.headers,
                prepared.body,
                timeout or ctx.timeout,
                ctx.max_response_bytes,
                deadline,
            )
            held = answer.status == 200
        except ProviderUnavailableError as exc:  # unreachable, timed out: say which provider
            exc.provider = exc.provider or provider
            raise
        finally:
            if not held:
                _release(ctx, provider)
        if held:
            if ctx.limiter is not None:
                ctx.limiter.windows.observe(provider, answer.headers)
            return answer
        error = status_error(ctx, prepared, answer.status, answer.content, answer.headers)
        yield from after_failure(ctx, prepared, error, attempt, retries)
        attempt += 1


def _release(ctx: Context, provider: str) -> None:
    if ctx.limiter is not None:
        ctx.limiter.release(provider)


def record_for(prepared: Prepared, headers: Any, data: dict[str, Any]) -> ZeroGRecord:
    """The ``zerog`` record of a non-streamed response."""
    body_id = data.get("id") if isinstance(data.get("id"), str) else None
    usage = records.as_dict(data.get("usage"))
    return ZeroGRecord(
        provider=prepared.service.provider,
        model=str(data.get("model") or prepared.model),
        chat_id=records.chat_id(headers, body_id, prepared.service.service_type),
        fee=records.fee_for(prepared.service, prepared.route, data, prepared.body),
        input_tokens=records.tokens(usage, "prompt_tokens"),
        output_tokens=records.tokens(usage, "completion_tokens"),
        service_type=prepared.service.service_type,
        latency_ms=(time.perf_counter() - prepared.started) * 1000,
        queue_ms=prepared.queued * 1000,
    )


def account(
    ctx: Context, prepared: Prepared, record: ZeroGRecord, response_body: Any, images: list[bytes] | None = None
) -> Flow[None]:
    """Every billed Direct response passes here, streamed or not, pooled or not: count its fee for funding,
    apply the verification policy (:func:`~.signatures.settle`) and queue its usage record, whatever the
    verdict (a response that fails ``enforce`` was billed all the same)."""
    ctx.funding.record_fee(prepared.service.provider, record.fee)
    live = ctx.check_upstream_certificate
    try:
        yield from signatures.settle(
            ctx.verification, prepared.service, record, prepared.body, response_body, images, live_certificate=live
        )
    finally:
        if ctx.usage is not None:
            ctx.usage.add(record, "direct")


def _json_object(prepared: Prepared, result: HttpResult) -> dict[str, Any]:
    try:
        data = loads_json(result.content)
    except (ValueError, RecursionError):  # RecursionError: JSON nested deeper than Python's recursion limit
        data = None
    if not isinstance(data, dict):
        raise ProviderError(
            f"provider {prepared.service.provider} sent a body that is not a JSON object for {prepared.route}",
            status_code=result.status,
            provider=prepared.service.provider,
        )
    return data


def complete(
    ctx: Context, call: Call, *, timeout: float | None = None, max_retries: int | None = None
) -> Flow[Completed]:
    """Send one request to ``call.provider``, account for its fee and verify it per the policy."""
    prepared = yield from prepare(ctx, call)
    try:
        return (yield from _complete(ctx, call, prepared, timeout, max_retries))
    except Exception as exc:  # whatever the provider echoed, its errors never carry our session token
        scrub_error(exc, [prepared.headers["Authorization"]])
        raise


def _complete(
    ctx: Context, call: Call, prepared: Prepared, timeout: float | None, max_retries: int | None
) -> Flow[Completed]:
    result = yield from exchange(ctx, prepared, stream=False, timeout=timeout, max_retries=max_retries)
    _release(ctx, prepared.service.provider)
    data = _json_object(prepared, result)
    record = record_for(prepared, result.headers, data)
    images = payloads.decoded_images(data) if call.route == "/images/generations" else None
    yield from account(ctx, prepared, record, result.content, images)
    return Completed(result.content, data, record)


def stream(
    ctx: Context,
    call: Call,
    *,
    timeout: float | None = None,
    max_retries: int | None = None,
    progress: Progress | None = None,
) -> Flow[None]:
    """Send one streamed chat request to ``call.provider``, emitting chunks; the last carries the record."""
    prepared = yield from prepare(ctx, call)
    try:
        yield from _stream(ctx, prepared, timeout, max_retries, progress)
    except Exception as exc:  # whatever the provider echoed, its errors never carry our session token
        scrub_error(exc, [prepared.headers["Authorization"]])
        raise


def _stream(
    ctx: Context, prepared: Prepared, timeout: float | None, max_retries: int | None, progress: Progress | None
) -> Flow[None]:
    state, provider = StreamState(prepared), prepared.service.provider
    try:
        start: StreamStart = yield from exchange(ctx, prepared, stream=True, timeout=timeout, max_retries=max_retries)
    except TransportError as exc:
        raise state.interrupted(exc.cause) from exc.cause
    try:
        state.start(start.headers)
        while data := (yield from _read(state)):
            for chunk in state.feed(data):
                yield from _emit(chunk, progress)
    finally:
        _release(ctx, provider)
    last, record = state.finish()
    if progress is not None:
        progress.latency_ms = record.latency_ms
    yield from account(ctx, prepared, record, state.sha256())
    for chunk in last:
        yield from _emit(chunk, progress)


def _read(state: StreamState) -> Flow[bytes]:
    try:
        data: bytes = yield ReadChunk()
    except TransportError as exc:
        raise state.interrupted(exc.cause) from exc.cause
    return data


def _emit(item: Any, progress: Progress | None) -> Flow[None]:
    if progress is not None:
        progress.emitted += 1
    yield Emit(item)


class DirectBackend:
    """Direct mode behind the backend seam: single providers, or a pool with client-side failover."""

    name: BackendName = "direct"

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def complete(self, call: Call) -> Flow[Completed]:
        pool = call.pool
        if pool is None:
            return complete(self.ctx, call)
        model = call.model or pool.config.model

        def attempt(service: Service, timeout: float | None) -> Flow[Completed]:
            one = replace(call, provider=service.provider, model=model, pool=None)
            return complete(self.ctx, one, timeout=timeout, max_retries=0)

        return complete_pooled(self.ctx, pool, attempt)

    def stream(self, call: Call) -> Flow[None]:
        pool = call.pool
        if pool is None:
            return stream(self.ctx, call)
        model = call.model or pool.config.model

        def attempt(service: Service, timeout: float | None, progress: Progress) -> Flow[None]:
            one = replace(call, provider=service.provider, model=model, pool=None)
            return stream(self.ctx, one, timeout=timeout, max_retries=0, progress=progress)

        return stream_pooled(self.ctx, pool, attempt)
