"""Sending requests: funding before, the client-side limiter around, retries after.

This is the single retry loop of zerog-compute: a 429 (or a 503 global cap) is retried up to
``RateLimit.max_retries`` times after ``Retry-After`` or an exponential backoff, and a provider's
"insufficient balance" answer triggers one reconcile-and-top-up when a funding policy is set.
Everything else is raised at once, so a failover layer above never stacks retries on retries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import funding, inference, ratelimit
from ._context import Context
from ._io import Flow, Http, HttpResult, Lane, Sleep, loads_json
from .errors import InsufficientBalanceError, ProviderError, ZeroGError
from .services import get_service
from .types import ZeroGRecord


@dataclass
class Completed:
    """A finished non-streamed request: the prepared request, the response and its record."""

    prepared: inference.Prepared
    content: bytes
    data: dict[str, Any]
    record: ZeroGRecord


def prepare(
    ctx: Context,
    provider: str,
    route: str,
    payload: dict[str, Any],
    *,
    model: str | None = None,
    files: dict[str, tuple[str, bytes, str]] | None = None,
) -> Flow[inference.Prepared]:
    """Resolve the service, fund it when the policy says so, and build the signed request."""
    service = yield from get_service(ctx, provider)
    yield from funding.ensure_funded(ctx, ctx.funding, service)
    prepared = yield from inference.prepare_payload(ctx, service.provider, route, payload, model=model, files=files)
    return prepared


def after_failure(
    ctx: Context, prepared: inference.Prepared, error: ZeroGError, attempt: int, *, max_retries: int | None = None
) -> Flow[None]:
    """Return to retry (after waiting or funding), or raise ``error``."""
    service = prepared.service
    if isinstance(error, InsufficientBalanceError) and ctx.funding.policy is not None and attempt == 0:
        ctx.funding.set_tally(service.provider, funding.Tally(0, 0, 0, True, 0.0))  # force a fresh reconcile
        yield Lane(funding.top_up(ctx, ctx.funding, service))
        return
    delay = ratelimit.retry_delay(error, attempt, ctx.max_retries if max_retries is None else max_retries)
    if delay is None:
        raise error
    yield Sleep(delay)


def send(
    ctx: Context, prepared: inference.Prepared, *, timeout: float | None = None, max_retries: int | None = None
) -> Flow[HttpResult]:
    """POST the prepared request within the limiter, retrying rate limits; returns a 200 response."""
    provider = prepared.service.provider
    attempt = 0
    while True:
        yield from ratelimit.acquire(ctx.limiter, provider)
        try:
            result = yield Http("POST", prepared.url, prepared.headers, prepared.body, timeout or ctx.timeout)
        finally:
            if ctx.limiter is not None:
                ctx.limiter.release(provider)
        if result.status == 200:
            return result  # type: ignore[no-any-return]
        error = inference.status_error(ctx, prepared, result.status, result.content, result.headers)
        yield from after_failure(ctx, prepared, error, attempt, max_retries=max_retries)
        attempt += 1


def complete(
    ctx: Context,
    provider: str,
    route: str,
    payload: dict[str, Any],
    *,
    model: str | None = None,
    files: dict[str, tuple[str, bytes, str]] | None = None,
    timeout: float | None = None,
    max_retries: int | None = None,
) -> Flow[Completed]:
    """Send one request and account for its response (fee recorded for funding)."""
    prepared = yield from prepare(ctx, provider, route, payload, model=model, files=files)
    result = yield from send(ctx, prepared, timeout=timeout, max_retries=max_retries)
    try:
        data = loads_json(result.content)
    except (ValueError, RecursionError):  # RecursionError: JSON nested deeper than Python's recursion limit
        data = None
    if not isinstance(data, dict):
        raise ProviderError(
            f"provider {prepared.service.provider} sent a body that is not a JSON object for {route}",
            status_code=result.status,
            provider=prepared.service.provider,
        )
    record = inference.record_for(prepared, result, data)
    ctx.funding.record_fee(prepared.service.provider, record.fee)
    return Completed(prepared, result.content, data, record)
