"""The provider's HTTP app: broker routes plus a loopback admin API for the devnet."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from . import paths, separated, signing
from .common import Rejected, error
from .connection import ConnectionControl
from .proxy import authenticate, handle_billed
from .runtime import ProviderRuntime

MODEL_REPORT = "/attestation/report"
"""Where a separated provider's broker serves its model TEE's report (``/v1/proxy/attestation/report?model=``)."""
QUOTE_NOTICE = (
    "zerog-devnet mock report: NOT a hardware TEE quote. It only binds the devnet provider's "
    "signer address; nothing here was attested by a CPU or GPU."
)


def build_app(rt: ProviderRuntime) -> Any:
    """Starlette app for one provider, wrapped so faults can cut connections."""

    async def proxy(request: Request) -> Response:
        kind, route = paths.classify(request.url.path)
        if kind == "billed":
            return await handle_billed(rt, request, route)
        if kind == "signature" and rt.config.separated:  # the model's TEE signed: ask it
            return await separated.forward_signature(rt, paths.signature_chat_id(request.url.path), request)
        if kind == "signature":
            return _signature(rt, paths.signature_chat_id(request.url.path))
        if rt.config.separated and route.lower().startswith(MODEL_REPORT):  # the model TEE's own report
            return JSONResponse(mock_quote(separated.model_signer(rt)))
        if kind == "image" and request.method in ("GET", "HEAD"):
            return _image(rt, paths.image_ref(route))
        if kind == "image":
            return error(405, "Method Not Allowed")
        return error(400, paths.UNSUPPORTED_ENDPOINT_ERROR)

    async def unsettled_fee(request: Request) -> Response:
        try:
            token, _ = await authenticate(rt, request.headers.get("authorization"), "Provider: ")
        except Rejected as rejected:
            return rejected.response
        if token.address.lower() != request.path_params["addr"].lower():
            return error(403, "you can only query your own unsettled fee")
        return JSONResponse({"userAddress": token.address, "unsettledFee": str(rt.fees.unsettled(token.address))})

    async def models(_request: Request) -> Response:
        attested = await rt.tee_signer_acknowledged()
        entries = [_model_entry(rt, model, attested) for model in rt.config.catalog]
        return JSONResponse({"object": "list", "data": entries})

    async def quote(_request: Request) -> Response:
        body = json.dumps(_quote(rt), sort_keys=True)
        signature = signing.sign_text(body, rt.config.tee_private_key)
        return PlainTextResponse(body, headers={"ZG-Quote-Signature": signature})

    routes = [
        Route("/v1/proxy/{rest:path}", proxy, methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]),
        Route("/v1/user/{addr}/unsettledfee", unsettled_fee, methods=["GET"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/v1/quote", quote, methods=["GET"]),
        *admin_routes(rt),
    ]
    cors = Middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["*"],
        allow_headers=["Content-Type", "Authorization", "X-Requested-With", "Accept", "Origin"],
        expose_headers=["ZG-Res-Key", "Provider", "Content-Type", "Content-Encoding", "Retry-After"],
    )
    return ConnectionControl(Starlette(routes=routes, middleware=[cors]))


def _signature(rt: ProviderRuntime, chat_id: str) -> Response:
    entry = rt.signatures.get(chat_id)
    if entry is None:
        return error(400, signing.CHAT_ID_NOT_FOUND_ERROR)
    return JSONResponse(entry)


def _image(rt: ProviderRuntime, ref: tuple[str, str] | None) -> Response:
    images = rt.images.get(ref[0].lower()) if ref else None
    index = int(ref[1]) if ref and ref[1].isdigit() else -1
    if not images or not 0 <= index < len(images):
        return error(404, "image not found or expired")
    return Response(images[index], media_type="image/png")


def _model_entry(rt: ProviderRuntime, model: str, attested: bool) -> dict[str, Any]:
    cfg = rt.config
    pricing: dict[str, str] = {"prompt": str(cfg.input_price), "completion": str(cfg.output_price)}
    if cfg.service_type == "text-to-image":
        pricing = {"prompt": "0", "completion": "0", "image": str(cfg.output_price)}
    entry: dict[str, Any] = {
        "id": model,
        "object": "model",
        "created": int(time.time()),
        "owned_by": "zerog-devnet",
        "type": cfg.service_type,
        "context_length": cfg.context_length,
        "max_completion_tokens": cfg.max_completion_tokens,
        "pricing": pricing,
        "verifiability": "TeeML",
        "tee_attested": attested,
        "tee_verifier": "cryptopilot",
        "rate_limits": {"requests_per_minute": cfg.rpm},
    }
    entry.update(cfg.extra_model_info)
    return entry


def _quote(rt: ProviderRuntime) -> dict[str, Any]:
    return mock_quote(rt.config.tee_address)


def mock_quote(signer: str) -> dict[str, Any]:
    """A devnet mock attestation report binding ``signer`` (no hardware quote: see :data:`QUOTE_NOTICE`)."""
    report_data = base64.b64encode(signer.encode().ljust(64, b"\0")).decode()
    return {
        "signing_address": signer,
        "report_data": report_data,
        "intel_quote": "",
        "nvidia_payload": "",
        "event_log": [],
        "info": {"app_id": "zerog-devnet", "tcb_info": "{}"},
        "devnet": True,
        "notice": QUOTE_NOTICE,
    }


def admin_routes(rt: ProviderRuntime) -> list[Route]:
    """Loopback-only control: faults, forced settlement, reset, state."""

    async def faults(request: Request) -> Response:
        if request.method == "PUT":
            try:
                rt.faults.set(**(await request.json()))
            except (ValueError, TypeError) as exc:
                return error(400, str(exc))
        elif request.method == "DELETE":
            rt.faults.clear()
        return JSONResponse(rt.faults.as_dict())

    async def settle(_request: Request) -> Response:
        settler = rt.settler
        if settler is None:
            return error(503, "settlement loop not running")
        return JSONResponse(await settler.settle_once())

    async def state(_request: Request) -> Response:
        return JSONResponse(
            {
                "provider": rt.config.address,
                "settled_total": str(rt.settled_total),
                "faults": rt.faults.as_dict(),
            }
        )

    async def reset(_request: Request) -> Response:
        rt.reset()
        return JSONResponse({"reset": True})

    return [
        Route("/admin/faults", faults, methods=["GET", "PUT", "DELETE"]),
        Route("/admin/settle", settle, methods=["POST"]),
        Route("/admin/state", state, methods=["GET"]),
        Route("/admin/reset", reset, methods=["POST"]),
    ]
