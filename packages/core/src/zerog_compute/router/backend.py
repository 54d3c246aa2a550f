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
from .config import RouterState
from .listings import list_providers, unreachable
from .records import record_for, settle

if TYPE_CHECKING:
    from ..failover import PoolState

SORTS = {"price": "price", "latency": "latency"}
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


def prepare(state: RouterState, call: Call) -> Flow[RouterRequest]:
    """Resolve the model, add ``verify_tee`` per the policy and the routing headers, encode the body."""
    route, model, provider, pool = call.route, call.model, call.provider, call.pool
    payload = dict(call.payload)
    extra = payload.pop("extra_headers", None) or {}
    if not isinstance(extra, Mapping):
        raise ConfigurationError("extra_headers must be a mapping of header names to values")
    service_type = payloads.ROUTE_TYPES[route]
    headers: dict[str, str] = {}
    if pool is not None:
        _check_pool(pool)
        model = model or pool.config.model
        sort = SORTS.get(pool.config.strategy)
        if sort:
            headers["X-0G-Provider-Sort"] = sort
    if provider:
        if not is_address(provider):
            raise ConfigurationError(f"provider must be a 0x address to pin in Router mode, got {provider!r}")
        provider = to_checksum_address(provider)
        headers["X-0G-Provider-Address"] = provider
    if not model:
        if not provider:
            raise ConfigurationError(
                "Router mode routes by model: pass model=... (zg.router.models() lists them), "
                "and optionally provider='0x…' to pin one provider"
            )
        model = yield from _model_of(state, provider, service_type)
    if state.verification != "off":
        payload.setdefault("verify_tee", True)
    body, content_type = payloads.encode_body(payload, model, call.files)
    headers.update({str(k): str(v) for k, v in extra.items() if str(k).lower() != "authorization"})
    headers.update(state.auth())
    headers["Content-Type"] = content_type
    return RouterRequest(
        route,
        state.url + route,
        headers,
        body,
        model,
        service_type,
        payload.get("verify_tee") is True,
        provider,
    )


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
        error = router_error(answer.status, answer.content, answer.headers, provider=request.pinned)
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
