"""Router mode behind the backend seam: requests to the hosted 0G Router, written once as flows.

A request: model and routing headers (``provider=`` pins with ``X-0G-Provider-Address``; a pool gives
the model and ``X-0G-Provider-Sort``) → ``verify_tee`` per the policy → :func:`exchange`, the one
send/retry loop (429s within the retry budget) → record (fee from listings, the Router's verdict) →
:func:`~.records.settle` applies the verification policy.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eth_utils.address import is_address, to_checksum_address

from .. import payloads, ratelimit
from .._bounds import Deadline
from .._io import Emit, Flow, Http, HttpResult, OpenStream, ReadChunk, Sleep, StreamStart, TransportError, loads_json
from ..backend import BackendName, Call, Completed
from ..errors import ConfigurationError, ProviderError, ProviderUnavailableError, ZeroGError
from ..http_errors import router_error
from ..stream import RouterStream
from .config import RouterState, check_trust_mode
from .listings import list_providers, unreachable
from .records import record_for, settle

if TYPE_CHECKING:
    from ..failover import PoolState

SORTS = {"price": "price", "latency": "latency"}
ROUTES = {
    "/chat/completions": "chatbot",
    "/images/generations": "text-to-image",
    "/images/edits": "image-editing",
    "/audio/transcriptions": "speech-to-text",
}
"""The inference routes the Router documents, and the service type behind each."""
IMAGE_TYPES = ("text-to-image", "image-editing")
# pool options the Router cannot apply: refused, never silently ignored
_CLIENT_SIDE = ("providers", "allow", "deny", "max_input_price", "max_output_price", "verifiable_only")


@dataclass
class RouterRequest:
    """A request ready to send to the Router."""

    route: str
    url: str
    headers: dict[str, str] = field(repr=False)
    body: bytes = field(repr=False)
    model: str
    service_type: str
    verify: bool
    pinned: str | None = None
    started: float = field(default_factory=time.perf_counter)


def _model_of(state: RouterState, provider: str, service_type: str) -> Flow[str]:
    listing = yield from list_providers(state, None)
    for entry in listing:
        if entry.address.lower() == provider.lower() and entry.model and entry.service_type in (None, service_type):
            return entry.model
    raise ConfigurationError(
        f"the 0G Router lists no {service_type} model for provider {provider}: pass model=... "
        "(zg.router.models() lists the models)"
    )


def _check_pool(pool: PoolState) -> None:
    config = pool.config
    used = [name for name in _CLIENT_SIDE if getattr(config, name)]
    if used or config.strategy == "round_robin":
        names = ", ".join(used + (["strategy='round_robin'"] if config.strategy == "round_robin" else []))
        raise ConfigurationError(
            f"the Router chooses providers itself and cannot apply {names}: in Router mode a pool takes only "
            "model= and strategy='soonest'|'priority'|'price'|'latency' (pin one provider with provider=...)"
        )


def service_type_of(route: str) -> str:
    """The service type behind a Router route; embeddings are refused (no Router page documents them)."""
    if route == "/embeddings":
        raise ConfigurationError(
            "the 0G Router documents no /v1/embeddings endpoint, so Router mode does not offer embeddings: use "
            "Direct mode for them (ZeroG(private_key=...) and provider='0x…' of an embedding service; "
            "zg.services.list(service_type='embedding') lists them)"
        )
    return ROUTES[route]


def routing_headers(state: RouterState, pool: PoolState | None, provider: str | None) -> dict[str, str]:
    """The ``X-0G-Provider-*`` headers: pin, sort (from a pool) and trust mode (client or pool)."""
    headers: dict[str, str] = {}
    trust = state.trust_mode
    if pool is not None:
        _check_pool(pool)
        sort = SORTS.get(pool.config.strategy)
        if sort:
            headers["X-0G-Provider-Sort"] = sort
        trust = check_trust_mode(pool.config.trust_mode) or trust
    if trust:
        headers["X-0G-Provider-Trust-Mode"] = trust
    if provider:
        headers["X-0G-Provider-Address"] = provider
    return headers


def image_format(payload: dict[str, Any]) -> None:
    """Images through the Router are ``b64_json`` (the only format it supports end to end): the default."""
    asked = payload.setdefault("response_format", "b64_json")
    if asked != "b64_json":
        raise ConfigurationError(
            f"the 0G Router returns images only as response_format='b64_json', not {asked!r}: drop "
            "response_format (b64_json is the default in Router mode) and read result.data[i].b64_json"
        )


def pinned(provider: str | None) -> str | None:
    """A checksummed pin, or None."""
    if not provider:
        return None
    if not is_address(provider):
        raise ConfigurationError(f"provider must be a 0x address to pin in Router mode, got {provider!r}")
    return to_checksum_address(provider)


def prepare(state: RouterState, call: Call) -> Flow[RouterRequest]:
    """Resolve the model, the routing headers and ``verify_tee`` per the policy, encode the body.

    JSON requests carry ``verify_tee`` in the body; multipart requests (transcriptions, image edits) carry
    it as the query parameter ``?verify_tee=true`` and nothing Router-specific in their form fields.
    """
    route, model, pool = call.route, call.model, call.pool
    service_type = service_type_of(route)
    payload = dict(call.payload)
    extra = payload.pop("extra_headers", None) or {}
    if not isinstance(extra, Mapping):
        raise ConfigurationError("extra_headers must be a mapping of header names to values")
    provider = pinned(call.provider)
    headers = routing_headers(state, pool, provider)
    if pool is not None:
        model = model or pool.config.model
    if not model:
        if not provider:
            raise ConfigurationError(
                "Router mode routes by model: pass model=... (zg.router.models() lists them), "
                "and optionally provider='0x…' to pin one provider"
            )
        model = yield from _model_of(state, provider, service_type)
    if service_type in IMAGE_TYPES:
        image_format(payload)
    verify = state.verification != "off"
    url = state.url + route
    if call.files is None:
        if verify:
            payload.setdefault("verify_tee", True)
        verify = payload.get("verify_tee") is True
    else:
        payload.pop("verify_tee", None)  # a form field the Router would not read: the query parameter says it
        url += "?verify_tee=true" if verify else ""
    body, content_type = payloads.encode_body(payload, model, call.files)
    headers.update({str(k): str(v) for k, v in extra.items() if str(k).lower() != "authorization"})
    headers.update(state.auth())
    headers["Content-Type"] = content_type
    return RouterRequest(route, url, headers, body, model, service_type, verify, provider)


def after_failure(state: RouterState, error: ZeroGError, attempt: int) -> Flow[None]:
    """Wait and return to retry a rate-limited request (honouring Retry-After), else raise ``error``."""
    delay = ratelimit.retry_delay(error, attempt, state.max_retries)
    if delay is None:
        raise error
    yield Sleep(delay)


def exchange(state: RouterState, request: RouterRequest, *, stream: bool) -> Flow[Any]:
    """The send/retry loop of Router mode: the 200 answer (an ``HttpResult``, or a ``StreamStart`` left open)."""
    attempt, deadline = 0, Deadline.after(state.deadline)  # one deadline for every try and every read
    while True:
        kind = OpenStream if stream else Http
        limit = state.max_response_bytes
        try:
            answer = yield kind("POST", request.url, request.headers, request.body, state.timeout, limit, deadline)
        except TransportError:
            raise  # a stream's: the streaming flow reports it
        except ProviderUnavailableError as exc:
            raise unreachable(state, exc) from None
        if answer.status == 200:
            return answer
        error = router_error(
            answer.status, answer.content, answer.headers, provider=request.pinned, network=state.network
        )
        yield from after_failure(state, error, attempt)
        attempt += 1


def complete(state: RouterState, call: Call) -> Flow[Completed]:
    """Send one request through the Router, build its record and apply the verification policy."""
    request = yield from prepare(state, call)
    result: HttpResult = yield from exchange(state, request, stream=False)
    try:
        data = loads_json(result.content)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ProviderError(f"the 0G Router sent a body that is not a JSON object for {call.route}", status_code=200)
    record = yield from record_for(state, request, result.headers, data)
    data.pop("x_0g_trace", None)  # now on the record: billing, request id, provider, the Router's verdict
    settle(state, record)
    return Completed(result.content, data, record)


def stream(state: RouterState, call: Call) -> Flow[None]:
    """Send one streamed chat request through the Router, emitting chunks; the last carries the record."""
    request = yield from prepare(state, call)
    chunks = RouterStream(request)
    try:
        start: StreamStart = yield from exchange(state, request, stream=True)
        chunks.start(start.headers)
        while data := (yield ReadChunk()):
            for chunk in chunks.feed(data):
                yield Emit(chunk)
    except TransportError as exc:
        raise chunks.interrupted(exc.cause) from exc.cause
    last = chunks.drain()
    record = yield from record_for(state, request, chunks.headers, chunks.data())
    settle(state, record)
    if last:
        last[-1].zerog = record
    for chunk in last:
        yield Emit(chunk)


class RouterBackend:
    """Router mode behind the backend seam (``provider=`` pins; a pool gives the model and the sort)."""

    name: BackendName = "router"

    def __init__(self, state: RouterState) -> None:
        self.state = state

    def complete(self, call: Call) -> Flow[Completed]:
        return complete(self.state, call)

    def stream(self, call: Call) -> Flow[None]:
        return stream(self.state, call)
