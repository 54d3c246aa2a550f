"""The ``zerog`` record of a Router response: serving provider, chat id, the billed fee, the Router's verdict."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .. import records
from .._io import Flow
from ..errors import ZeroGError
from ..http_errors import header
from ..services import Service
from ..signatures import warn
from ..types import ZeroGRecord
from ..verification import Verdict, VerificationResult, apply_policy
from .config import RouterState
from .listings import list_models, list_providers

if TYPE_CHECKING:
    from .backend import RouterRequest

log = logging.getLogger(__name__)
Fee = tuple[int, str | None]


def _pricing_service(request: RouterRequest, provider: str, prices: tuple[int, int]) -> Service:
    return Service(
        provider=provider or "0x0000000000000000000000000000000000000000",
        service_type=request.service_type,
        url="",
        input_price=prices[0],
        output_price=prices[1],
        updated_at=0,
        model=request.model,
        verifiability="",
        additional_info="",
        tee_signer_address="0x0000000000000000000000000000000000000000",
        tee_signer_acknowledged=False,
    )


def _prices(state: RouterState, model: str, provider: str) -> Flow[tuple[tuple[int, int] | None, str | None]]:
    """The serving provider's prices, else the model's catalog prices (with a note), else None."""
    try:
        listing = yield from list_providers(state, model)
    except ZeroGError as exc:
        log.debug("cannot list the Router's providers of %s: %s", model, exc)
        listing = []
    for entry in listing:
        if provider and entry.address.lower() == provider.lower() and entry.prices() is not None:
            return entry.prices(), None
    try:
        models = yield from list_models(state)
    except ZeroGError as exc:
        log.debug("cannot list the Router's models: %s", exc)
        models = []
    for candidate in models:
        prices = candidate.prices()
        if candidate.id == model and prices is not None:
            return prices, "fee from the model's catalog price (GET /v1/models); the serving provider's is not listed"
    return None, f"fee unknown: the 0G Router lists no neuron pricing for {model!r}; see your pc.0g.ai usage"


def verification_from_trace(
    state: RouterState, request: RouterRequest, trace: Any, chat_id: str | None, provider: str | None
) -> VerificationResult:
    """Map ``x_0g_trace.tee_verified`` to a result (the Router verified; the client cannot in Router mode)."""
    if state.verification == "off":
        return VerificationResult.skipped(chat_id=chat_id, provider=provider)
    if not request.verify:
        return VerificationResult(
            verdict=Verdict.skipped, chat_id=chat_id, provider=provider, detail="verify_tee was not requested"
        )
    tee = trace.get("tee_verified") if isinstance(trace, dict) else None
    told = trace.get("detail") if isinstance(trace, dict) and isinstance(trace.get("detail"), str) else ""
    why = f" ({told})" if told else ""
    if tee is True:
        verdict = Verdict.verified
        detail = f"verified by the 0G Router (verify_tee), not by this client{why}"
    elif tee is False:
        verdict = Verdict.invalid_signature
        detail = f"the 0G Router reports that the provider's TEE signature did not verify{why}"
    else:
        verdict = Verdict.unavailable
        detail = "the 0G Router sent no x_0g_trace.tee_verified for this response: no TEE verification to report"
    return VerificationResult(verdict=verdict, chat_id=chat_id, provider=provider, detail=detail)


def rate_limit(headers: Mapping[str, str]) -> dict[str, str] | None:
    """The ``X-RateLimit-{Limit,Remaining,Reset}-Requests`` values of a response (None when absent)."""
    found = {name.lower(): header(headers, f"X-RateLimit-{name}-Requests") for name in ("Limit", "Remaining", "Reset")}
    values = {name: value for name, value in found.items() if value}
    return values or None


def billing_of(trace: Mapping[str, Any]) -> dict[str, int] | None:
    """``x_0g_trace.billing`` as neuron integers (``input_cost``, ``output_cost``, ``total_cost``), or None.

    The Router bills exactly this; a billing without a readable non-negative ``total_cost`` counts as absent.
    """
    raw = trace.get("billing")
    if not isinstance(raw, Mapping):
        return None
    amounts = {name: _neuron(raw.get(name)) for name in ("input_cost", "output_cost", "total_cost")}
    total = amounts["total_cost"]
    if total is None or total < 0:
        return None
    return {name: value for name, value in amounts.items() if value is not None}


def _neuron(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def estimated_fee(state: RouterState, request: RouterRequest, provider: str, data: dict[str, Any]) -> Flow[Fee]:
    """The fee from the listings when the Router sent no billing: an estimate, with a note saying so."""
    prices, note = yield from _prices(state, request.model, provider)
    if prices is None:
        return 0, note
    fee = records.fee_for(_pricing_service(request, provider, prices), request.route, data, request.body)
    told = note or "fee from the serving provider's listed price (GET /v1/providers)"
    return fee, f"estimate: the 0G Router sent no x_0g_trace.billing; {told}"


def record_for(
    state: RouterState, request: RouterRequest, headers: Mapping[str, str], data: dict[str, Any]
) -> Flow[ZeroGRecord]:
    """The ``zerog`` record of a Router response, with the Router's verification result (policy not applied).

    ``fee`` is ``x_0g_trace.billing.total_cost`` (what the Router charged) and ``billing`` its breakdown;
    only without a billing is the fee estimated from the listings (``fee_estimated=True``, ``fee_note``).
    """
    raw_trace = data.get("x_0g_trace")
    trace: dict[str, Any] = raw_trace if isinstance(raw_trace, dict) else {}
    trace_provider = trace.get("provider")
    provider = (trace_provider if isinstance(trace_provider, str) else None) or request.pinned or ""
    body_id = data.get("id") if isinstance(data.get("id"), str) else None
    chat_id = records.chat_id(headers, body_id, request.service_type)
    billing = billing_of(trace)
    if billing is not None:
        fee, note = billing["total_cost"], None
    else:
        fee, note = yield from estimated_fee(state, request, provider, data)
    raw_usage = data.get("usage")
    usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
    result = verification_from_trace(state, request, trace or None, chat_id, provider or None)
    request_id = trace.get("request_id") if isinstance(trace.get("request_id"), str) else None
    fields: dict[str, Any] = {
        "provider": provider,
        "model": str(data.get("model") or request.model),
        "chat_id": chat_id,
        "fee": fee,
        "input_tokens": usage.get("prompt_tokens"),
        "output_tokens": usage.get("completion_tokens"),
        "service_type": request.service_type,
        "latency_ms": (time.perf_counter() - request.started) * 1000,
        "verification": result,
        "backend": "router",
        "request_id": request_id,
        "billing": billing,
        "fee_estimated": billing is None,
        "fee_note": note,
        "rate_limit": rate_limit(headers),
    }
    return ZeroGRecord(**fields)


def settle(state: RouterState, record: ZeroGRecord) -> None:
    """Apply the verification policy to a Router response: ``enforce`` raises on a failed verdict,
    ``warn`` logs it. The one place Router mode applies the policy, streamed or not; the response's usage
    record is queued here too, whatever the verdict."""
    if state.usage is not None:
        state.usage.add(record, "router")
    result = record.verification
    if not isinstance(result, VerificationResult):
        return
    if state.verification == "enforce":
        apply_policy(result, "enforce")
    elif state.verification == "warn":
        warn(result)
