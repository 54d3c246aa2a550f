"""The Router emulator's reading of an inference request: the routes it serves, the body it forwards, routing.

JSON bodies lose the Router's own fields (``verify_tee``, ``provider``) before they are forwarded; streamed chat
always asks for the usage chunk (the Router bills from it); multipart bodies take ``verify_tee`` only as a query
parameter; images must ask for ``b64_json``. Every refusal is a :class:`RouterError` in the Router's shape.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.datastructures import UploadFile
from starlette.requests import Request

from .router_state import Routing, Sort

ROUTE_TYPES = {
    "/chat/completions": "chatbot",
    "/images/generations": "text-to-image",
    "/images/edits": "text-to-image",
    "/audio/transcriptions": "speech-to-text",
}
"""The documented inference routes and the devnet service type that serves each (the devnet has no
image-editing provider: edits are served by the text-to-image provider, from the prompt)."""
MULTIPART_ROUTES = ("/images/edits", "/audio/transcriptions")
IMAGE_ROUTES = ("/images/generations", "/images/edits")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


class RouterError(Exception):
    """Ends a request with the Router's error shape."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


@dataclass
class Spec:
    """One inference request as the Router reads it: what is forwarded, and how it is routed and verified."""

    route: str
    model: str
    forward_body: bytes
    content_type: str
    verify: bool
    stream: bool
    routing_body: dict[str, Any]
    n_images: int = 1
    forward_route: str = ""

    def __post_init__(self) -> None:
        self.forward_route = self.forward_route or self.route


def require_b64(route: str, fields: dict[str, Any]) -> None:
    """Images: ``response_format`` must be ``b64_json`` (the only format the Router supports end to end)."""
    if route in IMAGE_ROUTES and fields.get("response_format") != "b64_json":
        got = fields.get("response_format")
        raise RouterError(
            400, "invalid_body", f'response_format must be "b64_json" (the only supported format), got {got!r}'
        )


def json_spec(route: str, body: bytes) -> Spec:
    try:
        payload = json.loads(body)
    except ValueError:
        raise RouterError(400, "invalid_body", "the request body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise RouterError(400, "invalid_body", "the request body must be a JSON object")
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        raise RouterError(400, "invalid_body", "`model` is required (see GET /v1/models)")
    require_b64(route, payload)
    verify = payload.pop("verify_tee", False) is True
    routing = payload.pop("provider", None)
    stream = route == "/chat/completions" and payload.get("stream") is True
    if stream:  # the Router bills from the usage chunk, so it always asks for it
        options = payload.get("stream_options")
        payload["stream_options"] = {"include_usage": True, **(options if isinstance(options, dict) else {})}
    n = payload.get("n", 1)
    forward = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return Spec(
        route,
        model,
        forward,
        "application/json",
        verify,
        stream,
        routing if isinstance(routing, dict) else {},
        n if isinstance(n, int) and n > 0 else 1,
    )


async def multipart_spec(route: str, request: Request) -> Spec:
    """A multipart request: ``verify_tee`` only as the query parameter; form fields are the endpoint's own."""
    try:
        form = await request.form()
    except Exception as exc:  # python-multipart raises several types
        raise RouterError(400, "invalid_body", f"cannot parse the multipart body: {exc}") from None
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, bytes, str]] = {}
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            files[name] = (value.filename or name, await value.read(), value.content_type or "application/octet-stream")
        else:
            fields[name] = value
    await form.close()
    verify = request.query_params.get("verify_tee", "").lower() == "true"
    fields.pop("verify_tee", None)  # not a Router option in a form: never honoured
    model = fields.get("model", "")
    if not model:
        raise RouterError(400, "invalid_body", "`model` is required (see GET /v1/models)")
    part = "image" if route == "/images/edits" else "file"
    if part not in files:
        raise RouterError(400, "invalid_body", f"the multipart body needs a `{part}` part")
    if route == "/images/edits":
        return edit_spec(model, fields, verify)
    rebuilt = httpx.Request("POST", "http://multipart.invalid", data=fields, files=files)
    return Spec(route, model, rebuilt.read(), rebuilt.headers["content-type"], verify, False, {})


def edit_spec(model: str, fields: dict[str, str], verify: bool) -> Spec:
    """An image edit, served by the devnet's text-to-image provider from the prompt (no image-editing provider)."""
    require_b64("/images/edits", fields)
    prompt = fields.get("prompt", "")
    if not prompt:
        raise RouterError(400, "invalid_body", "`prompt` is required")
    try:
        n = int(fields.get("n") or 1)
    except ValueError:
        raise RouterError(400, "invalid_body", "`n` must be an integer") from None
    body: dict[str, Any] = {"model": model, "prompt": prompt, "n": n, "response_format": "b64_json"}
    if fields.get("size"):
        body["size"] = fields["size"]
    forward = json.dumps(body, separators=(",", ":")).encode()
    return Spec("/images/edits", model, forward, "application/json", verify, False, {}, n, "/images/generations")


def read_routing(request: Request, body: dict[str, Any]) -> Routing:
    """The provider routing options: ``X-0G-Provider-*`` headers, else the body's ``provider`` object."""
    headers = request.headers
    pin = headers.get("x-0g-provider-address")
    if pin is not None:
        pin = pin.strip()
        if not _ADDRESS.fullmatch(pin):
            raise RouterError(400, "invalid_provider_header", f"X-0G-Provider-Address must be a 0x address: {pin!r}")
    sort = headers.get("x-0g-provider-sort") or body.get("sort")
    if sort is not None:
        sort = str(sort).strip().lower()
        if sort not in ("price", "latency"):
            raise RouterError(400, "invalid_provider_header", f"X-0G-Provider-Sort must be price or latency: {sort!r}")
    order: Sort | None = "price" if sort == "price" else "latency" if sort == "latency" else None
    raw = headers.get("x-0g-provider-allow-fallbacks")
    fallbacks: bool | None = {"true": True, "false": False}.get((raw or "").strip().lower())
    if raw is None and isinstance(body.get("allow_fallbacks"), bool):
        fallbacks = body["allow_fallbacks"]
    trust = headers.get("x-0g-provider-trust-mode")
    if trust is not None:
        trust = trust.strip().lower()
        if trust != "private":
            raise RouterError(400, "invalid_provider_header", f"X-0G-Provider-Trust-Mode must be private: {trust!r}")
    return Routing(pin=pin, sort=order, allow_fallbacks=fallbacks, trust_mode=trust)
